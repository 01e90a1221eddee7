"""The ingest workflow: events in (HTTP, queue, CLI), delivered downstream in one bundle.

Validate -> drop duplicates -> (nothing new: record and succeed) -> bundle -> archive -> circuit
check -> deliver -> record. Any failure is recorded as FAILED against the tracking id and the
execution fails with the original error name; work the breaker keeps from the downstream ends
PARKED and is redriven later (docs/contracts.md).
"""

from __future__ import annotations

from stack.spec import StackConfig
from workflows.builder import StateMachine
from workflows.pipeline import bundle_pipeline


def ingest_definition(config: StackConfig | None = None) -> StateMachine:
    return bundle_pipeline(
        config,
        validate_name="Validate events",
        bundle_name="Bundle events",
        comment="Events in: validate, drop duplicates, bundle, archive, deliver, record status.",
    )
