"""A real HTTP endpoint standing in for the downstream ingest (NiFi's ``ListenHTTP``).

``POST /ingest`` takes one gzip NDJSON bundle, as deliver sends it::

    Authorization: Bearer <token>        401 when missing or wrong
    Idempotency-Key: <bundle sha256>     400 when missing; a repeat answers 200 {"duplicate": true}
    body: gzip, one JSON object a line   400 when not gzip, not NDJSON, or without a line
    at most max_body_bytes (64 MiB)      413 beyond (and 411 without Content-Length or chunking)

It remembers each accepted bundle by key and counts, per event id (``eventHeader.uuid``), how
many distinct bundles carried it: an event counted twice was delivered twice.

Failures are injected through methods or ``POST /_control`` (JSON with the same names):
``fail_rate`` (random 503s from a seeded RNG, reproducible), ``down`` / ``down_for`` (no HTTP
answer at all), ``latency_ms``, ``status_override`` (every ingest answers that status),
``hold`` (ingest requests wait until released, to freeze a request in flight without timing).

How "down" looks to a client: the server keeps listening, so ``/_control`` stays reachable to
bring it back, but every other request is answered by resetting the TCP connection without a
byte of HTTP (``SO_LINGER`` 0 then close). A client sees a connection reset or "remote end
closed connection without response", as from a crashed or firewalled endpoint, never a status
code. Reset requests are still logged (status ``None``, outcome ``down``), so a test can count
every attempt that reached the endpoint. Closing the listening socket instead would give a true
"connection refused", but then nothing could reach the server to bring it back up.

``GET /_received`` (and :meth:`DownstreamServer.received`) report bundles, event counts and the
request log with timestamps, statuses and outcomes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import socket
import struct
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from local.http_server import BodyCutShortError, BodyError, read_body
from local.peers.http_peer import (
    CONTROL_PATH,
    HEALTH_PATH,
    ControlError,
    HttpPeer,
    PeerControls,
    PeerHandler,
    boolean,
    milliseconds,
    optional,
    same_secret,
    seconds,
    serve_until_interrupted,
    share,
    status_code,
)

# The shared paths and ControlError belong to this module's API too: callers use them from here.
__all__ = [
    "CONTROL_PATH",
    "HEALTH_PATH",
    "INGEST_PATH",
    "MAX_BODY_BYTES",
    "MAX_DECOMPRESSED_BYTES",
    "RECEIVED_PATH",
    "BundleRecord",
    "ControlError",
    "DownstreamServer",
    "Outcome",
    "Received",
    "RequestRecord",
    "gunzip_capped",
    "main",
    "ndjson_event_ids",
]

INGEST_PATH: Final = "/ingest"
RECEIVED_PATH: Final = "/_received"
_QUIET_PATHS: Final = frozenset({CONTROL_PATH, RECEIVED_PATH, HEALTH_PATH})

MAX_BODY_BYTES: Final = 64 * 1024 * 1024
MAX_DECOMPRESSED_BYTES: Final = 256 * 1024 * 1024
# A body over the cap is read and thrown away up to this many times the cap, so the client gets
# its 413 instead of a reset in the middle of sending; beyond that the connection is cut.
_DISCARD_FACTOR: Final = 4
_MAX_KEY_LENGTH: Final = 1024
_LOGGED_HEADERS: Final = (
    "Content-Type",
    "Content-Encoding",
    "Content-Length",
    "Transfer-Encoding",
    "User-Agent",
)

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    """Why an ingest request got its answer."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    UNAUTHORIZED = "unauthorized"
    BAD_REQUEST = "bad_request"
    LENGTH_REQUIRED = "length_required"
    TOO_LARGE = "too_large"
    INJECTED_FAILURE = "injected_failure"
    STATUS_OVERRIDE = "status_override"
    DOWN = "down"
    NOT_FOUND = "not_found"
    ABORTED = "aborted"
    ERROR = "error"


# How a body the HTTP layer refused is logged (a malformed one: BAD_REQUEST).
_BODY_OUTCOMES: Final = {411: Outcome.LENGTH_REQUIRED, 413: Outcome.TOO_LARGE}


@dataclass(frozen=True)
class RequestRecord:
    """One request the endpoint saw (control and introspection requests are not logged)."""

    at: float
    """When it arrived, from the server's clock (epoch seconds by default)."""
    method: str
    path: str
    status: int | None
    """``None`` when the connection was reset (``down``) or the client went away."""
    outcome: Outcome
    idempotency_key: str | None = None
    events: int = 0
    body_bytes: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    """Content-Type, Content-Encoding, Content-Length, Transfer-Encoding and User-Agent."""

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["outcome"] = self.outcome.value
        document["headers"] = dict(self.headers)
        return document


@dataclass(frozen=True)
class BundleRecord:
    """An accepted bundle, by idempotency key (a repeat of the key is not recorded again)."""

    idempotency_key: str
    events: int
    size: int
    sha256: str
    """Of the gzip body as received."""
    received_at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Received:
    """A snapshot of what the endpoint received, from :meth:`DownstreamServer.received`."""

    bundles: dict[str, BundleRecord]
    events: dict[str, int]
    """Event id -> number of distinct accepted bundles that carried it."""
    requests: list[RequestRecord]

    @property
    def ingest_requests(self) -> list[RequestRecord]:
        return [request for request in self.requests if request.path == INGEST_PATH]

    @property
    def events_delivered_twice(self) -> dict[str, int]:
        return {event_id: count for event_id, count in self.events.items() if count > 1}

    def to_json(self) -> dict[str, Any]:
        return {
            "bundles": {key: bundle.to_json() for key, bundle in self.bundles.items()},
            "events": dict(self.events),
            "requests": [request.to_json() for request in self.requests],
        }


@dataclass(frozen=True)
class _Controls(PeerControls):
    fail_rate: float = 0.0
    down: bool = False
    down_until: float | None = None
    latency_ms: int = 0
    status_override: int | None = None


class _RejectedError(Exception):
    def __init__(self, status: int, outcome: Outcome, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message
        self.close = close


class DownstreamServer(HttpPeer[_Controls, RequestRecord]):
    """The downstream ingest endpoint on a real socket (``ThreadingHTTPServer``).

    ``port=0`` picks a free port; :attr:`url` is the base URL and :attr:`ingest_url` the one to
    configure as ``DOWNSTREAM_URL``. ``seed`` makes ``fail_rate`` reproducible; ``clock``
    (epoch seconds) timestamps the log and times ``down_for``, so tests can move it.

    Controls (:meth:`configure`): ``fail_rate``, ``down``, ``down_for``, ``latency_ms``,
    ``status_override``, ``hold`` (ingest requests wait, after their body is read, until
    :meth:`release`), ``seed``, ``reset`` (true: forget bundles, events and the request log).

    Example::

        with DownstreamServer(token="s3cret") as server:
            server.set_fail_rate(0.2)
            ...  # deliver to server.ingest_url
            assert not server.received().events_delivered_twice
    """

    _control_fields = {
        "fail_rate": share,
        "latency_ms": milliseconds,
        "status_override": optional(status_code),
        "hold": boolean,
    }
    _other_controls = ("down", "down_for")

    def __init__(
        self,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_decompressed_bytes: int = MAX_DECOMPRESSED_BYTES,
    ) -> None:
        if not token:
            raise ValueError("token must not be empty")
        super().__init__(
            host,
            port,
            seed=seed,
            clock=clock,
            controls=_Controls(),
            name="downstream",
            handler=_Handler,
        )
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.max_decompressed_bytes = max_decompressed_bytes
        self._bundles: dict[str, BundleRecord] = {}
        self._events: dict[str, int] = {}

    @property
    def ingest_url(self) -> str:
        return self.url + INGEST_PATH

    # -- failure controls -----------------------------------------------------------------

    def set_fail_rate(self, rate: float) -> None:
        """Answer this share of ingest requests (0..1) with 503, drawn from the seeded RNG."""
        self.configure(fail_rate=rate)

    def set_down(self, down: bool = True) -> None:
        """Reset every ingest connection until ``set_down(False)``, which also ends
        ``down_for``."""
        self.configure(down=down)

    def down_for(self, seconds: float) -> None:
        """Be down for ``seconds`` of the server's clock, then come back by itself."""
        self.configure(down_for=seconds)

    def set_latency_ms(self, latency_ms: int) -> None:
        """Wait this long before answering each ingest request."""
        self.configure(latency_ms=latency_ms)

    def set_status_override(self, status: int | None) -> None:
        """Answer every ingest request with ``status`` (e.g. 400); ``None`` ends the override."""
        self.configure(status_override=status)

    # -- introspection --------------------------------------------------------------------

    def received(self) -> Received:
        with self._lock:
            return Received(
                bundles=dict(self._bundles),
                events=dict(self._events),
                requests=list(self._requests),
            )

    # -- the controls' meaning --------------------------------------------------------------

    def _control_changes(
        self, name: str, value: Any, changes: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        if name == "down":
            return {"down": boolean(name, value), "down_until": None}
        return {"down": False, "down_until": self.clock() + seconds(name, value)}

    def _controls_applied(self, previous: _Controls, reset: bool) -> None:
        if reset:
            self._bundles.clear()
            self._events.clear()

    def _controls_json(self) -> dict[str, Any]:
        controls = self._controls
        remaining = None
        if controls.down_until is not None:
            remaining = max(0.0, controls.down_until - self.clock())
        return {
            "fail_rate": controls.fail_rate,
            "down": self._is_down(controls),
            "down_for_remaining": remaining,
            "latency_ms": controls.latency_ms,
            "status_override": controls.status_override,
            "hold": controls.hold,
        }

    # -- internals used by the request handler --------------------------------------------

    def _is_down(self, controls: _Controls) -> bool:
        return controls.down or (
            controls.down_until is not None and self.clock() < controls.down_until
        )

    def _accept(self, key: str, body: bytes, event_ids: Sequence[str | None], at: float) -> bool:
        """Record a bundle; ``False`` when its key was accepted before (nothing is counted)."""
        with self._lock:
            if key in self._bundles:
                return False
            self._bundles[key] = BundleRecord(
                idempotency_key=key,
                events=len(event_ids),
                size=len(body),
                sha256=hashlib.sha256(body).hexdigest(),
                received_at=at,
            )
            for event_id in {event_id for event_id in event_ids if event_id is not None}:
                self._events[event_id] = self._events.get(event_id, 0) + 1
            return True

    def _authorized(self, header: str | None) -> bool:
        return same_secret((header or "").strip(), f"Bearer {self.token}")


class _Handler(PeerHandler[DownstreamServer]):
    server_version = "stepflow-downstream/1"

    def get(self, path: str) -> None:
        if path == RECEIVED_PATH:
            self.answer_json(200, self.peer.received().to_json())
        else:
            self._log_simple(404, Outcome.NOT_FOUND)
            self.answer_json(404, {"error": f"no such resource: {path}"})

    def post(self, path: str) -> None:
        try:
            if path == INGEST_PATH:
                self._ingest()
            elif path == CONTROL_PATH:
                self.answer_control(self._read_body())
            else:
                self._read_body()
                self._log_simple(404, Outcome.NOT_FOUND)
                self.answer_json(404, {"error": f"no such resource: {path}"})
        except _RejectedError as reject:
            if path not in _QUIET_PATHS and path != INGEST_PATH:
                self._log_simple(reject.status, reject.outcome)
            self.answer_json(reject.status, {"error": reject.message}, close=reject.close)

    # -- ingest ---------------------------------------------------------------------------

    def _ingest(self) -> None:
        downstream = self.peer
        at, controls = downstream._arrive()
        key = (self.headers.get("Idempotency-Key") or "").strip() or None
        headers = {
            name: value for name in _LOGGED_HEADERS if (value := self.headers.get(name)) is not None
        }

        def log(status: int | None, outcome: Outcome, events: int = 0, size: int = 0) -> None:
            downstream._log(
                RequestRecord(at, "POST", INGEST_PATH, status, outcome, key, events, size, headers)
            )

        if downstream._is_down(controls):
            log(None, Outcome.DOWN)
            self._reset_connection()
            return
        try:
            body = self._read_body()
        except _RejectedError as rejected:
            log(rejected.status, rejected.outcome)
            raise
        except (ConnectionError, TimeoutError):
            log(None, Outcome.ABORTED)
            raise

        downstream._wait_released()
        downstream._sleep(controls.latency_ms / 1000)
        verdict = self._judge(body, key, controls)
        log(verdict.status, verdict.outcome, verdict.events, len(body))
        self.answer_json(verdict.status, verdict.document, verdict.headers)

    def _injected(self, controls: _Controls) -> _Verdict | None:
        """The failure the controls ask for, if any: they act before the endpoint's own checks,
        as a load balancer or a crashed backend would."""
        if controls.status_override is not None:
            status = controls.status_override
            return _Verdict(status, Outcome.STATUS_OVERRIDE, {"override": status})
        if self.peer._draw(controls.fail_rate):
            return _Verdict(
                503, Outcome.INJECTED_FAILURE, {"error": "injected failure"}, {"Retry-After": "1"}
            )
        return None

    def _judge(self, body: bytes, key: str | None, controls: _Controls) -> _Verdict:
        """What to answer to a received ingest body; records the bundle when accepted."""
        downstream = self.peer
        injected = self._injected(controls)
        if injected is not None:
            return injected
        if not downstream._authorized(self.headers.get("Authorization")):
            return _Verdict(
                401,
                Outcome.UNAUTHORIZED,
                {"error": "missing or wrong bearer token"},
                {"WWW-Authenticate": "Bearer"},
            )
        if key is None or len(key) > _MAX_KEY_LENGTH:
            return _bad_request("an Idempotency-Key header of at most 1024 characters is required")
        try:
            event_ids = ndjson_event_ids(gunzip_capped(body, downstream.max_decompressed_bytes))
        except _TooLargeError:
            return _Verdict(413, Outcome.TOO_LARGE, {"error": "decompressed body is too large"})
        except ValueError as error:
            return _bad_request(f"body is not gzip NDJSON: {error}")
        fresh = downstream._accept(key, body, event_ids, downstream.clock())
        return _Verdict(
            200,
            Outcome.ACCEPTED if fresh else Outcome.DUPLICATE,
            {"duplicate": not fresh, "idempotencyKey": key, "events": len(event_ids)},
            events=len(event_ids),
        )

    # -- HTTP plumbing --------------------------------------------------------------------

    def _read_body(self) -> bytes:
        cap = self.peer.max_body_bytes
        try:
            return read_body(
                self.rfile,
                self.headers,
                limit=cap,
                discard_limit=cap * _DISCARD_FACTOR,
                length_required=self.command == "POST",
            )
        except BodyCutShortError as error:
            raise _RejectedError(400, Outcome.ABORTED, str(error), close=True) from None
        except BodyError as error:
            outcome = _BODY_OUTCOMES.get(error.status, Outcome.BAD_REQUEST)
            raise _RejectedError(
                error.status, outcome, str(error), close=not error.consumed
            ) from None

    def _reset_connection(self) -> None:
        # Linger 0: close sends RST, not FIN, so the client gets no HTTP answer at all.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    def _log_simple(self, status: int, outcome: Outcome) -> None:
        path = urlsplit(self.path).path
        if path in _QUIET_PATHS:
            return
        self.peer._log(RequestRecord(self.peer.clock(), self.command, path, status, outcome))


class _TooLargeError(Exception):
    pass


@dataclass(frozen=True)
class _Verdict:
    status: int
    outcome: Outcome
    document: Mapping[str, Any]
    headers: Mapping[str, str] | None = None
    events: int = 0


def _bad_request(message: str) -> _Verdict:
    return _Verdict(400, Outcome.BAD_REQUEST, {"error": message})


def gunzip_capped(data: bytes, limit: int) -> bytes:
    """Decompress a gzip body (one or more members), refusing more than ``limit`` bytes out.

    Raises ``ValueError`` for anything that is not complete gzip.

    >>> import gzip
    >>> gunzip_capped(gzip.compress(b'{"a": 1}\\n') + gzip.compress(b'{"b": 2}\\n'), 100)
    b'{"a": 1}\\n{"b": 2}\\n'
    >>> gunzip_capped(b"plain text", 100)
    Traceback (most recent call last):
    ...
    ValueError: Error -3 while decompressing data: incorrect header check
    """
    if not data:
        raise ValueError("empty body")
    out = bytearray()
    rest = data
    while rest:
        decompressor = zlib.decompressobj(wbits=31)
        try:
            out += decompressor.decompress(rest, limit + 1 - len(out))
            while decompressor.unconsumed_tail and len(out) <= limit:
                out += decompressor.decompress(decompressor.unconsumed_tail, limit + 1 - len(out))
        except zlib.error as error:
            raise ValueError(str(error)) from None
        if len(out) > limit:
            raise _TooLargeError
        if not decompressor.eof:
            raise ValueError("truncated gzip stream")
        rest = decompressor.unused_data
    return bytes(out)


def ndjson_event_ids(text: bytes) -> list[str | None]:
    """One entry per line (each must be a JSON object): its ``eventHeader.uuid`` or ``None``.

    >>> ndjson_event_ids(b'{"eventHeader": {"uuid": "e-1"}}\\n{"other": true}\\n')
    ['e-1', None]
    >>> ndjson_event_ids(b"[1, 2]\\n")
    Traceback (most recent call last):
    ...
    ValueError: line 1 is not a JSON object
    """
    lines = text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise ValueError("no lines")
    event_ids: list[str | None] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise ValueError(f"line {number} is empty")
        try:
            document = json.loads(line)
        except (ValueError, RecursionError):
            raise ValueError(f"line {number} is not JSON") from None
        if not isinstance(document, dict):
            raise ValueError(f"line {number} is not a JSON object")
        header = document.get("eventHeader")
        uuid = header.get("uuid") if isinstance(header, dict) else None
        event_ids.append(uuid if isinstance(uuid, str) else None)
    return event_ids


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m local.peers.downstream --token T [--port 8089]``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--token", required=True, help="the bearer token to require")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fail_rate RNG")
    parser.add_argument("--fail-rate", type=float, default=0.0)
    arguments = parser.parse_args(argv)
    server = DownstreamServer(arguments.token, arguments.host, arguments.port, seed=arguments.seed)
    server.set_fail_rate(arguments.fail_rate)
    return serve_until_interrupted(server, lambda: server.ingest_url)


if __name__ == "__main__":
    raise SystemExit(main())
