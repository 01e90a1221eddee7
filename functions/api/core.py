"""What the API does, without HTTP or AWS: check what was posted, start ingests, read statuses.

Events are judged by the very rules validate applies in the workflow
(:func:`functions._shared.validation.validate_batch`), so a request the API accepts is never
rejected later for its shape, and a bad one is refused before anything starts.

The api ships alone (``functions/api`` and ``functions/_shared``, see ``infra/packaging.py``), so
it cannot import update_status: it writes the two status records it needs itself, in
update_status's format (a contract test holds the two writers to the same item).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, Field, model_validator

from functions._shared import names
from functions._shared.batch_pointer import INLINE_BATCH_LIMIT_BYTES
from functions._shared.enrichment import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_INLINE_PRODUCTS,
    MAX_BATCH_SIZE,
    MIN_BATCH_SIZE,
)
from functions._shared.models import MAX_NAME_LENGTH, format_utc, json_type_name
from functions._shared.validation import WHOLE_VALUE, validate_batch
from functions.api.errors import ApiError, DependencyUnavailableError, field_error

API_SOURCE: Final = "api"
DEFAULT_MAX_BULK_EVENTS: Final = 100
MAX_EXECUTION_INPUT_BYTES: Final = 262_144
"""Step Functions' limit on an execution's input, in UTF-8 bytes (Standard and Express)."""

MAX_QUEUED_MESSAGE_BYTES: Final = INLINE_BATCH_LIMIT_BYTES
"""The largest request a queued intake sends: validate takes no larger message from the queue
(its events must fit a workflow's state beside the rest of the batch)."""
QUEUED: Final = "queued"
PER_REQUEST: Final = "per-request"

TRACKING_ID_PREFIX: Final = "trk-"
TRACKING_ID_PATTERN: Final = rf"^[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_NAME_LENGTH - 1}}}$"
"""Tracking ids the status route looks up: those the API (``trk-``), the pipes (``sqs-``) and
the CLI mint, and any producer's envelope id made of letters, digits and ``. _ : -``."""


class ApiSettings(BaseModel):
    """The api Lambda's environment (``stack/app.py``), read once at cold start."""

    status_table: str = Field(alias=names.STATUS_TABLE_ENV, min_length=1)
    idempotency_table: str = Field(alias=names.IDEMPOTENCY_TABLE_ENV, min_length=1)
    intake: Literal["queued", "per-request"] = Field(alias=names.INTAKE_ENV, default=QUEUED)
    state_machine_arn: str | None = Field(
        alias=names.INGEST_STATE_MACHINE_ENV, default=None, pattern=r"^arn:[\w-]+:states:"
    )
    ingest_queue_url: str | None = Field(
        alias=names.INGEST_QUEUE_URL_ENV, default=None, min_length=1
    )
    max_bulk_events: int = Field(
        alias=names.MAX_BULK_EVENTS_ENV, default=DEFAULT_MAX_BULK_EVENTS, ge=1, le=10_000
    )
    enrichment_status_table: str = Field(alias=names.ENRICHMENT_STATUS_TABLE_ENV, min_length=1)
    enrich_state_machine_arn: str = Field(
        alias=names.ENRICH_STATE_MACHINE_ENV, pattern=r"^arn:[\w-]+:states:"
    )
    max_inline_products: int = Field(
        alias=names.MAX_INLINE_PRODUCTS_ENV,
        default=DEFAULT_MAX_INLINE_PRODUCTS,
        ge=1,
        le=100_000,
    )
    enrich_batch_size: int = Field(
        alias=names.ENRICH_BATCH_SIZE_ENV,
        default=DEFAULT_BATCH_SIZE,
        ge=MIN_BATCH_SIZE,
        le=MAX_BATCH_SIZE,
    )
    # Where people upload catalogs (under uploads/<sub>/); without it no pointer is accepted.
    staging_bucket: str | None = Field(alias=names.STAGING_BUCKET_ENV, default=None)

    @model_validator(mode="after")
    def _intake_has_its_target(self) -> ApiSettings:
        needed = {
            QUEUED: (names.INGEST_QUEUE_URL_ENV, self.ingest_queue_url),
            PER_REQUEST: (names.INGEST_STATE_MACHINE_ENV, self.state_machine_arn),
        }
        variable, value = needed[self.intake]
        if value is None:
            raise ValueError(f"{variable} is not set, which {names.INTAKE_ENV} {self.intake} needs")
        return self

    @property
    def max_request_bytes(self) -> int:
        """The largest ingest envelope one request may make, in UTF-8 bytes."""
        return MAX_QUEUED_MESSAGE_BYTES if self.intake == QUEUED else MAX_EXECUTION_INPUT_BYTES


class MessageSender(Protocol):
    """Sends one message to the ingest queue; raises :class:`DependencyUnavailableError` when
    the queue has not accepted it."""

    def send(self, tracking_id: str, body: str) -> None: ...


class WorkflowStarter(Protocol):
    """Starts a workflow (ingest or enrich); raises :class:`DependencyUnavailableError` when it
    cannot."""

    def start(self, name: str, execution_input: str) -> str:
        """Start an execution called ``name`` with ``execution_input``; its ARN."""
        ...


class StatusRecorder(Protocol):
    """Writes the API's status records (update_status's format and ranks); raises
    :class:`DependencyUnavailableError` when it cannot."""

    def record_received(self, tracking_id: str, count: int, at: str) -> None:
        """Create the RECEIVED record of a new tracking id (``at`` is ISO-8601 UTC)."""
        ...

    def record_start_failure(self, tracking_id: str, reason: str, at: str) -> None:
        """Move the record to FAILED with ``reason``, unless it has moved on already."""
        ...


class StatusReader(Protocol):
    """Reads status records; raises :class:`DependencyUnavailableError` when it cannot."""

    def read(self, tracking_id: str) -> dict[str, Any] | None:
        """The public record of ``tracking_id`` (as update_status answers it), or ``None``."""
        ...


@dataclass(frozen=True)
class Submission:
    """Events ready to start: checked, and their execution input within the size limit."""

    tracking_id: str
    count: int
    execution_input: str


def new_tracking_id() -> str:
    """A fresh tracking id, also the execution's name (Step Functions allows 80 characters).

    >>> tracking_id = new_tracking_id()
    >>> tracking_id.startswith("trk-"), len(tracking_id)
    (True, 36)
    """
    return f"{TRACKING_ID_PREFIX}{uuid.uuid4().hex}"


def single_event(body: Any) -> list[Any]:
    """The events of ``POST /events``: its body, which must be one JSON object.

    >>> single_event({"eventHeader": {}})
    [{'eventHeader': {}}]
    """
    if not isinstance(body, dict):
        given = json_type_name(body)
        hint = "; post a list of events to /events/bulk" if isinstance(body, list) else ""
        raise ApiError(
            400,
            f"the body must be one event as a JSON object, got {given}{hint}",
            [field_error(WHOLE_VALUE, f"must be a JSON object, got {given}")],
        )
    return [body]


def bulk_events(body: Any, max_events: int) -> list[Any]:
    """The events of ``POST /events/bulk``: a JSON array of 1 to ``max_events`` events.

    >>> bulk_events([{}, {}], max_events=100)
    [{}, {}]
    """
    if not isinstance(body, list):
        given = json_type_name(body)
        hint = "; post a single event to /events" if isinstance(body, dict) else ""
        raise ApiError(
            400,
            f"the body must be a JSON array of events, got {given}{hint}",
            [field_error(WHOLE_VALUE, f"must be a JSON array, got {given}")],
        )
    if not body:
        raise ApiError(
            400,
            f"the body holds no events; send 1 to {max_events} events",
            [field_error(WHOLE_VALUE, "must hold at least 1 event")],
        )
    if len(body) > max_events:
        raise ApiError(
            400,
            f"the body holds {len(body)} events; at most {max_events} are accepted per request, "
            f"so split them into {-(-len(body) // max_events)} or more requests",
            [field_error(WHOLE_VALUE, f"must hold at most {max_events} events, got {len(body)}")],
        )
    return body


def require_valid(events: Sequence[Any]) -> None:
    """Raise a 400 naming every wrong field of every event unless all events are valid.

    The rules are validate's, including that a uuid appears once per batch.
    """
    rejected = validate_batch(events).rejected
    if not rejected:
        return
    errors = [
        field_error(error.field, error.reason, index=rejection.index)
        for rejection in rejected
        for error in rejection.errors
    ]
    if len(events) == 1:
        message = "the event is invalid; nothing was started"
    else:
        verb = "is" if len(rejected) == 1 else "are"
        message = f"{len(rejected)} of {len(events)} events {verb} invalid; nothing was started"
    raise ApiError(400, message, errors)


def execution_input_of(document: dict[str, Any]) -> tuple[str, int]:
    """``document`` as a workflow's execution input (compact JSON), and its size in bytes.

    Raises :class:`ApiError` 400 when the body held an unpaired UTF-16 surrogate, which JSON
    can carry but UTF-8 (and so Step Functions) cannot.

    >>> execution_input_of({"trackingId": "trk-1", "events": ["é"]})
    ('{"trackingId":"trk-1","events":["é"]}', 38)
    """
    execution_input = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    try:
        return execution_input, len(execution_input.encode("utf-8"))
    except UnicodeEncodeError as error:
        reason = (
            f"holds an unpaired UTF-16 surrogate (\\u{ord(error.object[error.start]):04x}), "
            "which is not Unicode text"
        )
        raise ApiError(400, f"the body {reason}", [field_error(WHOLE_VALUE, reason)]) from None


def prepare_submission(
    events: list[Any],
    tracking_id: str,
    max_bulk_events: int,
    max_bytes: int = MAX_EXECUTION_INPUT_BYTES,
) -> Submission:
    """The execution input (or queue message) for ``events``, refused with a 413 over
    ``max_bytes`` (Step Functions' limit by default; queued, a smaller one).

    The input is the ingest envelope ``{"trackingId", "source": "api", "events"}`` with the
    events as posted (validate normalises them inside the workflow).
    """
    execution_input, size = execution_input_of(
        {"trackingId": tracking_id, "source": API_SOURCE, "events": events}
    )
    if size > max_bytes:
        if len(events) == 1:
            advice = "one event cannot be larger; keep large content in S3 and send its location"
        else:
            advice = (
                f"split the events into several POST /events/bulk requests, each under "
                f"{max_bytes:,} bytes and at most {max_bulk_events} events"
            )
        raise ApiError(
            413,
            f"the events make an execution input of {size:,} bytes; at most {max_bytes:,} "
            f"bytes are accepted per request: {advice}",
            [
                field_error(
                    WHOLE_VALUE,
                    f"makes {size} bytes of execution input, over the limit of {max_bytes} bytes",
                )
            ],
        )
    return Submission(tracking_id=tracking_id, count=len(events), execution_input=execution_input)


def start_ingest(
    submission: Submission, starter: WorkflowStarter, statuses: StatusRecorder, now: datetime
) -> dict[str, str]:
    """Record the tracking id as RECEIVED, then start the ingest workflow; the ids to answer.

    RECEIVED is written first, so a ``GET`` right after the 202 always finds the record. When
    the start fails, the record says FAILED (best effort) and the error propagates.

    Example::

        ids = start_ingest(submission, StepFunctionsStarter(arn), StatusTable(table), now)
        ids  # {"executionId": "arn:aws:states:...", "trackingId": "trk-..."}
    """
    tracking_id = submission.tracking_id
    with _failed_on_unavailable(
        submission, statuses, now, "the ingest workflow could not be started"
    ):
        execution_arn = starter.start(tracking_id, submission.execution_input)
    return {"executionId": execution_arn, "trackingId": tracking_id}


def queue_ingest(
    submission: Submission, queue: MessageSender, statuses: StatusRecorder, now: datetime
) -> dict[str, str]:
    """Record the tracking id as RECEIVED, then send the request to the ingest queue; the ids
    to answer (the tracking id only: the execution that carries it starts later, and the status
    record names it then).

    The 202 is answered only once SQS has accepted the message, so an acknowledged request is
    durably queued; when the send fails the record says FAILED, not accepted (best effort), and
    the error propagates (a 503).

    Example::

        ids = queue_ingest(submission, IngestQueue(queue_url), StatusTable(table), now)
        ids  # {"trackingId": "trk-..."}
    """
    with _failed_on_unavailable(submission, statuses, now, "the request was not queued"):
        queue.send(submission.tracking_id, submission.execution_input)
    return {"trackingId": submission.tracking_id}


@contextmanager
def _failed_on_unavailable(
    submission: Submission, statuses: StatusRecorder, now: datetime, what: str
) -> Iterator[None]:
    # RECEIVED first, so that a GET right after the 202 always finds the record.
    tracking_id = submission.tracking_id
    statuses.record_received(tracking_id, submission.count, format_utc(now))
    try:
        yield
    except DependencyUnavailableError as error:
        reason = (
            f"{what} ({error}); the client was answered 503 and may retry under a new tracking id"
        )
        # The client's 503 is what matters; if this write fails too, RECEIVED stays.
        with suppress(DependencyUnavailableError):
            statuses.record_start_failure(tracking_id, reason, format_utc(now))
        raise


def read_status(tracking_id: str, reader: StatusReader) -> dict[str, Any]:
    """The status record of ``tracking_id``, or a 404.

    >>> class NoRecords:
    ...     def read(self, tracking_id: str) -> None:
    ...         return None
    >>> read_status("trk-1", NoRecords())
    Traceback (most recent call last):
    ...
    functions.api.errors.ApiError: no such tracking id
    """
    record = reader.read(tracking_id)
    if record is None:
        raise ApiError(404, "no such tracking id")
    return record
