"""What the peer servers' tests share: a fake clock, HTTP clients, the control endpoint and raw
sockets for input no HTTP client would send."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import urllib3

from local.peers.http_peer import HttpPeer


class Clock:
    """The servers' clock, moved by the test (``clock.now += 30``) instead of sleeping."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def pool(read_timeout: float = 10) -> urllib3.PoolManager:
    """A client that never retries: every attempt the test makes reaches the server once."""
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=read_timeout))


@pytest.fixture
def http() -> urllib3.PoolManager:
    return pool()


def control(http: urllib3.PoolManager, server: HttpPeer[Any, Any], **controls: Any) -> Any:
    """``POST /_control`` with ``controls``: the status and the controls the server answers."""
    response = http.request("POST", server.url + "/_control", body=json.dumps(controls))
    return response.status, response.json()


def assert_control_refused(
    http: urllib3.PoolManager, server: HttpPeer[Any, Any], body: bytes
) -> None:
    """A bad ``POST /_control`` body is a 400 and changes nothing."""
    before = server.controls()

    response = http.request("POST", server.url + "/_control", body=body)

    assert response.status == 400
    assert server.controls() == before


def exchange_raw(server: HttpPeer[Any, Any], data: bytes) -> bytes:
    """Send ``data`` as is, half-close, and return the start of the answer (``b""`` for none)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(data)
        raw.shutdown(socket.SHUT_WR)
        return raw.recv(4096)
