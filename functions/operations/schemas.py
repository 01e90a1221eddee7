"""The operations API's answers, as pydantic models: the OpenAPI document is generated from them.

Field names are the wire names (camelCase), the contract the operations console reads.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


ERROR_DESCRIPTIONS: Final = {
    400: "The request is malformed; every wrong field is named.",
    404: "No such queue, dead-letter queue, task or bundle.",
    409: "Not now: a redrive is running, the breaker is not closed, or it just changed.",
}


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    message: str
    errors: list[FieldError]


class QueueDepth(_Answer):
    name: str
    url: str
    visible: int
    inFlight: int  # noqa: N815 - the wire name
    delayed: int
    oldestMessageAgeSeconds: int | None  # noqa: N815


class QueueEntry(QueueDepth):
    deadLetter: QueueDepth | None  # noqa: N815


class QueueList(_Answer):
    queues: list[QueueEntry]


class SetAsideMessage(_Answer):
    messageId: str  # noqa: N815
    messageKey: str  # noqa: N815
    redrives: int


class RedriveStarted(_Answer):
    taskHandle: str  # noqa: N815
    sourceArn: str  # noqa: N815
    destinationArn: str  # noqa: N815
    setAside: list[SetAsideMessage]  # noqa: N815


class MoveTaskList(_Answer):
    tasks: list[dict[str, Any]]


class CancelAnswer(_Answer):
    taskHandle: str  # noqa: N815
    approximateNumberOfMessagesMoved: int  # noqa: N815


class ExecutionSummary(_Answer):
    executionArn: str  # noqa: N815
    workflow: str
    status: Literal["FAILED", "PARKED"]
    reason: str
    stopDate: str | None  # noqa: N815
    redrivable: bool


class ExecutionList(_Answer):
    executions: list[ExecutionSummary]


class Skipped(_Answer):
    executionArn: str  # noqa: N815
    reason: str


class RedriveReport(_Answer):
    redriven: list[str]
    skipped: list[Skipped]
    failed: list[Skipped]


class Breaker(_Answer):
    state: Literal["open", "closed", "half-open"]
    failureCount: int  # noqa: N815
    lastFailureAt: str | None  # noqa: N815
    nextProbeAt: str | None  # noqa: N815
    history: list[dict[str, Any]]


class ReplayAnswer(_Answer):
    archiveKey: str  # noqa: N815
    idempotencyKey: str  # noqa: N815
    statusCode: int  # noqa: N815
    delivered: bool
    response: str


class Check(_Answer):
    status: Literal["ok", "degraded"]
    detail: Any


class Checks(_Answer):
    tables: Check
    queues: Check
    buckets: Check
    breaker: Check
    downstream: Check


class Health(_Answer):
    status: Literal["ok", "degraded"]
    checks: Checks
