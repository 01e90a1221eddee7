"""The ingest status vocabulary, its forward-only rank and the stored record's public shape.

api writes RECEIVED (and FAILED when it cannot start the workflow); update_status writes the rest.
Both ship alone with ``functions/_shared``, so what they must agree on lives here, as in the table
of ``docs/contracts.md``. A status only moves forward: a write whose rank is not above the stored
one changes nothing, checked by DynamoDB itself (:func:`forward_only`), so a retry or a late step
can never move a record backwards however writers race. The enrichment table's rows follow the
same rule with their own statuses (:mod:`functions._shared.enrichment`).

No boto3 here: the api imports this at cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class Status(StrEnum):
    RECEIVED = "RECEIVED"
    ACCEPTED = "ACCEPTED"
    BUNDLED = "BUNDLED"
    ARCHIVED = "ARCHIVED"
    PARKED = "PARKED"
    FAILED = "FAILED"
    DELIVERED = "DELIVERED"
    REJECTED = "REJECTED"
    DUPLICATE = "DUPLICATE"


STATUS_RANKS: Final[Mapping[Status, int]] = {
    Status.RECEIVED: 10,
    Status.ACCEPTED: 20,
    Status.BUNDLED: 30,
    Status.ARCHIVED: 40,
    Status.PARKED: 50,
    Status.FAILED: 50,
    Status.DELIVERED: 90,
    Status.REJECTED: 90,
    Status.DUPLICATE: 90,
}

RANK_ATTRIBUTE: Final = "statusRank"
"""Stored beside ``status`` so the tables' conditions compare ranks numerically."""

ARCHIVE_KEY_ATTRIBUTE: Final = "archiveKey"

EXECUTION_ARN_ATTRIBUTE: Final = "executionArn"
"""The execution that carried the tracking id, once one did (update_status writes it)."""

TERMINAL_ATTRIBUTE: Final = "terminal"
"""``true`` on a FAILED record written by a workflow's failure path, right before its Fail
state: that execution can never deliver, so dedupe lets a re-send take its claims over."""

_INTERNAL_ATTRIBUTES: Final = frozenset({RANK_ATTRIBUTE, TERMINAL_ATTRIBUTE})

RECORD_KEY_ORDER: Final[tuple[str, ...]] = (
    "trackingId",
    "status",
    "reason",
    "source",
    "counts",
    "rejected",
    "rejectedTotal",
    "duplicates",
    "duplicatesTotal",
    ARCHIVE_KEY_ATTRIBUTE,
    EXECUTION_ARN_ATTRIBUTE,
    "createdAt",
    "updatedAt",
    "history",
)
"""The order of a status record's keys as update_status and ``GET /events/{id}`` answer it."""


def rank_of(status: Status) -> int:
    """
    >>> rank_of(Status.ACCEPTED) < rank_of(Status.DELIVERED)
    True
    """
    return STATUS_RANKS[status]


def supersedes(incoming: Status, stored: Status | None) -> bool:
    """Whether ``incoming`` may replace ``stored``: only a strictly higher rank does.

    The same status again is a no-op, and so is another status of the same rank: once
    ``DELIVERED``, never ``REJECTED``; once ``PARKED``, ``FAILED`` only through a higher rank.

    >>> supersedes(Status.DELIVERED, Status.ACCEPTED), supersedes(Status.ACCEPTED, Status.DELIVERED)
    (True, False)
    >>> supersedes(Status.ACCEPTED, None), supersedes(Status.ACCEPTED, Status.ACCEPTED)
    (True, False)
    """
    return stored is None or rank_of(incoming) > rank_of(stored)


def public_record(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored status item as it is answered: the contract's keys first, then the rest, without
    the attributes kept for the tables' own rules (the rank, the terminal mark).

    >>> public_record({"statusRank": 20, "x": 1, "status": "ACCEPTED", "trackingId": "t"})
    {'trackingId': 't', 'status': 'ACCEPTED', 'x': 1}
    """
    ordered = {key: item[key] for key in RECORD_KEY_ORDER if key in item}
    extra = {
        key: value
        for key, value in item.items()
        if key not in ordered and key not in _INTERNAL_ATTRIBUTES
    }
    return {**ordered, **extra}


@dataclass(frozen=True)
class ForwardOnly:
    """The condition of a forward-only write, and the names and values it refers to; merge them
    into the request's ``ExpressionAttributeNames`` and ``ExpressionAttributeValues``. The rank
    is ``:statusRank``, so the write's ``SET #statusRank = :statusRank`` can share it."""

    condition: str
    names: dict[str, str]
    values: dict[str, dict[str, str]]


def forward_only(key_attribute: str, rank: int, *, must_exist: bool = False) -> ForwardOnly:
    """The ``ConditionExpression`` that lets a write of ``rank`` through only when the item does
    not exist yet (or, with ``must_exist``, never) or ranks strictly lower.

    >>> write = forward_only("trackingId", 90)
    >>> write.condition
    'attribute_not_exists(#trackingId) OR #statusRank < :statusRank'
    >>> forward_only("batchId", 90, must_exist=True).condition
    'attribute_exists(#batchId) AND #statusRank < :statusRank'
    >>> write.values
    {':statusRank': {'N': '90'}}
    """
    key = f"#{key_attribute}"
    rank_rule = "#statusRank < :statusRank"
    condition = (
        f"attribute_exists({key}) AND {rank_rule}"
        if must_exist
        else f"attribute_not_exists({key}) OR {rank_rule}"
    )
    return ForwardOnly(
        condition=condition,
        names={key: key_attribute, "#statusRank": RANK_ATTRIBUTE},
        values={":statusRank": {"N": str(rank)}},
    )
