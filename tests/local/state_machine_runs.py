"""Create a state machine on the local endpoint, run it to its end, read what it recorded."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from local.runtime import LocalStack

ROLE_ARN = "arn:aws:iam::123456789012:role/test"


@dataclass(frozen=True)
class Run:
    """An ended execution: ``DescribeExecution``'s answer and the whole history."""

    described: dict[str, Any]
    events: list[dict[str, Any]]

    @property
    def status(self) -> str:
        return str(self.described["status"])

    @property
    def output(self) -> Any:
        return json.loads(self.described["output"])

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == event_type]


def jsonata_definition(start: str, states: dict[str, Any]) -> dict[str, Any]:
    """A definition whose states use JSONata unless they say otherwise."""
    return {"QueryLanguage": "JSONata", "StartAt": start, "States": states}


def create_machine(stack: LocalStack, definition: dict[str, Any], **options: Any) -> str:
    created = stack.client("stepfunctions").create_state_machine(
        name=f"fidelity-{uuid.uuid4().hex[:10]}",
        definition=json.dumps(definition),
        roleArn=ROLE_ARN,
        **options,
    )
    return str(created["stateMachineArn"])


def history(stack: LocalStack, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    paginator = stack.client("stepfunctions").get_paginator("get_execution_history")
    for page in paginator.paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def run_machine(stack: LocalStack, machine_arn: str, payload: Any = None) -> Run:
    started = stack.client("stepfunctions").start_execution(
        stateMachineArn=machine_arn,
        name=f"run-{uuid.uuid4().hex[:10]}",
        input=json.dumps({} if payload is None else payload),
    )
    arn = str(started["executionArn"])
    described = stack.wait_for_execution(arn)
    return Run(described, history(stack, arn))


def run_definition(stack: LocalStack, definition: dict[str, Any], payload: Any = None) -> Run:
    """Create a Standard machine of ``definition`` and run it once with ``payload``."""
    return run_machine(stack, create_machine(stack, definition), payload)
