"""What the local runtime did, read from a running stack's endpoint: the requests it served and
what its Lambdas, pipes and API report (``GET /_stepflow/usage``), and every execution's
history through the Step Functions API (the meter's own calls are not metered).

>>> usage = read_usage("http://127.0.0.1:4566", region="us-east-1")  # doctest: +SKIP
>>> usage.events  # doctest: +SKIP
120
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.cost.histories import accepted_events, billed_transitions, lambda_invocations
from local.credentials import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY
from local.json_http import request_json
from local.moto_patches.request_meter import METER_AGENT, USAGE_PATH


@dataclass(frozen=True)
class WorkflowUsage:
    """One state machine's executions: ``transitions`` as billed, ``events`` accepted,
    ``invocations`` per function, ``duration_ms`` summed (what Express bills)."""

    workflow: str
    type: str
    executions: int
    transitions: int
    events: int
    invocations: Counter[str] = field(default_factory=Counter)
    duration_ms: float = 0.0


@dataclass(frozen=True)
class LambdaUsage:
    function: str
    requests: int
    billed_ms: int
    init_ms: int
    memory_mb: int


@dataclass(frozen=True)
class RequestUsage:
    """Requests to one operation of one service, and the 64 KiB chunks they carried."""

    service: str
    operation: str
    requests: int
    chunks: int


@dataclass(frozen=True)
class Usage:
    workflows: tuple[WorkflowUsage, ...]
    lambdas: tuple[LambdaUsage, ...]
    requests: tuple[RequestUsage, ...]
    dynamodb_read_units: float
    dynamodb_write_units: int
    pipe_requests: int
    api_requests: int

    @property
    def events(self) -> int:
        return sum(workflow.events for workflow in self.workflows)

    @property
    def executions(self) -> int:
        return sum(workflow.executions for workflow in self.workflows)


@dataclass(frozen=True)
class Baseline:
    """The counts at a moment: usage read ``since`` it holds only what came after (executions
    started after it, counts less the baseline's)."""

    served: dict[str, Any]
    taken: datetime


def baseline(endpoint: str) -> Baseline:
    """The counts of the runtime at ``endpoint`` now."""
    return Baseline(_served(endpoint), datetime.now(UTC))


def read_usage(endpoint: str, *, region: str, since: Baseline | None = None) -> Usage:
    """What the runtime at ``endpoint`` did since it started, or ``since`` a baseline."""
    served = _served(endpoint)
    if since is not None:
        served = _minus(served, since.served)
    sfn = unmetered_client(endpoint, region, "stepfunctions")
    return usage_from(served, _workflow_usage(sfn, None if since is None else since.taken))


def _served(endpoint: str) -> dict[str, Any]:
    status, served = request_json("GET", endpoint.rstrip("/") + USAGE_PATH)
    if status != 200 or not isinstance(served, dict):
        raise RuntimeError(f"{endpoint} serves no usage (HTTP {status}): is it a local stack?")
    return served


def _minus(now: Any, before: Any) -> Any:
    """Counts less the earlier counts: numbers subtract, configuration (``memory_mb``) and
    names stay, request rows pair up by service and operation."""
    if isinstance(now, dict):
        earlier = before if isinstance(before, dict) else {}
        return {
            key: value if key == "memory_mb" else _minus(value, earlier.get(key))
            for key, value in now.items()
        }
    if isinstance(now, list):
        rows = {(row["service"], row["operation"]): row for row in before or []}
        return [_minus(row, rows.get((row["service"], row["operation"]))) for row in now]
    if isinstance(now, int | float) and not isinstance(now, bool):
        return now - (before if isinstance(before, int | float) else 0)
    return now


def usage_from(served: dict[str, Any], workflows: list[WorkflowUsage]) -> Usage:
    """The usage ``GET /_stepflow/usage`` answered, with the workflows' histories."""
    runtime = served.get("runtime") or {}
    return Usage(
        workflows=tuple(workflows),
        lambdas=tuple(
            LambdaUsage(
                function=name,
                requests=stats["invocations"],
                billed_ms=stats["billed_ms"],
                init_ms=stats["init_ms"],
                memory_mb=stats["memory_mb"],
            )
            for name, stats in sorted(runtime.get("lambda", {}).items())
        ),
        requests=tuple(
            RequestUsage(row["service"], row["operation"], row["requests"], row["chunks"])
            for row in served["requests"]
        ),
        dynamodb_read_units=float(served["dynamodb"]["readUnits"]),
        dynamodb_write_units=int(served["dynamodb"]["writeUnits"]),
        # Pipes bill what enters after filtering.
        pipe_requests=sum(
            stats["messages_received"] - stats["filtered"]
            for stats in runtime.get("pipes", {}).values()
        ),
        api_requests=int(runtime.get("api", {}).get("requests", 0)),
    )


def unmetered_client(endpoint: str, region: str, service: str) -> Any:
    """A boto3 client of the local endpoint whose requests the meter does not count: reading
    what happened (or waiting for it) is not part of the traffic priced."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=LOCAL_ACCESS_KEY_ID,
        aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY,
        config=Config(user_agent_extra=METER_AGENT, retries={"mode": "standard"}),
    )


def _workflow_usage(sfn: Any, started_after: datetime | None) -> list[WorkflowUsage]:
    workflows = []
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            workflows.append(_one_workflow(sfn, machine, started_after))
    return sorted(workflows, key=lambda workflow: workflow.workflow)


def _one_workflow(
    sfn: Any, machine: dict[str, Any], started_after: datetime | None
) -> WorkflowUsage:
    executions = transitions = events = 0
    duration_ms = 0.0
    invocations: Counter[str] = Counter()
    arn = machine["stateMachineArn"]
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        for execution in page["executions"]:
            if started_after is not None and execution["startDate"] <= started_after:
                continue
            executions += 1
            duration_ms += _duration_ms(execution)
            history = [
                event
                for history_page in sfn.get_paginator("get_execution_history").paginate(
                    executionArn=execution["executionArn"]
                )
                for event in history_page["events"]
            ]
            transitions += billed_transitions(history)
            events += accepted_events(history)
            invocations.update(lambda_invocations(history))
    return WorkflowUsage(
        workflow=machine["name"],
        type=str(machine.get("type", "STANDARD")),
        executions=executions,
        transitions=transitions,
        events=events,
        invocations=invocations,
        duration_ms=duration_ms,
    )


def _duration_ms(execution: dict[str, Any]) -> float:
    start: datetime = execution["startDate"]
    stop: datetime | None = execution.get("stopDate")
    return 0.0 if stop is None else (stop - start).total_seconds() * 1000
