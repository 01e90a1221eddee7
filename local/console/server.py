"""The local console's web server: its static files and a same-origin proxy to the stack.

The browser talks to this server only, so the console needs no CORS on the stack and no
credentials in the page:

- ``GET /`` and ``GET /static/...``: the console itself (``local/console/static/``).
- ``POST /aws/states``: one Step Functions call in the JSON protocol (``X-Amz-Target:
  AWSStepFunctions.<Action>``), signed with SigV4 and forwarded to the AWS endpoint; only the
  actions in :data:`STEP_FUNCTIONS_ACTIONS` pass.
- ``/api/ops/...`` and ``GET /api/events/{trackingId}``: the HTTP API's operator and status
  routes, through :func:`local.json_http.request_json` (how every client calls that API).
- ``GET /console/examples``: the JSON files in ``examples/``, to pre-fill the start form.

It reads nothing the AWS APIs and the operations API do not answer, so it could be pointed at AWS.
Requests whose ``Host`` is not this server, or whose ``Origin`` is another site, are refused:
a page elsewhere must not drive the stack through a browser on this machine.

>>> with ConsoleServer(ConsoleTargets("http://127.0.0.1:4566", "http://127.0.0.1:4567",
...                                   "us-east-1"), port=0) as console:  # doctest: +SKIP
...     print(console.url)
"""

from __future__ import annotations

import json
import mimetypes
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import quote, urlsplit

from local.http_server import BodyError, LoopbackHTTPServer, ServingThread, read_body
from local.json_http import LOCAL_CREDENTIALS, request_json, signed_headers

STATIC_ROOT: Final = Path(__file__).resolve().parent / "static"
EXAMPLES_ROOT: Final = Path(__file__).resolve().parents[2] / "examples"
STEP_FUNCTIONS_ACTIONS: Final = frozenset(
    {
        "ListStateMachines",
        "DescribeStateMachine",
        "ListExecutions",
        "DescribeExecution",
        "GetExecutionHistory",
        "StartExecution",
        "StopExecution",
        "RedriveExecution",
    }
)
_API_PREFIXES: Final = ("ops/", "events/")
_MAX_BODY: Final = 1024 * 1024
_UPSTREAM_TIMEOUT: Final = 30.0


@dataclass(frozen=True)
class ConsoleTargets:
    """Where the console's proxy forwards: the AWS endpoint, the HTTP API, and the region."""

    endpoint_url: str
    api_url: str | None
    region: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


def _json_answer(status: int, document: Any) -> Answer:
    return Answer(status, json.dumps(document).encode())


def _message(status: int, message: str) -> Answer:
    return _json_answer(status, {"message": message})


def signed_step_functions_call(targets: ConsoleTargets, action: str, body: bytes) -> Answer:
    """Forward one Step Functions JSON-protocol call, SigV4-signed as the AWS SDKs sign it."""
    url = targets.endpoint_url.rstrip("/") + "/"
    headers = signed_headers(
        "POST",
        url,
        body,
        {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"AWSStepFunctions.{action}",
        },
        credentials=LOCAL_CREDENTIALS,
        region=targets.region,
        service="states",
    )
    forwarded = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(forwarded, timeout=_UPSTREAM_TIMEOUT) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read())
    except OSError as error:
        return _message(502, f"the AWS endpoint {targets.endpoint_url} is unreachable: {error}")


def api_call(targets: ConsoleTargets, method: str, path: str, body: bytes) -> Answer:
    """Forward one call to the HTTP API's operator or status routes."""
    if targets.api_url is None:
        return _message(503, "the stack serves no HTTP API")
    if not path.startswith(_API_PREFIXES) or ".." in urlsplit(path).path.split("/"):
        return _message(404, f"the console does not forward /{path}")
    try:
        document = json.loads(body) if body else None
    except ValueError:
        return _message(400, "the request body is not JSON")
    try:
        status, answer = request_json(
            method, f"{targets.api_url.rstrip('/')}/{path}", document, timeout=_UPSTREAM_TIMEOUT
        )
    except ValueError:
        return _message(502, f"the HTTP API answered /{path} with a body that is not JSON")
    except OSError as error:
        return _message(502, f"the HTTP API {targets.api_url} is unreachable: {error}")
    return _json_answer(status, answer)


def examples() -> Answer:
    """Every ``examples/*.json`` by file name, parsed (a file that is not JSON is left out)."""
    found: dict[str, Any] = {}
    for path in sorted(EXAMPLES_ROOT.glob("*.json")):
        try:
            found[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return _json_answer(200, {"examples": found})


def static_file(path: str) -> Answer:
    relative = "index.html" if path in ("", "/") else path.removeprefix("/static/")
    candidate = (STATIC_ROOT / relative).resolve()
    if not candidate.is_relative_to(STATIC_ROOT) or not candidate.is_file():
        return _message(404, f"no such page: {path}")
    content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
    if candidate.suffix == ".js":  # some systems' mime tables lack it; modules need it exact
        content_type = "text/javascript"
    return Answer(200, candidate.read_bytes(), f"{content_type}; charset=utf-8")


class ConsoleHTTPServer(LoopbackHTTPServer):
    def __init__(self, address: tuple[str, int], targets: ConsoleTargets) -> None:
        self.targets = targets
        super().__init__(address, ConsoleHandler)


class ConsoleHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stepflow-console"
    sys_version = ""

    @property
    def targets(self) -> ConsoleTargets:
        return cast(ConsoleHTTPServer, self.server).targets

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the stack's own logs say what happened."""

    def _serve(self, method: str) -> None:
        try:
            body = read_body(self.rfile, self.headers, limit=_MAX_BODY)
        except BodyError as error:
            self.close_connection = True
            self._write(_message(error.status, str(error)))
            return
        target = urlsplit(self.path)
        self._write(self._answer(method, target.path, target.query, body))

    def _answer(self, method: str, path: str, query: str, body: bytes) -> Answer:
        refusal = self._foreign_request()
        if refusal is not None:
            return refusal
        if path == "/aws/states":
            return self._step_functions(method, body)
        if path.startswith("/api/"):
            forwarded = path.removeprefix("/api/") + (f"?{query}" if query else "")
            return api_call(self.targets, method, forwarded, body)
        if method != "GET":
            return _message(405, f"{method} {path} is not served")
        return examples() if path == "/console/examples" else static_file(path)

    def _step_functions(self, method: str, body: bytes) -> Answer:
        if method != "POST":
            return _message(405, "Step Functions calls are POSTs")
        action = (self.headers.get("X-Amz-Target") or "").removeprefix("AWSStepFunctions.")
        if action not in STEP_FUNCTIONS_ACTIONS:
            return _message(403, f"the console does not forward {action or 'this call'}")
        return signed_step_functions_call(self.targets, action, body)

    def _foreign_request(self) -> Answer | None:
        server = cast(ConsoleHTTPServer, self.server)
        port = server.port
        host = str(server.server_address[0])
        own_hosts = {f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"}
        if self.headers.get("Host") not in own_hosts:
            return _message(421, "the console answers only on its own loopback address")
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc not in own_hosts:
            return _message(403, "requests from other sites are refused")
        return None

    def _write(self, answer: Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(answer.body)


class ConsoleServer:
    """The console on ``host:port`` (0: a free port), from :meth:`start` to :meth:`stop`."""

    def __init__(self, targets: ConsoleTargets, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.targets = targets
        self.host = host
        self._requested_port = port
        self._serving: ServingThread | None = None

    def start(self) -> str:
        if self._serving is None:
            server = ConsoleHTTPServer((self.host, self._requested_port), self.targets)
            self._serving = ServingThread(server, name="console")
        return self.url

    def stop(self) -> None:
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.stop(cut_connections=True, join_timeout=5)

    def __enter__(self) -> ConsoleServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._serving is None:
            raise RuntimeError("the console is not running")
        return f"http://{self.host}:{self._serving.server.port}/"


def execution_url(console_url: str, execution_arn: str) -> str:
    """The console page of one execution.

    >>> execution_url("http://127.0.0.1:4568/", "arn:aws:states:us-east-1:1:execution:m:e")
    'http://127.0.0.1:4568/#/executions/arn%3Aaws%3Astates%3Aus-east-1%3A1%3Aexecution%3Am%3Ae'
    """
    return f"{console_url}#/executions/{quote(execution_arn, safe='')}"
