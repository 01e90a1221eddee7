"""The HTTP side of the front door: reading a request, writing the answer, the access log."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import traceback
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import urlsplit

from local.api_gateway.answers import Response, error_response
from local.api_gateway.events import Request, clf_time
from local.http_server import BodyError, LoopbackHTTPServer, read_body

if TYPE_CHECKING:
    from local.api_gateway.gateway import ApiGateway

_DRAIN_SECONDS: Final = 2.0
_DRAIN_IDLE_SECONDS: Final = 0.25


class GatewayHTTPServer(LoopbackHTTPServer):
    """The front door's server: it knows its gateway, and logs what goes wrong there."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        gateway: ApiGateway,
    ) -> None:
        self.gateway = gateway
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The stdlib prints to stderr; a broken connection is worth a log line, no more.
        self.gateway.log({"error": traceback.format_exc(limit=5), "client": client_address})


class GatewayHandler(BaseHTTPRequestHandler):
    """Reads one request into a :class:`~local.api_gateway.events.Request`, has the gateway
    answer it, writes the answer and one access-log line."""

    protocol_version = "HTTP/1.1"
    server_version = "local-apigateway"
    sys_version = ""

    @property
    def gateway(self) -> ApiGateway:
        return cast(GatewayHTTPServer, self.server).gateway

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
        except BodyError as error:
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
            "requestTime": clf_time(dt.datetime.now(tz=dt.UTC)),
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
            return read_body(self.rfile, self.headers, limit=limit)
        except TimeoutError:
            raise BodyError(400, "the client stopped sending its body") from None

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
