"""The breaker's rules with time passed in: counting, opening, one probe, stale probes, closing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from functions._shared.errors import CircuitOpenError
from functions.deliver.circuit import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitChange,
    CircuitRecord,
    CircuitState,
    InMemoryCircuitStore,
    Permit,
    Refusal,
    assess,
    probe_due,
    retry_after_seconds,
)

T0 = 1_700_000_000
POLICY = BreakerPolicy(failure_threshold=3, cooldown_seconds=300, probe_stale_seconds=120)


def new_breaker(store: InMemoryCircuitStore | None = None) -> CircuitBreaker:
    return CircuitBreaker(store or InMemoryCircuitStore(), POLICY, circuit_id="downstream")


def permit(breaker: CircuitBreaker, owner: str, now: int) -> Permit:
    admission = breaker.admit(owner, now)
    assert isinstance(admission, Permit), admission
    return admission


def refusal(breaker: CircuitBreaker, owner: str, now: int) -> Refusal:
    admission = breaker.admit(owner, now)
    assert isinstance(admission, Refusal), admission
    return admission


def open_circuit(breaker: CircuitBreaker, at: int) -> None:
    for attempt in range(POLICY.failure_threshold):
        breaker.record_failure(permit(breaker, f"opener-{attempt}", at), at)
    assert breaker.store.read("downstream").state is CircuitState.OPEN


def test_a_circuit_never_written_is_closed_and_lets_calls_through() -> None:
    breaker = new_breaker()

    view = breaker.check(T0)
    admission = breaker.admit("exec-1", T0)

    assert view.to_payload() == {"state": "CLOSED", "allow": True, "retryAfterSeconds": 0}
    assert admission == Permit("downstream", "exec-1", probe=False, failures_seen=0)


def test_failures_are_counted_across_executions_and_open_at_the_threshold() -> None:
    store = InMemoryCircuitStore()
    # Each breaker object stands for a different execution (or Lambda instance) on the same table.
    executions = [new_breaker(store) for _ in range(3)]

    changes = [
        execution.record_failure(permit(execution, f"exec-{n}", T0 + n), T0 + n).change
        for n, execution in enumerate(executions)
    ]

    assert changes == [
        CircuitChange.FAILURE_COUNTED,
        CircuitChange.FAILURE_COUNTED,
        CircuitChange.OPENED,
    ]
    record = store.read("downstream")
    assert record.state is CircuitState.OPEN
    assert record.opened_at == T0 + 2
    assert record.consecutive_failures == 3


def test_only_one_of_the_callers_crossing_the_threshold_together_reports_the_opening() -> None:
    store = InMemoryCircuitStore()
    breaker = new_breaker(store)
    # All admitted while closed; their failures land one after the other.
    permits = [permit(breaker, f"exec-{n}", T0) for n in range(5)]

    changes = [breaker.record_failure(p, T0 + 1).change for p in permits]

    assert changes.count(CircuitChange.OPENED) == 1
    # Failures landing after the opening do not touch the open circuit.
    assert changes[3:] == [CircuitChange.UNCHANGED, CircuitChange.UNCHANGED]
    assert store.read("downstream").opened_at == T0 + 1


def test_a_success_while_closed_resets_the_count_so_failures_must_be_consecutive() -> None:
    store = InMemoryCircuitStore()
    breaker = new_breaker(store)
    for n in range(2):
        breaker.record_failure(permit(breaker, f"f-{n}", T0), T0)

    success = breaker.record_success(permit(breaker, "ok", T0 + 1), T0 + 1)
    for n in range(2):
        breaker.record_failure(permit(breaker, f"g-{n}", T0 + 2), T0 + 2)

    assert success.change is CircuitChange.FAILURES_RESET
    assert store.read("downstream").state is CircuitState.CLOSED
    assert store.read("downstream").consecutive_failures == 2


def test_a_success_with_no_failures_on_record_writes_nothing() -> None:
    store = InMemoryCircuitStore()
    breaker = new_breaker(store)

    recorded = breaker.record_success(permit(breaker, "ok", T0), T0)

    assert recorded.change is CircuitChange.UNCHANGED
    assert store.records == {}


def test_an_open_circuit_refuses_until_the_cooldown_is_over() -> None:
    breaker = new_breaker()
    open_circuit(breaker, T0)

    early = refusal(breaker, "exec-a", T0 + 1)
    last_second = refusal(breaker, "exec-b", T0 + 299)

    assert early.retry_after_seconds == 299
    assert last_second.retry_after_seconds == 1
    assert early.reason == "cooling down"
    with pytest.raises(CircuitOpenError, match="retry after 299 s"):
        raise early.error()
    assert breaker.check(T0 + 1).to_payload() == {
        "state": "OPEN",
        "allow": False,
        "retryAfterSeconds": 299,
    }


def test_after_the_cooldown_exactly_one_caller_gets_the_probe() -> None:
    store = InMemoryCircuitStore()
    breaker = new_breaker(store)
    open_circuit(breaker, T0)
    due = T0 + POLICY.cooldown_seconds

    admissions = [breaker.admit(f"exec-{n}", due) for n in range(10)]

    probes = [a for a in admissions if isinstance(a, Permit)]
    assert [p.owner for p in probes] == ["exec-0"]
    assert probes[0].probe is True
    assert all(isinstance(a, Refusal) for a in admissions[1:])
    record = store.read("downstream")
    assert record.state is CircuitState.HALF_OPEN
    assert (record.probe_owner, record.probe_claimed_at) == ("exec-0", due)


def test_two_callers_that_read_the_same_due_record_cannot_both_claim_it() -> None:
    store = InMemoryCircuitStore()
    breaker = new_breaker(store)
    open_circuit(breaker, T0)
    due = T0 + POLICY.cooldown_seconds
    seen_by_a = store.read("downstream")
    seen_by_b = store.read("downstream")

    a_won = store.claim_probe(seen_by_a, "exec-a", due, POLICY)
    b_won = store.claim_probe(seen_by_b, "exec-b", due, POLICY)

    assert (a_won, b_won) == (True, False)
    assert store.read("downstream").probe_owner == "exec-a"


def test_a_claim_lost_to_another_caller_is_refused_with_a_retry_after() -> None:
    store = InMemoryCircuitStore()
    breaker = new_breaker(store)
    open_circuit(breaker, T0)
    due = T0 + POLICY.cooldown_seconds

    class RacingStore(InMemoryCircuitStore):
        """Another execution claims the probe between this caller's read and its claim."""

        def claim_probe(
            self, seen: CircuitRecord, owner: str, now: int, policy: BreakerPolicy
        ) -> bool:
            assert store.claim_probe(seen, "the-other-execution", now, policy)
            return store.claim_probe(seen, owner, now, policy)

    racing_store = RacingStore()
    racing_store.records = store.records
    racing = CircuitBreaker(racing_store, POLICY, "downstream")

    lost = refusal(racing, "exec-late", due)

    assert lost.state is CircuitState.HALF_OPEN
    assert lost.reason == "another caller holds the probe"
    assert 1 <= lost.retry_after_seconds <= POLICY.cooldown_seconds


def test_a_successful_probe_closes_the_circuit() -> None:
    store = InMemoryCircuitStore()
    breaker = new_breaker(store)
    open_circuit(breaker, T0)
    probe = permit(breaker, "prober", T0 + 300)

    recorded = breaker.record_success(probe, T0 + 301)

    assert recorded.change is CircuitChange.CLOSED
    record = store.read("downstream")
    assert record.state is CircuitState.CLOSED
    assert record.consecutive_failures == 0
    assert (record.opened_at, record.probe_owner, record.probe_claimed_at) == (None, None, None)
    assert permit(breaker, "next", T0 + 302).probe is False


def test_a_failed_probe_reopens_the_circuit_with_a_fresh_cooldown() -> None:
    store = InMemoryCircuitStore()
    breaker = new_breaker(store)
    open_circuit(breaker, T0)
    probe = permit(breaker, "prober", T0 + 300)

    recorded = breaker.record_failure(probe, T0 + 310)

    assert recorded.change is CircuitChange.REOPENED
    assert recorded.change.opened
    record = store.read("downstream")
    assert (record.state, record.opened_at) == (CircuitState.OPEN, T0 + 310)
    assert refusal(breaker, "x", T0 + 311).retry_after_seconds == 299
    assert permit(breaker, "next-prober", T0 + 610).probe is True


def test_a_live_probe_keeps_everyone_else_out_until_it_goes_stale() -> None:
    store = InMemoryCircuitStore()
    breaker = new_breaker(store)
    open_circuit(breaker, T0)
    claimed_at = T0 + 300
    permit(breaker, "silent-prober", claimed_at)

    still_live = refusal(breaker, "exec-a", claimed_at + 119)
    reclaimed = permit(breaker, "exec-b", claimed_at + 120)

    assert still_live.retry_after_seconds == 1
    assert reclaimed.probe is True
    assert store.read("downstream").probe_owner == "exec-b"
    # The silent prober's late report no longer counts: it does not own the probe any more.
    assert breaker.record_success(Permit("downstream", "silent-prober", True), T0).change is (
        CircuitChange.UNCHANGED
    )
    assert store.read("downstream").state is CircuitState.HALF_OPEN


def test_an_abandoned_probe_is_due_again_at_once() -> None:
    store = InMemoryCircuitStore()
    breaker = new_breaker(store)
    open_circuit(breaker, T0)
    probe = permit(breaker, "prober", T0 + 300)

    released = breaker.abandon(probe)

    assert released.change is CircuitChange.PROBE_RELEASED
    record = store.read("downstream")
    assert (record.state, record.opened_at) == (CircuitState.OPEN, T0)
    assert permit(breaker, "next", T0 + 300).probe is True


def test_abandoning_a_normal_permit_changes_nothing() -> None:
    breaker = new_breaker()

    assert breaker.abandon(permit(breaker, "x", T0)).change is CircuitChange.UNCHANGED


def test_late_outcomes_of_calls_admitted_before_the_opening_leave_the_open_circuit_alone() -> None:
    store = InMemoryCircuitStore()
    breaker = new_breaker(store)
    in_flight = permit(breaker, "slow", T0)
    open_circuit(breaker, T0 + 1)
    before = store.read("downstream")

    failure = breaker.record_failure(in_flight, T0 + 2)
    success = breaker.record_success(replace(in_flight, failures_seen=1), T0 + 2)

    assert (failure.change, success.change) == (CircuitChange.UNCHANGED, CircuitChange.UNCHANGED)
    assert store.read("downstream") == before


@pytest.mark.parametrize(
    ("record", "now", "expected"),
    [
        (CircuitRecord("d"), T0, (True, 0)),
        (CircuitRecord("d", CircuitState.OPEN, opened_at=T0), T0, (False, 300)),
        (CircuitRecord("d", CircuitState.OPEN, opened_at=T0), T0 + 300, (True, 0)),
        # An OPEN record without openedAt (a hand edit) is probed rather than stuck.
        (CircuitRecord("d", CircuitState.OPEN), T0, (True, 0)),
        (
            CircuitRecord("d", CircuitState.HALF_OPEN, probe_owner="p", probe_claimed_at=T0),
            T0 + 10,
            (False, 110),
        ),
        (
            CircuitRecord("d", CircuitState.HALF_OPEN, probe_owner="p", probe_claimed_at=T0),
            T0 + 120,
            (True, 0),
        ),
        (CircuitRecord("d", CircuitState.HALF_OPEN), T0, (True, 0)),
    ],
)
def test_the_check_answers_allow_and_retry_after_from_the_record(
    record: CircuitRecord, now: int, expected: tuple[bool, int]
) -> None:
    view = assess(record, POLICY, now)

    assert (view.allow, view.retry_after_seconds) == expected
    assert view.state is record.state


def test_retry_after_a_live_probe_is_capped_at_the_cooldown() -> None:
    policy = BreakerPolicy(failure_threshold=1, cooldown_seconds=5, probe_stale_seconds=120)
    probing = CircuitRecord("d", CircuitState.HALF_OPEN, probe_owner="p", probe_claimed_at=T0)

    assert retry_after_seconds(probing, policy, T0) == 5
    assert not probe_due(probing, policy, T0 + 119)


def test_retry_after_never_exceeds_the_cooldown_when_another_clock_ran_ahead() -> None:
    opened_in_our_future = CircuitRecord("d", CircuitState.OPEN, opened_at=T0 + 50)

    assert retry_after_seconds(opened_in_our_future, POLICY, T0) == POLICY.cooldown_seconds


def test_a_closed_circuit_never_has_a_probe_due() -> None:
    assert not probe_due(CircuitRecord("d", consecutive_failures=99), POLICY, T0)


@pytest.mark.parametrize(
    "settings",
    [
        {"failure_threshold": 0},
        {"cooldown_seconds": 0},
        {"probe_stale_seconds": -1},
    ],
)
def test_a_policy_with_a_non_positive_setting_is_refused(settings: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        BreakerPolicy(**settings)
