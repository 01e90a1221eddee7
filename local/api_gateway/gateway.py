"""The front door itself: one HTTP API, its lifecycle, throttle, integration and logs."""

from __future__ import annotations

import base64
import json
import queue
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Protocol, cast

from local.api_gateway.answers import Response, error_response, proxy_response
from local.api_gateway.authorization import Authorizers, local_authorizers
from local.api_gateway.events import DEFAULT_ACCOUNT_ID, Request, build_event, default_api_id
from local.api_gateway.http_handler import GatewayHandler, GatewayHTTPServer
from local.api_gateway.refusal import AccessDeniedError
from local.api_gateway.routes import Route, RouteTable
from local.credentials import LOCAL_REGION
from local.http_server import ServingThread, TokenBucket
from local.lambdas.pool import RequestTooLargeError, TooManyRequestsError
from stack.spec import ApiSpec

MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
INTEGRATION_TIMEOUT_SECONDS: Final = 30.0
# How long a client may take to send its request before the connection is dropped.
READ_TIMEOUT_SECONDS: Final = 30.0


class Invocation(Protocol):
    """What an invoker returns: Lambda's Invoke answer (payload, and FunctionError if any)."""

    @property
    def payload(self) -> bytes: ...

    @property
    def function_error(self) -> str | None: ...


# (function logical name, event as JSON bytes) -> the invocation's answer. May raise
# local.lambdas.pool.TooManyRequestsError / RequestTooLargeError as Lambda's Invoke API does.
Invoker = Callable[[str, bytes], Invocation]


def _request_id() -> str:
    # API Gateway's request ids look like "JKJaXmPLvHcESHA=".
    return base64.b64encode(secrets.token_bytes(10)).decode()


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
        region: str = LOCAL_REGION,
        authorizers: Authorizers | None = None,
    ) -> None:
        self.api = api
        self.routes = RouteTable(api.routes)
        self.host = host
        self.account_id = account_id
        self.api_id = api_id or default_api_id(api.name, account_id)
        self.integration_timeout_seconds = integration_timeout_seconds
        self.max_payload_bytes = max_payload_bytes
        self.read_timeout_seconds = read_timeout_seconds
        # Without JWT settings, JWT routes refuse every token (fail closed).
        self.authorizers = authorizers or local_authorizers(region=region, account_id=account_id)
        self.throttle = TokenBucket(
            api.throttle_rate_per_second, api.throttle_burst, now=time.monotonic()
        )
        self._invoke = invoke
        self._requested_port = port
        self._log_path = log_path
        self._log_lock = threading.Lock()
        self._log_file: Any = None
        self._serving: ServingThread | None = None
        self._stats_lock = threading.Lock()
        self._stats: dict[str, int] = {"requests": 0}

    # -- lifecycle --

    def start(self) -> str:
        """Listen and serve in a background thread; returns the base URL."""
        if self._serving is not None:
            return self.url
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self._log_path.open("a", encoding="utf-8")
        server = GatewayHTTPServer((self.host, self._requested_port), GatewayHandler, self)
        self._serving = ServingThread(server, name=f"api-gateway-{self.api.name}")
        return self.url

    def stop(self) -> None:
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.stop(cut_connections=False, join_timeout=5)
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
        if self._serving is None:
            raise RuntimeError("the API gateway is not running")
        return self._serving.server.port

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
        if self.throttle.take(time.monotonic()) > 0:
            return error_response(429, "stage throttle"), request_id, route.route_key
        try:
            authorizer = self.authorizers.authorize(
                route.spec, request, host=domain_name, now=time.time()
            )
        except AccessDeniedError as refused:
            answer = error_response(
                refused.status, refused.reason, message=refused.message, headers=refused.headers
            )
            return answer, request_id, route.route_key
        event = build_event(
            request,
            route,
            parameters,
            request_id=request_id,
            api_id=self.api_id,
            account_id=self.account_id,
            domain_name=domain_name,
            server_port=self.port,
            authorizer=authorizer,
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
