"""The operations API through the local front door: queues, dead-letter redrive with loop
prevention, parked work redriven when the breaker closes, the breaker by hand, health."""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.environment import LocalEnvironment
from local.json_http import request_json
from local.runtime import LocalStack
from tests.events import load_example
from tests.local.test_reliability import _reset_breaker, _wait_for_running

pytestmark = pytest.mark.local

_DEADLINE_SECONDS = 300.0


def _wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + _DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _call(stack: LocalStack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return request_json(method, f"{stack.api_url}{path}", body)


def _ok(stack: LocalStack, method: str, path: str, body: Any = None) -> Any:
    code, answer = _call(stack, method, path, body)
    assert code in (200, 202), (code, answer)
    return answer


def _event() -> dict[str, Any]:
    event: dict[str, Any] = load_example("event.json")
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    return event


@pytest.fixture
def env(local_env: LocalEnvironment) -> Iterator[LocalEnvironment]:
    local_env.downstream.reset()
    _wait_for_running(local_env.stack)
    _reset_breaker(local_env.stack)
    yield local_env
    local_env.downstream.reset()
    _wait_for_running(local_env.stack)
    _reset_breaker(local_env.stack)


def test_queues_health_and_the_breaker_are_reported(env: LocalEnvironment) -> None:
    stack = env.stack
    queues = {q["name"]: q for q in _ok(stack, "GET", "/ops/queues")["queues"]}

    ingest = queues[stack.app.physical_name("ingest")]
    assert ingest["deadLetter"]["name"] == stack.app.physical_name("ingest-dlq")
    for depth in (ingest, ingest["deadLetter"]):
        assert {"visible", "inFlight", "delayed", "oldestMessageAgeSeconds", "url"} <= set(depth)
    breaker = _ok(stack, "GET", "/ops/breaker")
    assert breaker["state"] == "closed"
    assert breaker["nextProbeAt"] is None
    health = _ok(stack, "GET", "/ops/health")
    assert set(health["checks"]) == {"tables", "queues", "buckets", "breaker", "downstream"}
    assert health["checks"]["tables"]["status"] == "ok", health
    assert health["checks"]["buckets"]["status"] == "ok", health


def test_a_manual_open_is_recorded_and_refuses_replays_until_closed(
    env: LocalEnvironment,
) -> None:
    stack = env.stack
    opened = _ok(stack, "POST", "/ops/breaker", {"state": "open", "reason": "maintenance"})

    assert opened["state"] == "open"
    assert opened["nextProbeAt"] is not None
    assert opened["history"][-1]["to"] == "open"
    assert opened["history"][-1]["reason"] == "maintenance"
    degraded = _ok(stack, "GET", "/ops/health")
    assert degraded["status"] == "degraded"
    assert degraded["checks"]["breaker"]["status"] == "degraded"
    key = "bundles/ab/" + "ab" * 32 + ".ndjson.gz"
    code, refused = _call(stack, "POST", "/ops/replay", {"archiveKey": key})
    assert code == 409, refused

    closed = _ok(stack, "POST", "/ops/breaker", {"state": "closed", "reason": "done"})
    assert closed["state"] == "closed"
    assert [entry["to"] for entry in closed["history"][-2:]] == ["open", "closed"]
    code, missing = _call(stack, "POST", "/ops/replay", {"archiveKey": key})
    assert code == 404, missing
    code, bad = _call(stack, "POST", "/ops/breaker", {"state": "ajar"})
    assert code == 400
    assert {error["field"] for error in bad["errors"]} == {"state", "reason"}


def test_a_delivered_bundle_replays_under_its_idempotency_key(env: LocalEnvironment) -> None:
    stack, downstream = env.stack, env.downstream
    event = _event()
    accepted = _ok(stack, "POST", "/events", event)
    assert stack.wait_for_execution(accepted["executionId"], 300)["status"] == "SUCCEEDED"
    archive_key = _ok(stack, "GET", f"/events/{accepted['trackingId']}")["archiveKey"]
    before = len(downstream.received().ingest_requests)

    replayed = _ok(stack, "POST", "/ops/replay", {"archiveKey": archive_key})

    assert replayed["statusCode"] in range(200, 300), replayed
    requests = downstream.received().ingest_requests
    assert len(requests) == before + 1
    # The delivery and the replay: one key, the bundle's sha256, which the archive key names.
    keys = [request.idempotency_key for request in requests]
    assert keys.count(replayed["idempotencyKey"]) == 2
    assert archive_key.endswith(f"{replayed['idempotencyKey']}.ndjson.gz")
    # The receiver sees the same bundle again: still one copy of the event.
    assert downstream.received().events_delivered_twice == {}


def _dead_letter(stack: LocalStack, body: str) -> None:
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=stack.app.physical_name("ingest-dlq"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body)


def _redrive_finished(stack: LocalStack) -> Callable[[], bool]:
    def finished() -> bool:
        tasks = _ok(stack, "GET", f"/ops/queues/{stack.app.physical_name('ingest')}/redrive")
        return bool(tasks["tasks"]) and tasks["tasks"][0]["Status"] == "COMPLETED"

    return finished


def test_a_dead_letter_queue_redrives_and_a_looping_message_is_set_aside(
    env: LocalEnvironment,
) -> None:
    stack = env.stack
    queue = stack.app.physical_name("ingest")
    redrives = stack.app.physical_name("redrives")
    limit = stack.app.config.max_dlq_redrives
    # A message that keeps failing comes back to the dead-letter queue after each redrive.
    looping = json.dumps({"loop": uuid.uuid4().hex})
    rounds = []
    for _ in range(limit + 1):
        _dead_letter(stack, looping)
        started = _ok(stack, "POST", f"/ops/queues/{queue}/redrive", {"maxMessagesPerSecond": 50})
        rounds.append(started)
        _wait_for(_redrive_finished(stack), "the redrive to complete")

    assert all(r["setAside"] == [] for r in rounds[:limit]), rounds
    assert rounds[0]["destinationArn"].endswith(f":{queue}")
    assert rounds[0]["sourceArn"].endswith(f":{queue}-dlq")
    [set_aside] = rounds[-1]["setAside"]
    assert set_aside["redrives"] == limit + 1
    item = stack.client("dynamodb").get_item(
        TableName=redrives, Key={"messageKey": {"S": set_aside["messageKey"]}}
    )["Item"]
    assert item["body"]["S"] == looping
    assert len(item["redrivenAt"]["L"]) == limit + 1
    assert "setAsideAt" in item
    tasks = _ok(stack, "GET", f"/ops/queues/{queue}/redrive")["tasks"]
    assert tasks[0]["ApproximateNumberOfMessagesMoved"] == 0  # the looping one stayed out

    code, unknown = _call(stack, "POST", "/ops/queues/nowhere/redrive", {})
    assert code == 404, unknown


def test_an_outage_parks_work_and_the_closing_breaker_redrives_it_once(
    env: LocalEnvironment,
) -> None:
    stack, downstream = env.stack, env.downstream
    downstream.set_down(True)
    events = [_event() for _ in range(6)]
    accepted = [_ok(stack, "POST", "/events", event) for event in events]
    for a in accepted:
        assert stack.wait_for_execution(a["executionId"], 300)["status"] == "FAILED"
    parked = _ok(stack, "GET", "/ops/executions?status=PARKED&workflow=ingest")["executions"]
    parked_arns = {p["executionArn"] for p in parked}
    assert {a["executionId"] for a in accepted} <= parked_arns
    assert all(p["redrivable"] for p in parked if p["executionArn"] in parked_arns)
    assert _ok(stack, "GET", "/ops/breaker")["state"] == "open"

    # The downstream recovers; the next delivery probes, closes the breaker, and the
    # redrive-parked workflow delivers the parked work without anyone redriving it.
    downstream.set_down(False)
    probe = _event()
    probing = _ok(stack, "POST", "/events", probe)
    assert stack.wait_for_execution(probing["executionId"], 300)["status"] == "SUCCEEDED"

    def all_delivered() -> bool:
        statuses = [_ok(stack, "GET", f"/events/{a['trackingId']}")["status"] for a in accepted]
        return set(statuses) == {"DELIVERED"}

    _wait_for(all_delivered, "the parked work to be delivered")
    received = downstream.received()
    expected = {e["eventHeader"]["uuid"] for e in [*events, probe]}
    assert expected <= set(received.events)
    assert received.events_delivered_twice == {}
    # Idempotent: redriving them again now changes nothing.
    again = _ok(
        stack,
        "POST",
        "/ops/executions/redrive",
        {"executionArns": [a["executionId"] for a in accepted], "reason": "double check"},
    )
    assert again["redriven"] == []
    assert len(again["skipped"]) == len(accepted)
    assert again["failed"] == []


def test_schemathesis_finds_no_5xx_in_the_operations_api(env: LocalEnvironment) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from functions.operations.app import app
    from functions.operations.openapi import document

    stack = env.stack
    schema = schemathesis.openapi.from_dict(document(app))
    results = list(schema.get_all_operations())
    assert all(isinstance(result, schemathesis.core.result.Ok) for result in results), results
    operations = [
        result.ok() for result in results if isinstance(result, schemathesis.core.result.Ok)
    ]
    assert len(operations) == 10
    answered: dict[str, set[int]] = {}

    @given(st.sampled_from(operations).flatmap(lambda operation: operation.as_strategy()))
    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def no_server_error(case: Any) -> None:
        body = None if isinstance(case.body, schemathesis.core.NotSet) else case.body
        path = urllib.parse.quote(case.formatted_path)
        if case.query:
            path += "?" + urllib.parse.urlencode(case.query, doseq=True)
        code, answer = _call(stack, case.method.upper(), path, body)
        answered.setdefault(f"{case.method.upper()} {case.path}", set()).add(code)
        assert code < 500, (case.method, path, body, answer)

    no_server_error()
    assert len(answered) == len(operations), sorted(answered)


def test_the_cli_is_a_client_of_the_operations_api(
    env: LocalEnvironment, capsys: pytest.CaptureFixture[str]
) -> None:
    from local.cli import main

    api = ["ops", "--api", env.stack.api_url]
    assert main([*api, "breaker", "open", "--reason", "cli test"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "open"
    assert main([*api, "breaker", "close"]) == 2  # a change needs a reason
    capsys.readouterr()
    assert main([*api, "breaker", "close", "--reason", "cli test"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "closed"
    assert main([*api, "health"]) == 0
    assert set(json.loads(capsys.readouterr().out)["checks"]) >= {"tables", "breaker"}
    assert main([*api, "queues"]) == 0
    assert json.loads(capsys.readouterr().out)["queues"]
    assert main([*api, "executions", "--status", "PARKED", "--workflow", "ingest"]) == 0
    assert "executions" in json.loads(capsys.readouterr().out)
    assert main([*api, "redrive-dlq", "nowhere"]) == 1
    assert main([*api, "replay", "bundles/zz/nope.ndjson.gz"]) == 1
