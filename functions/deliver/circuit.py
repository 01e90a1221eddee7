"""The downstream endpoint's circuit breaker: pure rules with time passed in, state in a store.

One record per endpoint (``circuitId``), shared by every execution and every Lambda instance::

    CLOSED --threshold consecutive failures--> OPEN
    OPEN --cooldown over, one probe claimed by a conditional write--> HALF_OPEN
    HALF_OPEN --the probe succeeds--> CLOSED (failures back to 0)
    HALF_OPEN --the probe fails--> OPEN (a fresh cooldown from the failure)
    HALF_OPEN --the probe's holder silent for probe_stale_seconds--> the probe may be claimed again

Why each rule is the way it is:

- Failures are counted across executions with an atomic ``ADD``: one execution alone sees at most
  its three retries, never the five failures in a row that mean the endpoint is down.
- The move to ``OPEN`` is a separate conditional write (``CLOSED`` and ``failures >= threshold``),
  so exactly one of the executions that crossed the threshold together reports the opening.
- After the cooldown exactly one caller may try the endpoint (the *probe*): claiming it is a
  conditional write on the version, state and ``openedAt`` it read, so two callers that read the
  same due record cannot both win. Everyone else keeps being refused until the probe reports.
- A probe whose holder died (a Lambda timeout, a crash) would keep the circuit half-open forever;
  after ``probe_stale_seconds`` (longer than the Lambda's timeout) it may be claimed again.
- Times are epoch seconds compared here, never DynamoDB TTL (it deletes days late), and reads are
  strongly consistent, so a probe that just closed the circuit is seen at once.
- ``version`` changes on every state transition, not on failure counts, so counting failures
  never invalidates a probe claim being made at the same moment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from functions._shared.errors import CircuitOpenError


class CircuitState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True)
class BreakerPolicy:
    """How many failures open the circuit, how long it stays open, when a probe is abandoned.

    ``probe_stale_seconds`` must exceed the longest a probe can take (the Lambda's timeout), or a
    slow but live probe could be claimed a second time. Twice the timeout leaves a margin.

    >>> BreakerPolicy(failure_threshold=5, cooldown_seconds=300, probe_stale_seconds=120)
    BreakerPolicy(failure_threshold=5, cooldown_seconds=300, probe_stale_seconds=120)
    >>> BreakerPolicy(failure_threshold=0)
    Traceback (most recent call last):
    ...
    ValueError: failure_threshold must be >= 1, got 0
    """

    failure_threshold: int = 5
    cooldown_seconds: int = 300
    probe_stale_seconds: int = 120

    def __post_init__(self) -> None:
        for name in ("failure_threshold", "cooldown_seconds", "probe_stale_seconds"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")


@dataclass(frozen=True)
class CircuitRecord:
    """The stored state of one circuit; a missing item reads as a fresh ``CLOSED`` record."""

    circuit_id: str
    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    opened_at: int | None = None
    """Epoch seconds of the last move to ``OPEN``; the cooldown runs from here."""
    probe_owner: str | None = None
    probe_claimed_at: int | None = None
    version: int = 0
    """Bumped by every state transition; a probe claim is conditional on it."""


def probe_due(record: CircuitRecord, policy: BreakerPolicy, now: int) -> bool:
    """Whether a caller at ``now`` may claim the probe: the cooldown is over and nobody holds a
    live probe. The store's claim condition is this rule.

    >>> policy = BreakerPolicy(cooldown_seconds=300, probe_stale_seconds=120)
    >>> opened = CircuitRecord("downstream", CircuitState.OPEN, opened_at=1_000)
    >>> probe_due(opened, policy, now=1_299), probe_due(opened, policy, now=1_300)
    (False, True)
    >>> probing = replace(opened, state=CircuitState.HALF_OPEN, probe_owner="a",
    ...                   probe_claimed_at=1_300)
    >>> probe_due(probing, policy, now=1_419), probe_due(probing, policy, now=1_420)
    (False, True)
    """
    if record.state is CircuitState.OPEN:
        # An OPEN record without openedAt can only come from a hand edit: probing is the safe way
        # out, since it lets exactly one request find out whether the endpoint is back.
        return record.opened_at is None or now >= record.opened_at + policy.cooldown_seconds
    if record.state is CircuitState.HALF_OPEN:
        return (
            record.probe_claimed_at is None
            or now >= record.probe_claimed_at + policy.probe_stale_seconds
        )
    return False


def retry_after_seconds(record: CircuitRecord, policy: BreakerPolicy, now: int) -> int:
    """Seconds until it is worth asking again: 0 when a call may go now, otherwise at least 1.

    While ``OPEN`` it is what remains of the cooldown. While a live probe runs it is the time
    until that probe would go stale, capped at the cooldown: the probe usually reports long
    before, and a waiting execution re-checks rather than assuming the outcome.

    >>> policy = BreakerPolicy(cooldown_seconds=300, probe_stale_seconds=120)
    >>> retry_after_seconds(CircuitRecord("d", CircuitState.OPEN, opened_at=1_000), policy, 1_100)
    200
    >>> retry_after_seconds(CircuitRecord("d"), policy, 1_100)
    0
    """
    if record.state is CircuitState.CLOSED or probe_due(record, policy, now):
        return 0
    if record.state is CircuitState.OPEN:
        assert record.opened_at is not None  # probe_due is True when it is missing
        remaining = record.opened_at + policy.cooldown_seconds - now
    else:
        assert record.probe_claimed_at is not None
        remaining = record.probe_claimed_at + policy.probe_stale_seconds - now
    # Capped at the cooldown: another instance's clock may run ahead of this one's.
    return max(1, min(policy.cooldown_seconds, remaining))


@dataclass(frozen=True)
class CircuitView:
    """The answer to ``{"action": "check"}``: may a delivery go now, and if not, when to ask."""

    state: CircuitState
    allow: bool
    retry_after_seconds: int

    def to_payload(self) -> dict[str, Any]:
        """The contract's JSON: ``{"state", "allow", "retryAfterSeconds"}``.

        >>> CircuitView(CircuitState.OPEN, False, 42).to_payload()
        {'state': 'OPEN', 'allow': False, 'retryAfterSeconds': 42}
        """
        return {
            "state": self.state.value,
            "allow": self.allow,
            "retryAfterSeconds": self.retry_after_seconds,
        }


def assess(record: CircuitRecord, policy: BreakerPolicy, now: int) -> CircuitView:
    """What :meth:`CircuitBreaker.check` answers for ``record`` at ``now`` (read-only).

    ``allow`` means "worth trying": when a probe is due, several executions may be told so, and
    all but the one that claims the probe are then refused by the delivery itself.

    >>> policy = BreakerPolicy(cooldown_seconds=300)
    >>> assess(CircuitRecord("d", CircuitState.OPEN, opened_at=1_000), policy, now=1_060)
    CircuitView(state=<CircuitState.OPEN: 'OPEN'>, allow=False, retry_after_seconds=240)
    """
    allow = record.state is CircuitState.CLOSED or probe_due(record, policy, now)
    return CircuitView(
        record.state, allow, 0 if allow else retry_after_seconds(record, policy, now)
    )


class CircuitStore(Protocol):
    """Where circuit records live. Every method is one atomic conditional operation; the
    conditions are spelled out on each method and mirrored by :class:`InMemoryCircuitStore`."""

    def read(self, circuit_id: str) -> CircuitRecord:
        """The current record, strongly consistent; a fresh ``CLOSED`` one when there is none."""
        ...

    def claim_probe(self, seen: CircuitRecord, owner: str, now: int, policy: BreakerPolicy) -> bool:
        """``HALF_OPEN`` owned by ``owner`` since ``now``, if the record is still ``seen`` (same
        version and state) and :func:`probe_due` holds at ``now``; ``False`` when another caller
        changed it first."""
        ...

    def add_failure(self, circuit_id: str) -> int | None:
        """Add one to the failures while ``CLOSED`` (creating the record); the new count, or
        ``None`` when the circuit is not closed (a late failure must not touch an open one)."""
        ...

    def trip(self, circuit_id: str, now: int, threshold: int) -> bool:
        """``OPEN`` at ``now`` if ``CLOSED`` with at least ``threshold`` failures."""
        ...

    def reset_failures(self, circuit_id: str) -> bool:
        """Failures back to 0 if ``CLOSED``."""
        ...

    def close_probe(self, circuit_id: str, owner: str) -> bool:
        """``CLOSED``, failures 0, if ``HALF_OPEN`` and the probe is ``owner``'s."""
        ...

    def reopen_probe(self, circuit_id: str, owner: str, now: int) -> bool:
        """``OPEN`` with ``openedAt = now`` (a fresh cooldown) if ``HALF_OPEN`` and the probe is
        ``owner``'s."""
        ...

    def release_probe(self, circuit_id: str, owner: str) -> bool:
        """Back to ``OPEN`` with the same ``openedAt`` (so a probe is due again at once) if
        ``HALF_OPEN`` and the probe is ``owner``'s: for a probe that never reached the endpoint."""
        ...


@dataclass(frozen=True)
class Permit:
    """Leave to call the endpoint once; hand it back to ``record_success``/``record_failure``."""

    circuit_id: str
    owner: str
    probe: bool
    failures_seen: int = 0


@dataclass(frozen=True)
class Refusal:
    """The circuit is open and this caller may not probe it."""

    circuit_id: str
    state: CircuitState
    retry_after_seconds: int
    reason: str

    def error(self) -> CircuitOpenError:
        """The error the workflow catches (it waits, then checks the circuit again).

        >>> Refusal("downstream", CircuitState.OPEN, 240, "cooling down").error()
        CircuitOpenError("circuit 'downstream' is OPEN (cooling down); retry after 240 s")
        """
        return CircuitOpenError(
            f"circuit {self.circuit_id!r} is {self.state.value} ({self.reason}); "
            f"retry after {self.retry_after_seconds} s"
        )


class CircuitChange(StrEnum):
    """What recording an outcome did to the circuit (for metrics and logs)."""

    UNCHANGED = "UNCHANGED"
    FAILURE_COUNTED = "FAILURE_COUNTED"
    OPENED = "OPENED"
    REOPENED = "REOPENED"
    FAILURES_RESET = "FAILURES_RESET"
    CLOSED = "CLOSED"
    PROBE_RELEASED = "PROBE_RELEASED"

    @property
    def opened(self) -> bool:
        return self in (CircuitChange.OPENED, CircuitChange.REOPENED)


@dataclass(frozen=True)
class Recorded:
    change: CircuitChange
    failures: int | None = None
    """Consecutive failures after a counted failure; ``None`` when nothing was counted."""


class CircuitBreaker:
    """The breaker of one endpoint over a :class:`CircuitStore`; every method takes ``now``.

    Example (the in-memory store follows the same rules as the DynamoDB one)::

    >>> breaker = CircuitBreaker(InMemoryCircuitStore(), BreakerPolicy(failure_threshold=2,
    ...                          cooldown_seconds=300), circuit_id="downstream")
    >>> permit = breaker.admit("exec-a", now=1_000)
    >>> breaker.record_failure(permit, now=1_001).change
    <CircuitChange.FAILURE_COUNTED: 'FAILURE_COUNTED'>
    >>> breaker.record_failure(breaker.admit("exec-b", now=1_002), now=1_003).change
    <CircuitChange.OPENED: 'OPENED'>
    >>> breaker.admit("exec-c", now=1_004).retry_after_seconds
    299
    >>> probe = breaker.admit("exec-d", now=1_303)
    >>> probe.probe, breaker.admit("exec-e", now=1_303).reason
    (True, 'another caller holds the probe')
    >>> breaker.record_success(probe, now=1_304).change, breaker.check(now=1_305).allow
    (<CircuitChange.CLOSED: 'CLOSED'>, True)
    """

    def __init__(
        self, store: CircuitStore, policy: BreakerPolicy, circuit_id: str = "downstream"
    ) -> None:
        self.store = store
        self.policy = policy
        self.circuit_id = circuit_id

    def check(self, now: int) -> CircuitView:
        """Read-only: the state, whether a delivery may go, and when to ask again."""
        return assess(self.store.read(self.circuit_id), self.policy, now)

    def admit(self, owner: str, now: int) -> Permit | Refusal:
        """A permit to call the endpoint, claiming the probe when one is due; else a refusal.

        ``owner`` must be unique per attempt: it is who holds the probe.
        """
        record = self.store.read(self.circuit_id)
        if record.state is CircuitState.CLOSED:
            return Permit(
                self.circuit_id, owner, probe=False, failures_seen=record.consecutive_failures
            )
        if not probe_due(record, self.policy, now):
            reason = (
                "cooling down"
                if record.state is CircuitState.OPEN
                else "another caller holds the probe"
            )
            return Refusal(
                self.circuit_id, record.state, retry_after_seconds(record, self.policy, now), reason
            )
        if self.store.claim_probe(record, owner, now, self.policy):
            return Permit(self.circuit_id, owner, probe=True)
        # Whoever won is probing now; ask again once that probe would have gone stale.
        return Refusal(
            self.circuit_id,
            CircuitState.HALF_OPEN,
            min(self.policy.cooldown_seconds, self.policy.probe_stale_seconds),
            "another caller holds the probe",
        )

    def record_success(self, permit: Permit, now: int) -> Recorded:
        """The endpoint answered: a probe closes the circuit, a normal call resets the count.

        A call admitted with no failures on record writes nothing, so the steady state costs
        one read per delivery; a failure recorded by another execution meanwhile stays counted,
        which can only open the circuit sooner.
        """
        if permit.probe:
            if self.store.close_probe(self.circuit_id, permit.owner):
                return Recorded(CircuitChange.CLOSED)
            return Recorded(CircuitChange.UNCHANGED)
        if permit.failures_seen > 0 and self.store.reset_failures(self.circuit_id):
            return Recorded(CircuitChange.FAILURES_RESET)
        return Recorded(CircuitChange.UNCHANGED)

    def record_failure(self, permit: Permit, now: int) -> Recorded:
        """The endpoint did not answer usefully (connection error, timeout, 5xx, 429)."""
        if permit.probe:
            if self.store.reopen_probe(self.circuit_id, permit.owner, now):
                return Recorded(CircuitChange.REOPENED)
            return Recorded(CircuitChange.UNCHANGED)
        failures = self.store.add_failure(self.circuit_id)
        if failures is None:
            return Recorded(CircuitChange.UNCHANGED)
        if failures >= self.policy.failure_threshold and self.store.trip(
            self.circuit_id, now, self.policy.failure_threshold
        ):
            return Recorded(CircuitChange.OPENED, failures)
        return Recorded(CircuitChange.FAILURE_COUNTED, failures)

    def abandon(self, permit: Permit) -> Recorded:
        """The call never reached the endpoint (e.g. the bundle could not be read): hand a held
        probe back at once instead of leaving it to go stale."""
        if permit.probe and self.store.release_probe(self.circuit_id, permit.owner):
            return Recorded(CircuitChange.PROBE_RELEASED)
        return Recorded(CircuitChange.UNCHANGED)


class InMemoryCircuitStore:
    """:class:`CircuitStore` in a dict behind a lock: the reference semantics of the conditions,
    used by the unit tests and the examples. Not shared between processes.

    >>> store = InMemoryCircuitStore()
    >>> store.add_failure("downstream"), store.add_failure("downstream")
    (1, 2)
    >>> store.trip("downstream", now=1_000, threshold=3), store.trip("downstream", 1_000, 2)
    (False, True)
    >>> store.read("downstream").state, store.add_failure("downstream")
    (<CircuitState.OPEN: 'OPEN'>, None)
    """

    def __init__(self) -> None:
        self.records: dict[str, CircuitRecord] = {}
        self._lock = threading.Lock()

    def read(self, circuit_id: str) -> CircuitRecord:
        with self._lock:
            return self.records.get(circuit_id) or CircuitRecord(circuit_id)

    def claim_probe(self, seen: CircuitRecord, owner: str, now: int, policy: BreakerPolicy) -> bool:
        with self._lock:
            current = self.records.get(seen.circuit_id) or CircuitRecord(seen.circuit_id)
            if (
                current.version != seen.version
                or current.state is not seen.state
                or not probe_due(current, policy, now)
            ):
                return False
            self._put(
                current,
                state=CircuitState.HALF_OPEN,
                probe_owner=owner,
                probe_claimed_at=now,
                version=current.version + 1,
            )
            return True

    def add_failure(self, circuit_id: str) -> int | None:
        with self._lock:
            current = self.records.get(circuit_id) or CircuitRecord(circuit_id)
            if current.state is not CircuitState.CLOSED:
                return None
            self._put(current, consecutive_failures=current.consecutive_failures + 1)
            return current.consecutive_failures + 1

    def trip(self, circuit_id: str, now: int, threshold: int) -> bool:
        with self._lock:
            current = self.records.get(circuit_id)
            if (
                current is None
                or current.state is not CircuitState.CLOSED
                or current.consecutive_failures < threshold
            ):
                return False
            self._put(
                current,
                state=CircuitState.OPEN,
                opened_at=now,
                probe_owner=None,
                probe_claimed_at=None,
                version=current.version + 1,
            )
            return True

    def reset_failures(self, circuit_id: str) -> bool:
        with self._lock:
            current = self.records.get(circuit_id)
            if current is None or current.state is not CircuitState.CLOSED:
                return False
            self._put(current, consecutive_failures=0)
            return True

    def close_probe(self, circuit_id: str, owner: str) -> bool:
        with self._lock:
            current = self._probe_of(circuit_id, owner)
            if current is None:
                return False
            self._put(
                current,
                state=CircuitState.CLOSED,
                consecutive_failures=0,
                opened_at=None,
                probe_owner=None,
                probe_claimed_at=None,
                version=current.version + 1,
            )
            return True

    def reopen_probe(self, circuit_id: str, owner: str, now: int) -> bool:
        with self._lock:
            current = self._probe_of(circuit_id, owner)
            if current is None:
                return False
            self._put(
                current,
                state=CircuitState.OPEN,
                opened_at=now,
                consecutive_failures=current.consecutive_failures + 1,
                probe_owner=None,
                probe_claimed_at=None,
                version=current.version + 1,
            )
            return True

    def release_probe(self, circuit_id: str, owner: str) -> bool:
        with self._lock:
            current = self._probe_of(circuit_id, owner)
            if current is None:
                return False
            self._put(
                current,
                state=CircuitState.OPEN,
                probe_owner=None,
                probe_claimed_at=None,
                version=current.version + 1,
            )
            return True

    def _probe_of(self, circuit_id: str, owner: str) -> CircuitRecord | None:
        current = self.records.get(circuit_id)
        if current is None or current.state is not CircuitState.HALF_OPEN:
            return None
        return current if current.probe_owner == owner else None

    def _put(self, current: CircuitRecord, **changes: Any) -> None:
        self.records[current.circuit_id] = replace(current, **changes)
