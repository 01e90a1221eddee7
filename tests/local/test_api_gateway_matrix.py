"""Every route of the real API against every kind of caller, through the whole local stack.

The callers: nobody (no credentials), a forged SigV4 signature, a forged token (right claims,
another key), an expired signature, an expired token (the pool's own key), another signed-in
user, the right signed-in user, and the right system caller (SigV4 with the local
credentials). What each gets follows from the route's described authorization alone, as on
AWS: an open route serves everyone, an IAM route only a valid signature (403 otherwise), a JWT
route only a valid token of the pool (401 otherwise), and then the function decides what a
valid user may see of someone else's data (403 for a list, 404 for one enrichment).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from botocore.credentials import Credentials
from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource

from local.credentials import DEMO_PASSWORD
from local.json_http import LOCAL_CREDENTIALS, request_json, signed_headers
from local.runtime import LocalStack
from local.sign_in import Tokens, sign_in, sign_in_demo_user, unverified_claims
from stack.spec import Authorization, RouteSpec
from tests.events import load_example

CALLERS = (
    "no credentials",
    "forged signature",
    "forged token",
    "expired signature",
    "expired token",
    "wrong user",
    "right user",
    "system caller",
)
# What the right caller of each route gets (the function ran and answered).
ALLOWED = {
    "POST /events": 202,
    "POST /events/bulk": 202,
    "GET /events/{trackingId}": 200,
    "GET /health": 200,
    "GET /openapi.json": 200,
    "POST /catalogs/{catalogId}/enrichments": 202,
    "GET /catalogs/{catalogId}/enrichments/{trackingId}": 200,
    "GET /users/{userId}/enrichments": 200,
    # Operators: the function answers. The mutating routes are asked what they refuse (an
    # unknown queue, archive key or breaker state), so the shared stack's breaker and queues
    # stay as the other tests left them.
    "GET /ops/queues": 200,
    "POST /ops/queues/{queueName}/redrive": 404,
    "GET /ops/queues/{queueName}/redrive": 404,
    "POST /ops/queues/{queueName}/redrive/cancel": 404,
    "GET /ops/executions": 200,
    "POST /ops/executions/redrive": 400,
    "GET /ops/breaker": 200,
    "POST /ops/breaker": 400,
    "POST /ops/replay": 400,
    "GET /ops/health": 200,
    "GET /ops/openapi.json": 200,
    "GET /docs": 200,
    "GET /docs/{asset}": 200,
}
# What another signed-in user gets from a JWT route: their token is valid, the data is not
# theirs.
SOMEONE_ELSES = {
    "POST /catalogs/{catalogId}/enrichments": 403,
    "GET /catalogs/{catalogId}/enrichments/{trackingId}": 404,
    "GET /users/{userId}/enrichments": 403,
}


def expected_status(route: RouteSpec, caller: str) -> int:
    if route.authorization is Authorization.NONE:
        return ALLOWED[route.key]
    if route.authorization is Authorization.IAM:
        return ALLOWED[route.key] if caller == "system caller" else 403
    if caller == "right user":
        return ALLOWED[route.key]
    if caller == "wrong user":
        return SOMEONE_ELSES[route.key]
    return 401


@dataclass(frozen=True)
class World:
    """The stack, two signed-in users, and data of the first one to ask about."""

    stack: LocalStack
    owner: Tokens
    other: Tokens
    tracking_id: str
    catalog_id: str
    enrichment_id: str


@pytest.fixture(scope="module")
def world(local_stack: LocalStack) -> World:
    owner = sign_in_demo_user(local_stack)
    pool = local_stack.resources.user_pool
    assert pool is not None
    cognito = local_stack.client("cognito-idp")
    username = f"other-{uuid.uuid4().hex[:8]}"
    cognito.admin_create_user(UserPoolId=pool.id, Username=username, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool.id, Username=username, Password=DEMO_PASSWORD, Permanent=True
    )
    other = sign_in(cognito, pool.client_id, username, DEMO_PASSWORD)
    api = local_stack.api_url
    code, posted = request_json("POST", f"{api}/events", load_example("event.json"))
    assert code == 202, posted
    catalog_id = f"cat-{uuid.uuid4().hex[:8]}"
    code, accepted = request_json(
        "POST",
        f"{api}/catalogs/{catalog_id}/enrichments",
        {"products": [{"asin": "B00000001X"}]},
        bearer_token=owner.id_token,
    )
    assert code == 202, accepted
    return World(
        local_stack, owner, other, posted["trackingId"], catalog_id, accepted["trackingId"]
    )


def _path(route: RouteSpec, world: World) -> str:
    values = {
        "trackingId": world.tracking_id,
        "catalogId": world.catalog_id,
        "userId": world.owner.subject,
        "queueName": "no-such-queue",
        "asset": "swagger-ui.css",
    }
    if route.key == "GET /catalogs/{catalogId}/enrichments/{trackingId}":
        values["trackingId"] = world.enrichment_id
    path = route.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def _body(route: RouteSpec, world: World) -> Any:
    if route.key == "POST /events":
        return load_example("event.json")
    if route.key == "POST /events/bulk":
        return [load_example("event.json")]
    if route.key == "POST /catalogs/{catalogId}/enrichments":
        # Names its owner, so another user posting it is refused for it.
        return {"userId": world.owner.subject, "products": [{"asin": "B00000002X"}]}
    return _REFUSED_OPERATIONS.get(route.key)


_REFUSED_OPERATIONS: dict[str, Any] = {
    "POST /ops/queues/{queueName}/redrive": {},
    "POST /ops/queues/{queueName}/redrive/cancel": {"taskHandle": "no-such-task"},
    "POST /ops/executions/redrive": {"maxConcurrency": 0},
    "POST /ops/breaker": {"state": "ajar", "reason": "matrix"},
    "POST /ops/replay": {"archiveKey": "bundles/00/no-such-bundle.ndjson.gz"},
}


def _pool_token(world: World, *, key: RSAKey, expires_in: int) -> str:
    claims = unverified_claims(world.owner.id_token)
    claims["exp"] = int(time.time()) + expires_in
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, key)


# moto signs the pool's tokens with this key (and serves its public half as the pool's JWKS).
POOL_KEY = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
STRANGER_KEY = RSAKey.generate_key(2048, parameters={"kid": "dummy"}, private=True)


def _send(caller: str, world: World, method: str, url: str, body: Any) -> tuple[int, Any]:
    if caller == "expired signature":
        return _signed_long_ago(method, url, body)
    how: dict[str, dict[str, Any]] = {
        "no credentials": {"credentials": None},
        "forged signature": {"credentials": Credentials("local", "guess")},
        "forged token": {"bearer_token": _pool_token(world, key=STRANGER_KEY, expires_in=3600)},
        "expired token": {"bearer_token": _pool_token(world, key=POOL_KEY, expires_in=-60)},
        "wrong user": {"bearer_token": world.other.id_token},
        "right user": {"bearer_token": world.owner.id_token},
        "system caller": {},
    }
    return request_json(method, url, body, **how[caller])


def _signed_long_ago(method: str, url: str, body: Any) -> tuple[int, Any]:
    import json

    data = None if body is None else json.dumps(body).encode()
    moment = dt.datetime.now(tz=dt.UTC) - dt.timedelta(minutes=10)
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        headers = signed_headers(
            method, url, data, {"Content-Type": "application/json"}, credentials=LOCAL_CREDENTIALS
        )
    return request_json(method, url, data=data, headers=headers, credentials=None)


def test_the_matrix_covers_every_route_of_the_description(local_stack: LocalStack) -> None:
    assert local_stack.app.api is not None
    assert {route.key for route in local_stack.app.api.routes} == set(ALLOWED)
    kinds = {route.authorization for route in local_stack.app.api.routes}
    assert kinds == {Authorization.NONE, Authorization.IAM, Authorization.JWT}


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_answers_each_caller_as_its_authorization_implies(
    world: World, caller: str
) -> None:
    app = world.stack.app
    assert app.api is not None
    found = {}
    for route in app.api.routes:
        url = world.stack.api_url + _path(route, world)
        status, _ = _send(caller, world, route.method.value, url, _body(route, world))
        found[route.key] = status
    assert found == {route.key: expected_status(route, caller) for route in app.api.routes}


def test_a_refused_caller_gets_api_gateways_bodies(world: World) -> None:
    api = world.stack.api_url
    assert request_json("POST", f"{api}/events", {}, credentials=None) == (
        403,
        {"message": "Forbidden"},
    )
    mine = f"{api}/users/{world.owner.subject}/enrichments"
    assert request_json("GET", mine, credentials=None) == (401, {"message": "Unauthorized"})
    status, body = _signed_long_ago("GET", f"{api}/events/{world.tracking_id}", None)
    assert status == 403
    assert body["message"].startswith("Signature expired:")


def test_the_function_sees_the_signed_in_user_as_the_owner(world: World) -> None:
    api = world.stack.api_url
    mine = f"{api}/users/{world.owner.subject}/enrichments"
    status, listed = request_json("GET", mine, bearer_token=world.owner.access_token)
    assert status == 200
    entries = {entry["trackingId"]: entry for entry in listed["enrichments"]}
    assert entries[world.enrichment_id]["userId"] == world.owner.subject
    theirs = f"{api}/users/{world.other.subject}/enrichments"
    assert request_json("GET", theirs, bearer_token=world.other.id_token)[1]["enrichments"] == []
