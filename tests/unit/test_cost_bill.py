"""Usage priced: the arithmetic of the bill on usage whose cost is known by hand."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

import pytest

from local.cost.bill import price
from local.cost.histories import accepted_events, lambda_invocations
from local.cost.usage import LambdaUsage, RequestUsage, Usage, WorkflowUsage


def _usage(**changes: Any) -> Usage:
    usage = Usage(
        workflows=(
            WorkflowUsage(
                "stepflow-dev-ingest",
                "STANDARD",
                executions=4,
                transitions=44,
                events=40,
                invocations=Counter({"stepflow-dev-validate": 4}),
            ),
        ),
        lambdas=(
            LambdaUsage(
                "stepflow-dev-validate", requests=4, billed_ms=400, init_ms=600, memory_mb=1024
            ),
        ),
        requests=(
            RequestUsage("s3", "PUT object", 3, 3),
            RequestUsage("s3", "GET bucket", 1, 1),
            RequestUsage("s3", "GET object", 5, 5),
            RequestUsage("s3", "DELETE object", 7, 7),
            RequestUsage("sqs", "SendMessage", 2, 3),
            RequestUsage("states", "StartExecution", 4, 4),
        ),
        dynamodb_read_units=2.5,
        dynamodb_write_units=8,
        pipe_requests=10,
        api_requests=20,
    )
    return dataclasses.replace(usage, **changes)


def test_each_service_is_priced_from_what_was_counted() -> None:
    bill = price(_usage())
    lines = {(line.service, line.item): line.dollars for line in bill.lines}

    assert lines[("Step Functions", "Standard state transitions")] == pytest.approx(44 * 0.000025)
    assert lines[("Lambda", "requests")] == pytest.approx(4 * 0.2e-6)
    # 400 ms of invocations and 600 ms of INIT, at 1 GB on arm64.
    invocations = lines[("Lambda", "GB-seconds of invocations (arm64)")]
    assert invocations == pytest.approx(0.4 * 0.0000133334)
    assert lines[("Lambda", "GB-seconds of INIT (arm64)")] == pytest.approx(0.6 * 0.0000133334)
    assert lines[("S3", "PUT, COPY, POST, LIST requests")] == pytest.approx(4 * 0.005 / 1000)
    assert lines[("S3", "GET and other requests")] == pytest.approx(5 * 0.0004 / 1000)
    assert lines[("SQS", "requests (64 KiB chunks)")] == pytest.approx(3 * 0.4e-6)
    assert lines[("DynamoDB", "write request units")] == pytest.approx(8 * 0.625e-6)
    assert lines[("DynamoDB", "read request units")] == pytest.approx(2.5 * 0.125e-6)
    assert lines[("EventBridge Pipes", "requests")] == pytest.approx(10 * 0.4e-6)
    assert lines[("API Gateway", "HTTP API requests")] == pytest.approx(20 * 1e-6)
    # StartExecution and DELETE requests were counted but are free.
    assert set(bill.by_service()) == {
        "Step Functions",
        "Lambda",
        "S3",
        "SQS",
        "DynamoDB",
        "EventBridge Pipes",
        "API Gateway",
    }
    assert bill.total == pytest.approx(sum(lines.values()))
    assert bill.per_million_events() == pytest.approx(bill.total / 40 * 1_000_000)


def test_a_workflow_costs_its_transitions_and_the_invocations_its_histories_show() -> None:
    bill = price(_usage())
    (ingest,) = bill.workflows
    per_invocation = (4 * 0.2e-6 + 0.0000133334) / 4

    assert ingest.dollars == pytest.approx(44 * 0.000025 + 4 * per_invocation)
    assert ingest.per_execution == pytest.approx(ingest.dollars / 4)


def test_x86_functions_cost_more_and_express_bills_requests_and_duration() -> None:
    express = WorkflowUsage(
        "fast", "EXPRESS", executions=10, transitions=99, events=0, duration_ms=1234.0
    )
    bill = price(_usage(workflows=(express,)), architecture="x86_64")
    lines = {(line.service, line.item): line for line in bill.lines}

    assert ("Step Functions", "Standard state transitions") not in lines
    assert lines[("Step Functions", "Express requests")].quantity == 10
    # 1,234 ms rounds up to 1,300 ms, at 64 MB.
    assert lines[("Step Functions", "Express GB-seconds")].quantity == pytest.approx(1.3 / 16)
    lambda_seconds = [line for line in bill.lines if line.item.startswith("GB-seconds of")]
    assert sum(line.dollars for line in lambda_seconds) == pytest.approx(0.0000166667)
    assert bill.per_million_events() is None  # no events accepted


def test_invocations_and_accepted_events_are_read_from_a_history() -> None:
    function = "arn:aws:lambda:us-east-1:123456789012:function:stepflow-dev-validate"
    history = [
        {
            "id": 3,
            "type": "TaskScheduled",
            "taskScheduledEventDetails": {
                "resourceType": "lambda",
                "resource": "invoke",
                "parameters": json.dumps({"FunctionName": function, "Payload": {}}),
            },
        },
        {
            "id": 4,
            "type": "TaskScheduled",
            "taskScheduledEventDetails": {"resourceType": "sqs", "resource": "sendMessage"},
        },
        {
            "id": 5,
            "type": "LambdaFunctionScheduled",
            "lambdaFunctionScheduledEventDetails": {"resource": f"{function}:$LATEST"},
        },
        {
            "id": 6,
            "type": "TaskStateExited",
            "stateExitedEventDetails": {"name": "Validate", "output": '{"counts": {}}'},
        },
        {
            "id": 7,
            "type": "TaskStateExited",
            "stateExitedEventDetails": {
                "name": "Validate events",
                "output": json.dumps({"counts": {"received": 7, "rejected": 2}}),
            },
        },
    ]

    assert lambda_invocations(history) == Counter({"stepflow-dev-validate": 2})
    assert accepted_events(history) == 5
    assert accepted_events(history[:4]) == 0
