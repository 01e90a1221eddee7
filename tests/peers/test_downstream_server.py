"""The local downstream endpoint: its checks, its bookkeeping, its failure controls, its
robustness against bad input. Every test talks to it over a real socket."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from local.peers import DownstreamServer
from local.peers.downstream import ControlError, Outcome, main
from tests.peers.conftest import Clock, assert_control_refused, control, exchange_raw, pool

TOKEN = "peer-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def gz(data: bytes) -> bytes:
    # mtime=0: the same bytes in every run and every xdist worker (test ids are built from them).
    return gzip.compress(data, mtime=0)


def ndjson(*events: dict[str, Any]) -> bytes:
    return gz(b"".join(json.dumps(event).encode() + b"\n" for event in events))


def event(event_id: str) -> dict[str, Any]:
    return {"eventHeader": {"uuid": event_id}, "entities": []}


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000.0)


@pytest.fixture
def server(clock: Clock) -> Iterator[DownstreamServer]:
    with DownstreamServer(TOKEN, clock=clock, max_body_bytes=64 * 1024) as running:
        yield running


def ingest(
    http: urllib3.PoolManager,
    server: DownstreamServer,
    body: Any,
    key: str | None = "key-1",
    headers: dict[str, str] | None = None,
) -> urllib3.BaseHTTPResponse:
    sent = {**AUTH, "Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"}
    if key is not None:
        sent["Idempotency-Key"] = key
    sent.update(headers or {})
    return http.request("POST", server.ingest_url, body=body, headers=sent)


# -- the endpoint's checks ---------------------------------------------------------------------


def test_a_good_bundle_is_accepted_and_its_events_counted(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    response = ingest(http, server, ndjson(event("e-1"), event("e-2"), {"no": "header"}))

    assert response.status == 200
    assert response.json() == {"duplicate": False, "idempotencyKey": "key-1", "events": 3}
    received = server.received()
    assert received.events == {"e-1": 1, "e-2": 1}
    assert received.bundles["key-1"].events == 3
    [request] = received.ingest_requests
    assert (request.status, request.outcome, request.at) == (200, Outcome.ACCEPTED, 1_000.0)


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"bearer {TOKEN}", TOKEN, "Bearer \u00e9t\u00e9"]
)
def test_a_missing_or_wrong_token_is_401(
    http: urllib3.PoolManager, server: DownstreamServer, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    sent = {"Idempotency-Key": "k", **headers}

    response = http.request("POST", server.ingest_url, body=ndjson(event("e")), headers=sent)

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert server.received().bundles == {}


def test_a_refused_large_body_is_still_read_so_the_client_gets_its_401(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    # Answering before reading would reset the connection under a client still sending.
    body = b"\x00" * (60 * 1024)

    response = ingest(http, server, body, headers={"Authorization": "Bearer nope"})

    assert response.status == 401


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"not gzip at all", "not gzip", id="plain"),
        pytest.param(gz(b"")[:-4], "not gzip", id="truncated"),
        pytest.param(gz(b""), "no lines", id="empty"),
        pytest.param(gz(b'{"a": 1}\n\n{"b": 2}\n'), "line 2 is empty", id="blank-line"),
        pytest.param(gz(b'{"a": 1}\n[1, 2]\n'), "line 2 is not a JSON object", id="array"),
        pytest.param(gz(b'{"a": 1}\n{"b": \n'), "line 2 is not JSON", id="broken-json"),
        pytest.param(gz(b"\xff\xfe\n"), "line 1 is not JSON", id="not-utf8"),
    ],
)
def test_a_body_that_is_not_gzip_ndjson_is_400(
    http: urllib3.PoolManager, server: DownstreamServer, body: bytes, reason: str
) -> None:
    response = ingest(http, server, body)

    assert response.status == 400
    assert reason in response.json()["error"]
    assert server.received().bundles == {}


def test_a_bundle_without_idempotency_key_is_400(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    response = ingest(http, server, ndjson(event("e")), key=None)

    assert response.status == 400
    assert "Idempotency-Key" in response.json()["error"]


def test_a_repeated_key_is_a_200_duplicate_and_is_not_counted_again(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    first = ingest(http, server, ndjson(event("e-1")), key="same")
    again = ingest(http, server, ndjson(event("e-1")), key="same")
    other = ingest(http, server, ndjson(event("e-1"), event("e-1")), key="another")

    assert (first.status, again.status, other.status) == (200, 200, 200)
    assert again.json()["duplicate"] is True
    received = server.received()
    assert sorted(received.bundles) == ["another", "same"]
    # Two distinct bundles carried e-1 (once twice within one bundle, counted once there).
    assert received.events == {"e-1": 2}
    assert received.events_delivered_twice == {"e-1": 2}
    assert [r.outcome for r in received.ingest_requests] == [
        Outcome.ACCEPTED,
        Outcome.DUPLICATE,
        Outcome.ACCEPTED,
    ]


def test_a_multi_member_gzip_body_is_one_bundle(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    body = ndjson(event("e-1")) + ndjson(event("e-2"))

    assert ingest(http, server, body).json()["events"] == 2


def test_a_chunked_body_is_accepted(http: urllib3.PoolManager, server: DownstreamServer) -> None:
    body = ndjson(*(event(f"e-{n}") for n in range(50)))
    pieces = [body[i : i + 100] for i in range(0, len(body), 100)]

    response = ingest(http, server, iter(pieces))

    assert response.status == 200
    assert server.received().ingest_requests[0].headers["Transfer-Encoding"] == "chunked"


def test_a_body_over_the_cap_is_413(http: urllib3.PoolManager, server: DownstreamServer) -> None:
    response = ingest(http, server, b"\x00" * (65 * 1024))

    assert response.status == 413
    assert server.received().ingest_requests[0].outcome is Outcome.TOO_LARGE


def test_a_chunked_body_over_the_cap_is_413(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    response = ingest(http, server, iter([b"\x00" * 40_000, b"\x00" * 40_000]))

    assert response.status == 413


def test_a_bundle_that_inflates_past_the_cap_is_413(clock: Clock) -> None:
    bomb = gz(b"{}\n" * 100_000)
    with DownstreamServer(TOKEN, clock=clock, max_decompressed_bytes=10_000) as small:
        response = ingest(urllib3.PoolManager(retries=False), small, bomb)

    assert response.status == 413


def test_a_post_without_length_is_411() -> None:
    with (
        DownstreamServer(TOKEN) as server,
        socket.create_connection(("127.0.0.1", server.port)) as raw,
    ):
        raw.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\r\n\r\n")
        answer = raw.recv(4096)

    assert answer.startswith(b"HTTP/1.1 411")


# -- failure controls --------------------------------------------------------------------------


def test_fail_rate_one_fails_everything_with_503(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    server.set_fail_rate(1.0)

    statuses = [ingest(http, server, ndjson(event("e")), key=f"k{n}").status for n in range(5)]

    assert statuses == [503] * 5
    assert server.received().bundles == {}
    assert {r.outcome for r in server.received().ingest_requests} == {Outcome.INJECTED_FAILURE}


def test_fail_rate_is_reproducible_from_the_seed(http: urllib3.PoolManager) -> None:
    def statuses(seed: int) -> list[int]:
        with DownstreamServer(TOKEN, seed=seed) as server:
            server.set_fail_rate(0.5)
            return [ingest(http, server, ndjson(event("e")), key=f"k{n}").status for n in range(20)]

    first, second = statuses(7), statuses(7)

    assert first == second
    assert set(first) == {200, 503}


def test_down_resets_connections_without_any_http_answer(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    server.set_down()

    with pytest.raises(urllib3.exceptions.ProtocolError):
        ingest(http, server, ndjson(event("e")))
    server.set_down(False)
    back = ingest(http, server, ndjson(event("e")))

    assert back.status == 200
    outcomes = [(r.status, r.outcome) for r in server.received().ingest_requests]
    assert outcomes == [(None, Outcome.DOWN), (200, Outcome.ACCEPTED)]


def test_down_for_ends_by_itself_on_the_servers_clock(
    http: urllib3.PoolManager, server: DownstreamServer, clock: Clock
) -> None:
    server.down_for(30)

    with pytest.raises(urllib3.exceptions.ProtocolError):
        ingest(http, server, ndjson(event("e")))
    clock.now += 30
    assert ingest(http, server, ndjson(event("e"))).status == 200


def test_a_status_override_answers_every_ingest(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    server.set_status_override(400)

    response = ingest(http, server, ndjson(event("e")))
    server.set_status_override(None)

    assert response.status == 400
    assert ingest(http, server, ndjson(event("e"))).status == 200


def test_latency_is_applied_and_reported(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    server.set_latency_ms(1)

    assert ingest(http, server, ndjson(event("e"))).status == 200
    assert server.controls()["latency_ms"] == 1


def test_hold_keeps_a_request_in_flight_until_released(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    server.hold()
    short = pool(read_timeout=0.2)

    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        ingest(short, server, ndjson(event("e")))
    assert server.wait_for_arrivals(1, timeout=10)
    server.release()

    assert ingest(http, server, ndjson(event("e")), key="after").status == 200


def test_controls_are_settable_over_http(
    http: urllib3.PoolManager, server: DownstreamServer
) -> None:
    status, controls = control(http, server, fail_rate=1.0, status_override=None, latency_ms=0)
    failing = ingest(http, server, ndjson(event("e"))).status
    control(http, server, fail_rate=0, down=True)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        ingest(http, server, ndjson(event("e")))
    _, restored = control(http, server, down=False, reset=True)
    shown = http.request("GET", server.url + "/_control").json()

    assert (status, controls["fail_rate"], failing) == (200, 1.0, 503)
    assert restored["down"] is False
    assert shown == restored
    assert server.received().requests == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b'{"fail_rate": 2}',
        b'{"fail_rate": "high"}',
        b'{"down": "yes"}',
        b'{"status_override": 99}',
        b'{"latency_ms": -1}',
        b'{"down_for": -5}',
        b'{"self": 1}',
        b'{"volume": 11}',
    ],
)
def test_bad_controls_are_400_and_change_nothing(
    http: urllib3.PoolManager, server: DownstreamServer, body: bytes
) -> None:
    assert_control_refused(http, server, body)


def test_a_partly_wrong_control_call_applies_nothing(server: DownstreamServer) -> None:
    with pytest.raises(ControlError, match="status_override"):
        server.configure(fail_rate=0.5, status_override="teapot")

    assert server.controls()["fail_rate"] == 0.0


def test_received_is_served_as_json(http: urllib3.PoolManager, server: DownstreamServer) -> None:
    ingest(http, server, ndjson(event("e-1")))
    server.set_down()
    with pytest.raises(urllib3.exceptions.ProtocolError):
        ingest(http, server, ndjson(event("e-1")), key="key-2")

    document = http.request("GET", server.url + "/_received").json()

    assert document["events"] == {"e-1": 1}
    assert document["bundles"]["key-1"]["events"] == 1
    assert [(r["status"], r["outcome"]) for r in document["requests"]] == [
        (200, "accepted"),
        (None, "down"),
    ]
    assert document["requests"][0]["at"] == 1_000.0


# -- robustness and lifecycle ------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01\x02 garbage\r\n\r\n",
        b"POST /ingest HTTP/1.1\r\n" + b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n",
        b"POST /ingest HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
        b"POST /ingest HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /ingest HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort",
        b"GET /nowhere HTTP/1.1\r\n\r\n",
    ],
)
def test_bad_requests_never_take_the_server_down(
    http: urllib3.PoolManager, server: DownstreamServer, garbage: bytes
) -> None:
    answer = exchange_raw(server, garbage)

    # An error answer (http.server answers a garbled request line HTTP/0.9 style) or none.
    assert not answer.startswith(b"HTTP/1.1 2")
    assert ingest(http, server, ndjson(event("e"))).status == 200


def test_the_url_needs_a_running_server_and_stop_is_idempotent() -> None:
    server = DownstreamServer(TOKEN)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url

    server.start()
    url = server.ingest_url
    server.stop()
    server.stop()

    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/ingest")
    with pytest.raises(urllib3.exceptions.NewConnectionError):
        urllib3.PoolManager(retries=False).request("POST", url, body=b"x")


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        DownstreamServer("")


def test_the_command_line_parses_its_options() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])

    assert exited.value.code == 0
