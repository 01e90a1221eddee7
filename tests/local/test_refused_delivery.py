"""A downstream that refuses work for good parks it; the fix and a redrive deliver it once. An
event whose execution failed before delivering is delivered when the producer sends it again.

Through the whole local stack: the API front door, real Lambda workers, the circuit table and
the downstream peer on loopback.
"""

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
from tests.local.test_reliability import _reset_breaker, _stopped_in

_PARKED_STEP = "Deliver parked bundle"


def _event() -> dict[str, Any]:
    event: dict[str, Any] = load_example("event.json")
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    return event


def _send(stack: LocalStack, event: dict[str, Any]) -> dict[str, Any]:
    code, body = request_json("POST", f"{stack.api_url}/events", event)
    assert code == 202, body
    return dict(body)


def _status(stack: LocalStack, tracking_id: str) -> dict[str, Any]:
    code, body = request_json("GET", f"{stack.api_url}/events/{tracking_id}")
    assert code == 200, body
    return dict(body)


def _circuit_table(stack: LocalStack) -> str:
    assert stack.app.circuit_breaker is not None
    return stack.app.physical_name(stack.app.circuit_breaker.table)


def _rotate(stack: LocalStack, token: str) -> None:
    stack.client("secretsmanager").put_secret_value(
        SecretId=stack.app.physical_name("downstream"), SecretString=json.dumps({"token": token})
    )


@pytest.fixture
def env(local_env: LocalEnvironment) -> Iterator[LocalEnvironment]:
    token = local_env.downstream.token
    local_env.downstream.reset()
    _reset_breaker(local_env.stack)
    yield local_env
    local_env.downstream.token = token
    _rotate(local_env.stack, token)
    local_env.downstream.reset()
    _reset_breaker(local_env.stack)


def test_a_401_parks_and_after_the_rotation_a_redrive_delivers_once(
    env: LocalEnvironment,
) -> None:
    stack, downstream = env.stack, env.downstream
    # The downstream moved on to a new token the stack does not know yet.
    downstream.token = f"rotated-{uuid.uuid4().hex}"
    event = _event()

    accepted = _send(stack, event)
    outcome = stack.wait_for_execution(accepted["executionId"], timeout_seconds=300)

    assert outcome["status"] == "FAILED", outcome
    assert outcome["error"] == "PermanentDeliveryError", outcome
    assert _stopped_in(stack, accepted["executionId"]) == _PARKED_STEP
    parked = _status(stack, accepted["trackingId"])
    assert parked["status"] == "PARKED"
    assert "HTTP 401" in parked["reason"], parked
    assert "redrive" in parked["reason"], parked
    assert downstream.received().events == {}

    _rotate(stack, downstream.token)
    stack.client("stepfunctions").redrive_execution(executionArn=accepted["executionId"])
    redriven = stack.wait_for_execution(accepted["executionId"], timeout_seconds=300)

    assert redriven["status"] == "SUCCEEDED", redriven
    delivered = _status(stack, accepted["trackingId"])
    assert delivered["status"] == "DELIVERED"
    assert delivered["archiveKey"].startswith("bundles/")
    received = downstream.received()
    assert set(received.events) == {event["eventHeader"]["uuid"]}
    assert received.events_delivered_twice == {}


def test_an_event_whose_execution_failed_is_delivered_once_when_sent_again(
    env: LocalEnvironment,
) -> None:
    stack, downstream = env.stack, env.downstream
    # A circuit record nobody can read fails "Check the circuit" before anything is sent.
    stack.client("dynamodb").put_item(
        TableName=_circuit_table(stack),
        Item={"circuitId": {"S": "downstream"}, "state": {"S": "BROKEN"}},
    )
    event = _event()

    first = _send(stack, event)
    failed = stack.wait_for_execution(first["executionId"], timeout_seconds=300)

    assert failed["status"] == "FAILED", failed
    assert _status(stack, first["trackingId"])["status"] == "FAILED"

    _reset_breaker(stack)
    again = _send(stack, event)
    succeeded = stack.wait_for_execution(again["executionId"], timeout_seconds=300)
    once_more = _send(stack, event)
    stack.wait_for_execution(once_more["executionId"], timeout_seconds=300)

    assert succeeded["status"] == "SUCCEEDED", succeeded
    assert _status(stack, again["trackingId"])["status"] == "DELIVERED"
    # The delivered event's claim is not handed on again.
    assert _status(stack, once_more["trackingId"])["status"] == "DUPLICATE"
    received = downstream.received()
    assert set(received.events) == {event["eventHeader"]["uuid"]}
    assert received.events_delivered_twice == {}
