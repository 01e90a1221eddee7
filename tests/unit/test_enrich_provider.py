"""The provider's answers parsed, and the retry policy run against a scripted transport.

Every wait goes to a fake sleeper that records it, so the waits themselves are what is asserted
and nothing here sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from functions._shared.errors import (
    ConfigurationError,
    ProviderThrottledError,
    ProviderUnavailableError,
)
from functions.enrich_batch.products import IdType
from functions.enrich_batch.provider import (
    GARBAGE,
    MAX_TEXT_LENGTH,
    UNKNOWN,
    Deadline,
    Enriched,
    NotEnriched,
    ProviderClient,
    ProviderConnectionError,
    ProviderRejectedError,
    ProviderResponse,
    RetryPolicy,
    checked_attributes,
    parse_answer,
    retry_after_seconds,
)

ASIN_1 = "B000000001"
ASIN_2 = "B000000002"
EAN_1 = "4006381333931"
KEY = "the-api-key"


def product(identifier: str, id_type: str = "asin", **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        id_type: identifier,
        "title": f"Title of {identifier}",
        "brand": "Acme",
        "category": "Kitchen",
        "price": {"amount": 19.99, "currency": "EUR"},
        "salesRank": 42,
    }
    for name, value in changes.items():
        if value is ...:
            document.pop(name, None)
        else:
            document[name] = value
    return document


def answer(products: Sequence[Any] = (), unknown: Sequence[str] = ()) -> bytes:
    return json.dumps({"products": list(products), "unknown": list(unknown)}).encode()


def ok(products: Sequence[Any] = (), unknown: Sequence[str] = ()) -> ProviderResponse:
    return ProviderResponse(200, {"content-type": "application/json"}, answer(products, unknown))


def status(code: int, retry_after: str | None = None, body: bytes = b"") -> ProviderResponse:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return ProviderResponse(code, headers, body)


# -- parsing ----------------------------------------------------------------------------------


def test_a_complete_answer_enriches_each_product_with_exactly_the_contracts_attributes() -> None:
    body = answer([product(ASIN_1, extra="dropped"), product(ASIN_2, salesRank=None)])

    found = parse_answer(IdType.ASIN, [ASIN_1, ASIN_2], body)

    assert found[ASIN_1] == Enriched(
        {
            "title": f"Title of {ASIN_1}",
            "brand": "Acme",
            "category": "Kitchen",
            "price": {"amount": 19.99, "currency": "EUR"},
            "salesRank": 42,
        }
    )
    unranked = found[ASIN_2]
    assert isinstance(unranked, Enriched)
    assert unranked.attributes["salesRank"] is None


def test_unknown_ids_are_not_enriched_and_say_so() -> None:
    found = parse_answer(IdType.EAN, [EAN_1], answer([], [EAN_1]))

    assert found == {EAN_1: NotEnriched(UNKNOWN)}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>502 Bad Gateway</html>", "the answer is not valid JSON"),
        (b'{"products": [{"asin": "B0000', "the answer is not valid JSON"),
        (b"", "the answer is not valid JSON"),
        (b"\xff\xfe", "the answer is not UTF-8 text"),
        (b"[1, 2]", "the answer is a JSON array, not an object"),
        (b'{"items": []}', "the answer has no products array"),
        (b'{"products": {"B000000001": {}}}', "products is a JSON object, not an array"),
        (b'{"products": null}', "products is a JSON null, not an array"),
        (b'{"products": [], "unknown": "B000000001"}', "unknown is not an array of strings"),
        (b'{"products": [], "unknown": [1]}', "unknown is not an array of strings"),
        (b'{"products": [], "x": NaN}', "the answer is not valid JSON: NaN"),
        (b"[" * 100 + b"]" * 100, "nested 100 levels deep"),
    ],
)
def test_an_answer_that_is_not_the_contracts_makes_every_product_garbage(
    body: bytes, reason: str
) -> None:
    found = parse_answer(IdType.ASIN, [ASIN_1, ASIN_2], body)

    assert set(found) == {ASIN_1, ASIN_2}
    for lookup in found.values():
        assert isinstance(lookup, NotEnriched)
        assert lookup.reason.startswith(f"{GARBAGE}: ")
        assert reason in lookup.reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"title": ...}, "title is missing"),
        ({"title": None}, "title must be a string, got null"),
        ({"title": "  "}, "title is empty"),
        ({"title": "x" * (MAX_TEXT_LENGTH + 1)}, "title is longer than"),
        ({"brand": 7}, "brand must be a string, got number"),
        ({"category": ...}, "category is missing"),
        ({"price": ...}, "price is missing"),
        ({"price": "19.99 EUR"}, "price must be an object, got string"),
        ({"price": {"currency": "EUR"}}, "price.amount is missing"),
        ({"price": {"amount": "19.99", "currency": "EUR"}}, "price.amount must be a number"),
        ({"price": {"amount": True, "currency": "EUR"}}, "price.amount must be a number"),
        ({"price": {"amount": -1, "currency": "EUR"}}, "price.amount -1 is not a price"),
        ({"price": {"amount": 1, "currency": "euro"}}, "price.currency 'euro' is not"),
        ({"price": {"amount": 1}}, "price.currency None is not"),
        ({"salesRank": ...}, "salesRank is missing"),
        ({"salesRank": "42"}, "salesRank '42' is not a non-negative integer"),
        ({"salesRank": 4.5}, "salesRank 4.5 is not"),
        ({"salesRank": -3}, "salesRank -3 is not"),
    ],
)
def test_a_product_with_a_missing_or_mistyped_attribute_is_garbage_and_others_are_not(
    changes: dict[str, Any], reason: str
) -> None:
    body = answer([product(ASIN_1, **changes), product(ASIN_2)])

    found = parse_answer(IdType.ASIN, [ASIN_1, ASIN_2], body)

    broken = found[ASIN_1]
    assert isinstance(broken, NotEnriched)
    assert broken.reason.startswith(f"{GARBAGE}: {reason}")
    assert isinstance(found[ASIN_2], Enriched)


def test_silence_about_an_id_and_contradictions_are_garbage_never_guesses() -> None:
    body = answer(
        [product(ASIN_1), product(ASIN_2), product(ASIN_2, title="Other"), "not an object"],
        unknown=[ASIN_1],
    )

    found = parse_answer(IdType.ASIN, [ASIN_1, ASIN_2, "B000000003"], body)

    assert found == {
        ASIN_1: NotEnriched(f"{GARBAGE}: {ASIN_1} is listed both as a product and as unknown"),
        ASIN_2: NotEnriched(f"{GARBAGE}: two different answers for {ASIN_2}"),
        "B000000003": NotEnriched(f"{GARBAGE}: the answer does not mention this product"),
    }


def test_answers_about_ids_not_asked_for_or_of_the_other_type_are_ignored() -> None:
    body = answer([product("B000000009"), product(EAN_1, "ean")], unknown=["B000000008"])

    found = parse_answer(IdType.ASIN, [ASIN_1], body)

    assert found == {ASIN_1: NotEnriched(f"{GARBAGE}: the answer does not mention this product")}


def test_the_same_answer_twice_for_one_id_is_fine() -> None:
    found = parse_answer(IdType.ASIN, [ASIN_1], answer([product(ASIN_1), product(ASIN_1)]))

    assert isinstance(found[ASIN_1], Enriched)


def test_checked_attributes_accept_integral_prices_and_keep_nothing_else() -> None:
    attributes = checked_attributes(product(ASIN_1, price={"amount": 5, "currency": "USD"}))

    assert attributes["price"] == {"amount": 5, "currency": "USD"}
    assert set(attributes) == {"title", "brand", "category", "price", "salesRank"}


# -- the retry policy -------------------------------------------------------------------------


def test_backoff_doubles_from_half_a_second_and_is_capped() -> None:
    policy = RetryPolicy(max_backoff=3.0)

    assert [policy.backoff(retry) for retry in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("3600", 10.0),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 10.0),
        ("Thu, 01 Jan 1970 00:00:52 GMT", 2.0),
        (None, 0.5),
        ("", 0.5),
        ("later", 0.5),
        ("nan", 0.5),
        ("inf", 0.5),
        ("Thu, 01 Jan 1970 00:00:52", 0.5),
    ],
)
def test_a_429_waits_what_retry_after_says_capped_or_backs_off_without_it(
    header: str | None, expected: float
) -> None:
    policy = RetryPolicy()

    assert policy.delay(1, status(429, header), now=50.0) == expected


def test_retry_after_is_ignored_on_other_statuses() -> None:
    assert RetryPolicy().delay(2, status(503, "30"), now=0.0) == 1.0
    assert RetryPolicy().delay(3, None, now=0.0) == 2.0


def test_a_retry_after_date_in_the_past_means_now() -> None:
    assert retry_after_seconds("Thu, 01 Jan 1970 00:00:01 GMT", now=100.0) == 0.0


# -- the client ------------------------------------------------------------------------------


class ScriptedTransport:
    """Answers (or raises) from a script, one entry per request; records each request."""

    def __init__(self, *script: ProviderResponse | Exception) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []

    def get(
        self, id_type: IdType, ids: Sequence[str], api_key: str, *, read_timeout: float
    ) -> ProviderResponse:
        self.requests.append(
            {"idType": id_type, "ids": list(ids), "key": api_key, "readTimeout": read_timeout}
        )
        if not self.script:
            raise AssertionError("the transport was called more often than scripted")
        entry = self.script.pop(0)
        if isinstance(entry, Exception):
            raise entry
        return entry


class Keys:
    def __init__(self, *keys: str) -> None:
        self.keys = list(keys) or [KEY]
        self.refreshes = 0

    def api_key(self, *, refresh: bool = False) -> str:
        if refresh:
            self.refreshes += 1
            if len(self.keys) > 1:
                self.keys.pop(0)
        return self.keys[0]


class Sleeper:
    def __init__(self, clock: FakeClock | None = None) -> None:
        self.sleeps: list[float] = []
        self.clock = clock

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.clock is not None:
            self.clock.now += seconds


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def client(
    transport: ScriptedTransport,
    sleeper: Sleeper,
    *,
    keys: Keys | None = None,
    policy: RetryPolicy | None = None,
) -> ProviderClient:
    return ProviderClient(
        transport, keys or Keys(), policy or RetryPolicy(), sleep=sleeper, epoch=lambda: 0.0
    )


def test_a_throttled_request_waits_retry_after_and_then_succeeds() -> None:
    transport = ScriptedTransport(status(429, "2"), status(429, "1"), ok([product(ASIN_1)]))
    sleeper = Sleeper()
    provider = client(transport, sleeper)

    found = provider.lookup(IdType.ASIN, [ASIN_1])

    assert isinstance(found[ASIN_1], Enriched)
    assert sleeper.sleeps == [2.0, 1.0]
    assert len(transport.requests) == 3
    assert provider.stats.to_json() == {
        "requests": 3,
        "retries": 2,
        "throttled": 2,
        "failures": 0,
        "slept": 3.0,
    }


def test_persistent_5xx_backs_off_then_raises_provider_unavailable() -> None:
    transport = ScriptedTransport(status(503), status(500), status(502), status(503, body=b"down"))
    sleeper = Sleeper()

    with pytest.raises(ProviderUnavailableError, match=r"4 attempts\): HTTP 503: down"):
        client(transport, sleeper).lookup(IdType.ASIN, [ASIN_1])

    assert sleeper.sleeps == [0.5, 1.0, 2.0]


def test_persistent_429_raises_provider_throttled_with_the_last_advice() -> None:
    transport = ScriptedTransport(*[status(429, "60")] * 4)
    sleeper = Sleeper()

    with pytest.raises(ProviderThrottledError, match="last Retry-After was 60"):
        client(transport, sleeper).lookup(IdType.ASIN, [ASIN_1])

    assert sleeper.sleeps == [10.0, 10.0, 10.0]


def test_the_error_follows_the_last_failure_kind() -> None:
    throttled_last = ScriptedTransport(status(503), status(503), status(503), status(429, "1"))
    unavailable_last = ScriptedTransport(
        status(429, "1"), status(429, "1"), status(429), status(500)
    )

    with pytest.raises(ProviderThrottledError):
        client(throttled_last, Sleeper()).lookup(IdType.ASIN, [ASIN_1])
    with pytest.raises(ProviderUnavailableError):
        client(unavailable_last, Sleeper()).lookup(IdType.ASIN, [ASIN_1])


def test_408_and_connection_errors_are_retried_like_5xx() -> None:
    transport = ScriptedTransport(
        ProviderConnectionError("ConnectionRefusedError: refused"),
        status(408),
        ok([product(ASIN_1)]),
    )
    sleeper = Sleeper()

    found = client(transport, sleeper).lookup(IdType.ASIN, [ASIN_1])

    assert isinstance(found[ASIN_1], Enriched)
    assert sleeper.sleeps == [0.5, 1.0]


def test_an_unanswered_lookup_names_the_failure_without_the_api_key() -> None:
    failure = ProviderConnectionError(f"ReadTimeoutError: /products?key={KEY}&asin=x timed out")
    transport = ScriptedTransport(*[failure] * 4)

    with pytest.raises(ProviderUnavailableError, match="did not answer") as caught:
        client(transport, Sleeper()).lookup(IdType.ASIN, [ASIN_1])

    assert KEY not in str(caught.value)
    assert "key=***" in str(caught.value)


def test_every_wait_is_multiplied_by_the_scale_and_zero_means_no_sleep_at_all() -> None:
    scaled = Sleeper()
    client(
        ScriptedTransport(status(503), status(429, "4"), ok()),
        scaled,
        policy=RetryPolicy(scale=0.01),
    ).lookup(IdType.ASIN, [ASIN_1])
    none = Sleeper()
    client(
        ScriptedTransport(status(503), status(429, "4"), ok()),
        none,
        policy=RetryPolicy(scale=0.0),
    ).lookup(IdType.ASIN, [ASIN_1])

    assert scaled.sleeps == [0.005, 0.04]
    assert none.sleeps == []


def test_a_rejected_key_is_refreshed_once_then_a_configuration_error() -> None:
    rotated = ScriptedTransport(status(401), ok([product(ASIN_1)]))
    keys = Keys("old-key", "new-key")
    found = client(rotated, Sleeper(), keys=keys).lookup(IdType.ASIN, [ASIN_1])

    wrong = ScriptedTransport(status(401))
    same_keys = Keys("wrong-key")
    with pytest.raises(ConfigurationError, match="refused the API key"):
        client(wrong, Sleeper(), keys=same_keys).lookup(IdType.ASIN, [ASIN_1])

    still_wrong = ScriptedTransport(status(403), status(403))
    with pytest.raises(ConfigurationError, match="HTTP 403"):
        client(still_wrong, Sleeper(), keys=Keys("a", "b")).lookup(IdType.ASIN, [ASIN_1])

    assert isinstance(found[ASIN_1], Enriched)
    assert [request["key"] for request in rotated.requests] == ["old-key", "new-key"]
    assert len(wrong.requests) == 1
    assert len(still_wrong.requests) == 2


@pytest.mark.parametrize("code", [400, 404, 301, 418])
def test_other_statuses_are_rejected_at_once_without_retries(code: int) -> None:
    transport = ScriptedTransport(status(code, body=b'{"error": "nope"}'))
    sleeper = Sleeper()

    with pytest.raises(ProviderRejectedError, match=f"HTTP {code}"):
        client(transport, sleeper).lookup(IdType.ASIN, [ASIN_1])

    assert sleeper.sleeps == []


def test_an_oversized_answer_is_garbage() -> None:
    transport = ScriptedTransport(ProviderResponse(200, {}, b"{", truncated=True))

    found = client(transport, Sleeper()).lookup(IdType.ASIN, [ASIN_1])

    oversized = found[ASIN_1]
    assert isinstance(oversized, NotEnriched)
    assert oversized.reason.startswith(f"{GARBAGE}: the answer is larger than")


def test_ids_go_in_requests_of_at_most_twenty_each_once() -> None:
    ids = [f"B{index:09d}" for index in range(45)]
    transport = ScriptedTransport(
        ok([product(i) for i in ids[:20]]),
        ok([product(i) for i in ids[20:40]]),
        ok([product(i) for i in ids[40:]]),
    )

    found = client(transport, Sleeper()).lookup(IdType.ASIN, [*ids, ids[0]])

    assert [len(request["ids"]) for request in transport.requests] == [20, 20, 5]
    assert sorted(found) == ids
    assert all(isinstance(lookup, Enriched) for lookup in found.values())


def test_no_wait_starts_that_would_run_into_the_deadline() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    transport = ScriptedTransport(status(429, "5"), status(429, "5"), status(429, "5"))
    deadline = Deadline(at=clock.now + 8.0, clock=clock)

    with pytest.raises(ProviderThrottledError, match="time is running out"):
        client(transport, sleeper).lookup(IdType.ASIN, [ASIN_1], deadline)

    # 5 s waited, 3 s left: a second 5 s wait plus an attempt no longer fits.
    assert sleeper.sleeps == [5.0]
    assert len(transport.requests) == 2


def test_the_read_timeout_never_outlasts_the_deadline() -> None:
    clock = FakeClock()
    transport = ScriptedTransport(ok(), ok())
    provider = client(transport, Sleeper(clock))

    provider.lookup(IdType.ASIN, [ASIN_1], Deadline(at=clock.now + 4.0, clock=clock))
    provider.lookup(IdType.ASIN, [ASIN_1], Deadline(at=clock.now - 5.0, clock=clock))

    assert [request["readTimeout"] for request in transport.requests] == [4.0, 1.0]


def test_the_first_attempt_is_made_even_without_time_left() -> None:
    clock = FakeClock()
    transport = ScriptedTransport(status(503))

    with pytest.raises(ProviderUnavailableError, match="1 attempt, stopped early"):
        client(transport, Sleeper(clock)).lookup(
            IdType.ASIN, [ASIN_1], Deadline(at=clock.now, clock=clock)
        )
