"""Drop events and objects already processed; no I/O beyond the :class:`ClaimStore` port.

Each event id (or object id) is *claimed* for a while (the TTL). A claim is available when
nobody holds it, when the holder's claim has expired, or when the holder is the same tracking id:
a retry of the same execution must see its own events as fresh, or a retry after a partial
failure would lose them.

A live claim of another tracking id is also *taken over* when its holder can never deliver
(:func:`never_delivers`): a producer re-sending an event whose first execution failed gets it
delivered, not DUPLICATE. The holder's status record decides, and only final ones count, so the
receiver still sees each event once: a FAILED record marked terminal (written right before the
workflow's Fail state, which no redrive gets past, and only for errors raised before anything
was sent), or REJECTED (nothing was bundled). So is the claim on an id the holder's record lists
as rejected whole (a landed object bundle refused beside objects it delivered): the same bytes
uploaded again after a rejection are judged again, not DUPLICATE. An object only some of whose
lines were left out keeps its claim: its other lines were delivered. A PARKED holder keeps its
claim, since its redrive delivers the event; the duplicate's status names it. The takeover is a
conditional write on the old holder, so of two racing re-sends one wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from functions._shared.errors import InvalidEnvelopeError
from functions._shared.models import ValidatedEnvelope, canonical_event_uuid, format_utc
from functions._shared.status import Status
from functions._shared.validation import WHOLE_VALUE

PARKED_HOLDERS_KEY = "parkedHolders"
"""The envelope key listing the parked tracking ids that hold some of its duplicates."""


@dataclass(frozen=True)
class Claim:
    """The record that marks ``event_id`` as processed by ``tracking_id`` until ``expires_at``."""

    event_id: str
    tracking_id: str
    first_seen_at: str
    expires_at: int
    """Epoch seconds; the claim is live while ``expires_at >= now``."""


class ClaimStore(Protocol):
    """Where claims live. Implementations must apply :func:`claim_is_available` atomically."""

    def claim(self, claim: Claim, now_epoch: int) -> bool:
        """Take the claim if it is available at ``now_epoch``; ``False`` means a duplicate."""
        ...

    def holder(self, event_id: str) -> str | None:
        """The tracking id holding ``event_id``'s claim, read strongly consistent."""
        ...

    def take_over(self, claim: Claim, previous_holder: str) -> bool:
        """Store ``claim`` only while ``previous_holder`` still holds the event id."""
        ...


@dataclass(frozen=True)
class HolderState:
    """What the status table says about a tracking id that holds claims."""

    status: Status | None
    terminal: bool = False
    rejected_whole: frozenset[str] = frozenset()
    """Ids its record lists as rejected whole (an object bundle refused, not some of its lines):
    the holder never delivers them, whatever else it delivered."""


class HolderStatuses(Protocol):
    def state_of(self, tracking_id: str) -> HolderState | None:
        """The holder's status record, or ``None`` when it has none."""
        ...


def rejected_whole(rejections: Iterable[Any]) -> frozenset[str]:
    """The ids of a status record's ``rejected`` entries whose every error is about the whole
    input (``$``), not about some of its lines (``lines.N``).

    >>> sorted(rejected_whole([
    ...     {"eventId": "s3://l/a#1", "errors": [{"field": "$", "reason": "binary"}]},
    ...     {"eventId": "s3://l/b#2", "errors": [{"field": "lines.2", "reason": "not JSON"}]},
    ...     {"eventId": None, "errors": [{"field": "$", "reason": "not JSON"}]}]))
    ['s3://l/a#1']
    """
    ids: set[str] = set()
    for rejection in rejections:
        if not isinstance(rejection, dict) or not isinstance(rejection.get("eventId"), str):
            continue
        errors = rejection.get("errors")
        fields = [error.get("field") for error in errors or [] if isinstance(error, dict)]
        if fields and all(field == WHOLE_VALUE for field in fields):
            ids.add(rejection["eventId"])
    return frozenset(ids)


def never_delivers(state: HolderState | None) -> bool:
    """Whether a holder in ``state`` can never deliver its events, so a re-send may take over.

    >>> never_delivers(HolderState(Status.FAILED, terminal=True))
    True
    >>> never_delivers(HolderState(Status.REJECTED))
    True
    >>> [never_delivers(HolderState(s)) for s in (Status.FAILED, Status.PARKED, Status.ARCHIVED)]
    [False, False, False]

    A FAILED record without the mark may come from an aborted or timed-out execution, which a
    redrive can resume mid-delivery, so it keeps its claims, as does a holder with no record.
    """
    if state is None:
        return False
    return (state.status is Status.FAILED and state.terminal) or state.status is Status.REJECTED


def new_claim(event_id: str, tracking_id: str, now: datetime, ttl_seconds: int) -> Claim:
    """The claim ``tracking_id`` makes on ``event_id`` at ``now``.

    >>> from datetime import UTC
    >>> new_claim("e-1", "trk-1", datetime(2024, 1, 1, tzinfo=UTC), 60).expires_at
    1704067260
    """
    return Claim(
        event_id=event_id,
        tracking_id=tracking_id,
        first_seen_at=format_utc(now),
        expires_at=int((now + timedelta(seconds=ttl_seconds)).timestamp()),
    )


def claim_is_available(existing: Claim | None, tracking_id: str, now_epoch: int) -> bool:
    """The dedupe rule, the same as the store's condition expression.

    ``attribute_not_exists(eventId) OR expiresAt < :now OR trackingId = :trackingId``. TTL
    deletion lags by days, so an expired claim can still be present and must be compared here.

    >>> claim_is_available(None, "trk-2", now_epoch=100)
    True
    >>> held = Claim("e-1", "trk-1", "2024-01-01T00:00:00Z", expires_at=200)
    >>> claim_is_available(held, "trk-2", 100), claim_is_available(held, "trk-1", 100)
    (False, True)
    """
    return (
        existing is None or existing.expires_at < now_epoch or existing.tracking_id == tracking_id
    )


def dedupe_envelope(
    envelope: ValidatedEnvelope,
    store: ClaimStore,
    now: datetime,
    ttl_seconds: int,
    holders: HolderStatuses | None = None,
) -> ValidatedEnvelope:
    """Keep the events and objects this tracking id may process; list the others as ``duplicates``.

    Events are claimed by their uuid, S3 objects by ``s3://{bucket}/{key}#{etag}`` (the same key
    with new content is a new object). ``counts`` gains ``fresh`` and ``duplicates``. An id
    repeated inside the envelope counts as a duplicate after its first occurrence (validate
    already rejects repeated events; S3 may well announce an object twice). With ``holders``,
    claims of holders that never deliver are taken over (counted in ``counts.takenOver``) and
    the parked holders of duplicates are listed under ``parkedHolders``. Raises
    :class:`InvalidEnvelopeError` for an event without a uuid.

    Example::

        result = dedupe_envelope(envelope, DynamoDbClaimStore("stepflow-dev-dedupe"),
                                 now=datetime.now(UTC), ttl_seconds=604_800)
        result.counts["fresh"], result.duplicates
    """
    duplicates = list(envelope.duplicates)
    claimer = _Claimer(store, envelope.tracking_id, now, ttl_seconds, duplicates, holders=holders)
    fresh_events = [
        event
        for index, event in enumerate(envelope.events)
        if claimer.claim(event_id_of(event, index))
    ]
    update: dict[str, Any] = {"events": fresh_events}
    fresh = len(fresh_events)
    if envelope.objects is not None:
        fresh_objects = [item for item in envelope.objects if claimer.claim(item.claim_id())]
        update["objects"] = fresh_objects
        fresh += len(fresh_objects)
    counts = {**envelope.counts, "fresh": fresh, "duplicates": len(duplicates)}
    if claimer.taken_over:
        counts["takenOver"] = claimer.taken_over
    update |= {"duplicates": duplicates, "counts": counts}
    if claimer.parked_holders:
        update[PARKED_HOLDERS_KEY] = sorted(claimer.parked_holders)
    return envelope.model_copy(update=update)


class _Claimer:
    """Claims ids for one envelope, listing the ones that are not fresh in ``duplicates``."""

    def __init__(
        self,
        store: ClaimStore,
        tracking_id: str,
        now: datetime,
        ttl_seconds: int,
        duplicates: list[str],
        *,
        holders: HolderStatuses | None,
    ) -> None:
        self._store = store
        self._holders = holders
        self._tracking_id = tracking_id
        self._now = now
        self._now_epoch = int(now.timestamp())
        self._ttl_seconds = ttl_seconds
        self._duplicates = duplicates
        self._seen: set[str] = set()
        self.taken_over = 0
        self.parked_holders: set[str] = set()

    def claim(self, claim_id: str) -> bool:
        """Whether ``claim_id`` is fresh for this envelope (a repeat inside it is not)."""
        if claim_id in self._seen:
            self._duplicates.append(claim_id)
            return False
        self._seen.add(claim_id)
        claim = new_claim(claim_id, self._tracking_id, self._now, self._ttl_seconds)
        if self._store.claim(claim, self._now_epoch) or self._take_over(claim):
            return True
        self._duplicates.append(claim_id)
        return False

    def _take_over(self, claim: Claim) -> bool:
        if self._holders is None:
            return False
        holder = self._store.holder(claim.event_id)
        if holder is None:
            # Gone since the claim was refused (TTL deletion): an ordinary claim decides.
            return self._store.claim(claim, self._now_epoch)
        state = self._holders.state_of(holder)
        if never_delivers(state) or (state is not None and claim.event_id in state.rejected_whole):
            # Losing this write means another re-send took it over first: a duplicate.
            if self._store.take_over(claim, holder):
                self.taken_over += 1
                return True
        elif state is not None and state.status is Status.PARKED:
            self.parked_holders.add(holder)
        return False


def event_id_of(event: dict[str, Any], index: int) -> str:
    """The canonical uuid of a validated event; a missing one means the envelope is wrong.

    >>> event_id_of({"eventHeader": {"uuid": "550E8400-E29B-41D4-A716-446655440000"}}, 0)
    '550e8400-e29b-41d4-a716-446655440000'
    """
    header = event.get("eventHeader")
    event_id = canonical_event_uuid(header.get("uuid")) if isinstance(header, dict) else None
    if event_id is None:
        raise InvalidEnvelopeError(
            f"events.{index}.eventHeader.uuid is missing or not a UUID; "
            "dedupe expects the events validate accepted"
        )
    return event_id
