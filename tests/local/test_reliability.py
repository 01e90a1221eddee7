"""Nothing lost, nothing duplicated, the downstream never hammered: through the whole local stack.

Every test drives real HTTP into the API front door (or SQS records into the workflow), real
Lambda workers, the DynamoDB circuit breaker and a real downstream server on loopback. Waits and
the breaker's cooldown follow the stack's time scale (1/1000), so a 300 s cooldown is 0.3 s.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.environment import LocalEnvironment
from local.json_http import request_json
from local.runtime import LocalStack
from tests.events import load_example
from tests.local_lambdas.conftest import wait_until

# Where workflows/pipeline.py leaves parked work failed, so that a redrive re-runs it.
_PARKED_STEP = "Deliver parked bundle"


def _event() -> dict[str, Any]:
    event: dict[str, Any] = load_example("event.json")
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    return event


def _post(api: str, path: str, body: Any) -> tuple[int, Any]:
    return request_json("POST", f"{api}{path}", body)


def _get(api: str, path: str) -> Any:
    code, body = request_json("GET", f"{api}{path}")
    assert code == 200, body
    return body


def _reset_breaker(stack: LocalStack) -> None:
    assert stack.app.circuit_breaker is not None
    table = stack.app.physical_name(stack.app.circuit_breaker.table)
    dynamodb = stack.client("dynamodb")
    for item in dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]:
        dynamodb.delete_item(TableName=table, Key={"circuitId": item["circuitId"]})


@pytest.fixture
def env(local_env: LocalEnvironment) -> Iterator[LocalEnvironment]:
    """The shared environment with a healthy downstream and a closed breaker, before and after.

    Executions an earlier test left running (parked ones waiting out a cooldown) would otherwise
    reopen the breaker after the reset, so they are waited for first.
    """
    local_env.downstream.reset()
    _wait_for_running(local_env.stack)
    _reset_breaker(local_env.stack)
    yield local_env
    local_env.downstream.reset()
    _wait_for_running(local_env.stack)
    _reset_breaker(local_env.stack)


def _wait_for_running(stack: LocalStack) -> None:
    sfn = stack.client("stepfunctions")
    for workflow in stack.app.workflows:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=stack.state_machine_arn(workflow.name), statusFilter="RUNNING"
        )
        running = [e["executionArn"] for page in pages for e in page["executions"]]
        _wait_all(stack, running)


def _stopped_in(stack: LocalStack, execution_arn: str) -> str:
    """The state an execution stopped in: the last one its history entered."""
    events = stack.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, reverseOrder=True
    )["events"]
    return next(
        str(e["stateEnteredEventDetails"]["name"])
        for e in events
        if e["type"].endswith("StateEntered")
    )


def _assert_parked(stack: LocalStack, tracking_id: str, outcome: dict[str, Any]) -> None:
    """Work the breaker turned away: recorded PARKED, its execution failed at the parked step."""
    assert _get(stack.api_url, f"/events/{tracking_id}")["status"] == "PARKED"
    assert outcome["status"] == "FAILED", outcome
    assert outcome["error"] in {"CircuitOpenError", "TransientDeliveryError"}, outcome
    assert _stopped_in(stack, outcome["executionArn"]) == _PARKED_STEP


def _failed(stack: LocalStack, execution_arns: set[str]) -> set[str]:
    pages = (
        stack.client("stepfunctions")
        .get_paginator("list_executions")
        .paginate(stateMachineArn=stack.state_machine_arn("ingest"), statusFilter="FAILED")
    )
    failed = {e["executionArn"] for page in pages for e in page["executions"]}
    return failed & execution_arns


def _redrive(stack: LocalStack, execution_arns: list[str]) -> None:
    code, report = request_json(
        "POST", f"{stack.api_url}/ops/executions/redrive", {"executionArns": execution_arns}
    )
    assert code == 200, report
    assert report["failed"] == [], report


def _wait_all(stack: LocalStack, execution_arns: list[str]) -> dict[str, dict[str, Any]]:
    return {arn: stack.wait_for_execution(arn, timeout_seconds=300) for arn in execution_arns}


def test_a_thousand_events_through_faults_and_an_outage_arrive_once_or_park(
    env: LocalEnvironment,
) -> None:
    stack, downstream = env.stack, env.downstream
    downstream.reseed(7)
    downstream.set_fail_rate(0.3)
    batches = [[_event() for _ in range(10)] for _ in range(100)]
    event_ids = {e["eventHeader"]["uuid"] for batch in batches for e in batch}

    def post(batch: list[dict[str, Any]]) -> dict[str, Any]:
        code, body = _post(stack.api_url, "/events/bulk", batch)
        assert code == 202, body
        return dict(body)

    def outage() -> None:
        # A total outage once deliveries are under way: the 70 bundles still to come meet it.
        wait_until(lambda: len(downstream.received().bundles) >= 30, "30 bundles", limit=300)
        downstream.set_down(True)

    with ThreadPoolExecutor(max_workers=7) as posters:
        cut = posters.submit(outage)
        accepted = list(posters.map(post, batches))
        cut.result()
    execution_arns = {a["executionId"] for a in accepted}
    # It lasts until work has parked, however long the park checks and the parked step's
    # retries take on a busy machine; the rest is then delivered or parks on its own.
    wait_until(lambda: bool(_failed(stack, execution_arns)), "a parked execution", limit=300)
    downstream.set_down(False)
    outcomes = _wait_all(stack, [a["executionId"] for a in accepted])

    by_status: dict[str, int] = {}
    for outcome in outcomes.values():
        by_status[outcome["status"]] = by_status.get(outcome["status"], 0) + 1
    assert set(by_status) <= {"SUCCEEDED", "FAILED"}, by_status
    statuses = [_get(stack.api_url, f"/events/{a['trackingId']}") for a in accepted]
    assert sum(record["counts"]["received"] for record in statuses) == 1000

    received = downstream.received()
    assert received.events_delivered_twice == {}
    # Parked: failed at the end, or failed and already redriven when its breaker closed.
    parked = [
        a
        for a in accepted
        if outcomes[a["executionId"]]["status"] == "FAILED"
        or outcomes[a["executionId"]].get("redriveCount", 0) > 0
    ]
    # Without parked work the redrive below would prove nothing: the outage must have parked some.
    assert parked, by_status
    for a in parked:
        outcome = outcomes[a["executionId"]]
        if outcome["status"] == "FAILED":
            assert outcome["error"] in {"CircuitOpenError", "TransientDeliveryError"}, outcome

    # The outage is over. A probe that closed the breaker meanwhile has redriven parked work
    # already (workflows/redrive_parked.py); the operator's redrive through the operations API
    # is idempotent and takes the rest. Delivered exactly once, either way.
    downstream.set_fail_rate(0.0)
    _reset_breaker(stack)
    parked_arns = [a["executionId"] for a in parked]
    for _ in range(3):
        _redrive(stack, parked_arns)
        redriven = _wait_all(stack, parked_arns)
        if all(d["status"] == "SUCCEEDED" for d in redriven.values()):
            break
    assert all(d["status"] == "SUCCEEDED" for d in redriven.values())
    final = {a["trackingId"]: _get(stack.api_url, f"/events/{a['trackingId']}") for a in accepted}
    assert {r["status"] for r in final.values()} == {"DELIVERED"}
    received = downstream.received()
    assert set(received.events) == event_ids
    assert received.events_delivered_twice == {}
    outcomes_seen: dict[str, int] = {}
    for request in received.ingest_requests:
        outcomes_seen[str(request.outcome)] = outcomes_seen.get(str(request.outcome), 0) + 1
    print(
        f"\n1,000 events: {by_status} before redrive; {len(parked)} redriven; "
        f"{len(received.ingest_requests)} requests reached the downstream {outcomes_seen}"
    )


def test_an_open_breaker_lets_only_one_probe_through_per_cooldown(env: LocalEnvironment) -> None:
    stack, downstream = env.stack, env.downstream
    downstream.set_down(True)
    threshold = stack.app.config.circuit_failure_threshold
    cooldown = stack.app.config.circuit_cooldown_seconds * stack.time_scale.factor

    accepted = [_post(stack.api_url, "/events", _event())[1] for _ in range(6)]
    outcomes = _wait_all(stack, [a["executionId"] for a in accepted])
    for a in accepted:
        _assert_parked(stack, a["trackingId"], outcomes[a["executionId"]])

    attempts = [r.at for r in downstream.received().ingest_requests]
    assert len(attempts) >= threshold
    # The threshold-th failure opens the breaker. Calls admitted before that may still arrive
    # just after (at most one per execution); from then on the breaker lets a single probe
    # through per cooldown, however many executions are waiting.
    opened_at = attempts[threshold - 1]
    in_flight = [t for t in attempts[threshold:] if t - opened_at < cooldown * 0.95]
    probes = [t for t in attempts[threshold:] if t - opened_at >= cooldown * 0.95]
    assert len(in_flight) < len(accepted)
    gaps = [later - earlier for earlier, later in itertools.pairwise(probes)]
    assert all(gap >= cooldown * 0.95 for gap in gaps), (cooldown, gaps)

    # The endpoint is back: the next probe closes the breaker and a redrive delivers the work.
    downstream.set_down(False)
    sfn = stack.client("stepfunctions")
    time.sleep(cooldown)  # let the probe fall due (the breaker's clock follows the time scale)
    # The operator redrives one parked execution: its delivery is the probe that closes the
    # breaker. Then the rest, all at once.
    first, *rest = accepted
    sfn.redrive_execution(executionArn=first["executionId"])
    assert _wait_all(stack, [first["executionId"]])[first["executionId"]]["status"] == "SUCCEEDED"
    # Its closing redrives the rest automatically; an operator's redrive of them is idempotent.
    _redrive(stack, [a["executionId"] for a in rest])
    redriven = _wait_all(stack, [a["executionId"] for a in accepted])
    assert {d["status"] for d in redriven.values()} == {"SUCCEEDED"}
    for a in accepted:
        assert _get(stack.api_url, f"/events/{a['trackingId']}")["status"] == "DELIVERED"
    assert downstream.received().events_delivered_twice == {}


def test_a_batch_the_queue_delivers_twice_is_one_bundle_and_one_delivery(
    env: LocalEnvironment,
) -> None:
    stack, downstream = env.stack, env.downstream
    events = [_event() for _ in range(3)]
    records = [
        {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": f"handle-{index}",
            "body": json.dumps(event),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:stepflow-dev-ingest",
            "awsRegion": "us-east-1",
        }
        for index, event in enumerate(events)
    ]
    sfn = stack.client("stepfunctions")
    runs = [
        sfn.start_execution(
            stateMachineArn=stack.state_machine_arn("ingest"), input=json.dumps(records)
        )["executionArn"]
        for _ in range(2)
    ]
    outcomes = _wait_all(stack, runs)
    assert {o["status"] for o in outcomes.values()} == {"SUCCEEDED"}, [
        (o.get("error"), str(o.get("cause"))[:300]) for o in outcomes.values()
    ]
    received = downstream.received()
    accepted = [r for r in received.ingest_requests if r.status == 200]
    keys = {r.idempotency_key for r in accepted}
    assert len(keys) == 1, "both runs must produce the same bundle"
    assert len(received.bundles) == 1
    assert {received.events[e["eventHeader"]["uuid"]] for e in events} == {1}
