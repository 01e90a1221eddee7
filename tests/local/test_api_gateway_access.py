"""Who may call a route of the local front door: SigV4 on IAM routes, JWTs on JWT routes.

Each route and caller pair gets the status (and body) API Gateway gives it; the function only
runs for the callers the route's authorization lets through, and then sees who called in
``requestContext.authorizer`` as on AWS.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from local.api_gateway import ApiGateway
from local.api_gateway.authorization import local_authorizers
from local.api_gateway.jwt_authorizer import JwtAuthorizer
from local.json_http import LOCAL_CREDENTIALS, request_json, signed_headers
from stack.spec import ApiSpec, Authorization, HttpMethod, RouteSpec

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_local"
CLIENT_ID = "client-web"
NOW = time.time


@dataclass
class Recorder:
    events: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, function: str, payload: bytes) -> Any:
        event = json.loads(payload)
        self.events.append(event)
        return _Answer(json.dumps({"statusCode": 200, "body": json.dumps({"ok": True})}).encode())


@dataclass
class _Answer:
    payload: bytes
    function_error: str | None = None


SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "pool-key"}, private=True)
STRANGER_KEY = RSAKey.generate_key(2048, parameters={"kid": "pool-key"}, private=True)
JWKS = KeySet([SIGNING_KEY]).as_dict(private=False)


def token(key: RSAKey = SIGNING_KEY, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": CLIENT_ID,
        "token_use": "id",
        "iat": now,
        "exp": now + 3600,
        "cognito:groups": ["readers", "writers"],
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode({"alg": "RS256", "kid": "pool-key"}, claims, key)


ROUTES = (
    RouteSpec(HttpMethod.POST, "/events", "f"),
    RouteSpec(HttpMethod.GET, "/events/{trackingId}", "f"),
    RouteSpec(HttpMethod.GET, "/health", "f", Authorization.NONE),
    RouteSpec(HttpMethod.GET, "/users/{userId}/enrichments", "f", Authorization.JWT),
    RouteSpec(HttpMethod.POST, "/admin", "f", Authorization.JWT, scopes=("stepflow/admin",)),
)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def api(recorder: Recorder, tmp_path: Path) -> Iterator[str]:
    jwt_authorizer = JwtAuthorizer(ISSUER, audiences=(CLIENT_ID,), jwks=JWKS)
    authorizers = local_authorizers(
        region="us-east-1", account_id="123456789012", jwt=jwt_authorizer
    )
    spec = ApiSpec("access", ROUTES, throttle_rate_per_second=10_000, throttle_burst=10_000)
    with ApiGateway(spec, recorder, log_path=tmp_path / "api.log", authorizers=authorizers) as gw:
        yield gw.url


def _signed_at(moment: dt.datetime) -> Callable[[str, str, bytes | None], dict[str, str]]:
    def sign(method: str, url: str, data: bytes | None) -> dict[str, str]:
        from unittest import mock

        with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
            return signed_headers(method, url, data, {}, credentials=LOCAL_CREDENTIALS)

    return sign


# --- IAM routes ------------------------------------------------------------------------------


def test_a_signed_request_runs_and_the_function_sees_the_iam_caller(
    api: str, recorder: Recorder
) -> None:
    status, _ = request_json("POST", f"{api}/events?b=2&a=1", {"x": 1})
    assert status == 200
    iam = recorder.events[-1]["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == "local"
    assert iam["accountId"] == "123456789012"
    assert iam["userArn"] == "arn:aws:iam::123456789012:user/local"


def test_an_unsigned_request_is_forbidden_and_runs_nothing(api: str, recorder: Recorder) -> None:
    assert request_json("POST", f"{api}/events", {"x": 1}, credentials=None) == (
        403,
        {"message": "Forbidden"},
    )
    assert request_json("GET", f"{api}/events/t-1", signed=False)[0] == 403
    assert recorder.events == []


def test_a_forged_signature_gets_api_gateways_mismatch_answer(api: str, recorder: Recorder) -> None:
    forged = Credentials("local", "not-the-secret")
    status, body = request_json("POST", f"{api}/events", {"x": 1}, credentials=forged)
    assert status == 403
    assert body["message"].startswith(
        "The request signature we calculated does not match the signature you provided."
    )
    assert "The Canonical String for this request should have been" in body["message"]
    assert recorder.events == []


def test_a_body_changed_after_signing_is_refused(api: str, recorder: Recorder) -> None:
    url = f"{api}/events"
    headers = signed_headers(
        "POST",
        url,
        b'{"x": 1}',
        {"Content-Type": "application/json"},
        credentials=LOCAL_CREDENTIALS,
    )
    status, body = request_json("POST", url, data=b'{"x": 2}', headers=headers, credentials=None)
    assert status == 403
    assert "does not match" in body["message"]
    assert recorder.events == []


def test_an_unknown_access_key_is_an_invalid_token(api: str) -> None:
    stranger = Credentials("AKIASTRANGER", "secret")
    assert request_json("GET", f"{api}/events/t-1", credentials=stranger) == (
        403,
        {"message": "The security token included in the request is invalid."},
    )


def test_a_signature_older_than_five_minutes_has_expired(api: str, recorder: Recorder) -> None:
    moment = dt.datetime.now(tz=dt.UTC) - dt.timedelta(minutes=6)
    headers = _signed_at(moment)("GET", f"{api}/events/t-1", None)
    status, body = request_json("GET", f"{api}/events/t-1", headers=headers, credentials=None)
    assert status == 403
    assert body["message"].startswith(f"Signature expired: {moment:%Y%m%dT%H%M%SZ} is now earlier")
    assert body["message"].endswith("- 5 min.)")
    assert recorder.events == []


def test_a_signature_from_the_future_is_not_yet_current(api: str) -> None:
    moment = dt.datetime.now(tz=dt.UTC) + dt.timedelta(minutes=6)
    headers = _signed_at(moment)("GET", f"{api}/events/t-1", None)
    status, body = request_json("GET", f"{api}/events/t-1", headers=headers, credentials=None)
    assert status == 403
    assert body["message"].startswith("Signature not yet current:")


def test_a_signature_for_another_region_or_service_is_refused(api: str) -> None:
    status, body = request_json("GET", f"{api}/events/t-1", region="eu-west-1")
    assert status == 403
    assert "region" in body["message"]


def test_a_bearer_token_on_an_iam_route_is_not_a_signature(api: str, recorder: Recorder) -> None:
    status, body = request_json("GET", f"{api}/events/t-1", bearer_token=token())
    assert status == 403
    assert body["message"].startswith("Authorization header requires 'Credential' parameter.")
    assert recorder.events == []


def test_an_open_route_needs_nothing_and_has_no_authorizer(api: str, recorder: Recorder) -> None:
    assert request_json("GET", f"{api}/health", credentials=None)[0] == 200
    assert "authorizer" not in recorder.events[-1]["requestContext"]


# --- JWT routes ------------------------------------------------------------------------------


def test_a_valid_token_runs_and_the_function_sees_its_claims_as_strings(
    api: str, recorder: Recorder
) -> None:
    status, _ = request_json("GET", f"{api}/users/user-1/enrichments", bearer_token=token())
    assert status == 200
    authorizer = recorder.events[-1]["requestContext"]["authorizer"]["jwt"]
    assert authorizer["claims"]["sub"] == "user-1"
    assert authorizer["claims"]["cognito:groups"] == "[readers writers]"
    assert authorizer["claims"]["exp"].isdigit()
    assert authorizer["scopes"] is None


def test_an_access_token_is_matched_on_client_id_when_it_has_no_aud(api: str) -> None:
    access = token(aud=None, client_id=CLIENT_ID, token_use="access", scope="openid")
    assert request_json("GET", f"{api}/users/u/enrichments", bearer_token=access)[0] == 200


@pytest.mark.parametrize(
    ("case", "make_token", "description"),
    [
        ("missing", lambda: "", "no token"),
        ("forged", lambda: token(STRANGER_KEY), "signature invalid"),
        ("garbage", lambda: "not.a.jwt", "signature invalid"),
        ("expired", lambda: token(exp=int(time.time()) - 1), "expired"),
        ("not yet valid", lambda: token(nbf=int(time.time()) + 600), "not valid yet"),
        ("other issuer", lambda: token(iss="https://elsewhere.example.com"), "issuer"),
        ("other audience", lambda: token(aud="another-client"), "audience"),
        ("no audience", lambda: token(aud=None), "audience"),
    ],
)
def test_an_invalid_token_is_unauthorized_and_runs_nothing(
    api: str, recorder: Recorder, case: str, make_token: Callable[[], str], description: str
) -> None:
    status, body = request_json(
        "GET", f"{api}/users/user-1/enrichments", bearer_token=make_token(), credentials=None
    )
    assert (status, body) == (401, {"message": "Unauthorized"}), case
    assert recorder.events == []


def test_unauthorized_answers_say_why_in_www_authenticate(api: str) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{api}/users/u/enrichments", headers={"Authorization": f"Bearer {token(aud='x')}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.headers["www-authenticate"] == (
        'Bearer scope="" error="invalid_token" '
        'error_description="the token does not have a valid audience"'
    )


def test_a_signature_is_not_a_token(api: str, recorder: Recorder) -> None:
    assert request_json("GET", f"{api}/users/u/enrichments")[0] == 401
    assert recorder.events == []


def test_a_route_with_scopes_forbids_a_token_without_them(api: str, recorder: Recorder) -> None:
    plain = token(aud=None, client_id=CLIENT_ID, scope="openid")
    admin = token(aud=None, client_id=CLIENT_ID, scope="openid stepflow/admin")
    assert request_json("POST", f"{api}/admin", {}, bearer_token=plain) == (
        403,
        {"message": "Forbidden"},
    )
    assert recorder.events == []
    assert request_json("POST", f"{api}/admin", {}, bearer_token=admin)[0] == 200
    assert recorder.events[-1]["requestContext"]["authorizer"]["jwt"]["scopes"] == [
        "openid",
        "stepflow/admin",
    ]


def test_without_jwt_settings_jwt_routes_fail_closed(recorder: Recorder, tmp_path: Path) -> None:
    spec = ApiSpec("access", ROUTES)
    with ApiGateway(spec, recorder, log_path=tmp_path / "api.log") as gateway:
        status, _ = request_json("GET", f"{gateway.url}/users/u/enrichments", bearer_token=token())
    assert status == 401
    assert recorder.events == []
