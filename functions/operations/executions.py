"""Failed and parked executions: list them with their reasons, redrive a set of them (pure).

An execution is *parked* when it failed at the delivery step with one of the delivery errors
(the workflow parks there on purpose while the downstream is down or refuses the bundle);
every other failed, timed-out or aborted execution is *failed*.

A redrive is idempotent: an execution that is not redrivable now (running again, succeeded,
redriven too often) is skipped with the reason, and each redrive carries a client token derived
from the execution and its redrive count, so a retried call cannot redrive the same failure
twice.

Example::

    listed = list_executions(settings.workflows(), sfn, status="PARKED")
    report = redrive_executions(settings.workflows(), sfn, RedriveRequest(status="PARKED"))
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, Protocol

from functions._shared.errors import (
    CircuitOpenError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

PARKING_ERRORS: Final = frozenset(
    error.__name__ for error in (CircuitOpenError, TransientDeliveryError, PermanentDeliveryError)
)
FAILED: Final = "FAILED"
PARKED: Final = "PARKED"
LISTED_STATUSES: Final = ("FAILED", "TIMED_OUT", "ABORTED")
DEFAULT_CONCURRENCY: Final = 4
MAX_CONCURRENCY: Final = 20
# Per workflow and status: an operator redrives in rounds rather than all at once.
MAX_LISTED_PER_WORKFLOW: Final = 500


@dataclass(frozen=True)
class ExecutionFacts:
    """What ``DescribeExecution`` says about one execution."""

    arn: str
    status: str
    error: str | None
    cause: str | None
    stop_date: dt.datetime | None
    redrive_status: str | None
    redrive_count: int
    redrive_status_reason: str | None = None


class NotRedrivableError(Exception):
    """The execution stopped being redrivable between its description and the redrive
    (another redrive, automatic or by hand, got there first)."""


class ExecutionService(Protocol):
    def failed_arns(self, state_machine_arn: str, status: str, limit: int) -> list[str]: ...

    def describe(self, execution_arn: str) -> ExecutionFacts: ...

    def redrive(self, execution_arn: str, client_token: str) -> None: ...


def classify(facts: ExecutionFacts) -> str:
    """``PARKED`` for a delivery the workflow parked, else ``FAILED``.

    >>> classify(ExecutionFacts("arn", "FAILED", "CircuitOpenError", None, None, None, 0))
    'PARKED'
    >>> classify(ExecutionFacts("arn", "FAILED", "States.Runtime", None, None, None, 0))
    'FAILED'
    """
    return PARKED if facts.status == FAILED and facts.error in PARKING_ERRORS else FAILED


def reason(facts: ExecutionFacts) -> str:
    parts = [part for part in (facts.error, facts.cause) if part]
    text = ": ".join(parts) or facts.status
    return text if facts.status == FAILED else f"{facts.status}: {text}"


def summary(workflow: str, facts: ExecutionFacts) -> dict[str, Any]:
    return {
        "executionArn": facts.arn,
        "workflow": workflow,
        "status": classify(facts),
        "reason": reason(facts),
        "stopDate": None if facts.stop_date is None else facts.stop_date.isoformat(),
        "redrivable": facts.redrive_status == "REDRIVABLE",
    }


def workflow_of(workflows: Mapping[str, str], execution_arn: str) -> str | None:
    """The workflow an execution ARN belongs to (``arn:...:execution:<machine>:<name>``)."""
    for name, machine_arn in workflows.items():
        prefix = machine_arn.replace(":stateMachine:", ":execution:", 1) + ":"
        if execution_arn.startswith(prefix):
            return name
    return None


def list_executions(
    workflows: Mapping[str, str],
    sfn: ExecutionService,
    *,
    status: str | None = None,
    workflow: str | None = None,
) -> list[dict[str, Any]]:
    """The failed and parked executions of ``workflows`` (or one), newest first."""
    found: list[tuple[str, ExecutionFacts]] = []
    for name, machine_arn in sorted(workflows.items()):
        if workflow is not None and name != workflow:
            continue
        for listed_status in LISTED_STATUSES:
            for arn in sfn.failed_arns(machine_arn, listed_status, MAX_LISTED_PER_WORKFLOW):
                found.append((name, sfn.describe(arn)))
    listed = [summary(name, facts) for name, facts in found]
    if status is not None:
        listed = [entry for entry in listed if entry["status"] == status]
    listed.sort(key=lambda entry: entry["stopDate"] or "", reverse=True)
    return listed


@dataclass(frozen=True)
class RedriveRequest:
    """Which executions to redrive: the listed ARNs, or every failed one matching the filters.

    ``reason`` is the operator's note, logged with the report.
    """

    workflow: str | None = None
    status: str | None = None
    execution_arns: tuple[str, ...] = ()
    max_concurrency: int = DEFAULT_CONCURRENCY
    reason: str | None = None


def client_token(facts: ExecutionFacts) -> str:
    """The same failure of the same execution always gets the same token.

    >>> facts = ExecutionFacts("arn:x", "FAILED", None, None, None, "REDRIVABLE", 2)
    >>> client_token(facts) == client_token(facts), len(client_token(facts))
    (True, 64)
    """
    return hashlib.sha256(f"{facts.arn}#{facts.redrive_count}".encode()).hexdigest()


def redrive_executions(
    workflows: Mapping[str, str], sfn: ExecutionService, request: RedriveRequest
) -> dict[str, Any]:
    """``{"redriven": [arn], "skipped": [{"executionArn", "reason"}], "failed": [...]}``."""
    skipped: list[dict[str, Any]] = []
    if request.execution_arns:
        chosen: list[ExecutionFacts] = []
        for arn in dict.fromkeys(request.execution_arns):
            if workflow_of(workflows, arn) is None:
                skipped.append({"executionArn": arn, "reason": "not an execution of this stack"})
                continue
            chosen.append(sfn.describe(arn))
    else:
        chosen = [
            sfn.describe(entry["executionArn"])
            for entry in list_executions(
                workflows, sfn, status=request.status, workflow=request.workflow
            )
        ]
    redrivable: list[ExecutionFacts] = []
    for facts in chosen:
        if facts.redrive_status == "REDRIVABLE":
            redrivable.append(facts)
        else:
            why = facts.redrive_status_reason or f"the execution is {facts.status}"
            skipped.append({"executionArn": facts.arn, "reason": why})

    def attempt(facts: ExecutionFacts) -> tuple[str, str | None, bool]:
        """``(arn, why not, skipped)``: ``why not`` is ``None`` when it was redriven."""
        try:
            sfn.redrive(facts.arn, client_token(facts))
        except NotRedrivableError as error:
            return facts.arn, str(error), True
        except Exception as error:  # reported per execution; one failure stops no other
            return facts.arn, f"{type(error).__name__}: {error}", False
        return facts.arn, None, False

    workers = max(1, min(request.max_concurrency, MAX_CONCURRENCY))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(attempt, redrivable))
    skipped += [{"executionArn": arn, "reason": why} for arn, why, skip in outcomes if skip]
    return {
        "redriven": [arn for arn, why, _ in outcomes if why is None],
        "skipped": skipped,
        "failed": [
            {"executionArn": arn, "reason": why}
            for arn, why, skip in outcomes
            if why is not None and not skip
        ],
    }
