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
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from local.http_server import BodyCutShortError, BodyError, TokenBucket, read_body
from local.peers.http_peer import (
    CONTROL_PATH,
    HEALTH_PATH,
    ControlError,
    HttpPeer,
    PeerHandler,
    boolean,
    milliseconds,
    optional,
    same_secret,
    serve_until_interrupted,
    share,
    status_code,
)
from local.peers.product_catalog import (
    ID_TYPES,
    MAX_IDS,
    InvalidLookupError,
    derived_product,
    ean_check_digit,
    id_type_of,
    known_by_default,
    requested_ids,
    valid_ean,
)
from local.peers.provider_faults import (
    GarbageKind,
    ProviderControls,
    burst_control,
    garbage_body,
    garbage_kind_control,
    identifiers_control,
    new_bucket,
    rate_limit_control,
)

# The shared paths and ControlError belong to this module's API too: callers use them from here.
__all__ = [
    "CONTROL_PATH",
    "HEALTH_PATH",
    "ID_TYPES",
    "MAX_IDS",
    "PRODUCTS_PATH",
    "STATS_PATH",
    "ControlError",
    "GarbageKind",
    "Outcome",
    "ProviderServer",
    "ProviderStats",
    "RequestRecord",
    "TokenBucket",
    "derived_product",
    "ean_check_digit",
    "id_type_of",
    "known_by_default",
    "main",
    "valid_ean",
]

PRODUCTS_PATH: Final = "/products"
STATS_PATH: Final = "/_stats"

_MAX_CONTROL_BYTES: Final = 64 * 1024

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


class ProviderServer(HttpPeer[ProviderControls, RequestRecord]):
    """The enrichment provider on a real socket (``ThreadingHTTPServer``).

    ``port=0`` picks a free port; :attr:`url` is the base URL to configure as ``PROVIDER_URL``
    and :attr:`products_url` the lookup endpoint. ``seed`` makes ``fault_rate`` and
    ``garbage_rate`` reproducible; ``catalog`` maps ids to the attributes to answer for them
    (see the module's docstring for the default database).

    Controls (:meth:`configure`): ``rate_limit_per_second``, ``burst``, ``fault_rate``,
    ``latency_ms``, ``garbage_rate``, ``garbage_kind``, ``status_override``, ``unknown``
    (replaces the set), ``add_unknown``, ``hold`` (lookups wait, counted in flight, until
    :meth:`release`), ``seed``, ``reset`` (true: forget the log and counters, refill the bucket).

    Example::

        with ProviderServer(api_key="k-1") as provider:
            provider.set_rate_limit(5)          # 5 lookups/s, then 429 + Retry-After
            provider.add_unknown("B000123456")
            ...                                 # run enrich_batch against provider.url
            assert provider.stats().max_in_flight <= 10
    """

    _control_fields = {
        "rate_limit_per_second": optional(rate_limit_control),
        "burst": optional(burst_control),
        "fault_rate": share,
        "latency_ms": milliseconds,
        "garbage_rate": share,
        "garbage_kind": optional(garbage_kind_control),
        "status_override": optional(status_code),
        "hold": boolean,
    }
    _other_controls = ("unknown", "add_unknown")

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
        super().__init__(
            host,
            port,
            seed=seed,
            clock=clock,
            controls=ProviderControls(),
            name="provider",
            handler=_Handler,
        )
        self.api_key = api_key
        self.catalog: dict[str, dict[str, Any]] = {
            identifier: dict(attributes) for identifier, attributes in (catalog or {}).items()
        }
        self._bucket: TokenBucket | None = None
        self._in_flight = 0
        self._max_in_flight = 0

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

    # -- introspection --------------------------------------------------------------------

    def stats(self) -> ProviderStats:
        with self._lock:
            return ProviderStats(
                total_calls=self._arrivals,
                max_in_flight=self._max_in_flight,
                in_flight=self._in_flight,
                requests=list(self._requests),
            )

    def requests(self) -> list[RequestRecord]:
        return self.stats().requests

    @property
    def total_calls(self) -> int:
        with self._lock:
            return self._arrivals

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    # -- the controls' meaning --------------------------------------------------------------

    def _control_changes(
        self, name: str, value: Any, changes: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        identifiers = frozenset(identifiers_control(name, value))
        if name == "unknown":
            return {"unknown": identifiers}
        return {"unknown": changes.get("unknown", self._controls.unknown) | identifiers}

    def _controls_applied(self, previous: ProviderControls, reset: bool) -> None:
        updated = self._controls
        rate_changed = (updated.rate_limit_per_second, updated.burst) != (
            previous.rate_limit_per_second,
            previous.burst,
        )
        if rate_changed or reset:
            self._bucket = new_bucket(updated, self.clock())
        if reset:
            self._max_in_flight = self._in_flight

    def _controls_json(self) -> dict[str, Any]:
        return self._controls.to_json()

    # -- internals used by the request handler --------------------------------------------

    def _on_arrival(self) -> None:
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _depart(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _take_token(self) -> float:
        with self._lock:
            if self._bucket is None:
                return 0.0
            return self._bucket.take(self.clock())

    def _authorized(self, key: str | None) -> bool:
        return same_secret(key, self.api_key)


class _BadRequestError(Exception):
    pass


class _Handler(PeerHandler[ProviderServer]):
    server_version = "stepflow-provider/1"
    # Headers and body go out as two writes; with Nagle the second waits for the client's
    # delayed ACK (~40 ms a request), which would make the provider look slow for no reason.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        # The request line carries the API key in its query string, and http.server puts it in
        # its messages: log only the method and path. Both may be unset when http.server logs
        # an error about a request line it could not parse.
        command = getattr(self, "command", None) or "-"
        path = urlsplit(getattr(self, "path", "") or "").path or "-"
        logger.debug("provider: %s %s %s", self.address_string(), command, path)

    def get(self, path: str) -> None:
        if path == PRODUCTS_PATH:
            self._lookup()
        elif path == STATS_PATH:
            self.answer_json(200, self.peer.stats().to_json())
        else:
            self._log_simple(path, 404, Outcome.NOT_FOUND)
            self.answer_json(404, {"error": f"no such resource: {path}"})

    def post(self, path: str) -> None:
        try:
            body = self._read_body()
        except _BadRequestError as error:
            self.answer_json(400, {"error": str(error)}, close=True)
            return
        if path == CONTROL_PATH:
            self.answer_control(body)
        elif path == PRODUCTS_PATH:
            self._log_simple(path, 405, Outcome.METHOD_NOT_ALLOWED)
            self.answer_json(405, {"error": "use GET"}, {"Allow": "GET"})
        else:
            self._log_simple(path, 404, Outcome.NOT_FOUND)
            self.answer_json(404, {"error": f"no such resource: {path}"})

    # -- lookups ----------------------------------------------------------------------------

    def _lookup(self) -> None:
        provider = self.peer
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
        self.answer(
            verdict.status,
            verdict.body,
            content_type=verdict.content_type,
            headers=verdict.headers,
        )

    def _judge(self, controls: ProviderControls) -> _Verdict:
        """The answer to a lookup. Injected failures act first, as a load balancer or a crashed
        backend would; then the key, the request, the rate limit; then the database."""
        provider = self.peer
        injected = self._injected(controls)
        if injected is not None:
            return injected
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True, errors="replace")
        keys = query.get("key", [])
        if not provider._authorized(keys[0] if len(keys) == 1 else None):
            return _json_verdict(401, Outcome.UNAUTHORIZED, {"error": "missing or wrong key"})
        try:
            id_type, ids = requested_ids(query)
        except InvalidLookupError as error:
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

    def _injected(self, controls: ProviderControls) -> _Verdict | None:
        provider = self.peer
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

    def _products(self, controls: ProviderControls, id_type: str, ids: tuple[str, ...]) -> _Verdict:
        provider = self.peer
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
            body, content_type = garbage_body(kind, found, list(unknown))
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

    # -- HTTP plumbing ----------------------------------------------------------------------

    def _read_body(self) -> bytes:
        try:
            return read_body(self.rfile, self.headers, limit=_MAX_CONTROL_BYTES, chunked=False)
        except BodyCutShortError:
            raise ConnectionError("body shorter than declared") from None
        except BodyError as error:
            raise _BadRequestError(str(error)) from None

    def _log_simple(self, path: str, status: int, outcome: Outcome) -> None:
        self.peer._log(RequestRecord(self.peer.clock(), self.command, path, status, outcome))


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
    server = ProviderServer(arguments.api_key, arguments.host, arguments.port, seed=arguments.seed)
    server.configure(rate_limit_per_second=arguments.rate_limit, fault_rate=arguments.fault_rate)
    return serve_until_interrupted(server, lambda: server.products_url)


if __name__ == "__main__":
    raise SystemExit(main())
