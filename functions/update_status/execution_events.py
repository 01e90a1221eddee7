"""update_status for executions that ended without reaching their own status step.

An execution that fails outside its workflow's ``Catch``, times out or is stopped never runs
the workflow's update_status step, so its tracking id would stay RECEIVED or ACCEPTED. An
EventBridge rule on "Step Functions Execution Status Change" (``ExecutionStatusRuleSpec`` of
``stack.spec``; the local runtime emits the same events) delivers those endings here, and each
becomes a FAILED write for the tracking id the execution carried, its reason naming the ending
and the execution.

Which tracking id, from the execution's ``input`` (a JSON string, absent when EventBridge left
it out, ``inputDetails.included`` false):

- an envelope ``{"trackingId": ...}`` (the api's executions; with ``catalogId``, an enrichment,
  whose summary row is failed instead);
- a Pipes batch (a JSON array of SQS records): the tracking id validate gives that batch, the
  envelope's own for a batch of one envelope message, else
  :func:`~functions._shared.pipe_batches.batch_tracking_id` of its message ids, and the
  envelope messages' own tracking ids too (the requests a queued batch carried);
- otherwise the execution's name, which the api sets to the tracking id.

Statuses only move forward, so a record already PARKED, DELIVERED, REJECTED or DUPLICATE keeps
its status: FAILED ranks as PARKED and below every final status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from functions._shared import names
from functions._shared.enrichment import CATALOG_ID_PATTERN, EnrichmentStatus
from functions._shared.models import TrackingId
from functions._shared.parsing import JsonTextError, loads_json
from functions._shared.pipe_batches import batch_tracking_id
from functions._shared.status import Status
from functions.update_status.core import (
    MAX_STORED_REASON_LENGTH,
    StatusStore,
    StatusUpdate,
    bounded_text,
    failure_reason,
    record_status,
)
from functions.update_status.enrichment import (
    EnrichmentStore,
    EnrichmentUpdate,
    record_enrichment,
)

EXECUTION_EVENT_SOURCE: Final = "aws.states"
EXECUTION_STATUS_CHANGE: Final = "Step Functions Execution Status Change"

_TRACKING_ID: Final = TypeAdapter[str](TrackingId)
_CATALOG_ID: Final = TypeAdapter[str](Annotated[str, Field(pattern=CATALOG_ID_PATTERN)])


class InputDetails(BaseModel):
    included: bool = True


class ExecutionStatusDetail(BaseModel):
    """The ``detail`` of a Step Functions execution status change, as far as it is read here."""

    model_config = ConfigDict(extra="ignore")

    execution_arn: str = Field(alias="executionArn", min_length=1)
    state_machine_arn: str = Field(alias="stateMachineArn", min_length=1)
    name: str
    status: Literal["FAILED", "TIMED_OUT", "ABORTED"]
    input: str | None = None
    input_details: InputDetails = Field(default_factory=InputDetails, alias="inputDetails")
    error: str | None = None
    cause: str | None = None


class ExecutionStatusEvent(EventBridgeModel):
    detail: ExecutionStatusDetail


@dataclass(frozen=True)
class TrackedExecution:
    """Whose status record an execution carried: a tracking id, and its catalog for an
    enrichment (else ``None``)."""

    tracking_id: str
    catalog_id: str | None = None
    carried: tuple[str, ...] = ()
    """The tracking ids of the envelope messages a batch of several held (queued intake)."""


def is_execution_status_event(event: Any) -> bool:
    """Whether ``event`` is an execution status change (the only EventBridge event routed here).

    >>> is_execution_status_event({"source": "aws.states",
    ...     "detail-type": "Step Functions Execution Status Change", "detail": {}})
    True
    >>> is_execution_status_event({"trackingId": "trk-1", "status": "FAILED"})
    False
    """
    return (
        isinstance(event, dict)
        and event.get("source") == EXECUTION_EVENT_SOURCE
        and event.get("detail-type") == EXECUTION_STATUS_CHANGE
    )


def execution_failure_reason(detail: ExecutionStatusDetail) -> str:
    """Why the record failed: the ending, the error and its cause, and which execution.

    The execution ARN is kept whole however long the cause, so an operator can always find
    (and redrive) the execution.

    >>> arns = {"executionArn": "arn:x", "stateMachineArn": "arn:m"}
    >>> execution_failure_reason(ExecutionStatusDetail(**arns, name="trk-1", status="ABORTED"))
    'execution ABORTED (arn:x)'
    >>> execution_failure_reason(ExecutionStatusDetail(**arns, name="trk-1", status="FAILED",
    ...     error="States.Runtime", cause="boom"))
    'execution FAILED: States.Runtime: boom (arn:x)'
    """
    suffix = f" ({detail.execution_arn})"
    head = f"execution {detail.status}"
    why = failure_reason(None, detail.error, detail.cause)
    if why:
        room = max(len(head), MAX_STORED_REASON_LENGTH - len(suffix))
        head = bounded_text(f"{head}: {why}", room)
    return head + suffix


def tracked_execution(detail: ExecutionStatusDetail) -> TrackedExecution | None:
    """The status record the execution carried, or ``None`` when nothing names a valid one.

    >>> tracked_execution(ExecutionStatusDetail(executionArn="arn:x", stateMachineArn="arn:m",
    ...     name="ignored", status="ABORTED", input='{"trackingId": "trk-1"}'))
    TrackedExecution(tracking_id='trk-1', catalog_id=None, carried=())
    >>> tracked_execution(ExecutionStatusDetail(executionArn="arn:x", stateMachineArn="arn:m",
    ...     name="trk-2", status="TIMED_OUT", inputDetails={"included": False}))
    TrackedExecution(tracking_id='trk-2', catalog_id=None, carried=())
    """
    document = _input_document(detail)
    candidate: TrackedExecution | None = None
    if isinstance(document, dict):
        candidate = _from_envelope(document)
    elif isinstance(document, list):
        candidate = _from_pipe_batch(document)
    if candidate is None:
        candidate = TrackedExecution(detail.name)
    if not _valid(_TRACKING_ID, candidate.tracking_id):
        return None
    return candidate


def record_execution_outcome(
    event: Any,
    status_store: StatusStore,
    enrichment_store: EnrichmentStore,
    now: datetime,
) -> dict[str, Any]:
    """update_status's job for an execution status change: fail the execution's status record.

    Returns the record as stored (``{}`` when the execution named no tracking id), like any
    other update_status input.

    Example::

        record = record_execution_outcome(event, status_store, enrichment_store, now)
        record["status"], record["reason"]  # "FAILED", "execution ABORTED (arn:...)"
    """
    detail = parse(event=event, model=ExecutionStatusEvent).detail
    tracked = tracked_execution(detail)
    if tracked is None:
        return {}
    reason = execution_failure_reason(detail)
    if tracked.catalog_id is not None:
        enrichment = EnrichmentUpdate.model_validate(
            {
                names.ENRICHMENT_KEY: tracked.catalog_id,
                "trackingId": tracked.tracking_id,
                "status": EnrichmentStatus.FAILED,
                "reason": reason,
            }
        )
        return record_enrichment(enrichment, enrichment_store, now=now).record
    records = [
        record_status(_failed(tracking_id, reason, detail), status_store, now=now).record
        for tracking_id in (tracked.tracking_id, *tracked.carried)
    ]
    return records[0]


def _failed(tracking_id: str, reason: str, detail: ExecutionStatusDetail) -> StatusUpdate:
    return StatusUpdate.model_validate(
        {
            "trackingId": tracking_id,
            "status": Status.FAILED,
            "reason": reason,
            "execution": {"executionArn": detail.execution_arn},
        }
    )


def _input_document(detail: ExecutionStatusDetail) -> Any:
    # Larger inputs than EventBridge carries come without "input"; a cut one is not JSON.
    if not detail.input_details.included or not detail.input:
        return None
    try:
        return loads_json(detail.input)
    except JsonTextError:
        return None


def _from_envelope(document: dict[str, Any]) -> TrackedExecution | None:
    tracking_id = document.get("trackingId")
    if not isinstance(tracking_id, str):
        return None
    catalog_id = document.get(names.ENRICHMENT_KEY)
    if isinstance(catalog_id, str) and _valid(_CATALOG_ID, catalog_id):
        return TrackedExecution(tracking_id, catalog_id)
    return TrackedExecution(tracking_id)


def _from_pipe_batch(document: list[Any]) -> TrackedExecution | None:
    message_ids = [record.get("messageId") for record in document if isinstance(record, dict)]
    if not document or len(message_ids) != len(document):
        return None
    if not all(isinstance(message_id, str) and message_id for message_id in message_ids):
        return None
    if len(document) == 1:
        tracking_id = _envelope_tracking_id(document[0].get("body"))
        if tracking_id is not None:
            return TrackedExecution(tracking_id)
    carried = tuple(
        tracking_id
        for record in document
        if (tracking_id := _envelope_tracking_id(record.get("body"))) is not None
    )
    return TrackedExecution(
        batch_tracking_id([str(message_id) for message_id in message_ids]), carried=carried
    )


def _envelope_tracking_id(body: Any) -> str | None:
    envelope = _json_object(body)
    if envelope is None or not isinstance(envelope.get("events"), list):
        return None
    tracking_id = envelope.get("trackingId")
    if isinstance(tracking_id, str) and _valid(_TRACKING_ID, tracking_id):
        return tracking_id
    return None


def _json_object(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        value = loads_json(text)
    except JsonTextError:
        return None
    return value if isinstance(value, dict) else None


def _valid(adapter: TypeAdapter[str], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True
