"""The local enrichment provider: its contract, its deterministic database, its failure
controls, its concurrency bookkeeping and its robustness. Every test talks to it over a real
socket; time is a fake clock moved by the test, never slept."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from local.peers import ProviderServer
from local.peers.provider import (
    ControlError,
    GarbageKind,
    Outcome,
    derived_product,
    known_by_default,
    main,
    valid_ean,
)
from tests.peers.conftest import Clock, assert_control_refused, control, exchange_raw, pool

KEY = "provider-key"
KNOWN_ASIN = "B000123456"
UNKNOWN_ASIN = "B00012345Z"
KNOWN_EAN = "4006381333931"
UNKNOWN_EAN = "4006381333932"


@pytest.fixture
def clock() -> Clock:
    return Clock(500.0)


@pytest.fixture
def server(clock: Clock) -> Iterator[ProviderServer]:
    with ProviderServer(KEY, clock=clock) as running:
        yield running


def lookup(
    http: urllib3.PoolManager,
    server: ProviderServer,
    *,
    key: str | None = KEY,
    **ids: str,
) -> urllib3.BaseHTTPResponse:
    fields = dict(ids)
    if key is not None:
        fields["key"] = key
    return http.request("GET", server.products_url, fields=fields)


# -- the contract -----------------------------------------------------------------------------


def test_known_ids_are_answered_with_their_attributes_and_unknown_ones_listed(
    http: urllib3.PoolManager, server: ProviderServer
) -> None:
    response = lookup(http, server, asin=f"{KNOWN_ASIN},{UNKNOWN_ASIN}")

    assert response.status == 200
    assert response.json() == {
        "products": [derived_product("asin", KNOWN_ASIN)],
        "unknown": [UNKNOWN_ASIN],
    }
    [request] = server.requests()
    assert (request.outcome, request.id_type, request.ids, request.unknown) == (
        Outcome.OK,
        "asin",
        (KNOWN_ASIN, UNKNOWN_ASIN),
        (UNKNOWN_ASIN,),
    )


def test_eans_are_known_when_their_check_digit_is_right(
    http: urllib3.PoolManager, server: ProviderServer
) -> None:
    document = lookup(http, server, ean=f"{KNOWN_EAN},{UNKNOWN_EAN}").json()

    assert [product["ean"] for product in document["products"]] == [KNOWN_EAN]
    assert document["unknown"] == [UNKNOWN_EAN]
    product = document["products"][0]
    assert set(product) == {"ean", "title", "brand", "category", "price", "salesRank"}
    assert product["price"]["currency"] == "EUR"


def test_the_database_is_deterministic_and_documented_by_its_helpers() -> None:
    assert derived_product("asin", KNOWN_ASIN) == derived_product("asin", KNOWN_ASIN)
    assert derived_product("asin", KNOWN_ASIN) != derived_product("asin", "B000123457")
    assert valid_ean("400638133393") == KNOWN_EAN
    assert known_by_default("ean", valid_ean("123456789012"))
    assert not known_by_default("asin", "short")
    assert not known_by_default("isbn", KNOWN_ASIN)
    with ProviderServer(KEY) as server:
        assert server.product(KNOWN_ASIN) == derived_product("asin", KNOWN_ASIN)
        assert server.product(UNKNOWN_ASIN) is None
        assert server.product("nonsense") is None


def test_a_catalog_adds_or_replaces_products_answered_as_given(
    http: urllib3.PoolManager,
) -> None:
    catalog: dict[str, dict[str, Any]] = {
        UNKNOWN_ASIN: {"title": "Planted"},
        KNOWN_ASIN: {"title": 5, "price": "free"},
    }
    with ProviderServer(KEY, catalog=catalog) as server:
        document = lookup(http, server, asin=f"{UNKNOWN_ASIN},{KNOWN_ASIN}").json()

    assert document == {
        "products": [
            {"asin": UNKNOWN_ASIN, "title": "Planted"},
            {"asin": KNOWN_ASIN, "title": 5, "price": "free"},
        ],
        "unknown": [],
    }


def test_ids_made_unknown_by_control_are_unknown(
    http: urllib3.PoolManager, server: ProviderServer
) -> None:
    server.add_unknown(KNOWN_ASIN)
    first = lookup(http, server, asin=KNOWN_ASIN).json()
    server.set_unknown([])
    second = lookup(http, server, asin=KNOWN_ASIN).json()

    assert first == {"products": [], "unknown": [KNOWN_ASIN]}
    assert second["unknown"] == []


@pytest.mark.parametrize(
    ("key", "status"),
    [(None, 401), ("", 401), ("wrong", 401), (KEY + "x", 401), (KEY, 200)],
)
def test_the_key_is_required(
    http: urllib3.PoolManager, server: ProviderServer, key: str | None, status: int
) -> None:
    response = lookup(http, server, key=key, asin=KNOWN_ASIN)

    assert response.status == status
    if status == 401:
        assert server.requests()[-1].outcome is Outcome.UNAUTHORIZED


def test_the_key_given_twice_is_refused(http: urllib3.PoolManager, server: ProviderServer) -> None:
    response = http.request("GET", f"{server.products_url}?key={KEY}&key={KEY}&asin={KNOWN_ASIN}")

    assert response.status == 401


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "exactly one of asin= or ean="),
        (f"asin={KNOWN_ASIN}&ean={KNOWN_EAN}", "exactly one of asin= or ean="),
        ("asin=", "empty id"),
        (f"asin={KNOWN_ASIN},", "empty id"),
        (f"asin={KNOWN_ASIN}&asin={KNOWN_ASIN}", "given 2 times"),
        ("asin=" + ",".join(f"B{index:09d}" for index in range(21)), "at most 20 ids"),
        ("asin=b000123456", "invalid asin 'b000123456'"),
        (f"ean={KNOWN_ASIN}", "invalid ean"),
        ("asin=%FF%FE", "invalid asin"),
    ],
)
def test_a_malformed_lookup_is_400(
    http: urllib3.PoolManager, server: ProviderServer, query: str, message: str
) -> None:
    response = http.request("GET", f"{server.products_url}?key={KEY}&{query}")

    assert response.status == 400
    assert message in response.json()["error"]
    assert server.requests()[-1].outcome is Outcome.BAD_REQUEST


def test_twenty_ids_are_fine_and_repeats_are_answered_once(
    http: urllib3.PoolManager, server: ProviderServer
) -> None:
    ids = [f"B{index:09d}" for index in range(20)]

    document = lookup(http, server, asin=",".join([*ids, ids[0]])).json()

    assert [product["asin"] for product in document["products"]] == ids


# -- rate limit -------------------------------------------------------------------------------


def test_over_the_rate_limit_is_429_with_retry_after_until_the_bucket_refills(
    http: urllib3.PoolManager, server: ProviderServer, clock: Clock
) -> None:
    server.set_rate_limit(0.5, burst=2)

    statuses = [lookup(http, server, asin=KNOWN_ASIN).status for _ in range(3)]
    throttled = lookup(http, server, asin=KNOWN_ASIN)
    clock.now += 1.0
    still = lookup(http, server, asin=KNOWN_ASIN)
    clock.now += 1.0
    refilled = lookup(http, server, asin=KNOWN_ASIN)

    assert statuses == [200, 200, 429]
    assert throttled.status == 429
    assert throttled.headers["Retry-After"] == "2"
    assert (still.status, still.headers["Retry-After"]) == (429, "1")
    assert refilled.status == 200
    records = server.requests()
    assert [record.retry_after for record in records] == [None, None, 2, 2, 1, None]
    assert records[2].outcome is Outcome.THROTTLED


def test_lifting_the_rate_limit_ends_throttling(
    http: urllib3.PoolManager, server: ProviderServer
) -> None:
    server.set_rate_limit(1)
    lookup(http, server, asin=KNOWN_ASIN)
    assert lookup(http, server, asin=KNOWN_ASIN).status == 429

    server.set_rate_limit(None)

    assert [lookup(http, server, asin=KNOWN_ASIN).status for _ in range(5)] == [200] * 5


def test_refused_lookups_cost_no_token(http: urllib3.PoolManager, server: ProviderServer) -> None:
    server.set_rate_limit(1)

    lookup(http, server, key="wrong", asin=KNOWN_ASIN)
    lookup(http, server, asin="bad")

    assert lookup(http, server, asin=KNOWN_ASIN).status == 200


# -- faults, garbage, latency, overrides -------------------------------------------------------


def test_fault_rate_one_fails_every_lookup_with_500_or_503(
    http: urllib3.PoolManager, server: ProviderServer
) -> None:
    server.set_fault_rate(1.0)

    statuses = {lookup(http, server, asin=KNOWN_ASIN).status for _ in range(20)}

    assert statuses == {500, 503}
    assert set(server.stats().outcomes()) == {Outcome.FAULT}


def test_faults_are_reproducible_from_the_seed(http: urllib3.PoolManager) -> None:
    def run(seed: int) -> list[int]:
        with ProviderServer(KEY, seed=seed) as server:
            server.set_fault_rate(0.5)
            return [lookup(http, server, asin=KNOWN_ASIN).status for _ in range(20)]

    first, again, other = run(7), run(7), run(8)

    assert first == again
    assert first != other
    assert {200, 500, 503} >= set(first)
    assert 200 in first


@pytest.mark.parametrize("kind", list(GarbageKind))
def test_garbage_is_a_200_that_breaks_the_contract(
    http: urllib3.PoolManager, server: ProviderServer, kind: GarbageKind
) -> None:
    server.set_garbage_rate(1.0, kind)

    response = lookup(http, server, asin=f"{KNOWN_ASIN},{UNKNOWN_ASIN}")

    assert response.status == 200
    body = response.data
    if kind in (GarbageKind.NOT_JSON, GarbageKind.TRUNCATED):
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)
    else:
        document = json.loads(body)
        products = document.get("products")
        if kind is GarbageKind.WRONG_SHAPE:
            assert products is None
        elif kind is GarbageKind.WRONG_TYPES:
            assert isinstance(products[0]["price"], str)
            assert isinstance(products[0]["salesRank"], str)
        else:
            assert not {"title", "price"} & set(products[0])
    record = server.requests()[-1]
    assert (record.outcome, record.garbage) == (Outcome.GARBAGE, kind)


def test_random_garbage_kinds_come_from_the_seed(http: urllib3.PoolManager) -> None:
    with ProviderServer(KEY, seed=3) as server:
        server.set_garbage_rate(1.0)
        for _ in range(30):
            lookup(http, server, asin=KNOWN_ASIN)
        kinds = {record.garbage for record in server.requests()}

    assert kinds == set(GarbageKind)


def test_a_status_override_answers_every_lookup_and_429_carries_retry_after(
    http: urllib3.PoolManager, server: ProviderServer
) -> None:
    server.set_status_override(429)
    throttled = lookup(http, server, asin=KNOWN_ASIN)
    server.set_status_override(503)
    failing = lookup(http, server, asin=KNOWN_ASIN)
    server.set_status_override(None)

    assert (throttled.status, throttled.headers["Retry-After"]) == (429, "1")
    assert failing.status == 503
    assert "Retry-After" not in failing.headers
    assert lookup(http, server, asin=KNOWN_ASIN).status == 200


def test_latency_is_applied_and_reported(http: urllib3.PoolManager, server: ProviderServer) -> None:
    server.set_latency_ms(1)

    assert lookup(http, server, asin=KNOWN_ASIN).status == 200
    assert server.controls()["latency_ms"] == 1


# -- concurrency ------------------------------------------------------------------------------


def test_the_most_lookups_in_flight_at_once_is_tracked(server: ProviderServer) -> None:
    clients = 6
    server.hold()
    statuses: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        patient = pool(read_timeout=30)
        status = lookup(patient, server, asin=KNOWN_ASIN).status
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=call) for _ in range(clients)]
    for thread in threads:
        thread.start()
    arrived = server.wait_for_arrivals(clients, timeout=20)
    in_flight_while_held = server.in_flight
    server.release()
    for thread in threads:
        thread.join(timeout=30)

    assert arrived
    assert in_flight_while_held == clients
    assert statuses == [200] * clients
    stats = server.stats()
    assert (stats.total_calls, stats.max_in_flight, stats.in_flight) == (clients, clients, 0)


def test_sequential_lookups_are_never_more_than_one_in_flight(
    http: urllib3.PoolManager, server: ProviderServer
) -> None:
    for _ in range(5):
        lookup(http, server, asin=KNOWN_ASIN)

    assert (server.total_calls, server.max_in_flight) == (5, 1)


def test_refused_and_failed_lookups_count_too_but_control_requests_do_not(
    http: urllib3.PoolManager, server: ProviderServer
) -> None:
    lookup(http, server, key="wrong", asin=KNOWN_ASIN)
    server.set_fault_rate(1.0)
    lookup(http, server, asin=KNOWN_ASIN)
    control(http, server, fault_rate=0)
    http.request("GET", server.url + "/_stats")
    http.request("GET", server.url + "/health")

    assert server.total_calls == 2


def test_reset_forgets_the_log_and_counters_but_keeps_the_controls(
    http: urllib3.PoolManager, server: ProviderServer
) -> None:
    server.set_fault_rate(1.0)
    lookup(http, server, asin=KNOWN_ASIN)

    server.reset()

    stats = server.stats()
    assert (stats.total_calls, stats.max_in_flight, stats.requests) == (0, 0, [])
    assert server.controls()["fault_rate"] == 1.0


# -- control over HTTP ------------------------------------------------------------------------


def test_controls_are_settable_and_stats_readable_over_http(
    http: urllib3.PoolManager, server: ProviderServer
) -> None:
    status, controls = control(
        http,
        server,
        rate_limit_per_second=5,
        burst=1,
        fault_rate=0,
        latency_ms=0,
        garbage_rate=0,
        garbage_kind="not_json",
        status_override=None,
        unknown=[KNOWN_ASIN],
        add_unknown=[KNOWN_EAN],
        hold=False,
        seed=4,
    )
    lookup(http, server, asin=KNOWN_ASIN)
    lookup(http, server, asin=KNOWN_ASIN)
    stats = http.request("GET", server.url + "/_stats").json()
    shown = http.request("GET", server.url + "/_control").json()

    assert status == 200
    assert controls["unknown"] == sorted([KNOWN_ASIN, KNOWN_EAN])
    assert controls["garbage_kind"] == "not_json"
    assert shown == controls
    assert (stats["totalCalls"], stats["maxInFlight"], stats["inFlight"]) == (2, 1, 0)
    assert [(r["status"], r["outcome"]) for r in stats["requests"]] == [
        (200, "ok"),
        (429, "throttled"),
    ]
    assert stats["requests"][0]["unknown"] == [KNOWN_ASIN]
    assert stats["requests"][0]["at"] == 500.0
    _, after_reset = control(http, server, reset=True)
    assert after_reset == controls
    assert server.requests() == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b'{"fault_rate": 2}',
        b'{"fault_rate": "high"}',
        b'{"garbage_rate": -0.1}',
        b'{"garbage_kind": "spam"}',
        b'{"rate_limit_per_second": 0}',
        b'{"rate_limit_per_second": true}',
        b'{"burst": 0}',
        b'{"hold": "yes"}',
        b'{"status_override": 99}',
        b'{"latency_ms": -1}',
        b'{"unknown": "B000123456"}',
        b'{"add_unknown": [1]}',
        b'{"seed": 1.5}',
        b'{"volume": 11}',
    ],
)
def test_bad_controls_are_400_and_change_nothing(
    http: urllib3.PoolManager, server: ProviderServer, body: bytes
) -> None:
    assert_control_refused(http, server, body)


def test_a_partly_wrong_control_call_applies_nothing(server: ProviderServer) -> None:
    with pytest.raises(ControlError, match="status_override"):
        server.configure(fault_rate=0.5, status_override="teapot")

    assert server.controls()["fault_rate"] == 0.0


# -- robustness and lifecycle ------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01\x02 garbage\r\n\r\n",
        b"GET /products?" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        b"GET /products?key=%%%&asin=%ZZ HTTP/1.1\r\n\r\n",
        b"POST /_control HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
        b"POST /_control HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort",
        b"POST /_control HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n{}",
        b"POST /_control HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"POST /products HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"DELETE /products HTTP/1.1\r\n\r\n",
        b"GET /nowhere HTTP/1.1\r\n\r\n",
    ],
)
def test_bad_requests_never_take_the_server_down(
    http: urllib3.PoolManager, server: ProviderServer, garbage: bytes
) -> None:
    answer = exchange_raw(server, garbage)

    assert not answer.startswith(b"HTTP/1.1 2")
    assert lookup(http, server, asin=KNOWN_ASIN).status == 200
    assert server.in_flight == 0


def test_a_post_to_products_is_405(http: urllib3.PoolManager, server: ProviderServer) -> None:
    response = http.request("POST", server.products_url, body=b"{}")

    assert (response.status, response.headers["Allow"]) == (405, "GET")
    assert server.requests()[-1].outcome is Outcome.METHOD_NOT_ALLOWED


def test_the_url_needs_a_running_server_and_stop_is_idempotent() -> None:
    server = ProviderServer(KEY)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url

    server.start()
    with pytest.raises(RuntimeError, match="already running"):
        server.start()
    url = server.products_url
    server.stop()
    server.stop()

    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/products")
    with pytest.raises(ValueError, match="api_key"):
        ProviderServer("")


def test_stop_releases_held_lookups(server: ProviderServer) -> None:
    server.hold()
    outcome: list[Any] = []

    def call() -> None:
        patient = pool(read_timeout=30)
        try:
            outcome.append(lookup(patient, server, asin=KNOWN_ASIN).status)
        except urllib3.exceptions.HTTPError as error:
            outcome.append(type(error).__name__)

    thread = threading.Thread(target=call)
    thread.start()
    assert server.wait_for_arrivals(1, timeout=20)
    server.stop()
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert len(outcome) == 1


def test_the_command_line_needs_an_api_key(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([])

    assert "--api-key" in capsys.readouterr().err
