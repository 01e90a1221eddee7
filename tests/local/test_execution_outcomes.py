"""Every execution outcome reaches the status record, locally as on AWS: the runtime emits the
execution status change and the description's rule delivers it to update_status."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local.environment import LocalEnvironment
from local.json_http import request_json
from local.runtime import LocalStack
from tests.events import load_example
from tests.local_lambdas.conftest import wait_until

_DEADLINE_SECONDS = 60.0


@pytest.fixture
def env(local_env: LocalEnvironment) -> Iterator[LocalEnvironment]:
    local_env.downstream.reset()
    yield local_env
    local_env.downstream.release()
    local_env.downstream.reset()


def _status(stack: LocalStack, tracking_id: str) -> dict[str, Any]:
    code, body = request_json("GET", f"{stack.api_url}/events/{tracking_id}")
    assert code == 200, body
    return dict(body)


def test_stopping_a_running_ingest_execution_fails_its_tracking_id(env: LocalEnvironment) -> None:
    stack = env.stack
    event = load_example("event.json")
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    env.downstream.hold()
    code, body = request_json("POST", f"{stack.api_url}/events", event)
    assert code == 202, body
    tracking_id, execution_arn = body["trackingId"], body["executionId"]
    # Held at the downstream: the execution is inside its delivery step, far from its end.
    assert env.downstream.wait_for_arrivals(1, timeout=_DEADLINE_SECONDS)
    stack.client("stepfunctions").stop_execution(
        executionArn=execution_arn, error="Operator", cause="stopped by the test"
    )
    # The step in flight answers; a stopped execution takes no further step.
    env.downstream.release()
    ended = stack.wait_for_execution(execution_arn)
    assert ended["status"] == "ABORTED", (ended.get("error"), ended.get("cause"))

    wait_until(
        lambda: _status(stack, tracking_id)["status"] == "FAILED",
        f"{tracking_id} FAILED",
        limit=_DEADLINE_SECONDS,
    )
    record = _status(stack, tracking_id)
    assert record["reason"].startswith("execution ABORTED")
    assert execution_arn in record["reason"]
    assert [step["status"] for step in record["history"]][-1] == "FAILED"


def test_an_execution_that_succeeds_is_not_an_outcome_event(env: LocalEnvironment) -> None:
    stack = env.stack
    event = load_example("event.json")
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    code, body = request_json("POST", f"{stack.api_url}/events", event)
    assert code == 202, body
    assert stack.wait_for_execution(body["executionId"])["status"] == "SUCCEEDED"
    record = _status(stack, body["trackingId"])
    assert record["status"] == "DELIVERED", json.dumps(record)
