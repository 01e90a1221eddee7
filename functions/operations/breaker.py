"""The circuit breaker as an operator sees it, and an operator's manual open or close (pure).

The record is deliver's (``functions/deliver/circuit.py`` owns its rules); this module reads it
and, for a manual change, moves it as deliver would (a new ``version``, so a probe claimed on
the old one cannot land) and appends the change to the record's ``history``.

Times in the record are on the breaker's clock: epoch seconds divided by the local runtime's
time scale (1 on AWS). :class:`BreakerClock` converts both ways.

Example::

    view = breaker_view(store.read("downstream"), clock, cooldown_seconds=300)
    change = manual_change(store.read("downstream"), "closed", "downstream fixed", clock)
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

HISTORY_KEPT: Final = 50
_API_STATES: Final = {"OPEN": "open", "CLOSED": "closed", "HALF_OPEN": "half-open"}


@dataclass(frozen=True)
class BreakerClock:
    """Wall time and the breaker's time; ``scale`` is the local runtime's time scale."""

    scale: float = 1.0

    def breaker_seconds(self, wall: dt.datetime) -> int:
        return math.floor(wall.timestamp() / self.scale)

    def wall(self, breaker_seconds: int | None) -> str | None:
        """The ISO 8601 wall time of a breaker timestamp.

        >>> BreakerClock(0.001).wall(1_700_000_000_000)
        '2023-11-14T22:13:20+00:00'
        """
        if breaker_seconds is None:
            return None
        return dt.datetime.fromtimestamp(breaker_seconds * self.scale, dt.UTC).isoformat()


@dataclass(frozen=True)
class BreakerRecord:
    """The fields of the circuit record the operator sees (a missing record is CLOSED)."""

    circuit_id: str
    state: str = "CLOSED"
    consecutive_failures: int = 0
    opened_at: int | None = None
    probe_claimed_at: int | None = None
    version: int = 0
    history: tuple[dict[str, Any], ...] = field(default=())


class BreakerStore(Protocol):
    def read(self, circuit_id: str) -> BreakerRecord: ...

    def write_manual(self, seen: BreakerRecord, changed: BreakerRecord) -> bool:
        """``changed`` if the record is still at ``seen.version``; ``False`` otherwise."""
        ...


class BreakerChangedError(Exception):
    """The record moved while the manual change was being made; read it again."""


def breaker_view(
    record: BreakerRecord, clock: BreakerClock, *, cooldown_seconds: int, probe_stale_seconds: int
) -> dict[str, Any]:
    """``{"state", "failureCount", "lastFailureAt", "nextProbeAt", "history"}``.

    ``lastFailureAt`` is when the circuit last opened (the failure that opened it, or the
    failed probe that reopened it); deliver keeps no time for failures that open nothing.

    >>> view = breaker_view(BreakerRecord("d", "OPEN", 5, opened_at=1_000), BreakerClock(),
    ...                     cooldown_seconds=300, probe_stale_seconds=120)
    >>> view["state"], view["nextProbeAt"]
    ('open', '1970-01-01T00:21:40+00:00')
    """
    if record.state == "OPEN":
        next_probe = None if record.opened_at is None else record.opened_at + cooldown_seconds
    elif record.state == "HALF_OPEN" and record.probe_claimed_at is not None:
        next_probe = record.probe_claimed_at + probe_stale_seconds
    else:
        next_probe = None
    return {
        "state": _API_STATES.get(record.state, record.state.lower()),
        "failureCount": record.consecutive_failures,
        "lastFailureAt": clock.wall(record.opened_at),
        "nextProbeAt": clock.wall(next_probe),
        "history": list(record.history),
    }


def manual_change(
    record: BreakerRecord,
    state: str,
    reason: str,
    clock: BreakerClock,
    *,
    now: dt.datetime,
    actor: str | None = None,
) -> BreakerRecord:
    """The record after an operator sets ``state`` (``"open"`` or ``"closed"``) for ``reason``.

    >>> closed = manual_change(BreakerRecord("d", "OPEN", 5, opened_at=9), "closed", "fixed",
    ...                        BreakerClock(), now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    >>> closed.state, closed.consecutive_failures, closed.version, closed.history[-1]["to"]
    ('CLOSED', 0, 1, 'closed')
    """
    entry = {
        "at": now.isoformat(),
        "from": _API_STATES.get(record.state, record.state.lower()),
        "to": state,
        "reason": reason,
        "by": actor,
    }
    history = (*record.history, entry)[-HISTORY_KEPT:]
    if state == "open":
        return BreakerRecord(
            record.circuit_id,
            "OPEN",
            record.consecutive_failures,
            opened_at=clock.breaker_seconds(now),
            version=record.version + 1,
            history=history,
        )
    return BreakerRecord(
        record.circuit_id, "CLOSED", 0, version=record.version + 1, history=history
    )
