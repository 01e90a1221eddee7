"""What the local peers have in common: a real HTTP server on a daemon thread, failure controls
applied all or none (by method or ``POST /_control``), a seeded RNG, hold/release and a request
log.

A peer subclasses :class:`HttpPeer` with its own controls (a frozen dataclass extending
:class:`PeerControls`) and its own request handler (a :class:`PeerHandler`). The base owns the
lifecycle, the lock and everything the handler threads share; the peer says what its controls
mean (``_control_fields``, ``_control_changes``) and what follows from them or from a reset
beyond forgetting the request log (``_controls_applied``).

The control value checks are here too, so that every peer words its refusals alike:

>>> bounded("fail_rate", number("fail_rate", 0.5), 0.0, 1.0)
0.5
>>> share("fail_rate", 2)
Traceback (most recent call last):
...
local.peers.http_peer.ControlError: fail_rate must be between 0 and 1, got 2.0
>>> optional(status_code)("status_override", None) is None
True
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import math
import random
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, ClassVar, Final, Generic, Self, TypeVar
from urllib.parse import urlsplit

from local.http_server import LoopbackHTTPServer, ServingThread

CONTROL_PATH: Final = "/_control"
HEALTH_PATH: Final = "/health"


class ControlError(ValueError):
    """A control with a wrong name or value."""


@dataclass(frozen=True)
class PeerControls:
    """The controls every peer has; a peer's own controls extend these."""

    hold: bool = False


ControlsT = TypeVar("ControlsT", bound=PeerControls)
RecordT = TypeVar("RecordT")
PeerT = TypeVar("PeerT", bound="HttpPeer[Any, Any]")


class HttpPeer(Generic[ControlsT, RecordT]):
    """A peer on a real socket (``ThreadingHTTPServer``), started and stopped by the test.

    ``port=0`` picks a free port. ``seed`` makes the peer's random failures reproducible;
    ``clock`` timestamps the log (and times whatever the peer times), so tests can move it.
    ``name`` names the serving thread and prefixes log lines; ``handler`` answers the requests.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        seed: int,
        clock: Callable[[], float],
        controls: ControlsT,
        name: str,
        handler: type[PeerHandler[Any]],
    ) -> None:
        self.host = host
        self._requested_port = port
        self.clock = clock
        self._name = name
        self._handler = handler
        # The subclass's module: log lines keep coming from the peer they are about.
        self._logger = logging.getLogger(type(self).__module__)

        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._released = threading.Event()
        self._released.set()
        self._stopping = threading.Event()
        self._controls = controls
        self._random = random.Random(seed)
        self._requests: list[RecordT] = []
        self._arrivals = 0

        self._serving: ServingThread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns ``self``. Starting twice is an error."""
        if self._serving is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._stopping.clear()
        server = PeerHttpServer((self.host, self._requested_port), self._handler, self)
        self._serving = ServingThread(server, name=f"{self._name}-{server.port}")
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections; safe to call twice."""
        serving, self._serving = self._serving, None
        if serving is None:
            return
        self._stopping.set()
        self._released.set()
        serving.stop(cut_connections=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._serving is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._serving.server.port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    # -- controls ---------------------------------------------------------------------------

    def hold(self) -> None:
        """Make the peer's requests wait until :meth:`release` (or :meth:`stop`)."""
        self.configure(hold=True)

    def release(self) -> None:
        self.configure(hold=False)

    def reseed(self, seed: int) -> None:
        self.configure(seed=seed)

    def configure(self, **controls: Any) -> dict[str, Any]:
        """Apply controls by name, all or none (``ControlError`` names the first wrong one).

        Names: the peer's own (see its module), ``hold``, ``seed`` and ``reset`` (true: forget
        the request log and what the peer counts). Returns the controls now in force, as
        ``GET /_control`` shows them.
        """
        return self.apply_controls(controls)

    def apply_controls(self, controls: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`configure` with the controls in a mapping (the body of ``POST /_control``)."""
        with self._lock:
            updated, seed, reset = self._validated(controls)
            previous, self._controls = self._controls, updated
            if seed is not None:
                self._random = random.Random(seed)
            if reset:
                self._requests.clear()
                self._arrivals = 0
            self._controls_applied(previous, reset)
            if updated.hold:
                self._released.clear()
            else:
                self._released.set()
            return self._controls_json()

    def controls(self) -> dict[str, Any]:
        with self._lock:
            return self._controls_json()

    def reset(self) -> None:
        """Forget the request log and what the peer counts; the controls stay as they are."""
        self.configure(reset=True)

    def wait_for_arrivals(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` requests have arrived since the last reset (answered or not);
        ``False`` on timeout. With :meth:`hold`, this is how a test knows they are in flight."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._arrivals >= count, timeout)

    # -- what the peer defines ------------------------------------------------------------

    _control_fields: ClassVar[Mapping[str, Callable[[str, Any], Any]]] = {}
    """Controls that set the field of the same name, each with the check of its value."""
    _other_controls: ClassVar[tuple[str, ...]] = ()
    """Controls that :meth:`_control_changes` turns into fields."""

    def _control_changes(
        self, name: str, value: Any, changes: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """The fields one of :attr:`_other_controls` sets (``changes``: the fields the same
        call set before it). Raises :class:`ControlError` for a wrong value."""
        raise NotImplementedError(name)

    def _controls_json(self) -> dict[str, Any]:
        """The controls in force, as ``GET /_control`` shows them (called under the lock)."""
        raise NotImplementedError

    def _controls_applied(self, previous: ControlsT, reset: bool) -> None:
        """Whatever follows from new controls or a reset (called under the lock)."""

    def _on_arrival(self) -> None:
        """Counts of the peer's own, updated with the arrival count (called under the lock)."""

    # -- for the request handler ------------------------------------------------------------

    def _validated(self, controls: Mapping[str, Any]) -> tuple[ControlsT, int | None, bool]:
        changes: dict[str, Any] = {}
        seed: int | None = None
        reset = False
        for name, value in controls.items():
            if name == "seed":
                seed = integer(name, value)
            elif name == "reset":
                reset = boolean(name, value)
            elif name in self._control_fields:
                changes[name] = self._control_fields[name](name, value)
            elif name in self._other_controls:
                changes |= self._control_changes(name, value, changes)
            else:
                known = ", ".join([*self._control_fields, *self._other_controls, "seed", "reset"])
                raise ControlError(f"unknown control {name!r}; known: {known}")
        return replace(self._controls, **changes), seed, reset

    def _arrive(self) -> tuple[float, ControlsT]:
        """Count a request in; its arrival time and the controls it is answered under."""
        with self._arrived:
            self._arrivals += 1
            self._on_arrival()
            self._arrived.notify_all()
            return self.clock(), self._controls

    def _wait_released(self) -> None:
        while not self._released.wait(0.1):
            if self._stopping.is_set():
                return

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _draw(self, rate: float) -> bool:
        """``True`` for this share of the calls, from the seeded RNG."""
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate

    def _choose(self, options: Sequence[Any]) -> Any:
        with self._lock:
            return self._random.choice(options)

    def _log(self, record: RecordT) -> None:
        with self._lock:
            self._requests.append(record)


class PeerHttpServer(LoopbackHTTPServer, Generic[PeerT]):
    """A :class:`~local.http_server.LoopbackHTTPServer` that knows its peer."""

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], peer: PeerT
    ) -> None:
        self.peer = peer
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-request is normal here (timeouts, resets on purpose).
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        self.peer._logger.exception("%s: request from %s failed", self.peer._name, client_address)


class PeerHandler(BaseHTTPRequestHandler, Generic[PeerT]):
    """Answers ``GET /_control`` and ``GET /health``; the peer's handler answers the rest
    (:meth:`get`, :meth:`post`, with :meth:`answer_control` for ``POST /_control``). No request
    takes the server down (:meth:`guarded`)."""

    server: PeerHttpServer[PeerT]
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections end after this, so their threads do not linger.
    timeout = 30

    @property
    def peer(self) -> PeerT:
        return self.server.peer

    def log_message(self, format: str, *args: Any) -> None:
        self.peer._logger.debug(f"{self.peer._name}: %s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        with self.guarded(path):
            if path == CONTROL_PATH:
                self.answer_json(200, self.peer.controls())
            elif path == HEALTH_PATH:
                self.answer_json(200, {"ok": True})
            else:
                self.get(path)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        with self.guarded(path):
            self.post(path)

    def get(self, path: str) -> None:
        """Answer a ``GET`` of any other path (404 for those the peer does not serve)."""
        raise NotImplementedError

    def post(self, path: str) -> None:
        """Answer a ``POST`` (:meth:`answer_control` for ``/_control``)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def guarded(self, path: str) -> Iterator[None]:
        """A client gone away closes the connection; any other failure is logged and
        answered 500: bad input never takes the server down."""
        try:
            yield
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            self.peer._logger.exception("%s: %s %s failed", self.peer._name, self.command, path)
            with contextlib.suppress(Exception):
                self.answer_json(500, {"error": "internal error"}, close=True)

    def answer_control(self, body: bytes) -> None:
        """``POST /_control``: 200 with the controls now in force, or 400 naming what is wrong
        (and nothing applied)."""
        try:
            document = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            self.answer_json(400, {"error": "control body must be JSON"})
            return
        if not isinstance(document, dict):
            self.answer_json(400, {"error": "control body must be a JSON object"})
            return
        try:
            controls = self.peer.apply_controls(document)
        except ControlError as error:
            self.answer_json(400, {"error": str(error)})
            return
        self.answer_json(200, controls)

    def answer(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def answer_json(
        self,
        status: int,
        document: Any,
        headers: Mapping[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        self.answer(status, json.dumps(document).encode(), headers=headers, close=close)


def same_secret(given: str | None, expected: str) -> bool:
    """Whether a client sent the secret, compared in constant time (any text, even unpaired
    surrogates from a garbled header, compares without an error).

    >>> same_secret("k-1", "k-1"), same_secret(None, "k-1"), same_secret("\\udcff", "k-1")
    (True, False, False)
    """
    return hmac.compare_digest((given or "").encode("utf-8", "surrogateescape"), expected.encode())


def serve_until_interrupted(peer: HttpPeer[Any, Any], endpoint: Callable[[], str]) -> int:
    """Run ``peer`` until Ctrl-C, after saying where it listens (``endpoint()``, its main URL,
    is asked once the port is bound)."""
    logging.basicConfig(level=logging.INFO)
    with peer:
        print(f"{peer._name} listening on {endpoint()} (control: POST {peer.url}{CONTROL_PATH})")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


# -- control values -----------------------------------------------------------------------------


def number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ControlError(f"{name} must be a number, got {value!r}")
    return float(value)


def integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(f"{name} must be an integer, got {value!r}")
    return value


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ControlError(f"{name} must be true or false, got {value!r}")
    return value


def bounded(name: str, value: float, low: float, high: float | None) -> float:
    if value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
        raise ControlError(f"{name} must be {bounds}, got {value!r}")
    return value


def share(name: str, value: Any) -> float:
    """A share of the requests, 0 to 1."""
    return bounded(name, number(name, value), 0.0, 1.0)


def milliseconds(name: str, value: Any) -> int:
    return int(bounded(name, integer(name, value), 0, None))


def seconds(name: str, value: Any) -> float:
    return bounded(name, number(name, value), 0.0, None)


def status_code(name: str, value: Any) -> int:
    return int(bounded(name, integer(name, value), 200, 599))


def optional(parse: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """``parse``, but ``None`` (JSON ``null``: "not set") passes as itself."""
    return lambda name, value: None if value is None else parse(name, value)
