"""The tracking ids a queued batch carries, and each one's share of the batch.

With queued intake (``StackConfig.intake`` ``"queued"``) the API sends every request to the
ingest queue as one envelope message ``{"trackingId", "source": "api", "events"}``, and the pipe
starts one ingest execution for a whole batch of them, under the batch's own tracking id
(:func:`functions._shared.pipe_batches.batch_tracking_id`). validate lists the envelopes' ids
under ``carried``: for each, the message it came in, how many events it held, and the ids of
those of its events this execution took on. update_status then records each status of the batch
for every carried id too, with that id's own counts (:mod:`functions.update_status.carried`).

No boto3 here: validate imports this at cold start.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field

from functions._shared.models import NonBlankName, TrackingId

CARRIED_KEY: Final = "carried"


class CarriedTrackingId(BaseModel):
    """One producer's request inside a batch: its tracking id and its share of the events."""

    model_config = ConfigDict(extra="ignore", serialize_by_alias=True, populate_by_name=True)

    tracking_id: TrackingId = Field(alias="trackingId")
    message_id: NonBlankName = Field(alias="messageId")
    received: Annotated[int, Field(ge=0)]
    offset: Annotated[int, Field(ge=0)] = 0
    """Where the message's first event is in the batch: rejections name batch positions."""
    event_ids: list[str] = Field(alias="eventIds")


def carried_tracking_ids(
    tracking_ids: Mapping[str, str],
    message_ids: Sequence[str],
    accepted: Sequence[tuple[str, Any]],
) -> list[dict[str, Any]]:
    """``carried`` for a batch: ``tracking_ids`` maps a message id to its envelope's tracking
    id, ``message_ids`` names the message of every item received, in batch order (rejections
    are indexed by it), and ``accepted``
    pairs the message of every valid event this execution keeps with the event.

    >>> carried_tracking_ids(
    ...     {"m1": "trk-1"},
    ...     ["m1", "m1", "m2"],
    ...     [("m1", {"eventHeader": {"uuid": "u1"}}), ("m2", {"eventHeader": {"uuid": "u2"}})],
    ... )
    [{'trackingId': 'trk-1', 'messageId': 'm1', 'received': 2, 'offset': 0, 'eventIds': ['u1']}]
    """
    received = Counter(message_ids)
    offsets: dict[str, int] = {}
    for position, message_id in enumerate(message_ids):
        offsets.setdefault(message_id, position)
    event_ids: dict[str, list[str]] = {message_id: [] for message_id in tracking_ids}
    for message_id, event in accepted:
        if message_id in event_ids:
            event_ids[message_id].append(_event_id(event))
    return [
        CarriedTrackingId(
            tracking_id=tracking_id,
            message_id=message_id,
            received=received[message_id],
            offset=offsets.get(message_id, 0),
            event_ids=event_ids[message_id],
        ).model_dump()
        for message_id, tracking_id in tracking_ids.items()
    ]


def _event_id(event: Any) -> str:
    # Valid events only: validate has checked that every one has a canonical uuid.
    return str(event["eventHeader"]["uuid"])
