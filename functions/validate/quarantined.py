"""Which inputs validate rejected, as the verbatim inputs to keep in quarantine; no I/O.

A queue message is kept whole, once, whatever number of its events were rejected (its other
events were accepted; resubmitting it after a fix delivers the rejected ones, and dedupe drops
the ones already delivered). An event of an API execution is kept alone, as JSON. Each rejection
entry then names the key its input was kept under (:data:`QUARANTINE_KEY_FIELD`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from functions._shared.models import ValidatedEnvelope
from functions._shared.quarantine import (
    QUARANTINE_KEY_FIELD,
    QuarantineSource,
    RejectedInput,
    rejection_reason,
)

SOURCE_ARN_FIELD: Final = "eventSourceARN"


def rejected_messages(
    validated: ValidatedEnvelope, records: Sequence[Mapping[str, Any]]
) -> dict[str, RejectedInput]:
    """A :class:`RejectedInput` for each queue message some rejection names (the message's body),
    by message id.

    ``records`` are the batch's SQS records (``messageId``, ``body``, ``eventSourceARN``).

    >>> envelope = ValidatedEnvelope.model_validate({"trackingId": "sqs-1", "events": [],
    ...     "rejected": [{"index": 0, "eventId": None, "messageId": "m1",
    ...                   "errors": [{"field": "$", "reason": "is not JSON"}]}]})
    >>> kept = rejected_messages(envelope, [{"messageId": "m1", "body": "x"}])
    >>> {message_id: item.body for message_id, item in kept.items()}
    {'m1': b'x'}
    """
    by_message: dict[str, list[Mapping[str, Any]]] = {}
    for rejection in validated.rejected:
        message_id = rejection.get("messageId")
        if isinstance(message_id, str):
            by_message.setdefault(message_id, []).append(rejection)
    kept: dict[str, RejectedInput] = {}
    for record in records:
        message_id = record.get("messageId")
        if not isinstance(message_id, str) or message_id not in by_message:
            continue
        origin = record.get(SOURCE_ARN_FIELD)
        kept[message_id] = RejectedInput(
            source=QuarantineSource.QUEUE,
            input_id=message_id,
            body=_bytes_of(record.get("body")),
            reason=rejection_reason(by_message.pop(message_id)),
            tracking_id=validated.tracking_id,
            message_id=message_id,
            origin=origin if isinstance(origin, str) else None,
        )
    return kept


def rejected_api_events(
    validated: ValidatedEnvelope, events: Sequence[Any]
) -> dict[int, RejectedInput]:
    """A :class:`RejectedInput` for each rejected event of an envelope the API started, by index.

    >>> envelope = ValidatedEnvelope.model_validate({"trackingId": "trk-1", "events": [],
    ...     "rejected": [{"index": 1, "eventId": None,
    ...                   "errors": [{"field": "$", "reason": "must be a JSON object"}]}]})
    >>> kept = rejected_api_events(envelope, [{}, 7])
    >>> {index: (item.input_id, item.body) for index, item in kept.items()}
    {1: ('trk-1-1', b'7')}
    """
    kept: dict[int, RejectedInput] = {}
    for rejection in validated.rejected:
        index = rejection.get("index")
        if not isinstance(index, int) or not 0 <= index < len(events):
            continue
        kept[index] = RejectedInput(
            source=QuarantineSource.API,
            input_id=f"{validated.tracking_id}-{index}",
            body=_bytes_of(events[index]),
            reason=rejection_reason([rejection]),
            tracking_id=validated.tracking_id,
        )
    return kept


def with_quarantine_keys(
    validated: ValidatedEnvelope, keys: Mapping[Any, str], named_by: str
) -> ValidatedEnvelope:
    """``validated`` with each rejection naming where its input was kept: ``keys`` by the value
    of the rejection's ``named_by`` field (``messageId`` or ``index``).

    >>> envelope = ValidatedEnvelope.model_validate({"trackingId": "t", "events": [],
    ...     "rejected": [{"index": 0, "eventId": None, "errors": []}]})
    >>> keyed = with_quarantine_keys(envelope, {0: "quarantine/api/k"}, "index")
    >>> keyed.rejected[0]["quarantineKey"]
    'quarantine/api/k'
    """
    rejected = []
    for rejection in validated.rejected:
        key = keys.get(rejection.get(named_by))
        rejected.append({**rejection, QUARANTINE_KEY_FIELD: key} if key else rejection)
    return validated.model_copy(update={"rejected": rejected})


def _bytes_of(value: Any) -> bytes:
    # A message body is producer text, lone surrogates included (JSON escapes can make them).
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")
