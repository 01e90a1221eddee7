"""What status a tracking id is in, and what its stored record holds; no I/O beyond a port.

A status only moves forward (:mod:`functions._shared.status`, the table of ``docs/contracts.md``):
a write whose rank is not above the stored one changes nothing. That makes the step safe to retry
and safe when a late, slow execution step reports after a later one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Protocol

from pydantic import BaseModel, ConfigDict, Field

from functions._shared.carried import CarriedTrackingId
from functions._shared.models import TrackingId, format_utc
from functions._shared.status import Status, rank_of

# The stored record must stay far below DynamoDB's 400 KB item limit whatever the batch held:
# at most 100 rejections x 5 errors x ~300 bytes, about 150 KB. The totals are kept exactly.
MAX_STORED_REJECTIONS: Final = 100
MAX_STORED_ERRORS_PER_REJECTION: Final = 5
MAX_STORED_DUPLICATES: Final = 100
MAX_STORED_TEXT_LENGTH: Final = 200
MAX_STORED_REASON_LENGTH: Final = 1000


NonNegativeCount = Annotated[int, Field(ge=0)]


class CaughtError(BaseModel):
    """What a Step Functions ``Catch`` puts under its ``ResultPath``."""

    error: str | None = Field(default=None, alias="Error")
    cause: str | None = Field(default=None, alias="Cause")


class ArchiveRef(BaseModel):
    """Where archive put the bundle; only the key is kept on the record."""

    model_config = ConfigDict(extra="ignore")

    key: str = Field(min_length=1)


class ExecutionRef(BaseModel):
    """The execution a workflow step runs in (``$$.Execution.Id``, noted in ``$.execution``)."""

    model_config = ConfigDict(extra="ignore")

    execution_arn: str = Field(alias="executionArn", min_length=1)


class StatusUpdate(BaseModel):
    """update_status's input: any envelope, plus an optional explicit ``status``.

    Without ``status`` the status is derived from ``counts`` (see :func:`derive_status`).
    With one, the reason is ``reason`` when given, else built from what a workflow's failure
    path passes on: ``error`` as the error name with ``cause`` beside it, or ``error`` as the
    whole ``Catch`` result ``{"Error": ..., "Cause": ...}``.
    """

    model_config = ConfigDict(extra="ignore", serialize_by_alias=True)

    tracking_id: TrackingId = Field(alias="trackingId")
    source: str | None = None
    status: Status | None = None
    reason: str | None = None
    error: str | CaughtError | None = None
    cause: str | None = None
    events: list[Any] = Field(default_factory=list)
    counts: dict[str, NonNegativeCount] = Field(default_factory=dict)
    rejected: list[dict[str, Any]] = Field(default_factory=list)
    duplicates: list[str] = Field(default_factory=list)
    archive: ArchiveRef | None = None
    parked_holders: list[str] = Field(default_factory=list, alias="parkedHolders")
    """Parked tracking ids holding some of the duplicates (dedupe): their redrive delivers them."""
    terminal: bool = False
    """Set by a workflow's failure path, whose execution ends in a Fail state that no redrive
    gets past: its events were never delivered, and dedupe lets a re-send claim them."""
    execution: ExecutionRef | None = None
    carried: list[CarriedTrackingId] = Field(default_factory=list)
    """The requests a queued batch holds: each gets this status too, for its own events
    (:mod:`functions.update_status.carried`)."""


@dataclass(frozen=True)
class StatusWrite:
    """One status write, ready for the store: bounded in size, with its rank."""

    tracking_id: str
    status: Status
    rank: int
    reason: str | None
    source: str | None
    counts: dict[str, int]
    rejected: list[dict[str, Any]]
    rejected_total: int
    duplicates: list[str]
    duplicates_total: int
    at: str
    archive_key: str | None = None
    terminal: bool = False
    execution_arn: str | None = None


@dataclass(frozen=True)
class StatusOutcome:
    """The record as stored after the write, and whether this write changed it."""

    record: dict[str, Any]
    applied: bool
    requested: Status


class StatusStore(Protocol):
    """Where status records live; ``write`` must apply
    :func:`~functions._shared.status.supersedes` atomically."""

    def write(self, write: StatusWrite) -> StatusOutcome:
        """Store ``write`` unless the stored status ranks as high or higher; return the record."""
        ...


def derive_status(update: StatusUpdate) -> tuple[Status, str | None]:
    """The status an update asks for, and why when the reason matters to a producer.

    An explicit ``status`` wins. Otherwise: nothing received or nothing valid -> ``REJECTED``,
    nothing fresh -> ``DUPLICATE``, else ``ACCEPTED``. Counts missing from ``counts`` are
    inferred from the lists (``events`` are fresh, ``duplicates`` were valid too).

    >>> derive_status(StatusUpdate(trackingId="t", counts={"received": 0, "valid": 0}))
    (<Status.REJECTED: 'REJECTED'>, 'the batch held no events')
    >>> derive_status(StatusUpdate(trackingId="t", counts={"received": 2, "valid": 2, "fresh": 0}))
    (<Status.DUPLICATE: 'DUPLICATE'>, 'all 2 valid events were processed before')
    >>> derive_status(StatusUpdate(trackingId="t", counts={"valid": 1, "fresh": 0},
    ...                            parkedHolders=["trk-1"]))[1]
    'all 1 valid events were processed before; some are parked under trk-1: redrive that \
execution to deliver them'
    """
    if update.status is not None:
        return update.status, _explicit_reason(update)
    fresh = update.counts.get("fresh", len(update.events))
    valid = update.counts.get("valid", fresh + len(update.duplicates))
    received = update.counts.get("received", valid + len(update.rejected))
    if received == 0:
        return Status.REJECTED, "the batch held no events"
    if valid == 0:
        if received == 1:
            return Status.REJECTED, "the only event was not valid"
        return Status.REJECTED, f"none of the {received} events was valid"
    if fresh == 0:
        reason = f"all {valid} valid events were processed before"
        if update.parked_holders:
            reason += (
                f"; some are parked under {', '.join(update.parked_holders)}: redrive that "
                "execution to deliver them"
            )
        return Status.DUPLICATE, reason
    return Status.ACCEPTED, None


def plan_write(update: StatusUpdate, now: datetime) -> StatusWrite:
    """The write an update makes at ``now``, with lists capped to keep the item small.

    >>> from datetime import UTC
    >>> update = StatusUpdate(trackingId="t", status="DELIVERED")
    >>> write = plan_write(update, datetime(2024, 1, 1, tzinfo=UTC))
    >>> write.status, write.rank, write.at
    (<Status.DELIVERED: 'DELIVERED'>, 90, '2024-01-01T00:00:00Z')
    """
    status, reason = derive_status(update)
    return StatusWrite(
        tracking_id=update.tracking_id,
        status=status,
        rank=rank_of(status),
        reason=bounded_text(reason, MAX_STORED_REASON_LENGTH) if reason is not None else None,
        source=update.source,
        counts=dict(update.counts),
        rejected=[_bounded_rejection(item) for item in update.rejected[:MAX_STORED_REJECTIONS]],
        rejected_total=len(update.rejected),
        duplicates=update.duplicates[:MAX_STORED_DUPLICATES],
        duplicates_total=len(update.duplicates),
        at=format_utc(now),
        archive_key=update.archive.key if update.archive is not None else None,
        terminal=update.terminal,
        execution_arn=update.execution.execution_arn if update.execution else None,
    )


def record_status(update: StatusUpdate, store: StatusStore, now: datetime) -> StatusOutcome:
    """update_status's whole job: derive, bound and store the status; return the stored record.

    Example::

        outcome = record_status(update, DynamoDbStatusStore("stepflow-dev-status"), now)
        outcome.record["status"], outcome.applied
    """
    return store.write(plan_write(update, now))


def _explicit_reason(update: StatusUpdate) -> str | None:
    return failure_reason(update.reason, update.error, update.cause)


def failure_reason(
    reason: str | None, error: str | CaughtError | None, cause: str | None
) -> str | None:
    """Why, in words: ``reason`` when given, else ``"<error name>: <message>"`` built from
    what a workflow's ``Catch`` passes on (``error`` as the name with ``cause`` beside it, or as
    the whole ``{"Error", "Cause"}``); a Lambda's JSON error document is reduced to its message.

    >>> failure_reason(None, "CatalogSourceError", '{"errorMessage": "no such key"}')
    'CatalogSourceError: no such key'
    """
    if reason:
        return reason
    if isinstance(error, CaughtError):
        error_name, caught_cause = error.error, error.cause
    else:
        error_name, caught_cause = error, None
    readable = _readable_cause(cause or caught_cause)
    return ": ".join(part for part in (error_name, readable) if part) or None


def _readable_cause(cause: str | None) -> str | None:
    # A Lambda's Cause is its whole error document as JSON, stack trace included; the message
    # is what an operator needs, and it keeps the stored reason short.
    if not cause:
        return None
    try:
        document = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(document, dict) and isinstance(document.get("errorMessage"), str):
        return str(document["errorMessage"])
    return cause


def bounded_text(text: str, max_length: int = MAX_STORED_TEXT_LENGTH) -> str:
    """``text``, cut to ``max_length`` characters with ``...`` when longer."""
    if len(text) <= max_length:
        return text
    return text[: max_length - 3] + "..."


def _bounded_rejection(rejection: Mapping[str, Any]) -> dict[str, Any]:
    # Only the contract's keys are stored, each bounded, so a rejection of any shape fits.
    bounded: dict[str, Any] = {}
    if isinstance(rejection.get("index"), int):
        bounded["index"] = rejection["index"]
    event_id = rejection.get("eventId")
    bounded["eventId"] = bounded_text(event_id) if isinstance(event_id, str) else None
    errors = rejection.get("errors")
    if isinstance(errors, list):
        bounded["errors"] = [
            {
                "field": bounded_text(str(error.get("field", ""))),
                "reason": bounded_text(str(error.get("reason", ""))),
            }
            for error in errors[:MAX_STORED_ERRORS_PER_REJECTION]
            if isinstance(error, dict)
        ]
        if len(errors) > MAX_STORED_ERRORS_PER_REJECTION:
            bounded["errorCount"] = len(errors)
    # Where the rejected input was kept verbatim (functions/_shared/quarantine.py).
    quarantine_key = rejection.get("quarantineKey")
    if isinstance(quarantine_key, str):
        bounded["quarantineKey"] = bounded_text(quarantine_key)
    return bounded
