"""Looking products up at the provider: the retry policy, the answer's parsing, no I/O of its own.

The provider's contract (docs/contracts.md)::

    GET /products?key=<apiKey>&asin=A,B   (or &ean=E1,E2; at most 20 ids)
    200 {"products": [{"asin"|"ean", "title", "brand", "category",
                       "price": {"amount", "currency"}, "salesRank"}], "unknown": ["id", ...]}
    401 bad key; 429 with Retry-After over its rate limit; 500/503 faults.

What each answer leads to:

- 200: parsed product by product. A product with every attribute of the right type is enriched;
  one the provider lists as unknown is not; anything else it says about a product (missing or
  mistyped attributes, not JSON at all, silence about an id that was asked for) is *garbage*,
  stored as not enriched with the reason. Nothing is ever filled in or guessed.
- 429 and 408/5xx/no answer: retried inside the call, up to ``max_attempts`` in all. A 429 waits
  what ``Retry-After`` says (capped), the others back off exponentially (0.5, 1, 2 s by default).
  Then :class:`ProviderThrottledError` or :class:`ProviderUnavailableError`, after the *last*
  failure's kind, which the workflow retries with longer waits.
- 401/403: the key may have been rotated since it was cached, so one more request with a fresh
  key; a second refusal is a :class:`ConfigurationError` (no retry can fix it).
- any other status: :class:`ProviderRejectedError`, permanent.

The waits are deterministic (no jitter): at most ten callers share the provider, and the
workflow's own retries between whole attempts of a batch use full jitter. Every wait goes
through one injected ``sleep``, multiplied by ``RetryPolicy.scale`` (``LOCAL_TIME_SCALE``:
1 on AWS, the local runtime's time scale locally, 0 in tests that must not wait).

The invocation's deadline bounds everything: no wait starts that would leave too little time for
the next attempt, and an attempt's read timeout never outlasts the deadline. Giving up early
raises the retried error while the function still runs; being killed by Lambda's timeout would
instead surface as ``States.TaskFailed``, which the workflow does not retry.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol

from functions._shared.errors import (
    ConfigurationError,
    ProviderThrottledError,
    ProviderUnavailableError,
    StepflowError,
)
from functions._shared.models import json_type_name
from functions._shared.parsing import JsonTextError, loads_json
from functions.enrich_batch.products import IdType

MAX_IDS_PER_REQUEST: Final = 20
"""The provider answers at most this many ids per request."""

MAX_ANSWER_BYTES: Final = 1024 * 1024
"""Twenty products are a few KiB; anything near this is not an answer worth parsing."""

MAX_TEXT_LENGTH: Final = 1024
"""The longest title, brand or category stored; a longer one is garbage, not data."""

GARBAGE: Final = "provider answered garbage"
UNKNOWN: Final = "unknown to the provider"

# The start of an error page, kept for messages; Step Functions keeps 32,768 characters of a
# cause and the rest of the message must survive.
_EXCERPT_LENGTH: Final = 300
_CURRENCY_LENGTH: Final = 3


class ProviderRejectedError(StepflowError):
    """The provider refused the request itself (a 4xx other than 401/403/408/429, or a
    redirect): the URL or the request is wrong, and no retry can change that.

    Not listed in any ``Retry`` of the workflow, so the batch is recorded FAILED at once.
    """


class ProviderConnectionError(Exception):
    """No HTTP answer: connection refused or reset, a timeout, a TLS failure."""


@dataclass(frozen=True)
class ProviderResponse:
    """One HTTP answer of the provider; header names are lower case."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    """The body was longer than :data:`MAX_ANSWER_BYTES` and only its start was read."""

    def excerpt(self) -> str:
        text = self.body[:_EXCERPT_LENGTH].decode("utf-8", errors="replace").strip()
        return " ".join(text.split())


class ProviderTransport(Protocol):
    def get(
        self, id_type: IdType, ids: Sequence[str], api_key: str, *, read_timeout: float
    ) -> ProviderResponse:
        """``GET /products`` for ``ids``; raises :class:`ProviderConnectionError` when no HTTP
        answer arrives (``read_timeout`` seconds of silence included)."""
        ...


class ApiKeySource(Protocol):
    def api_key(self, *, refresh: bool = False) -> str:
        """The provider's API key; ``refresh`` bypasses any cache (after a 401)."""
        ...


# -- what the provider said about one product -------------------------------------------------


@dataclass(frozen=True)
class Enriched:
    """The provider's attributes of a product, exactly as checked (nothing added)."""

    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class NotEnriched:
    """A product the provider did not enrich, and why (stored as ``reason``)."""

    reason: str


Lookup = Enriched | NotEnriched


def parse_answer(id_type: IdType, ids: Sequence[str], body: bytes) -> dict[str, Lookup]:
    """What a 200 answer says about each id that was asked for; every id gets an entry.

    Entries for ids that were not asked for are ignored: they cannot be attributed to a
    product of the batch.

    >>> answer = (b'{"products": [{"asin": "B000000001", "title": "Kettle", "brand": "Acme",'
    ...     b' "category": "Kitchen", "price": {"amount": 19.99, "currency": "EUR"},'
    ...     b' "salesRank": 42}, {"asin": "B000000002", "title": "Mug"}],'
    ...     b' "unknown": ["B00000000Z"]}')
    >>> found = parse_answer(IdType.ASIN, ["B000000001", "B000000002", "B00000000Z"], answer)
    >>> found["B000000001"].attributes["price"]
    {'amount': 19.99, 'currency': 'EUR'}
    >>> found["B000000002"]
    NotEnriched(reason='provider answered garbage: brand is missing')
    >>> found["B00000000Z"]
    NotEnriched(reason='unknown to the provider')
    >>> print(parse_answer(IdType.EAN, ["4006381333931"], b"<html>Oops</html>")["4006381333931"])
    NotEnriched(reason="provider answered garbage: the answer is not valid JSON: Expecting value \
at line 1 column 1 (starts '<html>Oops</html>')")
    """
    asked = list(dict.fromkeys(ids))
    try:
        document = _json_document(body)
    except _GarbageError as error:
        return dict.fromkeys(asked, NotEnriched(f"{GARBAGE}: {error}"))

    wanted = set(asked)
    found: dict[str, Lookup] = {}
    for entry in document["products"]:
        if not isinstance(entry, dict):
            continue
        identifier = entry.get(id_type.value)
        if not isinstance(identifier, str) or identifier not in wanted:
            continue
        lookup = _lookup_of(entry)
        if identifier in found and found[identifier] != lookup:
            lookup = NotEnriched(f"{GARBAGE}: two different answers for {identifier}")
        found[identifier] = lookup
    for identifier in document["unknown"]:
        if identifier not in wanted:
            continue
        if identifier in found:
            found[identifier] = NotEnriched(
                f"{GARBAGE}: {identifier} is listed both as a product and as unknown"
            )
        else:
            found[identifier] = NotEnriched(UNKNOWN)
    silent = NotEnriched(f"{GARBAGE}: the answer does not mention this product")
    return {identifier: found.get(identifier, silent) for identifier in asked}


class _GarbageError(Exception):
    pass


def _json_document(body: bytes) -> dict[str, list[Any]]:
    """The answer's ``products`` and ``unknown`` lists, or :class:`_GarbageError` saying why not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _GarbageError("the answer is not UTF-8 text") from None
    try:
        document = loads_json(text)
    except JsonTextError as error:
        excerpt = " ".join(text[:60].split())
        raise _GarbageError(f"the answer {error.reason} (starts {excerpt!r})") from None
    if not isinstance(document, dict):
        raise _GarbageError(f"the answer is a JSON {json_type_name(document)}, not an object")
    products = document.get("products")
    if not isinstance(products, list):
        if "products" not in document:
            raise _GarbageError("the answer has no products array")
        raise _GarbageError(f"products is a JSON {json_type_name(products)}, not an array")
    unknown = document.get("unknown", [])
    if not isinstance(unknown, list) or not all(isinstance(item, str) for item in unknown):
        raise _GarbageError("unknown is not an array of strings")
    return {"products": products, "unknown": unknown}


def _lookup_of(entry: Mapping[str, Any]) -> Lookup:
    try:
        return Enriched(checked_attributes(entry))
    except _GarbageError as error:
        return NotEnriched(f"{GARBAGE}: {error}")


def checked_attributes(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of one ``products`` entry that are stored, each of the contract's type.

    ``salesRank`` may be ``null`` (a product without a rank); every other attribute is
    required. Keys outside the contract are dropped.

    >>> checked_attributes({"asin": "B000000001", "title": "Kettle", "brand": "Acme",
    ...     "category": "Kitchen", "price": {"amount": 20, "currency": "EUR"},
    ...     "salesRank": None, "extra": 1})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'title': 'Kettle', 'brand': 'Acme', 'category': 'Kitchen',
     'price': {'amount': 20, 'currency': 'EUR'}, 'salesRank': None}
    """
    title = _text(entry, "title")
    if not title.strip():
        raise _GarbageError("title is empty")
    brand = _text(entry, "brand")
    category = _text(entry, "category")
    price = entry.get("price")
    if not isinstance(price, dict):
        raise _GarbageError(_wrong_type("price", price, "an object", missing="price" not in entry))
    amount = price.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise _GarbageError(
            _wrong_type("price.amount", amount, "a number", missing="amount" not in price)
        )
    if not math.isfinite(amount) or amount < 0:
        raise _GarbageError(f"price.amount {amount!r} is not a price")
    currency = price.get("currency")
    if (
        not isinstance(currency, str)
        or len(currency) != _CURRENCY_LENGTH
        or not currency.isascii()
        or not currency.isupper()
    ):
        raise _GarbageError(f"price.currency {currency!r} is not an ISO 4217 code")
    if "salesRank" not in entry:
        raise _GarbageError("salesRank is missing")
    rank = entry["salesRank"]
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 0):
        raise _GarbageError(f"salesRank {rank!r} is not a non-negative integer")
    return {
        "title": title,
        "brand": brand,
        "category": category,
        "price": {"amount": amount, "currency": currency},
        "salesRank": rank,
    }


def _text(entry: Mapping[str, Any], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str):
        raise _GarbageError(_wrong_type(name, value, "a string", missing=name not in entry))
    if len(value) > MAX_TEXT_LENGTH:
        raise _GarbageError(f"{name} is longer than {MAX_TEXT_LENGTH} characters")
    return value


def _wrong_type(name: str, value: object, expected: str, *, missing: bool) -> str:
    if missing:
        return f"{name} is missing"
    return f"{name} must be {expected}, got {json_type_name(value)}"


# -- retries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between attempts of one request, in provider seconds.

    >>> policy = RetryPolicy()
    >>> [policy.backoff(retry) for retry in (1, 2, 3)]
    [0.5, 1.0, 2.0]
    >>> policy.delay(1, ProviderResponse(429, {"retry-after": "3"}), now=0.0)
    3.0
    >>> policy.delay(1, ProviderResponse(429, {"retry-after": "3600"}), now=0.0)
    10.0
    >>> RetryPolicy(scale=0.01).scaled(3.0)
    0.03
    """

    max_attempts: int = 4
    """Attempts of one request in all, the first included."""
    base_delay: float = 0.5
    max_backoff: float = 8.0
    retry_after_cap: float = 10.0
    """A longer ``Retry-After`` is cut to this: the workflow's retry waits longer anyway."""
    scale: float = 1.0
    """``LOCAL_TIME_SCALE``; each wait actually sleeps ``delay * scale`` seconds."""
    min_attempt_seconds: float = 2.0
    """No retry starts with less than this left before the deadline (after its wait)."""

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1-based) after a failure without advice."""
        return float(min(self.max_backoff, self.base_delay * 2 ** (retry - 1)))

    def delay(self, retry: int, response: ProviderResponse | None, now: float) -> float:
        """The wait before ``retry`` after ``response`` (``None``: no answer); ``now`` is epoch
        seconds, for a ``Retry-After`` given as a date."""
        if response is not None and response.status == 429:
            advised = retry_after_seconds(response.headers.get("retry-after"), now)
            if advised is not None:
                return min(advised, self.retry_after_cap)
        return self.backoff(retry)

    def scaled(self, seconds: float) -> float:
        return seconds * self.scale


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date; ``None`` when unusable.

    >>> retry_after_seconds("2", now=0.0), retry_after_seconds(" 1.5 ", now=0.0)
    (2.0, 1.5)
    >>> retry_after_seconds("Thu, 01 Jan 1970 00:00:30 GMT", now=10.0)
    20.0
    >>> retry_after_seconds("soon", now=0.0) is None, retry_after_seconds("-5", now=0.0)
    (True, 0.0)
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass
class CallStats:
    """What the lookups of one invocation cost, for logs and metrics."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    """429 answers."""
    failures: int = 0
    """5xx/408 answers and requests without an answer."""
    slept: float = 0.0
    """Seconds actually slept (scaled)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "throttled": self.throttled,
            "failures": self.failures,
            "slept": round(self.slept, 3),
        }


@dataclass(frozen=True)
class Deadline:
    """When the lookups must be over, on ``clock`` (monotonic seconds); ``at=None``: never.

    >>> Deadline(at=100.0, clock=lambda: 90.0).remaining()
    10.0
    """

    at: float | None = None
    clock: Callable[[], float] = time.monotonic

    def remaining(self) -> float:
        return math.inf if self.at is None else self.at - self.clock()


class ProviderClient:
    """Looks products up, retrying throttling and faults per :class:`RetryPolicy`.

    ``sleep`` receives scaled seconds; ``epoch`` gives the wall clock for ``Retry-After`` dates.

    Example::

        client = ProviderClient(HttpProviderTransport(url), SecretApiKeySource(name),
                                RetryPolicy(), sleep=time.sleep)
        client.lookup(IdType.ASIN, ["B000123456"], Deadline(time.monotonic() + 100))
        # {'B000123456': Enriched(attributes={'title': ..., ...})}
    """

    def __init__(
        self,
        transport: ProviderTransport,
        keys: ApiKeySource,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None],
        read_timeout: float = 10.0,
        epoch: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.keys = keys
        self.policy = policy
        self.sleep = sleep
        self.read_timeout = read_timeout
        self.epoch = epoch
        self.stats = CallStats()

    def lookup(
        self, id_type: IdType, ids: Sequence[str], deadline: Deadline | None = None
    ) -> dict[str, Lookup]:
        """Every id's lookup, in requests of at most :data:`MAX_IDS_PER_REQUEST` ids."""
        deadline = deadline or Deadline()
        found: dict[str, Lookup] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), MAX_IDS_PER_REQUEST):
            found |= self._lookup_chunk(id_type, chunk, deadline)
        return found

    def _lookup_chunk(
        self, id_type: IdType, ids: Sequence[str], deadline: Deadline
    ) -> dict[str, Lookup]:
        key = self.keys.api_key()
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            response, failure = self._attempt(id_type, ids, key, deadline)
            if response is not None and response.status in (401, 403):
                if not refreshed:
                    # A key cached before a rotation: one more try with a fresh one, and only
                    # if it differs, so a plainly wrong key costs a single request.
                    refreshed = True
                    fresh = self.keys.api_key(refresh=True)
                    if fresh != key:
                        key = fresh
                        attempt -= 1
                        continue
                raise ConfigurationError(
                    f"the provider refused the API key (HTTP {response.status}); "
                    "check the provider secret"
                )
            if response is not None and 200 <= response.status < 300:
                if response.truncated:
                    reason = f"{GARBAGE}: the answer is larger than {MAX_ANSWER_BYTES} bytes"
                    return dict.fromkeys(ids, NotEnriched(reason))
                return parse_answer(id_type, ids, response.body)
            if response is not None and not _retryable(response.status):
                excerpt = response.excerpt()
                raise ProviderRejectedError(
                    f"the provider answered HTTP {response.status} to a lookup of "
                    f"{len(ids)} {id_type.value}s" + (f": {excerpt}" if excerpt else "")
                )
            throttled = response is not None and response.status == 429
            if throttled:
                self.stats.throttled += 1
            else:
                self.stats.failures += 1
            wait = self.policy.scaled(self.policy.delay(attempt, response, self.epoch()))
            give_up = attempt >= self.policy.max_attempts
            out_of_time = deadline.remaining() < wait + self.policy.min_attempt_seconds
            if give_up or out_of_time:
                raise _exhausted(throttled, attempt, failure, response, out_of_time and not give_up)
            self.stats.retries += 1
            self.stats.slept += wait
            if wait > 0:
                self.sleep(wait)

    def _attempt(
        self, id_type: IdType, ids: Sequence[str], key: str, deadline: Deadline
    ) -> tuple[ProviderResponse | None, str]:
        """The answer, or ``None`` and what went wrong; the key never appears in the message."""
        read_timeout = max(1.0, min(self.read_timeout, deadline.remaining()))
        self.stats.requests += 1
        try:
            return self.transport.get(id_type, ids, key, read_timeout=read_timeout), ""
        except ProviderConnectionError as error:
            return None, str(error).replace(key, "***") if key else str(error)


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _exhausted(
    throttled: bool,
    attempts: int,
    failure: str,
    response: ProviderResponse | None,
    out_of_time: bool,
) -> ProviderThrottledError | ProviderUnavailableError:
    tried = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if out_of_time:
        tried += ", stopped early: the invocation's time is running out"
    if throttled:
        advice = response.headers.get("retry-after") if response is not None else None
        said = f"; its last Retry-After was {advice}" if advice else ""
        return ProviderThrottledError(f"the provider kept answering 429 ({tried}){said}")
    if response is None:
        return ProviderUnavailableError(f"the provider did not answer ({tried}): {failure}")
    excerpt = response.excerpt()
    return ProviderUnavailableError(
        f"the provider kept failing ({tried}): HTTP {response.status}"
        + (f": {excerpt}" if excerpt else "")
    )


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
