"""The status of each request a queued batch carries, from the batch's own update.

A batch's execution records its status under the batch's tracking id; every request it carries
(``carried``, :mod:`functions._shared.carried`) gets a status of its own, from its own events:

- a delivery outcome of the batch (``DELIVERED``, ``PARKED``, ``FAILED``, an explicit
  ``REJECTED``) applies to a request with fresh events in the batch, reason and archive key too;
- a request none of whose events is fresh is ``REJECTED`` or ``DUPLICATE`` by its own counts,
  as if it had been an execution alone (:func:`~functions.update_status.core.derive_status`).

Rejections keep their index within the request, not the batch, so a producer reads them as
it reads the rejections of a request that ran alone.
"""

from __future__ import annotations

from typing import Any

from functions._shared.carried import CarriedTrackingId
from functions.update_status.core import StatusUpdate


def carried_updates(update: StatusUpdate) -> list[StatusUpdate]:
    """One update per carried request other than the batch itself.

    >>> batch = StatusUpdate.model_validate({
    ...     "trackingId": "sqs-1", "status": "DELIVERED", "duplicates": ["u2"],
    ...     "carried": [
    ...         {"trackingId": "trk-a", "messageId": "m1", "received": 1, "eventIds": ["u1"]},
    ...         {"trackingId": "trk-b", "messageId": "m2", "received": 1, "eventIds": ["u2"]},
    ...     ]})
    >>> [(item.tracking_id, item.status) for item in carried_updates(batch)]
    [('trk-a', <Status.DELIVERED: 'DELIVERED'>), ('trk-b', None)]
    """
    return [
        _share(update, carried)
        for carried in update.carried
        if carried.tracking_id != update.tracking_id
    ]


def _share(update: StatusUpdate, carried: CarriedTrackingId) -> StatusUpdate:
    own_events = set(carried.event_ids)
    duplicates = [event_id for event_id in update.duplicates if event_id in own_events]
    rejected = _own_rejections(update.rejected, carried)
    valid = len(carried.event_ids)
    fresh = valid - len(duplicates)
    shares_outcome = update.status is not None and fresh > 0
    return StatusUpdate.model_validate(
        {
            "trackingId": carried.tracking_id,
            "status": update.status if shares_outcome else None,
            "reason": update.reason if shares_outcome else None,
            "error": update.error if shares_outcome else None,
            "cause": update.cause if shares_outcome else None,
            "archive": update.archive if shares_outcome else None,
            "counts": {
                "received": carried.received,
                "valid": valid,
                "rejected": len(rejected),
                "fresh": fresh,
                "duplicates": len(duplicates),
            },
            "rejected": rejected,
            "duplicates": duplicates,
            "parkedHolders": update.parked_holders,
            "terminal": update.terminal and shares_outcome,
            "execution": update.execution,
        }
    )


def _own_rejections(
    rejected: list[dict[str, Any]], carried: CarriedTrackingId
) -> list[dict[str, Any]]:
    return [
        {**rejection, "index": rejection["index"] - carried.offset}
        if isinstance(rejection.get("index"), int)
        else rejection
        for rejection in rejected
        if rejection.get("messageId") == carried.message_id
    ]
