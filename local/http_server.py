"""The HTTP plumbing the local servers share: the API Gateway front door and the peers.

- :class:`LoopbackHTTPServer` and :class:`ServingThread`: a ``ThreadingHTTPServer`` serving on a
  daemon thread, started and stopped by its owner, able to cut its keep-alive connections.
- :func:`read_body`: a request body by ``Content-Length`` or chunked, within a size limit,
  refusing what is malformed with the status to answer (:class:`BodyError`).
- :class:`TokenBucket`: a rate limit, ``rate`` tokens a second, at most ``capacity`` saved.

>>> bucket = TokenBucket(rate=2.0, capacity=1, now=0.0)
>>> bucket.take(0.0), bucket.take(0.0), bucket.take(0.5)
(0.0, 0.5, 0.0)
"""

from __future__ import annotations

import contextlib
import io
import math
import socket
import threading
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

_MAX_LINE: Final = 65_536
_MAX_TRAILERS: Final = 100
_READ_PIECE: Final = 1024 * 1024


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` that knows its open connections, so it can cut them."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut keep-alive connections: a stopped server must not answer on old sockets."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class ServingThread:
    """``server`` serving on a daemon thread named ``name``, from construction to :meth:`stop`.

    Example::

        serving = ServingThread(LoopbackHTTPServer(("127.0.0.1", 0), Handler), name="peer")
        ...  # requests to serving.server.port
        serving.stop(cut_connections=True)
    """

    def __init__(self, server: LoopbackHTTPServer, *, name: str) -> None:
        self.server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=name,
            daemon=True,
        )
        self._thread.start()

    def stop(self, *, cut_connections: bool, join_timeout: float | None = None) -> None:
        """Stop accepting and close the listening socket; ``cut_connections`` also ends the
        keep-alive connections still open (else their requests run to their end)."""
        self.server.shutdown()
        self.server.server_close()
        if cut_connections:
            self.server.close_connections()
        self._thread.join(timeout=join_timeout)


class BodyError(Exception):
    """A request body that cannot be taken, and the status that says why (400, 411 or 413)."""

    def __init__(
        self, status: int, reason: str, *, unread: int = 0, consumed: bool = False
    ) -> None:
        super().__init__(reason)
        self.status = status
        # Body bytes the client is still sending (a Content-Length over every limit).
        self.unread = unread
        # The body was read to its end: the connection can carry the next request.
        self.consumed = consumed


class BodyCutShortError(BodyError):
    """The client sent less than it announced (it went away, or closed its side)."""

    def __init__(self) -> None:
        super().__init__(400, "body shorter than declared")


def read_body(
    rfile: io.BufferedIOBase,
    headers: Message,
    *,
    limit: int,
    discard_limit: int = 0,
    chunked: bool = True,
    length_required: bool = False,
) -> bytes:
    """The request body, by ``Content-Length`` or chunked, at most ``limit`` bytes.

    A body over ``limit`` but within ``discard_limit`` is read and thrown away before the 413,
    so the client, done sending, can read the answer; beyond it the body is left unread.
    ``chunked=False`` refuses chunked bodies; ``length_required`` answers 411 to a body
    announced neither way (else it is empty).
    """
    discard_limit = max(limit, discard_limit)
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        if not chunked:
            raise BodyError(400, "chunked bodies are not accepted; send Content-Length")
        return _read_chunked(rfile, limit, discard_limit)
    raw_lengths = headers.get_all("Content-Length") or []
    if not raw_lengths:
        if length_required:
            raise BodyError(411, "Content-Length or chunking required")
        return b""
    lengths = {value.strip() for value in raw_lengths}
    if len(lengths) != 1 or not next(iter(lengths)).isdigit():
        raise BodyError(400, "invalid Content-Length")
    length = int(next(iter(lengths)))
    if length > discard_limit:
        raise BodyError(413, f"body over {limit} bytes", unread=length)
    if length > limit:
        _read_exact(rfile, length, keep=False)
        raise BodyError(413, f"body over {limit} bytes", consumed=True)
    return _read_exact(rfile, length, keep=True)


def _read_chunked(rfile: io.BufferedIOBase, limit: int, discard_limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(_MAX_LINE + 1)
        if not line.endswith(b"\n"):
            raise BodyError(400, "truncated chunked body")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BodyError(400, "bad chunk size") from None
        if size < 0:
            raise BodyError(400, "bad chunk size")
        if size == 0:
            _skip_trailers(rfile)
            break
        if total + size > discard_limit:
            raise BodyError(413, f"body over {limit} bytes")
        keep = total + size <= limit
        data = _read_exact(rfile, size, keep=keep)
        if keep:
            parts.append(data)
        total += size
        if rfile.readline(_MAX_LINE + 1).strip():
            raise BodyError(400, "chunk not followed by CRLF")
    if total > limit:
        raise BodyError(413, f"body over {limit} bytes", consumed=True)
    return b"".join(parts)


def _skip_trailers(rfile: io.BufferedIOBase) -> None:
    for _ in range(_MAX_TRAILERS):
        if rfile.readline(_MAX_LINE + 1) in (b"\r\n", b"\n", b""):
            return
    raise BodyError(400, "too many trailers")


def _read_exact(rfile: io.BufferedIOBase, length: int, *, keep: bool) -> bytes:
    # In pieces: a body thrown away must not be held whole in memory first.
    parts: list[bytes] = []
    remaining = length
    while remaining > 0:
        piece = rfile.read(min(remaining, _READ_PIECE))
        if not piece:
            raise BodyCutShortError
        if keep:
            parts.append(piece)
        remaining -= len(piece)
    return b"".join(parts)


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` saved; a request takes one. Thread-safe;
    the caller's clock says what time it is (so tests move it instead of sleeping)."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        if rate < 0 or capacity < 0:
            raise ValueError("throttle rate and burst must be >= 0")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._tokens = float(capacity)
        self._updated = now
        self._lock = threading.Lock()

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one will be there (``inf`` at
        rate 0: the burst was all there is)."""
        with self._lock:
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
            self._updated = max(self._updated, now)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate if self.rate > 0 else math.inf
