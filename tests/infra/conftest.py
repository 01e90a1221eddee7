"""One program run per description, shared by the tests that inspect what it registered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra import dependency_layer
from infra.stack import Deployment, deploy
from stack.spec import App
from tests.infra.fakes import SYNTHETIC_SETTINGS, synthetic_app
from tests.infra.harness import Run, default_app, fake_lambda_deps, run_program


@pytest.fixture(scope="session", autouse=True)
def lambda_deps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every program run finds a fake ``make lambda-deps`` build: no pip, no network."""
    build_dir = fake_lambda_deps(tmp_path_factory.mktemp("lambda-deps"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dependency_layer, "BUILD_DIR", build_dir)
        yield


@pytest.fixture(scope="session")
def app() -> App:
    return default_app()


@pytest.fixture(scope="session")
def run(app: App) -> Run[Deployment]:
    """The real description, deployed with the default AWS settings."""
    return run_program(lambda: deploy(app), lambda deployment: deployment.outputs)


@pytest.fixture(scope="session")
def synthetic() -> App:
    return synthetic_app()


@pytest.fixture(scope="session")
def synthetic_run(synthetic: App) -> Run[Deployment]:
    """A description with indexes, every access level, queues and buckets, on a dev stack."""
    return run_program(
        lambda: deploy(synthetic, SYNTHETIC_SETTINGS), lambda deployment: deployment.outputs
    )
