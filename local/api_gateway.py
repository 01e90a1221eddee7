"""The API Gateway front door: an HTTP API's routes, served on loopback as AWS serves them.

:class:`ApiGateway` is a real HTTP server (stdlib ``ThreadingHTTPServer``) for one
:class:`~stack.spec.ApiSpec`. Each route is a Lambda proxy integration with payload format 2.0:
the request becomes the event API Gateway builds (``version``, ``routeKey``, ``rawPath``,
``rawQueryString``, lower-cased comma-joined ``headers``, ``cookies``, ``queryStringParameters``,
``pathParameters``, ``requestContext``, ``body``, ``isBase64Encoded``), the route's function is
invoked through the given invoker (the runtime passes its :class:`~local.lambdas.LambdaPool`),
and the function's answer becomes the HTTP response by the same rules API Gateway applies.

What the client sees when something goes wrong is what API Gateway answers, status and body:

=====================================  ===  =======================================
no route for the method and path       404  ``{"message":"Not Found"}``
stage throttle (rate/burst) exceeded   429  ``{"message":"Too Many Requests"}``
function throttled                     429  ``{"message":"Too Many Requests"}``
body over 10 MB                        413  ``{"message":"Request Entity Too Large"}``
function error, crash, bad response    500  ``{"message":"Internal Server Error"}``
integration over 30 s                  503  ``{"message":"Service Unavailable"}``
malformed request (Content-Length..)   400  ``{"message":"Bad Request"}``
=====================================  ===  =======================================

Nothing goes to stdout: one JSON line per request (API Gateway's access-log fields) and every
internal error go to ``log_path``.

Example::

    gateway = ApiGateway(app.api, invoke, log_path=Path(".state/logs/api-gateway.log"))
    url = gateway.start()          # http://127.0.0.1:<free port>
    urllib.request.urlopen(url + "/health")
    gateway.stop()
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import json
import queue
import re
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final, Protocol, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from local.lambdas.pool import RequestTooLargeError, TooManyRequestsError
from stack.spec import ApiSpec, RouteSpec

MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
INTEGRATION_TIMEOUT_SECONDS: Final = 30.0
# How long a client may take to send its request before the connection is dropped.
READ_TIMEOUT_SECONDS: Final = 30.0
DEFAULT_ACCOUNT_ID: Final = "123456789012"
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_CHUNK_LINE_LIMIT: Final = 4096
_DRAIN_SECONDS: Final = 2.0
_DRAIN_IDLE_SECONDS: Final = 0.25
# Headers that belong to one connection, never forwarded from a function's answer.
_HOP_BY_HOP: Final = frozenset(
    {"connection", "content-length", "keep-alive", "transfer-encoding", "upgrade", "date"}
)


class Invocation(Protocol):
    """What an invoker returns: Lambda's Invoke answer (payload, and FunctionError if any)."""

    @property
    def payload(self) -> bytes: ...

    @property
    def function_error(self) -> str | None: ...


# (function logical name, event as JSON bytes) -> the invocation's answer. May raise
# local.lambdas.pool.TooManyRequestsError / RequestTooLargeError as Lambda's Invoke API does.
Invoker = Callable[[str, bytes], Invocation]


# --- routes ---------------------------------------------------------------------------------

_PARAMETER = re.compile(r"^\{([A-Za-z0-9_.:-]+)(\+?)\}$")


@dataclass(frozen=True)
class Route:
    """One route, compiled: ``route_key`` is API Gateway's ``"POST /events/{trackingId}"``."""

    spec: RouteSpec
    route_key: str
    pattern: re.Pattern[str]
    parameters: tuple[str, ...]
    # Sorts most specific first, as API Gateway matches: literal segments beat variables,
    # variables beat a greedy ``{proxy+}``.
    priority: tuple[int, int, int]


def compile_route(spec: RouteSpec) -> Route:
    """Compile a path template (``/events/{trackingId}``, ``/files/{proxy+}``) into a matcher."""
    segments = [s for s in spec.path.split("/") if s != ""]
    if not spec.path.startswith("/"):
        raise ValueError(f"route path must start with '/': {spec.path!r}")
    parts: list[str] = []
    parameters: list[str] = []
    greedy = variables = 0
    for index, segment in enumerate(segments):
        found = _PARAMETER.match(segment)
        if found is None:
            if "{" in segment or "}" in segment:
                raise ValueError(f"route {spec.path!r}: a variable must be a whole segment")
            parts.append(re.escape(segment))
            continue
        name, plus = found.groups()
        parameters.append(name)
        if plus:
            if index != len(segments) - 1:
                raise ValueError(f"route {spec.path!r}: a greedy variable must come last")
            greedy += 1
            parts.append(f"(?P<p{len(parameters) - 1}>.+)")
        else:
            variables += 1
            parts.append(f"(?P<p{len(parameters) - 1}>[^/]+)")
    regex = "^/" + "/".join(parts) + ("/" if spec.path.endswith("/") and segments else "") + "$"
    return Route(
        spec=spec,
        route_key=spec.key,
        pattern=re.compile(regex),
        parameters=tuple(parameters),
        priority=(greedy, variables, -len(segments)),
    )


class RouteTable:
    """The API's routes; :meth:`match` finds the most specific one for a method and raw path."""

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        compiled = [compile_route(spec) for spec in routes]
        keys = [route.route_key for route in compiled]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"duplicate routes: {duplicates}")
        self._routes = sorted(compiled, key=lambda route: route.priority)

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self._routes:
            if route.route_key.split(" ", 1)[0] != method:
                continue
            found = route.pattern.match(raw_path)
            if found is None:
                continue
            values = {
                name: unquote(found.group(f"p{index}"))
                for index, name in enumerate(route.parameters)
            }
            return route, values
        return None


# --- throttling -----------------------------------------------------------------------------


class TokenBucket:
    """The stage's throttle: ``rate`` requests per second sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        if rate < 0 or burst < 0:
            raise ValueError("throttle rate and burst must be >= 0")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


# --- the event and the answer ---------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # Why the gateway answered an error itself (logged, never sent).
    reason: str | None = None


def error_response(status: int, reason: str | None = None) -> Response:
    """API Gateway's own error answer: ``{"message": "<reason phrase>"}``."""
    message = _ERROR_MESSAGES.get(status) or HTTPStatus(status).phrase
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return Response(status, [("content-type", "application/json")], body, reason)


_ERROR_MESSAGES: Final = {
    400: "Bad Request",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class _MalformedAnswerError(Exception):
    """The function's answer is not a response API Gateway can send (it answers 500)."""


def proxy_response(payload: bytes) -> Response:
    """The HTTP response for a function's answer, by API Gateway's payload 2.0 rules.

    An object with ``statusCode`` is a structured answer (``headers``, ``cookies``, ``body``,
    ``isBase64Encoded``); any other valid JSON is the body of a 200 ``application/json``
    answer. Anything else is a malformed answer, which API Gateway reports as a 500.

    >>> proxy_response(b'{"statusCode": 201, "body": "made"}').status
    201
    >>> proxy_response(b'{"ok": true}').body
    b'{"ok": true}'
    """
    try:
        value = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error_response(500, "the function's answer is not JSON")
    if not (isinstance(value, dict) and "statusCode" in value):
        return Response(200, [("content-type", "application/json")], payload)
    try:
        return Response(_status(value), _headers(value), _body(value))
    except _MalformedAnswerError as error:
        return error_response(500, f"malformed answer: {error}")


def _status(answer: dict[str, Any]) -> int:
    status = answer["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise _MalformedAnswerError(f"statusCode {status!r}")
    return status


def _headers(answer: dict[str, Any]) -> list[tuple[str, str]]:
    raw_headers = answer.get("headers")
    raw_headers = {} if raw_headers is None else raw_headers
    if not isinstance(raw_headers, dict):
        raise _MalformedAnswerError("headers is not an object")
    headers: list[tuple[str, str]] = []
    for name, value in raw_headers.items():
        if str(name).lower() in _HOP_BY_HOP or value is None:
            continue
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        headers.append((str(name), _header_safe(text)))
    cookies = answer.get("cookies")
    cookies = [] if cookies is None else cookies
    if not isinstance(cookies, list):
        raise _MalformedAnswerError("cookies is not a list")
    return headers + [("set-cookie", _header_safe(str(cookie))) for cookie in cookies]


def _body(answer: dict[str, Any]) -> bytes:
    body = answer.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise _MalformedAnswerError("body is not a string")
    if not answer.get("isBase64Encoded"):
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise _MalformedAnswerError("body is not valid base64") from None


def _header_safe(value: str) -> str:
    # A function must not be able to split the response by putting a newline in a header.
    return value.replace("\r", " ").replace("\n", " ")


def _request_id() -> str:
    # API Gateway's request ids look like "JKJaXmPLvHcESHA=".
    return base64.b64encode(secrets.token_bytes(10)).decode()


def _trace_id(now: float) -> str:
    return f"Root=1-{int(now):08x}-{secrets.token_hex(12)}"


def _clf_time(moment: dt.datetime) -> str:
    # "12/Mar/2020:19:03:58 +0000", independent of the process locale.
    return (
        f"{moment.day:02d}/{_MONTHS[moment.month - 1]}/{moment.year}:"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} +0000"
    )


@dataclass(frozen=True)
class Request:
    """What the HTTP layer read: everything the payload 2.0 event is made of."""

    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


def build_event(
    request: Request,
    route: Route,
    path_parameters: Mapping[str, str],
    *,
    request_id: str,
    api_id: str,
    account_id: str,
    domain_name: str,
    server_port: int,
    now: float | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends to the route's function."""
    now = time.time() if now is None else now
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies += [part.strip() for part in value.split(";") if part.strip()]
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    client_ip = request.source_ip
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {client_ip}" if forwarded else client_ip
    headers.setdefault("x-forwarded-port", str(server_port))
    headers.setdefault("x-forwarded-proto", "http")
    headers["x-amzn-trace-id"] = _trace_id(now)
    if request.body:
        headers["content-length"] = str(len(request.body))
    moment = dt.datetime.fromtimestamp(now, tz=dt.UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if request.raw_query:
        query: dict[str, str] = {}
        for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0].split(":", 1)[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": client_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": _clf_time(moment),
        "timeEpoch": int(now * 1000),
    }
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["isBase64Encoded"] = False
    if request.body:
        try:
            event["body"] = request.body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    return event


def default_api_id(api_name: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str:
    """A stable 10-character id, shaped like API Gateway's (``a1b2c3d4e5``)."""
    digest = hashlib.sha256(f"{account_id}:{api_name}".encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(10):
        number, index = divmod(number, len(alphabet))
        chars.append(alphabet[index])
    return "".join(chars)


# --- the server -----------------------------------------------------------------------------


class _BadRequestError(Exception):
    def __init__(self, status: int, reason: str, unread: int = 0) -> None:
        super().__init__(reason)
        self.status = status
        # Body bytes the client is still sending: drained (briefly) so it can read the answer.
        self.unread = unread


class ApiGateway:
    """One HTTP API on loopback; see the module docstring for what it answers."""

    def __init__(
        self,
        api: ApiSpec,
        invoke: Invoker,
        *,
        log_path: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        account_id: str = DEFAULT_ACCOUNT_ID,
        api_id: str | None = None,
        integration_timeout_seconds: float = INTEGRATION_TIMEOUT_SECONDS,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        read_timeout_seconds: float = READ_TIMEOUT_SECONDS,
    ) -> None:
        self.api = api
        self.routes = RouteTable(api.routes)
        self.host = host
        self.account_id = account_id
        self.api_id = api_id or default_api_id(api.name, account_id)
        self.integration_timeout_seconds = integration_timeout_seconds
        self.max_payload_bytes = max_payload_bytes
        self.read_timeout_seconds = read_timeout_seconds
        self.throttle = TokenBucket(api.throttle_rate_per_second, api.throttle_burst)
        self._invoke = invoke
        self._requested_port = port
        self._log_path = log_path
        self._log_lock = threading.Lock()
        self._log_file: Any = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stats_lock = threading.Lock()
        self._stats: dict[str, int] = {"requests": 0}

    # -- lifecycle --

    def start(self) -> str:
        """Listen and serve in a background thread; returns the base URL."""
        if self._server is not None:
            return self.url
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self._log_path.open("a", encoding="utf-8")
        server = _Server((self.host, self._requested_port), _Handler)
        server.gateway = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"api-gateway-{self.api.name}",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._log_lock:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def __enter__(self) -> ApiGateway:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the API gateway is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stats(self) -> dict[str, int]:
        """Requests served, by status code (``"200"``, ``"404"``...) and in all (``requests``)."""
        with self._stats_lock:
            return dict(self._stats)

    # -- one request --

    def handle(self, request: Request, domain_name: str) -> tuple[Response, str, str]:
        """Answer one request; returns the response, its request id and its route key."""
        request_id = _request_id()
        found = self.routes.match(request.method, request.raw_path)
        if found is None:
            return error_response(404, "no route"), request_id, "-"
        route, parameters = found
        if not self.throttle.take():
            return error_response(429, "stage throttle"), request_id, route.route_key
        event = build_event(
            request,
            route,
            parameters,
            request_id=request_id,
            api_id=self.api_id,
            account_id=self.account_id,
            domain_name=domain_name,
            server_port=self.port,
        )
        payload = json.dumps(event, separators=(",", ":")).encode()
        return self._integrate(route, payload), request_id, route.route_key

    def _integrate(self, route: Route, payload: bytes) -> Response:
        outcome: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

        def invoke() -> None:
            try:
                outcome.put((True, self._invoke(route.spec.function, payload)))
            except BaseException as error:  # reported to the waiting request, never lost
                outcome.put((False, error))

        # The function keeps running past the integration timeout, as it does on AWS.
        threading.Thread(target=invoke, name="api-gateway-integration", daemon=True).start()
        try:
            succeeded, value = outcome.get(timeout=self.integration_timeout_seconds)
        except queue.Empty:
            return error_response(503, "integration timeout")
        if not succeeded:
            if isinstance(value, TooManyRequestsError):
                return error_response(429, f"function throttled: {value}")
            if isinstance(value, RequestTooLargeError):
                return error_response(413, f"invoke payload too large: {value}")
            return error_response(500, f"invoke failed: {type(value).__name__}: {value}")
        invocation = cast(Invocation, value)
        if invocation.function_error:
            detail = invocation.payload[:500].decode("utf-8", errors="replace")
            return error_response(500, f"function error: {detail}")
        return proxy_response(invocation.payload)

    # -- bookkeeping --

    def count(self, status: int) -> None:
        with self._stats_lock:
            self._stats["requests"] += 1
            self._stats[str(status)] = self._stats.get(str(status), 0) + 1

    def log(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str)
        with self._log_lock:
            if self._log_file is not None:
                self._log_file.write(line + "\n")
                self._log_file.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: ApiGateway

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The stdlib prints to stderr; a broken connection is worth a log line, no more.
        self.gateway.log({"error": traceback.format_exc(limit=5), "client": client_address})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "local-apigateway"
    sys_version = ""

    @property
    def gateway(self) -> ApiGateway:
        return cast(_Server, self.server).gateway

    def setup(self) -> None:
        super().setup()
        # A client that stops sending mid-request loses its connection instead of a thread.
        self.connection.settimeout(self.gateway.read_timeout_seconds)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def _serve(self) -> None:
        started = time.monotonic()
        gateway = self.gateway
        request_id = "-"
        route_key = "-"
        try:
            split = urlsplit(self.path)
            body = self._read_body(gateway.max_payload_bytes)
            request = Request(
                method=str(self.command),
                raw_path=split.path or "/",
                raw_query=split.query,
                headers=list(self.headers.items()),
                body=body,
                source_ip=str(self.client_address[0]),
                protocol=self.request_version,
            )
            domain = self.headers.get("host") or f"{gateway.host}:{gateway.port}"
            response, request_id, route_key = gateway.handle(request, domain)
        except _BadRequestError as error:
            self.close_connection = True
            response = error_response(error.status, str(error))
            self._drain(error.unread)
        except Exception as error:
            response = error_response(500, f"{type(error).__name__}: {error}")
            gateway.log({"error": traceback.format_exc(limit=8)})
        self._write(response, request_id)
        gateway.count(response.status)
        record: dict[str, Any] = {
            "requestId": request_id,
            "ip": self.client_address[0],
            "requestTime": _clf_time(dt.datetime.now(tz=dt.UTC)),
            "httpMethod": self.command,
            "path": self.path,
            "routeKey": route_key,
            "status": response.status,
            "protocol": self.request_version,
            "responseLength": len(response.body),
            "latencyMs": round((time.monotonic() - started) * 1000, 1),
        }
        if response.reason:
            record["error"] = response.reason
        gateway.log(record)

    def handle_expect_100(self) -> bool:
        # A client that asks first is told 413 before it sends a body that would be refused.
        length = (self.headers.get("content-length") or "").strip()
        if length.isdigit() and int(length) > self.gateway.max_payload_bytes:
            self.send_error(413, f"body of {length} bytes")
            return False
        return super().handle_expect_100()

    def _read_body(self, limit: int) -> bytes:
        try:
            return self._read_body_within(limit)
        except TimeoutError:
            raise _BadRequestError(400, "the client stopped sending its body") from None

    def _read_body_within(self, limit: int) -> bytes:
        encoding = (self.headers.get("transfer-encoding") or "").lower()
        if "chunked" in encoding:
            return self._read_chunked(limit)
        raw_lengths = self.headers.get_all("content-length") or []
        if not raw_lengths:
            return b""
        lengths = {value.strip() for value in raw_lengths}
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise _BadRequestError(400, f"bad Content-Length {raw_lengths!r}")
        length = int(next(iter(lengths)))
        if length > limit:
            raise _BadRequestError(413, f"body of {length} bytes", unread=length)
        body = self.rfile.read(length)
        if len(body) != length:
            raise _BadRequestError(400, "body shorter than Content-Length")
        return body

    def _drain(self, length: int) -> None:
        """Read and drop up to ``length`` bytes, for at most ``_DRAIN_SECONDS`` in all.

        Closing a socket with unread data resets it, and a client still sending its body would
        then never see the 413; a bounded drain lets it read the answer without letting a slow
        or endless sender hold the thread.
        """
        deadline = time.monotonic() + _DRAIN_SECONDS
        with contextlib.suppress(OSError):
            self.connection.settimeout(_DRAIN_IDLE_SECONDS)
            while length > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(length, 1 << 16))
                if not chunk:
                    break
                length -= len(chunk)

    def _read_chunked(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(_CHUNK_LINE_LIMIT)
            if not line.endswith(b"\n"):
                raise _BadRequestError(400, "bad chunk header")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadRequestError(400, "bad chunk size") from None
            if size < 0:
                raise _BadRequestError(400, "bad chunk size")
            if size == 0:
                # Trailers, up to the blank line.
                while self.rfile.readline(_CHUNK_LINE_LIMIT) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            if len(body) + size > limit:
                raise _BadRequestError(413, "chunked body over the limit")
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise _BadRequestError(400, "chunk shorter than announced")
            body += chunk
            self.rfile.readline(_CHUNK_LINE_LIMIT)

    def _write(self, response: Response, request_id: str) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("apigw-requestid", request_id)
            self.send_header("content-length", str(len(response.body)))
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD" and response.body:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib's own rejections (bad request line, headers too long or too many): JSON,
        # as API Gateway answers, and a log line instead of stderr.
        response = error_response(code, message or explain)
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            # An unparseable request line: answer with a status line all the same.
            self.request_version = "HTTP/1.1"
        with contextlib.suppress(OSError):
            self.send_response(code)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(response.body)))
            self.send_header("connection", "close")
            self.end_headers()
            if getattr(self, "command", None) != "HEAD":
                self.wfile.write(response.body)
        self.gateway.count(code)
        self.gateway.log(
            {"ip": self.client_address[0], "status": code, "error": message or explain}
        )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _serve writes the access log line

    def log_message(self, format: str, *args: Any) -> None:
        self.gateway.log({"ip": self.client_address[0], "message": format % args})
