"""The program runs against the same fake ``make lambda-deps`` build as tests/infra, and the
conformance tests inspect the same run of the real description (``app``, ``run``), plus one of
the real description with a route of every authorization (``jwt_app``, ``jwt_run``)."""

from dataclasses import replace

import pytest

from infra.stack import Deployment, deploy
from stack.spec import App, Authorization, HttpMethod, JwtAuthorizerSpec, RouteSpec
from tests.infra.conftest import app, lambda_deps, run
from tests.infra.harness import Run, default_app, run_program

__all__ = ["app", "jwt_app", "jwt_run", "lambda_deps", "run"]


@pytest.fixture(scope="session")
def jwt_app() -> App:
    """The real description with a JWT route, and the API's JWT authorizer."""
    real = default_app()
    assert real.api is not None
    jwt_route = RouteSpec(HttpMethod.GET, "/me/enrichments", "api", Authorization.JWT)
    authorizer = JwtAuthorizerSpec("https://issuer.example.com/", ("stepflow", "console"))
    api = replace(real.api, routes=(*real.api.routes, jwt_route), jwt_authorizer=authorizer)
    return replace(real, api=api)


@pytest.fixture(scope="session")
def jwt_run(jwt_app: App) -> Run[Deployment]:
    return run_program(lambda: deploy(jwt_app), lambda deployment: deployment.outputs)
