"""The console server on its own: static files, examples, what the proxy refuses and forwards.

A stub AWS endpoint and HTTP API (one recording server) stand in for the stack, so what the
proxy sends upstream is checked exactly.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from local.console.server import ConsoleServer, ConsoleTargets
from local.http_server import LoopbackHTTPServer, ServingThread
from local.json_http import request_json


class _Upstream(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            self.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.path.startswith("/ops/"):
            self._answer(404, {"message": "Not Found"})
        else:
            self._answer(200, {"stateMachines": []})

    def do_GET(self) -> None:
        self.do_POST()

    def _answer(self, status: int, document: Any) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def console() -> Iterator[str]:
    upstream = ServingThread(LoopbackHTTPServer(("127.0.0.1", 0), _Upstream), name="upstream")
    base = f"http://127.0.0.1:{upstream.server.port}"
    try:
        with ConsoleServer(ConsoleTargets(base, base, "us-east-1")) as server:
            yield server.url
    finally:
        upstream.stop(cut_connections=True)


def _states(console: str, action: str, headers: dict[str, str] | None = None) -> Any:
    return request_json(
        "POST",
        f"{console}aws/states",
        {},
        {"X-Amz-Target": f"AWSStepFunctions.{action}", **(headers or {})},
    )


def test_a_step_functions_call_is_forwarded_signed(console: str) -> None:
    status, answer = _states(console, "ListStateMachines")
    assert (status, answer) == (200, {"stateMachines": []})
    forwarded = _Upstream.seen[-1]
    assert forwarded["headers"]["X-Amz-Target"] == "AWSStepFunctions.ListStateMachines"
    assert forwarded["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=local/")
    assert "/us-east-1/states/aws4_request" in forwarded["headers"]["Authorization"]


def test_actions_outside_the_console_s_needs_are_refused(console: str) -> None:
    before = len(_Upstream.seen)
    status, answer = _states(console, "DeleteStateMachine")
    assert status == 403
    assert "DeleteStateMachine" in answer["message"]
    assert len(_Upstream.seen) == before


def test_a_request_from_another_site_is_refused(console: str) -> None:
    status, answer = _states(console, "ListStateMachines", {"Origin": "http://evil.example"})
    assert status == 403
    assert answer == {"message": "requests from other sites are refused"}


def test_the_operations_api_s_errors_come_back_as_they_were(console: str) -> None:
    assert request_json("GET", f"{console}api/ops/queues") == (404, {"message": "Not Found"})
    assert _Upstream.seen[-1]["path"] == "/ops/queues"
    status, _ = request_json("GET", f"{console}api/openapi.json")
    assert status == 404


def test_static_files_and_examples_are_served_and_nothing_outside(console: str) -> None:
    status, examples = request_json("GET", f"{console}console/examples")
    assert status == 200
    assert examples["examples"]["envelope.json"]["trackingId"] == "readme-1"
    status, answer = request_json("GET", f"{console}static/../server.py")
    assert status == 404
    assert "no such page" in answer["message"]
