"""Pipes batches read into the envelope validate returns; no I/O.

EventBridge Pipes start a workflow with a JSON array of SQS records (``docs/contracts.md``,
"Inputs the validate Lambda accepts"). Each record's ``body`` is text from a producer: an event, a
list of events, an envelope ``{"trackingId", "events"}``, or an S3 event notification. Whatever a
body holds, it ends up either in the envelope or in ``rejected`` naming its ``messageId``: a bad
message is recorded, never silently dropped, and never fails the whole batch (Pipes would then
redeliver every message of it, the good ones too).

``trackingId``: the envelope's own when the batch is exactly one envelope message, else
``"sqs-"`` + the first 16 hex digits of sha256 over the batch's sorted message ids joined by
newlines, so a redelivered batch maps onto the same status record.

A batch too big to start a workflow arrives as a pointer to where claim_check stored it
(:func:`stored_batch_pointer`; ``functions._shared.batch_pointer``); the handler reads the records
back and they are judged like any other batch. A message whose body is over
``MAX_MESSAGE_BODY_BYTES`` is rejected alone: its events could not fit a workflow's state.
Messages whose accepted events would take the output over ``INLINE_EVENTS_BUDGET_BYTES``
(:mod:`functions.validate.overflow`) are left out of the envelope and named in ``requeued``,
counted in ``counts.requeued``: the handler sends them back to the queue.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, RootModel, TypeAdapter, ValidationError

from functions._shared.batch_pointer import (
    INLINE_BATCH_LIMIT_BYTES,
    INLINE_EVENTS_BUDGET_BYTES,
    POINTER_KEY,
    BatchPointer,
)
from functions._shared.carried import CARRIED_KEY, carried_tracking_ids
from functions._shared.models import (
    FieldError,
    NonBlankName,
    Rejection,
    S3Object,
    TrackingId,
    ValidatedEnvelope,
    json_type_name,
)
from functions._shared.parsing import JsonTextError, loads_json, parse_envelope
from functions._shared.pipe_batches import batch_tracking_id
from functions._shared.validation import WHOLE_VALUE, field_errors
from functions.validate.core import MAX_ERRORS_PER_EVENT, validate_batch
from functions.validate.overflow import messages_over_budget

QUEUE_SOURCE: Final = "queue"
S3_SOURCE: Final = "s3"
S3_TEST_EVENT: Final = "s3:TestEvent"
REQUEUED_KEY: Final = "requeued"
_OBJECT_CREATED_PREFIX: Final = "ObjectCreated:"

_KEEP_EXTRA_KEYS: Final = ConfigDict(extra="allow")
# validate's output carries a message's events, and a state holds at most 262,144 bytes: the
# largest batch that travels inline is the largest message that can.
MAX_MESSAGE_BODY_BYTES: Final = INLINE_BATCH_LIMIT_BYTES


class PipeRecord(BaseModel):
    """One SQS message as Pipes deliver it; only the keys validate reads are required."""

    model_config = _KEEP_EXTRA_KEYS

    message_id: NonBlankName = Field(alias="messageId")
    body: Annotated[str, Field(strict=True)]


class PipeBatch(RootModel[Annotated[list[PipeRecord], Field(min_length=1)]]):
    """A Pipes batch: a non-empty JSON array of SQS records."""


class _S3Bucket(BaseModel):
    model_config = _KEEP_EXTRA_KEYS

    name: NonBlankName


class _S3ObjectEntity(BaseModel):
    model_config = _KEEP_EXTRA_KEYS

    key: NonBlankName = Field(max_length=3 * 1024)  # URL-encoded: up to 3 bytes per character
    size: Annotated[int, Field(ge=0, strict=True)]
    e_tag: NonBlankName = Field(alias="eTag")


class _S3Entity(BaseModel):
    model_config = _KEEP_EXTRA_KEYS

    bucket: _S3Bucket
    object: _S3ObjectEntity


class _S3Record(BaseModel):
    """One record of an S3 event notification (``{"Records": [...]}``)."""

    model_config = _KEEP_EXTRA_KEYS

    event_source: Literal["aws:s3"] = Field(alias="eventSource")
    event_name: NonBlankName = Field(alias="eventName")
    s3: _S3Entity


_TRACKING_ID: Final = TypeAdapter[str](TrackingId)
# S3Object's fields by where they were in the notification record.
_NOTIFICATION_FIELD: Final = {
    "bucket": "s3.bucket.name",
    "key": "s3.object.key",
    "etag": "s3.object.eTag",
    "size": "s3.object.size",
}


@dataclass(frozen=True)
class _Refused:
    """An item rejected while reading the bodies, before any event is judged."""

    errors: list[FieldError]


@dataclass
class _Received:
    """What a batch held, in order: each item is a raw event, an object, or refused."""

    items: list[Any] = field(default_factory=list)
    """A raw event (any JSON), an :class:`S3Object`, or a :class:`_Refused`."""
    message_ids: list[str] = field(default_factory=list)
    envelope_tracking_ids: list[str | None] = field(default_factory=list)
    tracking_ids: dict[str, str] = field(default_factory=dict)
    """The tracking id of each envelope message that has one, by message id."""
    test_events: int = 0

    def add(self, item: Any, message_id: str) -> None:
        self.items.append(item)
        self.message_ids.append(message_id)

    def refuse(self, message_id: str, field_name: str, reason: str) -> None:
        self.add(_Refused([FieldError(field=field_name, reason=reason)]), message_id)


def stored_batch_pointer(event: Any) -> BatchPointer | None:
    """The pointer when ``event`` is a claim-checked batch, ``None`` for any other input.

    Raises :class:`~functions._shared.errors.InvalidEnvelopeError` for a malformed pointer.

    >>> stored_batch_pointer([{"batchPointer": {"bucket": "staging", "key": "batches/a.json",
    ...                                         "records": 2, "bytes": 300000}}]).records
    2
    >>> stored_batch_pointer([{"messageId": "m1", "body": "{}"}]) is None
    True
    """
    if not (isinstance(event, list) and len(event) == 1 and isinstance(event[0], dict)):
        return None
    if POINTER_KEY not in event[0]:
        return None
    return parse_envelope(event[0][POINTER_KEY], BatchPointer)


def screen_records(records: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """The records with every malformed one (no ``messageId``, a body that is not text) replaced
    by a stand-in that carries the original as its body, and why each stand-in was refused, by
    its (made-up) message id: one such record is rejected alone. An item that is not a JSON
    object is left as it is: a list holding one is not a Pipes batch at all.

    >>> records, refused = screen_records([{"messageId": "m1", "body": "{}"}, {"body": "{}"}])
    >>> records[1]["messageId"], refused[records[1]["messageId"]]
    ('unnamed-1-86b63a4ee5ad6ba0', 'the SQS record has no messageId')
    """
    screened: list[Any] = []
    refused: dict[str, str] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            screened.append(record)
            continue
        try:
            PipeRecord.model_validate(record)
        except ValidationError as error:
            problem = field_errors(error)[0]
            original = json.dumps(record, ensure_ascii=False, default=str)
            digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            message_id = f"unnamed-{index}-{digest}"
            refused[message_id] = (
                "the SQS record has no messageId"
                if problem.field == "messageId" and problem.reason == "is required"
                else f"the SQS record is malformed: {problem.field}: {problem.reason}"
            )
            screened.append({"messageId": message_id, "body": original})
        else:
            screened.append(record)
    return screened, refused


def read_pipe_batch(
    batch: PipeBatch, refused: Mapping[str, str] | None = None
) -> tuple[ValidatedEnvelope, int]:
    """validate's whole job for a Pipes batch: the envelope, and how many test events it skipped.

    A batch holding any S3 notification is a batch of objects (``source`` ``"s3"``, the
    aggregate workflow); any other body in it is rejected. Otherwise it is a batch of events
    (``source`` ``"queue"``), judged exactly as the API's events are.

    Example::

        envelope, _ = read_pipe_batch(PipeBatch.model_validate(pipes_input))
        envelope.to_payload()["counts"]
    """
    records = batch.root
    refused = refused or {}
    parsed = [
        _Unreadable(refused[record.message_id])
        if record.message_id in refused
        else _parse_body(record)
        for record in records
    ]
    is_s3_batch = any(_is_s3_notification(value) or _is_test_event(value) for value in parsed)
    received = _Received()
    for record, value in zip(records, parsed, strict=True):
        if is_s3_batch:
            _receive_objects(received, record.message_id, value)
        else:
            _receive_events(received, record.message_id, value)

    single_envelope = len(records) == 1 and len(received.envelope_tracking_ids) == 1
    tracking_id = received.envelope_tracking_ids[0] if single_envelope else None
    tracking_id = tracking_id or batch_tracking_id([record.message_id for record in records])
    if is_s3_batch:
        envelope = _objects_envelope(tracking_id, received)
    else:
        envelope = _events_envelope(tracking_id, received)
    return envelope, received.test_events


class _Unreadable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parse_body(record: PipeRecord) -> Any:
    # Lone surrogates are what JSON escapes can put in a body; they count as sent.
    size = len(record.body.encode("utf-8", "surrogatepass"))
    if size > MAX_MESSAGE_BODY_BYTES:
        return _Unreadable(
            f"the message body is {size:,} bytes; a message may hold at most "
            f"{MAX_MESSAGE_BODY_BYTES:,}, so that its events fit a workflow's state"
        )
    try:
        return loads_json(record.body)
    except JsonTextError as error:
        return _Unreadable(f"the message body {error.reason}")


def _is_s3_notification(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("Records"), list)


def _is_test_event(value: Any) -> bool:
    return isinstance(value, dict) and value.get("Event") == S3_TEST_EVENT


def _receive_events(received: _Received, message_id: str, value: Any) -> None:
    if isinstance(value, _Unreadable):
        received.refuse(message_id, WHOLE_VALUE, value.reason)
    elif isinstance(value, list):
        for event in value:
            received.add(event, message_id)
    elif isinstance(value, dict) and "events" in value:
        _receive_envelope(received, message_id, value)
    else:
        # One event, or junk that validation will reject as "must be a JSON object".
        received.add(value, message_id)


def _receive_envelope(received: _Received, message_id: str, envelope: dict[str, Any]) -> None:
    events = envelope["events"]
    if not isinstance(events, list):
        reason = f"must be a JSON array of events, got {json_type_name(events)}"
        received.refuse(message_id, "events", reason)
        return
    tracking_id = envelope.get("trackingId")
    if tracking_id is not None:
        try:
            tracking_id = _TRACKING_ID.validate_python(tracking_id)
        except ValidationError as error:
            reason = field_errors(error)[0].reason
            received.refuse(message_id, "trackingId", reason)
            return
    received.envelope_tracking_ids.append(tracking_id)
    if tracking_id is not None:
        received.tracking_ids[message_id] = tracking_id
    for event in events:
        received.add(event, message_id)


def _receive_objects(received: _Received, message_id: str, value: Any) -> None:
    if isinstance(value, _Unreadable):
        received.refuse(message_id, WHOLE_VALUE, value.reason)
    elif _is_test_event(value):
        # S3 sends one when the notification is configured; it announces no object.
        received.test_events += 1
    elif not _is_s3_notification(value):
        reason = f'must be an S3 event notification ({{"Records": [...]}}), got {_shape(value)}'
        received.refuse(message_id, WHOLE_VALUE, reason)
    else:
        for index, record in enumerate(value["Records"]):
            received.add(_s3_object(record, f"Records.{index}"), message_id)


def _s3_object(record: Any, path: str) -> S3Object | _Refused:
    try:
        parsed = _S3Record.model_validate(record)
    except ValidationError as error:
        return _Refused(
            [
                FieldError(
                    field=path if problem.field == WHOLE_VALUE else f"{path}.{problem.field}",
                    reason=problem.reason,
                )
                for problem in field_errors(error, limit=MAX_ERRORS_PER_EVENT)
            ]
        )
    if not parsed.event_name.startswith(_OBJECT_CREATED_PREFIX):
        reason = f"is {parsed.event_name}; only ObjectCreated notifications announce objects"
        return _Refused([FieldError(field=f"{path}.eventName", reason=reason)])
    entity = parsed.s3.object
    key_field = f"{path}.s3.object.key"
    try:
        # Strict: the default would turn bytes that are not UTF-8 into U+FFFD, naming an object
        # that does not exist.
        key = unquote_plus(entity.key, errors="strict")
    except UnicodeDecodeError:
        return _Refused([FieldError(field=key_field, reason="is not URL-encoded UTF-8")])
    if not key.strip():
        return _Refused([FieldError(field=key_field, reason="must not be blank")])
    try:
        return S3Object(
            bucket=parsed.s3.bucket.name, key=key, etag=entity.e_tag.strip('"'), size=entity.size
        )
    except ValidationError as error:
        # Decoding the key or unquoting the ETag can leave a value the notification's own
        # checks let through (a decoded key over 1,024 characters, an ETag of only quotes).
        return _Refused(
            [
                FieldError(
                    field=f"{path}.{_NOTIFICATION_FIELD.get(problem.field, WHOLE_VALUE)}",
                    reason=problem.reason,
                )
                for problem in field_errors(error, limit=MAX_ERRORS_PER_EVENT)
            ]
        )


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        # Keys are producer text: escaped, so that a lone surrogate cannot make the reason
        # itself unwritable.
        keys = sorted(str(key).encode("utf-8", "backslashreplace").decode() for key in value)
        return "an object with keys " + ", ".join(keys[:5])
    return json_type_name(value)


def _events_envelope(tracking_id: str, received: _Received) -> ValidatedEnvelope:
    positions = [
        index for index, item in enumerate(received.items) if not isinstance(item, _Refused)
    ]
    verdict = validate_batch([received.items[index] for index in positions])
    rejected_positions = {positions[rejection.index] for rejection in verdict.rejected}
    accepted_messages = [
        received.message_ids[index] for index in positions if index not in rejected_positions
    ]
    requeued = messages_over_budget(
        list(zip(accepted_messages, verdict.valid, strict=True)), INLINE_EVENTS_BUDGET_BYTES
    )
    # A message sent back is judged whole by a later execution: its rejections are reported
    # there, not twice.
    deferred = set(requeued)
    rejections = [
        rejection.model_copy(
            update={
                "index": positions[rejection.index],
                "message_id": received.message_ids[positions[rejection.index]],
            }
        )
        for rejection in verdict.rejected
    ]
    rejections += _early_rejections(received)
    rejections = [rejection for rejection in rejections if rejection.message_id not in deferred]
    rejections.sort(key=lambda rejection: rejection.index)
    events = [
        event
        for event, message_id in zip(verdict.valid, accepted_messages, strict=True)
        if message_id not in deferred
    ]
    received_here = sum(message_id not in deferred for message_id in received.message_ids)
    overflow = {REQUEUED_KEY: requeued} if requeued else {}
    carried = carried_tracking_ids(
        {key: value for key, value in received.tracking_ids.items() if key not in deferred},
        received.message_ids,
        [
            (message_id, event)
            for event, message_id in zip(verdict.valid, accepted_messages, strict=True)
            if message_id not in deferred
        ],
    )
    return ValidatedEnvelope.model_validate(
        {
            "trackingId": tracking_id,
            "source": QUEUE_SOURCE,
            "events": events,
            "rejected": [rejection.to_payload() for rejection in rejections],
            "duplicates": [],
            CARRIED_KEY: carried,
            **overflow,
            "counts": {
                "received": received_here,
                "valid": len(events),
                "rejected": len(rejections),
                **({REQUEUED_KEY: len(requeued)} if requeued else {}),
            },
        }
    )


def _objects_envelope(tracking_id: str, received: _Received) -> ValidatedEnvelope:
    objects = [item for item in received.items if isinstance(item, S3Object)]
    rejections = _early_rejections(received)
    return ValidatedEnvelope(
        trackingId=tracking_id,
        source=S3_SOURCE,
        objects=objects,
        rejected=[rejection.to_payload() for rejection in rejections],
        duplicates=[],
        counts={
            "received": len(received.items),
            "valid": len(objects),
            "rejected": len(rejections),
        },
    )


def _early_rejections(received: _Received) -> list[Rejection]:
    """Rejections decided while reading the bodies, before any event was judged."""
    return [
        Rejection(
            index=index,
            event_id=None,
            errors=item.errors,
            message_id=received.message_ids[index],
        )
        for index, item in enumerate(received.items)
        if isinstance(item, _Refused)
    ]
