"""The event schema and the ingest envelope that travels between the Lambdas.

Events look like this; every object may carry more keys than listed, and they are kept::

    {"eventHeader": {"uuid": "550e8400-e29b-41d4-a716-446655440000",
                     "eventName": "Car Created", "eventType": "CarCreated",
                     "createdDate": "2024-01-15T10:30:00Z", "savedDate": "2024-01-15T10:30:05Z"},
     "entities": [{"entityHeader": {"entityId": "CAR-2024-001", "entityType": "Car",
                                    "createdAt": "2024-01-15T10:30:00Z",
                                    "updatedAt": "2024-01-15T10:30:00Z"},
                   "vin": "5TDJKRFH4LS123456", "make": "Tesla", "mileage": 0}]}

Rules beyond the shapes, chosen so that every consumer downstream can rely on them:

- ``uuid`` is the canonical 8-4-4-4-12 hexadecimal form (any case); it is normalised to lower
  case, because it is the deduplication key and ``ABC`` and ``abc`` name the same event.
- Date-times are ISO-8601 with a time and an explicit offset (``Z`` or ``+02:00``); a value
  without an offset is rejected rather than guessed. They are normalised to UTC with a ``Z``.
- ``savedDate`` is not before ``createdDate``; ``updatedAt`` is not before ``createdAt``.
- ``eventType`` is one of :class:`EventType`, the events of the car-dealership domain.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from functions._shared.json_values import text_problem

MAX_NAME_LENGTH: Final = 256

_UUID_PATTERN: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
# The date and the time must both be there; pydantic would otherwise read "2024-01-15" as
# midnight and 1700000000 as an epoch, neither of which a producer of this schema means.
_DATE_TIME_PREFIX: Final = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")


class EventType(StrEnum):
    """The event types the pipeline accepts (cars, their loans and their services)."""

    CAR_CREATED = "CarCreated"
    CAR_UPDATED = "CarUpdated"
    CAR_DELETED = "CarDeleted"
    LOAN_CREATED = "LoanCreated"
    LOAN_PAYMENT_SUBMITTED = "LoanPaymentSubmitted"
    SERVICE_RECORDED = "ServiceRecorded"


_EVENT_TYPE_VALUES: Final = frozenset(event_type.value for event_type in EventType)

# bool before number: in Python a bool is an int, in JSON it is not a number.
_JSON_TYPE_NAMES: Final[tuple[tuple[type | tuple[type, ...], str], ...]] = (
    (type(None), "null"),
    (bool, "boolean"),
    ((int, float), "number"),
    (str, "string"),
    ((list, tuple), "array"),
    (dict, "object"),
)


def json_type_name(value: object) -> str:
    """The JSON name of a Python value's type, for messages a producer can act on.

    >>> json_type_name([1]), json_type_name(None), json_type_name(True)
    ('array', 'null', 'boolean')
    """
    for python_types, json_name in _JSON_TYPE_NAMES:
        if isinstance(value, python_types):
            return json_name
    return type(value).__name__


def format_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a trailing ``Z``; milli- or microseconds only when there are any.

    >>> format_utc(datetime(2024, 1, 15, 12, 30, tzinfo=UTC))
    '2024-01-15T12:30:00Z'
    >>> from datetime import timedelta, timezone
    >>> format_utc(datetime(2024, 1, 15, 14, 30, 0, 500_000, tzinfo=timezone(timedelta(hours=2))))
    '2024-01-15T12:30:00.500Z'
    """
    if moment.microsecond == 0:
        timespec = "seconds"
    elif moment.microsecond % 1000 == 0:
        timespec = "milliseconds"
    else:
        timespec = "microseconds"
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def _as_text(value: object) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "not_a_string",
            "must be a string, got {json_type}",
            {"json_type": json_type_name(value)},
        )
    problem = text_problem(value)
    if problem is not None:
        # Text no UTF-8 encoder can write would crash the first step that stores or sends it.
        raise PydanticCustomError("invalid_unicode", problem)
    return value


def _non_blank_name(value: str) -> str:
    if not value:
        raise PydanticCustomError("empty_string", "must not be empty")
    if not value.strip():
        raise PydanticCustomError("blank_string", "must not be blank")
    if len(value) > MAX_NAME_LENGTH:
        raise PydanticCustomError(
            "string_too_long",
            "must be at most {max_length} characters long",
            {"max_length": MAX_NAME_LENGTH},
        )
    return value


def _canonical_uuid(value: object) -> str:
    canonical = canonical_event_uuid(_as_text(value))
    if canonical is None:
        raise PydanticCustomError(
            "invalid_uuid", "must be a UUID like 550e8400-e29b-41d4-a716-446655440000"
        )
    return canonical


def canonical_event_uuid(value: object) -> str | None:
    """The lower-case canonical form of ``value`` when it is a valid event uuid, else ``None``.

    >>> canonical_event_uuid("550E8400-E29B-41D4-A716-446655440000")
    '550e8400-e29b-41d4-a716-446655440000'
    >>> canonical_event_uuid(42) is None
    True
    """
    if isinstance(value, str) and _UUID_PATTERN.fullmatch(value):
        return value.lower()
    return None


def _require_date_time_text(value: object) -> str:
    text = _as_text(value)
    if not _DATE_TIME_PREFIX.match(text):
        raise PydanticCustomError(
            "invalid_date_time", "must be an ISO-8601 date-time such as 2024-01-15T10:30:00Z"
        )
    return text


def _require_offset(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise PydanticCustomError(
            "missing_utc_offset", "must state its UTC offset, e.g. 2024-01-15T10:30:00Z or +02:00"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is a valid ISO-8601 date-time whose UTC moment is before
        # year 1, which no datetime (and no downstream parser of this schema) can hold.
        raise PydanticCustomError(
            "date_time_out_of_range",
            "is out of range: in UTC it falls outside the years 0001 to 9999",
        ) from None


def _known_event_type(value: object) -> str:
    text = _as_text(value)
    if text not in _EVENT_TYPE_VALUES:
        shown = text if len(text) <= 60 else f"{text[:57]}..."
        raise PydanticCustomError(
            "unknown_event_type",
            "unknown event type '{value}'; expected one of {expected}",
            {"value": shown, "expected": ", ".join(EventType)},
        )
    return text


NonBlankName = Annotated[
    str,
    BeforeValidator(_as_text),
    AfterValidator(_non_blank_name),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}),
]
"""A non-empty string that is not only whitespace, at most :data:`MAX_NAME_LENGTH` long."""

EventUuid = Annotated[
    str, BeforeValidator(_canonical_uuid), WithJsonSchema({"type": "string", "format": "uuid"})
]
"""A UUID in canonical form, normalised to lower case."""

UtcDateTime = Annotated[
    datetime,
    BeforeValidator(_require_date_time_text),
    AfterValidator(_require_offset),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]
"""An ISO-8601 date-time with an offset, held in UTC and written with a trailing ``Z``."""

KnownEventType = Annotated[EventType, BeforeValidator(_known_event_type)]


def json_payload(model: BaseModel, passthrough: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``model_dump(mode="json", by_alias=True)``, except that unknown keys and the fields named
    in ``passthrough`` are copied as they came instead of being re-encoded.

    Those values are producer JSON that needs no conversion, and pydantic refuses to serialise
    values nested deeper than about 255 levels: a producer's deeply nested attribute must not
    crash the step that only passes it along.

    >>> json_payload(FieldError(field="eventHeader.uuid", reason="is required"))
    {'field': 'eventHeader.uuid', 'reason': 'is required'}
    """
    fields = type(model).model_fields
    dumped = model.model_dump(
        mode="json", by_alias=True, include={name for name in fields if name not in passthrough}
    )
    payload = {
        info.alias or name: getattr(model, name)
        if name in passthrough
        else dumped[info.alias or name]
        for name, info in fields.items()
    }
    payload.update(model.model_extra or {})
    return payload


# Producer JSON is read by its camelCase keys only: a snake_case "event_header" is an unknown
# key (kept as sent), never a second spelling of "eventHeader".
_KEEP_EXTRA_KEYS = ConfigDict(extra="allow", serialize_by_alias=True)


class EntityHeader(BaseModel):
    model_config = _KEEP_EXTRA_KEYS

    entity_id: NonBlankName = Field(alias="entityId")
    entity_type: NonBlankName = Field(alias="entityType")
    created_at: UtcDateTime = Field(alias="createdAt")
    updated_at: UtcDateTime = Field(alias="updatedAt")

    @field_validator("updated_at")
    @classmethod
    def _not_updated_before_created(cls, updated_at: datetime, info: ValidationInfo) -> datetime:
        _require_not_before(updated_at, info.data.get("created_at"), "createdAt")
        return updated_at

    def to_payload(self) -> dict[str, Any]:
        return json_payload(self)


class Entity(BaseModel):
    """One entity of an event: its header plus any attributes of its own (kept as sent)."""

    model_config = _KEEP_EXTRA_KEYS

    entity_header: EntityHeader = Field(alias="entityHeader")

    def to_payload(self) -> dict[str, Any]:
        return {"entityHeader": self.entity_header.to_payload(), **(self.model_extra or {})}


class EventHeader(BaseModel):
    model_config = _KEEP_EXTRA_KEYS

    uuid: EventUuid
    event_name: NonBlankName = Field(alias="eventName")
    event_type: KnownEventType = Field(alias="eventType")
    created_date: UtcDateTime = Field(alias="createdDate")
    saved_date: UtcDateTime = Field(alias="savedDate")

    @field_validator("saved_date")
    @classmethod
    def _not_saved_before_created(cls, saved_date: datetime, info: ValidationInfo) -> datetime:
        _require_not_before(saved_date, info.data.get("created_date"), "createdDate")
        return saved_date

    def to_payload(self) -> dict[str, Any]:
        return json_payload(self)


class Event(BaseModel):
    """One event: its header and the entities it is about; the module docstring has the rules."""

    model_config = _KEEP_EXTRA_KEYS

    event_header: EventHeader = Field(alias="eventHeader")
    entities: list[Entity] = Field(min_length=1)

    def to_payload(self) -> dict[str, Any]:
        """The normalised event as JSON: dates in UTC with ``Z``, unknown keys as sent."""
        return {
            "eventHeader": self.event_header.to_payload(),
            "entities": [entity.to_payload() for entity in self.entities],
            **(self.model_extra or {}),
        }


def _require_not_before(later: datetime, earlier: object, earlier_name: str) -> None:
    # ``earlier`` is absent from the validated data when it was itself invalid; that error is
    # reported on its own field, so there is nothing to compare here.
    if isinstance(earlier, datetime) and later < earlier:
        raise PydanticCustomError(
            "date_order",
            "must not be before {earlier_name} ({earlier})",
            {"earlier_name": earlier_name, "earlier": format_utc(earlier)},
        )


class FieldError(BaseModel):
    """One wrong field of one event: a dotted path (``$`` for the event itself) and why."""

    field: str
    reason: str


class Rejection(BaseModel):
    """An event that was not accepted, with every reason (see ``errors``).

    ``messageId`` names the queue message the event came in (Pipes batches only); it is left out
    of the payload when there is none, so envelopes from the API keep the contract's three keys.
    """

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    index: int
    event_id: str | None = Field(alias="eventId")
    errors: list[FieldError]
    message_id: str | None = Field(default=None, alias="messageId")

    def to_payload(self) -> dict[str, Any]:
        """The rejection as JSON: ``index``, ``eventId``, ``errors`` (and ``messageId`` if any).

        >>> errors = [FieldError(field="$", reason="is not JSON")]
        >>> sorted(Rejection(index=0, event_id=None, errors=errors, message_id="m").to_payload())
        ['errors', 'eventId', 'index', 'messageId']
        >>> sorted(Rejection(index=0, event_id=None, errors=errors).to_payload())
        ['errors', 'eventId', 'index']
        """
        payload = self.model_dump(by_alias=True)
        if self.message_id is None:
            del payload["messageId"]
        return payload


class S3Object(BaseModel):
    """One object an S3 notification announced: where it is and which version of its content.

    ``key`` is decoded (S3 sends keys URL-encoded); ``etag`` is kept without quotes.
    """

    bucket: NonBlankName
    key: Annotated[str, BeforeValidator(_as_text), Field(min_length=1, max_length=1024)]
    etag: NonBlankName
    size: Annotated[int, Field(ge=0, strict=True)]

    def claim_id(self) -> str:
        """The id dedupe claims the object by: its location and its content's ETag.

        >>> S3Object(bucket="b", key="in/a b.json", etag="abc", size=3).claim_id()
        's3://b/in/a b.json#abc'
        """
        return f"s3://{self.bucket}/{self.key}#{self.etag}"


_ENVELOPE_CONFIG = _KEEP_EXTRA_KEYS

TrackingId = NonBlankName
"""A tracking id: any non-blank string of at most :data:`MAX_NAME_LENGTH` characters."""


# Fields that hold events or rejections as JSON already; see json_payload for why.
_PRODUCER_JSON_FIELDS: Final = frozenset({"events", "rejected"})


class IngestEnvelope(BaseModel):
    """What an ingest execution starts with: ``{"trackingId", "source", "events": [...]}``.

    Events are kept raw (any JSON): judging them is validate's job, and a bad event must never
    make the whole envelope unreadable. Keys this model does not name pass through untouched.
    """

    model_config = _ENVELOPE_CONFIG

    tracking_id: TrackingId = Field(alias="trackingId")
    source: str = "unknown"
    events: list[Any]

    def to_payload(self) -> dict[str, Any]:
        """The JSON-ready dict, with the contract's camelCase keys."""
        return json_payload(self, passthrough=_PRODUCER_JSON_FIELDS)


class ValidatedEnvelope(BaseModel):
    """validate's output, and the input of the steps after it (``counts`` grows on the way).

    It carries ``events`` (the API and the ingest queue) or ``objects`` (S3 notifications,
    the aggregate workflow); an envelope with neither is malformed.
    """

    model_config = _ENVELOPE_CONFIG

    tracking_id: TrackingId = Field(alias="trackingId")
    source: str = "unknown"
    events: list[dict[str, Any]] = Field(default_factory=list)
    objects: list[S3Object] | None = None
    rejected: list[Any] = Field(default_factory=list)
    duplicates: list[str] = Field(default_factory=list)
    counts: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    carried: list[dict[str, Any]] = Field(default_factory=list)
    """The tracking ids of the requests a queued batch holds (:mod:`functions._shared.carried`);
    always present, so that the workflows' status steps can pass it on."""

    @model_validator(mode="before")
    @classmethod
    def _events_or_objects(cls, data: Any) -> Any:
        if isinstance(data, dict) and "events" not in data and "objects" not in data:
            raise PydanticCustomError("missing", "needs events or objects")
        return data

    def to_payload(self) -> dict[str, Any]:
        """The JSON-ready dict a Lambda returns, with the contract's camelCase keys.

        An envelope of ``objects`` has no ``events`` key (unless it also holds events), and an
        envelope of events has no ``objects`` key.
        """
        payload = json_payload(self, passthrough=_PRODUCER_JSON_FIELDS)
        if self.objects is None:
            del payload["objects"]
        elif not self.events:
            del payload["events"]
        return payload
