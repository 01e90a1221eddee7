"""The local front door lets in exactly whom the authorizers Pulumi declares would let in.

For every route Pulumi creates (under mocks), its ``authorizationType``, JWT authorizer
(issuer, audiences) and ``authorizationScopes`` imply who API Gateway admits. The local front
door, serving the same description with the runtime's own authorizers (SigV4 against the local
credentials, JWTs of the stack's pool), must admit exactly those callers and refuse the rest,
so the two backends cannot drift apart route by route.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from infra.stack import Deployment
from local.api_gateway import ApiGateway
from local.api_gateway.authorization import local_authorizers
from local.api_gateway.jwt_authorizer import JwtAuthorizer
from local.json_http import request_json
from stack.identity import user_pool_issuer
from stack.spec import App
from tests.infra.harness import AUTHORIZER, ROUTE, USER_POOL, USER_POOL_CLIENT, Run

POOL_KEY = RSAKey.generate_key(2048, parameters={"kid": "pool"}, private=True)
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "pool"}, private=True)


@dataclass(frozen=True)
class DeployedRoute:
    key: str
    authorization_type: str
    issuer: str | None
    audiences: tuple[str, ...]
    scopes: tuple[str, ...]


def deployed_routes(run: Run[Deployment]) -> list[DeployedRoute]:
    authorizers = {a.state["id"]: a.inputs for a in run.mocks.of_type(AUTHORIZER)}
    found = []
    for route in run.mocks.of_type(ROUTE):
        inputs = route.inputs
        configuration = authorizers.get(inputs.get("authorizerId"), {}).get("jwtConfiguration")
        found.append(
            DeployedRoute(
                key=inputs["routeKey"],
                authorization_type=inputs["authorizationType"],
                issuer=None if configuration is None else configuration["issuer"],
                audiences=() if configuration is None else tuple(configuration["audiences"]),
                scopes=tuple(inputs.get("authorizationScopes") or ()),
            )
        )
    return found


@dataclass(frozen=True)
class Caller:
    name: str
    credentials: Credentials | None = None
    signed: bool = False
    claims: dict[str, Any] = field(default_factory=dict)
    key: RSAKey | None = None


def token(issuer: str, audience: str, key: RSAKey, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "sub": "user-1", "aud": audience, "exp": now + 600, "iat": now}
    claims.update(changes)
    return jwt.encode({"alg": "RS256", "kid": "pool"}, claims, key)


def implied(route: DeployedRoute, caller: str, pool_issuer: str, client_id: str) -> bool:
    """Whether API Gateway admits ``caller`` on ``route``, from what Pulumi declared."""
    if route.authorization_type == "NONE":
        return True
    if route.authorization_type == "AWS_IAM":
        return caller == "signed with the local credentials"
    assert route.authorization_type == "JWT"
    trusted = route.issuer == pool_issuer and client_id in route.audiences
    return trusted and not route.scopes and caller == "a token of the pool for its client"


@dataclass
class Ran:
    routes: list[str] = field(default_factory=list)

    def __call__(self, function: str, payload: bytes) -> Any:
        self.routes.append(json.loads(payload)["routeKey"])
        return _Answer(b'{"statusCode": 200, "body": "{}"}')


@dataclass
class _Answer:
    payload: bytes
    function_error: str | None = None


@pytest.fixture(scope="module")
def pool(run: Run[Deployment], app: App) -> tuple[str, str]:
    """The pool's issuer and client id as Pulumi created them (mock ids)."""
    [user_pool] = run.mocks.of_type(USER_POOL)
    [client] = run.mocks.of_type(USER_POOL_CLIENT)
    return user_pool_issuer(app.config.region, user_pool.state["id"]), client.state["id"]


@pytest.fixture
def front_door(app: App, pool: tuple[str, str], tmp_path: Path) -> Iterator[tuple[ApiGateway, Ran]]:
    assert app.api is not None
    issuer, client_id = pool
    keys = KeySet([POOL_KEY]).as_dict(private=False)
    # What local.api_gateway.authorization.stack_authorizers builds from the provisioned pool.
    authorizers = local_authorizers(
        region=app.config.region,
        account_id=app.config.account_id,
        jwt=JwtAuthorizer(issuer, audiences=(client_id,), jwks=keys),
    )
    ran = Ran()
    with ApiGateway(
        app.api,
        ran,
        log_path=tmp_path / "api.log",
        region=app.config.region,
        authorizers=authorizers,
    ) as gateway:
        yield gateway, ran


def test_the_local_front_door_admits_exactly_whom_the_deployed_authorizers_admit(
    app: App, run: Run[Deployment], pool: tuple[str, str], front_door: tuple[ApiGateway, Ran]
) -> None:
    gateway, ran = front_door
    issuer, client_id = pool
    callers: dict[str, dict[str, Any]] = {
        "nobody": {"credentials": None},
        "signed with the local credentials": {},
        "signed with a wrong secret": {"credentials": Credentials("local", "wrong")},
        "a token of the pool for its client": {"bearer_token": token(issuer, client_id, POOL_KEY)},
        "a token for another client": {"bearer_token": token(issuer, "other", POOL_KEY)},
        "a token of another issuer": {
            "bearer_token": token("https://issuer.example.com", client_id, POOL_KEY)
        },
        "a token signed with another key": {"bearer_token": token(issuer, client_id, OTHER_KEY)},
        "an expired token": {
            "bearer_token": token(issuer, client_id, POOL_KEY, exp=int(time.time()) - 5)
        },
    }
    routes = deployed_routes(run)
    assert {route.authorization_type for route in routes} == {"NONE", "AWS_IAM", "JWT"}
    expected: dict[tuple[str, str], bool] = {}
    admitted: dict[tuple[str, str], bool] = {}
    for route in routes:
        method, path = route.key.split(" ", 1)
        url = gateway.url + path.replace("{", "x").replace("}", "")
        for caller, how in callers.items():
            ran.routes.clear()
            body: dict[str, Any] | None = {} if method == "POST" else None
            status, _ = request_json(method, url, body, region=app.config.region, **how)
            admitted[(route.key, caller)] = status == 200 and ran.routes == [route.key]
            expected[(route.key, caller)] = implied(route, caller, issuer, client_id)
    assert admitted == expected
    # Not vacuous: every route admits someone, and every protected route refuses someone.
    for route in routes:
        outcomes = {admitted[(route.key, caller)] for caller in callers}
        assert True in outcomes
        assert outcomes == ({True} if route.authorization_type == "NONE" else {True, False})
