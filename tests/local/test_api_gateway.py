"""The API Gateway front door: payload 2.0 events, proxy answers and API Gateway's error codes.

Most tests serve a small API whose "functions" are a fake invoker, so each behaviour is shown
in isolation and without Lambda workers; the last ones go through the shared local stack.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from local.api_gateway import ApiGateway, RouteTable, compile_route, proxy_response
from local.http_server import TokenBucket
from local.lambdas.pool import RequestTooLargeError, TooManyRequestsError
from local.runtime import LocalStack
from stack import outputs
from stack.spec import ApiSpec, Authorization, HttpMethod, RouteSpec
from tests.local_lambdas.conftest import wait_until

GET, POST = HttpMethod.GET, HttpMethod.POST
OPEN = Authorization.NONE
INTEGRATION_TIMEOUT = 0.3


@dataclass
class Answer:
    payload: bytes
    function_error: str | None = None


@dataclass
class FakeLambdas:
    """Functions by name; each gets the event and returns an Answer (or raises)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def __call__(self, function: str, payload: bytes) -> Answer:
        event = json.loads(payload)
        self.events.append(event)
        return getattr(self, function)(event)  # type: ignore[no-any-return]

    def echo(self, event: dict[str, Any]) -> Answer:
        return Answer(json.dumps({"statusCode": 200, "body": json.dumps(event)}).encode())

    def bare(self, event: dict[str, Any]) -> Answer:
        return Answer(b'{"ok": true}')

    def fails(self, event: dict[str, Any]) -> Answer:
        return Answer(b'{"errorType": "KeyError", "errorMessage": "boom"}', "Unhandled")

    def throttled(self, event: dict[str, Any]) -> Answer:
        raise TooManyRequestsError("Rate Exceeded")

    def too_large(self, event: dict[str, Any]) -> Answer:
        raise RequestTooLargeError("Request must be smaller than 6291456 bytes")

    def slow(self, event: dict[str, Any]) -> Answer:
        self.release.wait(10)
        return Answer(b'{"late": true}')

    def malformed(self, event: dict[str, Any]) -> Answer:
        return Answer(b'{"statusCode": "soon", "body": "x"}')

    def not_json(self, event: dict[str, Any]) -> Answer:
        return Answer(b"<html>")

    def rich(self, event: dict[str, Any]) -> Answer:
        answer = {
            "statusCode": 201,
            "headers": {"x-made": "yes", "content-type": "application/octet-stream"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": base64.b64encode(b"\x00\xffbinary").decode(),
            "isBase64Encoded": True,
        }
        return Answer(json.dumps(answer).encode())


# Open routes: these tests are about the event and the answer; test_api_gateway_access
# is about who may call.
ROUTES = (
    RouteSpec(POST, "/events", "echo", OPEN),
    RouteSpec(GET, "/events/{trackingId}", "echo", OPEN),
    RouteSpec(GET, "/events/latest", "bare", OPEN),
    RouteSpec(GET, "/files/{proxy+}", "echo", OPEN),
    RouteSpec(GET, "/fails", "fails", OPEN),
    RouteSpec(GET, "/throttled", "throttled", OPEN),
    RouteSpec(POST, "/too-large", "too_large", OPEN),
    RouteSpec(GET, "/slow", "slow", OPEN),
    RouteSpec(GET, "/malformed", "malformed", OPEN),
    RouteSpec(GET, "/not-json", "not_json", OPEN),
    RouteSpec(GET, "/rich", "rich", OPEN),
)


@pytest.fixture
def lambdas() -> Iterator[FakeLambdas]:
    fake = FakeLambdas()
    yield fake
    fake.release.set()


@pytest.fixture
def gateway(lambdas: FakeLambdas, tmp_path: Path) -> Iterator[ApiGateway]:
    api = ApiSpec("test", ROUTES, throttle_rate_per_second=10_000, throttle_burst=10_000)
    with ApiGateway(
        api,
        lambdas,
        log_path=tmp_path / "api.log",
        integration_timeout_seconds=INTEGRATION_TIMEOUT,
        max_payload_bytes=64 * 1024,
        read_timeout_seconds=1,
    ) as served:
        yield served


def request(
    gateway: ApiGateway,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
) -> tuple[int, dict[str, str], list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection(gateway.host, gateway.port, timeout=10)
    try:
        connection.putrequest(method, path)
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        for name, value in pairs:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        raw_headers = response.getheaders()
        return response.status, dict(raw_headers), raw_headers, response.read()
    finally:
        connection.close()


def raw_exchange(gateway: ApiGateway, data: bytes) -> bytes:
    """Send bytes as they are and read until the server closes the connection."""
    with socket.create_connection((gateway.host, gateway.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def json_body(raw: bytes) -> Any:
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


# --- the event ------------------------------------------------------------------------------


def test_a_request_becomes_the_payload_2_0_event(gateway: ApiGateway, lambdas: FakeLambdas) -> None:
    status, _, _, body = request(
        gateway,
        "POST",
        "/events?b=2&a=1&a=3&empty=",
        body=b'{"trackingId": "trk-1"}',
        headers=[
            ("Content-Type", "application/json"),
            ("X-Repeated", "one"),
            ("X-Repeated", "two"),
            ("Cookie", "session=abc; theme=dark"),
            ("User-Agent", "tests/1.0"),
        ],
    )
    assert status == 200
    event = json.loads(body)
    assert event == lambdas.events[-1]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /events"
    assert event["rawPath"] == "/events"
    assert event["rawQueryString"] == "b=2&a=1&a=3&empty="
    assert event["queryStringParameters"] == {"b": "2", "a": "1,3", "empty": ""}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    headers = event["headers"]
    assert headers["x-repeated"] == "one,two"
    assert headers["content-type"] == "application/json"
    assert "cookie" not in headers
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert all(name == name.lower() for name in headers)
    assert event["body"] == '{"trackingId": "trk-1"}'
    assert event["isBase64Encoded"] is False
    assert "pathParameters" not in event
    context = event["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == gateway.api_id
    assert len(context["apiId"]) == 10
    assert context["domainName"] == f"{gateway.host}:{gateway.port}"
    assert context["http"] == {
        "method": "POST",
        "path": "/events",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tests/1.0",
    }
    assert context["routeKey"] == "POST /events"
    assert context["stage"] == "$default"
    assert context["requestId"]
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 3600
    assert context["time"].endswith(" +0000")


def test_a_body_that_is_not_utf8_is_sent_base64_encoded(
    gateway: ApiGateway, lambdas: FakeLambdas
) -> None:
    payload = b"\x89PNG\r\n\x1a\n\xff\xfe"
    status, _, _, _ = request(gateway, "POST", "/events", body=payload)
    assert status == 200
    event = lambdas.events[-1]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_a_request_without_a_body_has_no_body_field(
    gateway: ApiGateway, lambdas: FakeLambdas
) -> None:
    request(gateway, "GET", "/events/trk-1")
    event = lambdas.events[-1]
    assert "body" not in event
    assert event["isBase64Encoded"] is False
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event


def test_path_parameters_are_decoded_and_greedy_variables_take_the_rest(
    gateway: ApiGateway, lambdas: FakeLambdas
) -> None:
    request(gateway, "GET", "/events/trk%2D42")
    assert lambdas.events[-1]["pathParameters"] == {"trackingId": "trk-42"}
    assert lambdas.events[-1]["routeKey"] == "GET /events/{trackingId}"
    request(gateway, "GET", "/files/a/b/c.txt")
    assert lambdas.events[-1]["pathParameters"] == {"proxy": "a/b/c.txt"}


def test_a_literal_route_wins_over_a_variable_one(gateway: ApiGateway) -> None:
    status, headers, _, body = request(gateway, "GET", "/events/latest")
    assert status == 200
    assert json.loads(body) == {"ok": True}
    assert headers["content-type"] == "application/json"


def test_a_chunked_body_is_read_whole(gateway: ApiGateway, lambdas: FakeLambdas) -> None:
    connection = http.client.HTTPConnection(gateway.host, gateway.port, timeout=10)
    try:
        connection.request("POST", "/events", body=iter([b'{"a":', b" 1}"]), encode_chunked=True)
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    assert lambdas.events[-1]["body"] == '{"a": 1}'


# --- the answer -----------------------------------------------------------------------------


def test_a_structured_answer_sets_status_headers_cookies_and_binary_body(
    gateway: ApiGateway,
) -> None:
    status, headers, raw_headers, body = request(gateway, "GET", "/rich")
    assert status == 201
    assert body == b"\x00\xffbinary"
    assert headers["x-made"] == "yes"
    assert headers["content-type"] == "application/octet-stream"
    assert [v for k, v in raw_headers if k.lower() == "set-cookie"] == ["a=1; Path=/", "b=2"]
    assert headers["apigw-requestid"]


def test_a_bare_json_answer_is_a_200_with_that_json() -> None:
    answer = proxy_response(b'["a", 1]')
    assert answer.status == 200
    assert answer.body == b'["a", 1]'
    assert ("content-type", "application/json") in answer.headers


def test_malformed_answers_are_500s() -> None:
    for payload in (
        b'{"statusCode": 99}',
        b'{"statusCode": 200, "headers": []}',
        b'{"statusCode": 200, "body": {"not": "a string"}}',
        b'{"statusCode": 200, "body": "***", "isBase64Encoded": true}',
        b"not json",
    ):
        assert proxy_response(payload).status == 500, payload


# --- API Gateway's own errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/nowhere", 404, "Not Found"),
        ("DELETE", "/events", 404, "Not Found"),
        ("GET", "/events", 404, "Not Found"),
        ("GET", "/fails", 500, "Internal Server Error"),
        ("GET", "/malformed", 500, "Internal Server Error"),
        ("GET", "/not-json", 500, "Internal Server Error"),
        ("GET", "/throttled", 429, "Too Many Requests"),
        ("POST", "/too-large", 413, "Request Entity Too Large"),
        ("GET", "/slow", 503, "Service Unavailable"),
    ],
)
def test_errors_have_api_gateways_status_and_body(
    gateway: ApiGateway, method: str, path: str, status: int, message: str
) -> None:
    got_status, headers, _, body = request(gateway, method, path, body=b"{}")
    assert got_status == status
    assert json.loads(body) == {"message": message}
    assert headers["content-type"] == "application/json"


def test_a_body_over_the_limit_is_refused_before_it_is_read(gateway: ApiGateway) -> None:
    oversized = b"x" * (gateway.max_payload_bytes + 1)
    status, _, _, body = request(gateway, "POST", "/events", body=oversized)
    assert status == 413
    assert json.loads(body) == {"message": "Request Entity Too Large"}
    # Only the headers of a 10 MB+ upload: answered at once, nothing waits for the body.
    raw = raw_exchange(
        gateway, b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n"
    )
    assert status_of(raw) == 413


def test_a_client_that_expects_100_continue_is_refused_before_sending(
    gateway: ApiGateway,
) -> None:
    raw = raw_exchange(
        gateway,
        b"POST /events HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        b"Content-Length: 10485761\r\n\r\n",
    )
    assert status_of(raw) == 413
    assert b"100 Continue" not in raw
    assert json_body(raw) == {"message": "Request Entity Too Large"}


def test_the_default_limit_is_10_mb(tmp_path: Path, lambdas: FakeLambdas) -> None:
    api = ApiSpec("limits", ROUTES)
    with ApiGateway(api, lambdas, log_path=tmp_path / "api.log") as served:
        assert served.max_payload_bytes == 10 * 1024 * 1024
        raw = raw_exchange(
            served, b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n"
        )
        assert status_of(raw) == 413
        assert json_body(raw) == {"message": "Request Entity Too Large"}


def test_the_stage_throttle_answers_429_past_the_burst(
    tmp_path: Path, lambdas: FakeLambdas
) -> None:
    # No refill at all: the burst is all there is, so the count is exact.
    api = ApiSpec("throttled", ROUTES, throttle_rate_per_second=0, throttle_burst=2)
    with ApiGateway(api, lambdas, log_path=tmp_path / "api.log") as served:
        statuses = [request(served, "GET", "/events/latest")[0] for _ in range(4)]
    assert statuses == [200, 200, 429, 429]


def test_a_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2, capacity=1, now=0.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 0.5
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) > 0.0


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
        (
            b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            400,
        ),
        (b"POST /events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"\x00\xff\xfe garbage\r\n\r\n", 400),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /events HTTP/1.1\r\nX-Huge: " + b"h" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /events HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 150 + b"\r\n", 431),
    ],
)
def test_malformed_requests_get_an_error_and_the_server_lives_on(
    gateway: ApiGateway, data: bytes, status: int
) -> None:
    raw = raw_exchange(gateway, data)
    assert status_of(raw) == status
    assert "message" in json_body(raw)
    assert request(gateway, "GET", "/events/latest")[0] == 200


def test_a_client_that_stops_sending_loses_only_its_connection(gateway: ApiGateway) -> None:
    with socket.create_connection((gateway.host, gateway.port), timeout=10) as sock:
        sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        # Others are served meanwhile; the read timeout (1 s here) ends the half-sent request.
        assert request(gateway, "GET", "/events/latest")[0] == 200
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    assert status_of(b"".join(chunks)) == 400


def test_requests_are_logged_to_the_file_not_to_the_console(
    gateway: ApiGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request(gateway, "GET", "/events/trk-9")
    request(gateway, "GET", "/nowhere")
    raw_exchange(gateway, b"\x00 bad\r\n\r\n")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""

    def served() -> list[Any]:
        lines = [json.loads(line) for line in (tmp_path / "api.log").read_text().splitlines()]
        return sorted((line for line in lines if "routeKey" in line), key=lambda x: x["status"])

    # A request is counted and logged just after its answer is sent: late, in either order.
    wait_until(lambda: len(served()) >= 2, "both requests logged")
    found, missing = served()
    assert [found["status"], missing["status"]] == [200, 404]
    assert found["routeKey"] == "GET /events/{trackingId}"
    assert missing["error"] == "no route"
    assert gateway.stats()["404"] == 1


# --- routes ---------------------------------------------------------------------------------


def test_route_templates_are_checked() -> None:
    with pytest.raises(ValueError, match="whole segment"):
        compile_route(RouteSpec(GET, "/events/x{id}", "f"))
    with pytest.raises(ValueError, match="come last"):
        compile_route(RouteSpec(GET, "/{proxy+}/more", "f"))
    with pytest.raises(ValueError, match="duplicate"):
        RouteTable([RouteSpec(GET, "/a", "f"), RouteSpec(GET, "/a", "g")])


def test_the_most_specific_route_matches() -> None:
    table = RouteTable(
        [
            RouteSpec(GET, "/{proxy+}", "greedy"),
            RouteSpec(GET, "/events/{id}", "variable"),
            RouteSpec(GET, "/events/latest", "literal"),
        ]
    )
    assert table.match("GET", "/events/latest")[0].spec.function == "literal"  # type: ignore[index]
    assert table.match("GET", "/events/7")[0].spec.function == "variable"  # type: ignore[index]
    assert table.match("GET", "/other/7")[0].spec.function == "greedy"  # type: ignore[index]
    assert table.match("POST", "/events/7") is None


# --- through the local stack ----------------------------------------------------------------


def test_the_stack_serves_its_api_and_prints_its_url(local_stack: LocalStack) -> None:
    assert local_stack.outputs()[outputs.API_URL] == local_stack.api_url
    host, port = local_stack.api_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", "/no/such/route")
        response = connection.getresponse()
        assert response.status == 404
        assert json.loads(response.read()) == {"message": "Not Found"}
    finally:
        connection.close()
