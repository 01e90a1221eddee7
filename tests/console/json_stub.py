"""A stand-in upstream for the console's proxy: canned JSON by (method, path), every request
recorded, so a test checks exactly what the proxy sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from local.console.server import ConsoleServer, ConsoleTargets
from local.http_server import LoopbackHTTPServer, ServingThread

Answers = dict[tuple[str, str], tuple[int, Any]]


class JsonStub:
    """Serves ``answers`` on a free loopback port (anything else: 404) until :meth:`stop`."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.answer(self, "GET")

            def do_POST(self) -> None:
                stub.answer(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._serving = ServingThread(LoopbackHTTPServer(("127.0.0.1", 0), Handler), name="stub")
        self.url = f"http://127.0.0.1:{self._serving.server.port}"

    def answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self._lock:
            self.received.append(
                {
                    "method": method,
                    "path": handler.path,
                    "headers": dict(handler.headers),
                    "body": json.loads(raw) if raw else None,
                }
            )
        status, document = self.answers.get(
            (method, urlsplit(handler.path).path), (404, {"message": "Not Found"})
        )
        payload = json.dumps(document).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def requests(self) -> list[tuple[str, str, Any]]:
        with self._lock:
            return [(r["method"], r["path"], r["body"]) for r in self.received]

    def stop(self) -> None:
        self._serving.stop(cut_connections=True)


@contextmanager
def console_in_front_of(answers: Answers) -> Iterator[tuple[str, JsonStub]]:
    """A console whose AWS endpoint and HTTP API are both one stub: (console URL, stub)."""
    stub = JsonStub(answers)
    try:
        with ConsoleServer(ConsoleTargets(stub.url, stub.url, "us-east-1")) as console:
            yield console.url, stub
    finally:
        stub.stop()
