"""Time scale for the waits a workflow asks for (``Wait`` states and ``Retry`` intervals).

Real time is right for ``make up``; tests run with a small scale so that a 300 s cooldown takes
milliseconds, and they assert on :attr:`TimeScale.schedule` (what the workflow asked for), never
on how long anything took.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum


class WaitKind(StrEnum):
    WAIT_STATE = "wait"
    RETRY = "retry"


@dataclass(frozen=True)
class ScheduledWait:
    execution_arn: str
    state_name: str
    kind: WaitKind
    requested_seconds: float
    slept_seconds: float


class TimeScale:
    """Multiplies every requested wait by ``factor`` and remembers what was requested.

    >>> scale = TimeScale(factor=0.001)
    >>> scale.scaled(300)
    0.3
    """

    def __init__(self, factor: float = 1.0, *, keep_last: int = 10_000) -> None:
        if factor < 0:
            raise ValueError(f"time scale must be >= 0, got {factor}")
        self.factor = factor
        self._keep_last = keep_last
        self._schedule: list[ScheduledWait] = []
        self._lock = threading.Lock()

    def scaled(self, seconds: float) -> float:
        return round(max(0.0, seconds) * self.factor, 9)

    def record(
        self, execution_arn: str, state_name: str, kind: WaitKind, requested_seconds: float
    ) -> float:
        """Log a wait and return how long to actually sleep."""
        slept = self.scaled(requested_seconds)
        with self._lock:
            self._schedule.append(
                ScheduledWait(execution_arn, state_name, kind, requested_seconds, slept)
            )
            if len(self._schedule) > self._keep_last:
                del self._schedule[: len(self._schedule) - self._keep_last]
        return slept

    @property
    def schedule(self) -> list[ScheduledWait]:
        with self._lock:
            return list(self._schedule)

    def schedule_for(self, execution_arn: str) -> list[ScheduledWait]:
        return [entry for entry in self.schedule if entry.execution_arn == execution_arn]
