"""In-memory implementations of the functions' ports, with the same rules as the adapters."""

from __future__ import annotations

from typing import Any

from functions._shared.status import supersedes
from functions.dedupe.core import Claim, claim_is_available
from functions.update_status.core import StatusOutcome, StatusWrite


class InMemoryClaimStore:
    """:class:`functions.dedupe.core.ClaimStore` in a dict."""

    def __init__(self) -> None:
        self.claims: dict[str, Claim] = {}

    def claim(self, claim: Claim, now_epoch: int) -> bool:
        if not claim_is_available(self.claims.get(claim.event_id), claim.tracking_id, now_epoch):
            return False
        self.claims[claim.event_id] = claim
        return True

    def holder(self, event_id: str) -> str | None:
        held = self.claims.get(event_id)
        return held.tracking_id if held is not None else None

    def take_over(self, claim: Claim, previous_holder: str) -> bool:
        if self.holder(claim.event_id) != previous_holder:
            return False
        self.claims[claim.event_id] = claim
        return True


class InMemoryStatusStore:
    """:class:`functions.update_status.core.StatusStore` in a dict (no history, no extras)."""

    def __init__(self) -> None:
        self.writes: dict[str, StatusWrite] = {}

    def write(self, write: StatusWrite) -> StatusOutcome:
        stored = self.writes.get(write.tracking_id)
        applied = supersedes(write.status, stored.status if stored else None)
        if applied:
            self.writes[write.tracking_id] = write
        current = self.writes[write.tracking_id]
        record: dict[str, Any] = {"trackingId": current.tracking_id, "status": current.status.value}
        return StatusOutcome(record=record, applied=applied, requested=write.status)
