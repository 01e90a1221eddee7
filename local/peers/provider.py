"""A real HTTP endpoint standing in for the enrichment provider (Keepa-like), for enrich_batch.

``GET /products?key=<apiKey>&asin=A,B`` (or ``&ean=E1,E2``; at most 20 ids) answers::

    200 {"products": [{"asin"|"ean", "title", "brand", "category",
                       "price": {"amount", "currency"}, "salesRank"}],
         "unknown": ["id", ...]}
    401 missing or wrong key         400 no ids, both id types, over 20 ids, a malformed id
    429 + Retry-After over the rate  500/503 injected faults

**The product database is deterministic.** Every well-formed id is known, with attributes
derived from a hash of the id (the same in every run and process: :func:`derived_product`),
except:

- an ASIN whose last character is ``Z`` (``B00000000Z``),
- an EAN whose check digit is wrong (``4006381333931`` is known, ``4006381333932`` is not;
  :func:`ean_check_digit` computes the right one),
- the ids given to the ``unknown`` control.

``catalog`` (id -> attributes) adds products or replaces derived ones; its entries are answered
as given, so a test can plant a product with broken attributes. :meth:`ProviderServer.product`
says what the provider answers for any id.

Failures are injected through methods or ``POST /_control`` (JSON with the same names):
``rate_limit_per_second`` (token bucket, ``burst`` tokens deep; over it: 429 with
``Retry-After`` in whole seconds until the next token), ``fault_rate`` (random 500/503 from a
seeded RNG, reproducible), ``latency_ms``, ``garbage_rate`` and ``garbage_kind`` (a 200 whose
body is not the contract's: see :class:`GarbageKind`), ``status_override``, ``unknown`` /
``add_unknown``, ``hold`` (lookups wait until released, to freeze requests in flight without
timing), ``seed``, ``reset``.

``GET /_stats`` (and :meth:`ProviderServer.stats`) report the request log, the number of
lookups and the **most lookups ever in flight at once**, the figure that shows whether callers
kept to their concurrency limit. Control, stats and health requests are not counted.

Time (the token bucket, the log's timestamps) comes from ``clock``, monotonic seconds by
default; tests pass a fake one and move it instead of sleeping.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import logging
import math
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

PRODUCTS_PATH: Final = "/products"
CONTROL_PATH: Final = "/_control"
STATS_PATH: Final = "/_stats"
HEALTH_PATH: Final = "/health"

MAX_IDS: Final = 20
ID_TYPES: Final = ("asin", "ean")
_ASIN: Final = re.compile(r"[A-Z0-9]{10}")
_EAN: Final = re.compile(r"[0-9]{13}")
_MAX_CONTROL_BYTES: Final = 64 * 1024
_MAX_SHOWN_ID: Final = 40

_BRANDS: Final = ("Acme", "Globex", "Initech", "Umbrella", "Soylent", "Hooli", "Vandelay", "Wonka")
_CATEGORIES: Final = ("Kitchen", "Garden", "Toys", "Electronics", "Books", "Sports", "Office")
_ADJECTIVES: Final = ("Compact", "Deluxe", "Classic", "Smart", "Eco", "Pro", "Mini", "Ultra")
_NOUNS: Final = ("Kettle", "Lamp", "Backpack", "Speaker", "Notebook", "Bottle", "Drill", "Mug")

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    """Why a lookup got its answer."""

    OK = "ok"
    GARBAGE = "garbage"
    UNAUTHORIZED = "unauthorized"
    BAD_REQUEST = "bad_request"
    THROTTLED = "throttled"
    FAULT = "fault"
    STATUS_OVERRIDE = "status_override"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    ABORTED = "aborted"
    ERROR = "error"


class GarbageKind(StrEnum):
    """The ways a 200 answer can break the contract (``garbage_kind``; random when unset)."""

    NOT_JSON = "not_json"
    """An HTML error page, as from a misbehaving proxy."""
    TRUNCATED = "truncated"
    """The right answer cut in the middle."""
    WRONG_SHAPE = "wrong_shape"
    """JSON without a ``products`` array."""
    WRONG_TYPES = "wrong_types"
    """Products whose ``price`` and ``salesRank`` are strings."""
    MISSING_FIELDS = "missing_fields"
    """Products without ``title`` and ``price``."""


# -- the product database -----------------------------------------------------------------------


def ean_check_digit(first_twelve: str) -> int:
    """The EAN-13 check digit of twelve digits (weights 1, 3, 1, 3, ... from the left).

    >>> ean_check_digit("400638133393")
    1
    """
    if not re.fullmatch(r"[0-9]{12}", first_twelve):
        raise ValueError(f"not twelve digits: {first_twelve!r}")
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(first_twelve))
    return (10 - total % 10) % 10


def valid_ean(first_twelve: str) -> str:
    """Twelve digits completed with their check digit: an EAN the provider knows by default.

    >>> valid_ean("400638133393")
    '4006381333931'
    """
    return first_twelve + str(ean_check_digit(first_twelve))


def id_type_of(identifier: str) -> str | None:
    """``"asin"``, ``"ean"`` or ``None`` for a string that is neither.

    >>> id_type_of("B000123456"), id_type_of("4006381333931"), id_type_of("x")
    ('asin', 'ean', None)
    """
    if _ASIN.fullmatch(identifier):
        return "asin"
    if _EAN.fullmatch(identifier):
        return "ean"
    return None


def known_by_default(id_type: str, identifier: str) -> bool:
    """The default rule: ASINs not ending in ``Z`` and EANs with a right check digit are known.

    >>> known_by_default("asin", "B000123456"), known_by_default("asin", "B00012345Z")
    (True, False)
    >>> known_by_default("ean", "4006381333931"), known_by_default("ean", "4006381333932")
    (True, False)
    """
    if id_type == "asin":
        return bool(_ASIN.fullmatch(identifier)) and not identifier.endswith("Z")
    if id_type == "ean":
        return bool(_EAN.fullmatch(identifier)) and (
            ean_check_digit(identifier[:12]) == int(identifier[12])
        )
    return False


def derived_product(id_type: str, identifier: str) -> dict[str, Any]:
    """The attributes the provider gives an id it knows by default, derived from a hash of it.

    >>> product = derived_product("asin", "B000123456")
    >>> product == derived_product("asin", "B000123456"), sorted(product)
    (True, ['asin', 'brand', 'category', 'price', 'salesRank', 'title'])
    >>> product["price"]["currency"], derived_product("ean", "4006381333931")["price"]["currency"]
    ('USD', 'EUR')
    """
    digest = hashlib.sha256(f"{id_type}:{identifier}".encode()).digest()
    n = int.from_bytes(digest[:8], "big")
    brand = _BRANDS[n % len(_BRANDS)]
    noun = _NOUNS[(n >> 8) % len(_NOUNS)]
    adjective = _ADJECTIVES[(n >> 16) % len(_ADJECTIVES)]
    return {
        id_type: identifier,
        "title": f"{brand} {adjective} {noun}",
        "brand": brand,
        "category": _CATEGORIES[(n >> 24) % len(_CATEGORIES)],
        "price": {
            "amount": round(((n >> 32) % 50_000 + 99) / 100, 2),
            "currency": "USD" if id_type == "asin" else "EUR",
        },
        "salesRank": (n >> 40) % 1_000_000 + 1,
    }


# -- records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    """One lookup the provider saw (control, stats and health requests are not logged)."""

    at: float
    """When it arrived, on the server's clock."""
    method: str
    path: str
    status: int | None
    """``None`` when the client went away before the answer."""
    outcome: Outcome
    id_type: str | None = None
    ids: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    garbage: GarbageKind | None = None
    retry_after: int | None = None

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["outcome"] = self.outcome.value
        document["ids"] = list(self.ids)
        document["unknown"] = list(self.unknown)
        document["garbage"] = self.garbage.value if self.garbage else None
        return document


@dataclass(frozen=True)
class ProviderStats:
    """A snapshot of what the provider saw, from :meth:`ProviderServer.stats`."""

    total_calls: int
    """Lookups received (answered or not)."""
    max_in_flight: int
    """The most lookups ever being handled at the same moment."""
    in_flight: int
    requests: list[RequestRecord]

    def outcomes(self) -> list[Outcome]:
        return [request.outcome for request in self.requests]

    def to_json(self) -> dict[str, Any]:
        return {
            "totalCalls": self.total_calls,
            "maxInFlight": self.max_in_flight,
            "inFlight": self.in_flight,
            "requests": [request.to_json() for request in self.requests],
        }


class ControlError(ValueError):
    """A control with a wrong name or value."""


@dataclass(frozen=True)
class _Controls:
    rate_limit_per_second: float | None = None
    burst: int | None = None
    fault_rate: float = 0.0
    latency_ms: int = 0
    garbage_rate: float = 0.0
    garbage_kind: GarbageKind | None = None
    status_override: int | None = None
    hold: bool = False
    unknown: frozenset[str] = field(default_factory=frozenset)

    def to_json(self) -> dict[str, Any]:
        return {
            "rate_limit_per_second": self.rate_limit_per_second,
            "burst": self.burst,
            "fault_rate": self.fault_rate,
            "latency_ms": self.latency_ms,
            "garbage_rate": self.garbage_rate,
            "garbage_kind": self.garbage_kind.value if self.garbage_kind else None,
            "status_override": self.status_override,
            "hold": self.hold,
            "unknown": sorted(self.unknown),
        }


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` saved; a request takes one.

    >>> bucket = TokenBucket(rate=2.0, capacity=1, now=0.0)
    >>> bucket.take(0.0), bucket.take(0.0), bucket.take(0.5)
    (0.0, 0.5, 0.0)
    """

    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = float(capacity)
        self.updated = now

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.capacity), self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass(frozen=True)
class _Verdict:
    status: int
    outcome: Outcome
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    id_type: str | None = None
    ids: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    garbage: GarbageKind | None = None
    retry_after: int | None = None


def _json_verdict(status: int, outcome: Outcome, document: Any, **more: Any) -> _Verdict:
    return _Verdict(status, outcome, json.dumps(document).encode(), **more)


# -- the server ---------------------------------------------------------------------------------


class ProviderServer:
    """The enrichment provider on a real socket (``ThreadingHTTPServer``).

    ``port=0`` picks a free port; :attr:`url` is the base URL to configure as ``PROVIDER_URL``
    and :attr:`products_url` the lookup endpoint. ``seed`` makes ``fault_rate`` and
    ``garbage_rate`` reproducible; ``catalog`` maps ids to the attributes to answer for them
    (see the module's docstring for the default database).

    Example::

        with ProviderServer(api_key="k-1") as provider:
            provider.set_rate_limit(5)          # 5 lookups/s, then 429 + Retry-After
            provider.add_unknown("B000123456")
            ...                                 # run enrich_batch against provider.url
            assert provider.stats().max_in_flight <= 10
    """

    def __init__(
        self,
        api_key: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        catalog: Mapping[str, Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.api_key = api_key
        self.host = host
        self._requested_port = port
        self.clock = clock
        self.catalog: dict[str, dict[str, Any]] = {
            identifier: dict(attributes) for identifier, attributes in (catalog or {}).items()
        }

        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._released = threading.Event()
        self._released.set()
        self._stopping = threading.Event()
        self._controls = _Controls()
        self._random = random.Random(seed)
        self._bucket: TokenBucket | None = None
        self._requests: list[RequestRecord] = []
        self._total_calls = 0
        self._in_flight = 0
        self._max_in_flight = 0

        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> ProviderServer:
        """Bind and serve in a daemon thread; returns ``self``. Starting twice is an error."""
        if self._server is not None:
            raise RuntimeError("ProviderServer is already running")
        self._stopping.clear()
        server = _HttpServer((self.host, self._requested_port), _Handler, self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"provider-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        self._released.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> ProviderServer:
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
        if self._server is None:
            raise RuntimeError("ProviderServer is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def products_url(self) -> str:
        return self.url + PRODUCTS_PATH

    # -- the database -----------------------------------------------------------------------

    def product(self, identifier: str) -> dict[str, Any] | None:
        """What a lookup answers for ``identifier`` now; ``None`` when it is unknown.

        >>> ProviderServer("k").product("B00000000Z") is None
        True
        """
        id_type = id_type_of(identifier)
        if id_type is None or identifier in self._controls.unknown:
            return None
        if identifier in self.catalog:
            return {id_type: identifier, **self.catalog[identifier]}
        if not known_by_default(id_type, identifier):
            return None
        return derived_product(id_type, identifier)

    def is_known(self, identifier: str) -> bool:
        return self.product(identifier) is not None

    # -- failure controls -----------------------------------------------------------------

    def set_rate_limit(self, per_second: float | None, burst: int | None = None) -> None:
        """Allow ``per_second`` lookups a second with ``burst`` saved (default: one second's
        worth, at least 1); ``None`` lifts the limit. The bucket starts full."""
        self.configure(rate_limit_per_second=per_second, burst=burst)

    def set_fault_rate(self, rate: float) -> None:
        """Answer this share of lookups (0..1) with 500 or 503, drawn from the seeded RNG."""
        self.configure(fault_rate=rate)

    def set_latency_ms(self, latency_ms: int) -> None:
        """Wait this long before answering each lookup."""
        self.configure(latency_ms=latency_ms)

    def set_garbage_rate(self, rate: float, kind: GarbageKind | str | None = None) -> None:
        """Answer this share of lookups with a garbage 200 of ``kind`` (random when ``None``)."""
        self.configure(garbage_rate=rate, garbage_kind=kind)

    def set_status_override(self, status: int | None) -> None:
        """Answer every lookup with ``status`` (a 429 carries ``Retry-After: 1``); ``None``
        ends the override."""
        self.configure(status_override=status)

    def set_unknown(self, identifiers: Iterable[str]) -> None:
        """Make exactly these ids unknown (on top of the default rule)."""
        self.configure(unknown=list(identifiers))

    def add_unknown(self, *identifiers: str) -> None:
        self.configure(add_unknown=list(identifiers))

    def hold(self) -> None:
        """Make lookups wait (counted in flight) until :meth:`release`."""
        self.configure(hold=True)

    def release(self) -> None:
        self.configure(hold=False)

    def reseed(self, seed: int) -> None:
        self.configure(seed=seed)

    def configure(self, **controls: Any) -> dict[str, Any]:
        """Apply controls by name, all or none (``ControlError`` names the first wrong one).

        Names: ``rate_limit_per_second``, ``burst``, ``fault_rate``, ``latency_ms``,
        ``garbage_rate``, ``garbage_kind``, ``status_override``, ``unknown`` (replaces the set),
        ``add_unknown``, ``hold``, ``seed``, ``reset`` (true: forget the log and counters).
        Returns the controls now in force, as ``GET /_control`` shows them.
        """
        return self.apply_controls(controls)

    def apply_controls(self, controls: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`configure` with the controls in a mapping (the body of ``POST /_control``)."""
        with self._lock:
            updated, seed, reset = self._validated(controls)
            rate_changed = (updated.rate_limit_per_second, updated.burst) != (
                self._controls.rate_limit_per_second,
                self._controls.burst,
            )
            self._controls = updated
            if seed is not None:
                self._random = random.Random(seed)
            if rate_changed or reset:
                self._bucket = _new_bucket(updated, self.clock())
            if reset:
                self._requests.clear()
                self._total_calls = 0
                self._max_in_flight = self._in_flight
            if updated.hold:
                self._released.clear()
            else:
                self._released.set()
            return updated.to_json()

    def controls(self) -> dict[str, Any]:
        with self._lock:
            return self._controls.to_json()

    def reset(self) -> None:
        """Forget the log and the counters and refill the bucket; the controls stay."""
        self.configure(reset=True)

    # -- introspection --------------------------------------------------------------------

    def stats(self) -> ProviderStats:
        with self._lock:
            return ProviderStats(
                total_calls=self._total_calls,
                max_in_flight=self._max_in_flight,
                in_flight=self._in_flight,
                requests=list(self._requests),
            )

    def requests(self) -> list[RequestRecord]:
        return self.stats().requests

    @property
    def total_calls(self) -> int:
        with self._lock:
            return self._total_calls

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def wait_for_arrivals(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` lookups have arrived since the last reset; ``False`` on
        timeout. With :meth:`hold`, this is how a test knows its requests are in flight."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._total_calls >= count, timeout)

    # -- internals used by the request handler --------------------------------------------

    def _validated(self, controls: Mapping[str, Any]) -> tuple[_Controls, int | None, bool]:
        changes: dict[str, Any] = {}
        seed: int | None = None
        reset = False
        unknown = set(self._controls.unknown)
        for name, value in controls.items():
            if name == "seed":
                seed = _integer(name, value)
            elif name == "reset":
                reset = _boolean(name, value)
            elif name == "unknown":
                unknown = set(_identifiers(name, value))
            elif name == "add_unknown":
                unknown |= set(_identifiers(name, value))
            elif name in _CONTROL_PARSERS:
                changes[name] = _CONTROL_PARSERS[name](name, value)
            else:
                known = ", ".join([*_CONTROL_PARSERS, "unknown", "add_unknown", "seed", "reset"])
                raise ControlError(f"unknown control {name!r}; known: {known}")
        changes["unknown"] = frozenset(unknown)
        return replace(self._controls, **changes), seed, reset

    def _arrive(self) -> tuple[float, _Controls]:
        with self._arrived:
            self._total_calls += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self._arrived.notify_all()
            return self.clock(), self._controls

    def _depart(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _wait_released(self) -> None:
        while not self._released.wait(0.1):
            if self._stopping.is_set():
                return

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _draw(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate

    def _choose(self, options: Sequence[Any]) -> Any:
        with self._lock:
            return self._random.choice(options)

    def _take_token(self) -> float:
        with self._lock:
            if self._bucket is None:
                return 0.0
            return self._bucket.take(self.clock())

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _authorized(self, key: str | None) -> bool:
        given = (key or "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self.api_key.encode())


def _new_bucket(controls: _Controls, now: float) -> TokenBucket | None:
    rate = controls.rate_limit_per_second
    if rate is None:
        return None
    capacity = controls.burst if controls.burst is not None else max(1, math.floor(rate))
    return TokenBucket(rate, capacity, now)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        provider: ProviderServer,
    ) -> None:
        self.provider = provider
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

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

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-request is normal here (timeouts, resets on purpose).
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        logger.exception("provider: request from %s failed", client_address)


class _BadRequestError(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    server_version = "stepflow-provider/1"
    # Idle keep-alive connections end after this, so their threads do not linger.
    timeout = 30
    # Headers and body go out as two writes; with Nagle the second waits for the client's
    # delayed ACK (~40 ms a request), which would make the provider look slow for no reason.
    disable_nagle_algorithm = True

    @property
    def provider(self) -> ProviderServer:
        return self.server.provider

    def log_message(self, format: str, *args: Any) -> None:
        # The request line carries the API key in its query string, and http.server puts it in
        # its messages: log only the method and path. Both may be unset when http.server logs
        # an error about a request line it could not parse.
        command = getattr(self, "command", None) or "-"
        path = urlsplit(getattr(self, "path", "") or "").path or "-"
        logger.debug("provider: %s %s %s", self.address_string(), command, path)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        try:
            if path == PRODUCTS_PATH:
                self._lookup()
            elif path == STATS_PATH:
                self._answer_json(200, self.provider.stats().to_json())
            elif path == CONTROL_PATH:
                self._answer_json(200, self.provider.controls())
            elif path == HEALTH_PATH:
                self._answer_json(200, {"ok": True})
            else:
                self._log_simple(path, 404, Outcome.NOT_FOUND)
                self._answer_json(404, {"error": f"no such resource: {path}"})
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            logger.exception("provider: GET %s failed", path)
            with contextlib.suppress(Exception):
                self._answer_json(500, {"error": "internal error"}, close=True)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        try:
            body = self._read_body()
            if path == CONTROL_PATH:
                self._control(body)
            elif path == PRODUCTS_PATH:
                self._log_simple(path, 405, Outcome.METHOD_NOT_ALLOWED)
                self._answer_json(405, {"error": "use GET"}, headers={"Allow": "GET"})
            else:
                self._log_simple(path, 404, Outcome.NOT_FOUND)
                self._answer_json(404, {"error": f"no such resource: {path}"})
        except _BadRequestError as error:
            self._answer_json(400, {"error": str(error)}, close=True)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            logger.exception("provider: POST %s failed", path)
            with contextlib.suppress(Exception):
                self._answer_json(500, {"error": "internal error"}, close=True)

    # -- lookups ----------------------------------------------------------------------------

    def _lookup(self) -> None:
        provider = self.provider
        at, controls = provider._arrive()
        try:
            provider._wait_released()
            provider._sleep(controls.latency_ms / 1000)
            verdict = self._judge(controls)
            provider._log(
                RequestRecord(
                    at,
                    self.command,
                    PRODUCTS_PATH,
                    verdict.status,
                    verdict.outcome,
                    verdict.id_type,
                    verdict.ids,
                    verdict.unknown,
                    verdict.garbage,
                    verdict.retry_after,
                )
            )
        finally:
            # Out of flight before the first byte of the answer: a caller that starts its next
            # lookup the moment it has this answer must not be counted twice at once.
            provider._depart()
        self._answer(verdict)

    def _judge(self, controls: _Controls) -> _Verdict:
        """The answer to a lookup. Injected failures act first, as a load balancer or a crashed
        backend would; then the key, the request, the rate limit; then the database."""
        provider = self.provider
        injected = self._injected(controls)
        if injected is not None:
            return injected
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True, errors="replace")
        keys = query.get("key", [])
        if not provider._authorized(keys[0] if len(keys) == 1 else None):
            return _json_verdict(401, Outcome.UNAUTHORIZED, {"error": "missing or wrong key"})
        try:
            id_type, ids = _requested_ids(query)
        except _BadRequestError as error:
            return _json_verdict(400, Outcome.BAD_REQUEST, {"error": str(error)})
        wait = provider._take_token()
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            return _json_verdict(
                429,
                Outcome.THROTTLED,
                {"error": "rate limit exceeded"},
                headers={"Retry-After": str(retry_after)},
                id_type=id_type,
                ids=ids,
                retry_after=retry_after,
            )
        return self._products(controls, id_type, ids)

    def _injected(self, controls: _Controls) -> _Verdict | None:
        provider = self.provider
        if controls.status_override is not None:
            status = controls.status_override
            retry = 1 if status == 429 else None
            return _json_verdict(
                status,
                Outcome.STATUS_OVERRIDE,
                {"error": "status override"},
                headers={"Retry-After": "1"} if retry else {},
                retry_after=retry,
            )
        if provider._draw(controls.fault_rate):
            status = provider._choose((500, 503))
            return _json_verdict(status, Outcome.FAULT, {"error": "injected fault"})
        return None

    def _products(self, controls: _Controls, id_type: str, ids: tuple[str, ...]) -> _Verdict:
        provider = self.provider
        found: list[dict[str, Any]] = []
        missing: list[str] = []
        for identifier in ids:
            product = provider.product(identifier)
            if product is None:
                missing.append(identifier)
            else:
                found.append(product)
        unknown = tuple(missing)
        if provider._draw(controls.garbage_rate):
            kind = controls.garbage_kind or provider._choose(list(GarbageKind))
            body, content_type = _garbage(kind, found, list(unknown))
            return _Verdict(
                200, Outcome.GARBAGE, body, content_type, {}, id_type, ids, unknown, kind
            )
        return _json_verdict(
            200,
            Outcome.OK,
            {"products": found, "unknown": list(unknown)},
            id_type=id_type,
            ids=ids,
            unknown=unknown,
        )

    # -- control ----------------------------------------------------------------------------

    def _control(self, body: bytes) -> None:
        try:
            document = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            raise _BadRequestError("control body must be JSON") from None
        if not isinstance(document, dict):
            raise _BadRequestError("control body must be a JSON object")
        try:
            self._answer_json(200, self.provider.apply_controls(document))
        except ControlError as error:
            self._answer_json(400, {"error": str(error)})

    # -- HTTP plumbing ----------------------------------------------------------------------

    def _read_body(self) -> bytes:
        raw_length = self.headers.get("Content-Length")
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise _BadRequestError("chunked bodies are not accepted; send Content-Length")
        if raw_length is None:
            return b""
        if not raw_length.strip().isdigit():
            raise _BadRequestError("invalid Content-Length")
        length = int(raw_length)
        if length > _MAX_CONTROL_BYTES:
            raise _BadRequestError(f"body over {_MAX_CONTROL_BYTES} bytes")
        data = self.rfile.read(length)
        if len(data) < length:
            raise ConnectionError("body shorter than declared")
        return data

    def _answer(self, verdict: _Verdict) -> None:
        self.send_response(verdict.status)
        self.send_header("Content-Type", verdict.content_type)
        self.send_header("Content-Length", str(len(verdict.body)))
        for name, value in verdict.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(verdict.body)

    def _answer_json(
        self,
        status: int,
        document: Any,
        *,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def _log_simple(self, path: str, status: int, outcome: Outcome) -> None:
        self.provider._log(
            RequestRecord(self.provider.clock(), self.command, path, status, outcome)
        )


def _requested_ids(query: Mapping[str, list[str]]) -> tuple[str, tuple[str, ...]]:
    present = [id_type for id_type in ID_TYPES if id_type in query]
    if len(present) != 1:
        raise _BadRequestError("give exactly one of asin= or ean=")
    id_type = present[0]
    values = query[id_type]
    if len(values) != 1:
        raise _BadRequestError(f"{id_type}= given {len(values)} times; list the ids once")
    ids = tuple(dict.fromkeys(part.strip() for part in values[0].split(",")))
    if not ids or "" in ids:
        raise _BadRequestError(f"{id_type}= holds an empty id")
    if len(ids) > MAX_IDS:
        raise _BadRequestError(f"at most {MAX_IDS} ids per request, got {len(ids)}")
    pattern = _ASIN if id_type == "asin" else _EAN
    for identifier in ids:
        if not pattern.fullmatch(identifier):
            shown = identifier[:_MAX_SHOWN_ID]
            raise _BadRequestError(f"invalid {id_type} {shown!r}")
    return id_type, ids


def _garbage(
    kind: GarbageKind, found: list[dict[str, Any]], unknown: list[str]
) -> tuple[bytes, str]:
    """A 200 body of ``kind`` for an answer that should have been ``found`` and ``unknown``."""
    if kind is GarbageKind.NOT_JSON:
        return b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"
    if kind is GarbageKind.TRUNCATED:
        whole = json.dumps({"products": found, "unknown": unknown}).encode()
        return whole[: max(1, len(whole) // 2)], "application/json"
    if kind is GarbageKind.WRONG_SHAPE:
        document: Any = {"status": "ok", "data": found}
    elif kind is GarbageKind.WRONG_TYPES:
        broken = [
            {
                **product,
                "price": f"{_amount(product)} EUR",
                "salesRank": str(product.get("salesRank")),
            }
            for product in found
        ]
        document = {"products": broken, "unknown": unknown}
    else:
        stripped = [
            {name: value for name, value in product.items() if name not in ("title", "price")}
            for product in found
        ]
        document = {"products": stripped, "unknown": unknown}
    return json.dumps(document).encode(), "application/json"


def _amount(product: Mapping[str, Any]) -> Any:
    price = product.get("price")
    return price.get("amount") if isinstance(price, dict) else price


# -- control values -----------------------------------------------------------------------------


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ControlError(f"{name} must be a number, got {value!r}")
    return float(value)


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(f"{name} must be an integer, got {value!r}")
    return value


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ControlError(f"{name} must be true or false, got {value!r}")
    return value


def _bounded(name: str, value: float, low: float, high: float | None) -> float:
    if value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
        raise ControlError(f"{name} must be {bounds}, got {value!r}")
    return value


def _rate(name: str, value: Any) -> float:
    return _bounded(name, _number(name, value), 0.0, 1.0)


def _optional(parse: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda name, value: None if value is None else parse(name, value)


def _rate_limit(name: str, value: Any) -> float:
    rate = _number(name, value)
    if rate <= 0:
        raise ControlError(f"{name} must be > 0 (null lifts the limit), got {value!r}")
    return rate


def _burst(name: str, value: Any) -> int:
    return int(_bounded(name, _integer(name, value), 1, None))


def _status(name: str, value: Any) -> int:
    return int(_bounded(name, _integer(name, value), 200, 599))


def _garbage_kind(name: str, value: Any) -> GarbageKind:
    if isinstance(value, GarbageKind):
        return value
    try:
        return GarbageKind(value)
    except ValueError:
        kinds = ", ".join(kind.value for kind in GarbageKind)
        raise ControlError(f"{name} must be one of {kinds}, got {value!r}") from None


def _identifiers(name: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise ControlError(f"{name} must be a list of ids, got {value!r}")
    if not all(isinstance(item, str) for item in value):
        raise ControlError(f"{name} must hold strings only")
    return list(value)


# Each control's value checked and turned into its field of _Controls.
_CONTROL_PARSERS: Final[dict[str, Callable[[str, Any], Any]]] = {
    "rate_limit_per_second": _optional(_rate_limit),
    "burst": _optional(_burst),
    "fault_rate": _rate,
    "latency_ms": lambda name, value: int(_bounded(name, _integer(name, value), 0, None)),
    "garbage_rate": _rate,
    "garbage_kind": _optional(_garbage_kind),
    "status_override": _optional(_status),
    "hold": _boolean,
}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m local.peers.provider --api-key K [--port 8090]``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--api-key", required=True, help="the key lookups must carry")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault/garbage RNG")
    parser.add_argument("--rate-limit", type=float, default=None, help="lookups per second")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with ProviderServer(
        arguments.api_key, arguments.host, arguments.port, seed=arguments.seed
    ) as s:
        s.configure(rate_limit_per_second=arguments.rate_limit, fault_rate=arguments.fault_rate)
        print(f"provider listening on {s.products_url} (control: POST {s.url}{CONTROL_PATH})")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
