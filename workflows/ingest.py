"""The ingest workflow: events in (HTTP, queue, CLI), delivered downstream in one bundle.

Validate -> drop duplicates -> (nothing new: record and succeed) -> bundle -> archive -> circuit
check -> deliver -> record. Any failure is recorded as FAILED against the tracking id and the
execution fails with the original error name; work the breaker keeps from the downstream ends
PARKED and is redriven later (docs/contracts.md).
"""

from __future__ import annotations

from stack.spec import StackConfig
from workflows.builder import Chain, Choice, Condition, StateMachine
from workflows.pipeline import (
    TIMEOUT_SECONDS,
    delivery,
    failure_path,
    nothing_new_branch,
    screening,
)


def ingest_definition(config: StackConfig | None = None) -> StateMachine:
    config = config or StackConfig()
    catch_all, _ = failure_path()
    validate, dedupe = screening(catch_all, validate_name="Validate events")
    anything_new = (
        Choice("Anything new?")
        .when(
            Condition.numeric_greater_than("$.counts.fresh", 0),
            delivery(config, catch_all, bundle_name="Bundle events"),
        )
        .otherwise(nothing_new_branch())
    )
    return StateMachine(
        start=Chain.start(validate).next(dedupe).next(anything_new),
        comment="Events in: validate, drop duplicates, bundle, archive, deliver, record status.",
        timeout_seconds=TIMEOUT_SECONDS,
    )
