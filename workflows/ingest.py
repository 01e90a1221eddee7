"""The ingest workflow: validate a batch of events, drop the ones seen before, record the outcome.

Each Lambda takes and returns the ingest envelope (docs/contracts.md). Any failure of the first two
steps is recorded as ``FAILED`` against the tracking id, and the execution then fails with the
original error name (e.g. ``InvalidEnvelopeError``), which is the contract callers rely on.
"""

from __future__ import annotations

from typing import Final

from functions._shared.errors import TransientDependencyError
from workflows.builder import (
    DISCARD,
    Catch,
    Chain,
    Choice,
    Condition,
    Fail,
    JitterStrategy,
    LambdaInvoke,
    Retry,
    StateMachine,
    StatesError,
    Succeed,
)

# Fits Express's 5-minute cap, so one definition serves both workflow types.
TIMEOUT_SECONDS: Final = 300

# Where a catcher puts {"Error", "Cause"}: beside the envelope, so the failure path still has it.
_ERROR_PATH: Final = "$.error"


def _transient_dependency_errors() -> Retry:
    # Every step is idempotent (dedupe claims by tracking id, statuses never go backwards),
    # so retrying after a partial success is safe.
    return Retry.on(
        TransientDependencyError,
        interval=1,
        max_attempts=3,
        backoff=2,
        max_delay=10,
        jitter=JitterStrategy.FULL,
    )


def ingest_definition() -> StateMachine:
    """Validate events -> Drop duplicates -> Record status -> Done, with a recorded failure path."""
    failed = Fail("Failed", error_path=f"{_ERROR_PATH}.Error", cause_path=f"{_ERROR_PATH}.Cause")
    record_failure = LambdaInvoke(
        "Record failure",
        function="update_status",
        payload={
            "trackingId.$": "$.trackingId",
            "status": "FAILED",
            "error.$": f"{_ERROR_PATH}.Error",
            "cause.$": f"{_ERROR_PATH}.Cause",
        },
        # The stored record is not needed; keeping the input keeps $.error for "Failed".
        result_path=DISCARD,
        output_path=None,
        retry=[_transient_dependency_errors()],
        # Failing to record must not hide the error that sent us here.
        catch=[Catch.on(StatesError.ALL, next=failed, result_path="$.recordFailureError")],
    )
    # An envelope without a tracking id has nothing to record against, and a Parameters path
    # that is missing fails with States.Runtime, which no catcher can catch.
    on_failure = (
        Choice("Has tracking id?")
        .when(Condition.is_present("$.trackingId"), record_failure.next(failed))
        .otherwise(failed)
    )
    catch_all = Catch.on(StatesError.ALL, next=on_failure, result_path=_ERROR_PATH)

    validate = LambdaInvoke("Validate events", function="validate", catch=[catch_all])
    dedupe = LambdaInvoke(
        "Drop duplicates",
        function="dedupe",
        retry=[_transient_dependency_errors()],
        catch=[catch_all],
    )
    record_status = LambdaInvoke(
        "Record status", function="update_status", retry=[_transient_dependency_errors()]
    )

    return StateMachine(
        start=Chain.start(validate).next(dedupe).next(record_status).next(Succeed("Done")),
        comment="Events in: validate them, drop duplicates and record their status.",
        timeout_seconds=TIMEOUT_SECONDS,
    )
