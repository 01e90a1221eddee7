"""The ingest and aggregate workflows' common shape, their delivery half and failure path.

Bundle -> archive -> circuit check -> deliver -> record, with parked work waiting out the breaker's
cooldown a bounded number of times before it is recorded as PARKED and left, failed at the one
step that ``RedriveExecution`` re-runs (docs/contracts.md). A downstream that refuses a bundle for
good (a rotated token, a schema change) parks it the same way, so it is delivered once the cause
is fixed; only errors raised before anything was sent end in the FAILED path, which dedupe relies
on: a FAILED execution never delivered its events, so a producer may send them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from functions._shared.errors import (
    CircuitOpenError,
    ConfigurationError,
    InvalidEnvelopeError,
    PermanentDeliveryError,
    TransientDeliveryError,
    TransientDependencyError,
)
from stack.spec import StackConfig
from workflows.builder import (
    DISCARD,
    Catch,
    Chain,
    Choice,
    Condition,
    Fail,
    JitterStrategy,
    LambdaInvoke,
    Pass,
    Retry,
    StateMachine,
    StatesError,
    Succeed,
    Wait,
)

# Fits Express's 5-minute cap only without parking; Standard is the default for a reason.
TIMEOUT_SECONDS: Final = 3600
ERROR_PATH: Final = "$.error"
DELIVERY_ERROR_PATH: Final = "$.deliveryError"
# A Task waits for its Lambda's own timeout (stack/app.py) plus a cold start, so that a slow
# invocation ends as the function's Sandbox.Timedout, never as a States.Timeout racing it.
BUNDLE_TASK_TIMEOUT_SECONDS: Final = 150  # bundle: 120 s
ARCHIVE_TASK_TIMEOUT_SECONDS: Final = 90  # archive: 60 s
DELIVER_TASK_TIMEOUT_SECONDS: Final = 90  # deliver: 60 s


def transient_dependency_retry() -> Retry:
    # Every step is idempotent (claims by tracking id, statuses never go backwards, content-keyed
    # archive, Idempotency-Key downstream), so retrying after a partial success is safe.
    return Retry.on(
        TransientDependencyError,
        interval=1,
        max_attempts=3,
        backoff=2,
        max_delay=10,
        jitter=JitterStrategy.FULL,
    )


def transient_delivery_retry() -> Retry:
    return Retry.on(TransientDeliveryError, interval=2, max_attempts=3, backoff=2, max_delay=30)


def recording(name: str, payload: dict[str, Any], catch: Sequence[Catch] = ()) -> LambdaInvoke:
    """An update_status step that passes its input on unchanged (the record is not needed)."""
    return LambdaInvoke(
        name,
        function="update_status",
        payload=payload,
        result_path=DISCARD,
        output_path=None,
        retry=[transient_dependency_retry()],
        catch=catch,
    )


def failure_path(*, catalog: bool = False) -> Catch:
    """A catch-all that records FAILED for the tracking id, then fails with the original error.

    Its ``handler`` is the start of that path, for catchers of specific errors to reuse.
    """
    failed = Fail("Failed", error_path=f"{ERROR_PATH}.Error", cause_path=f"{ERROR_PATH}.Cause")
    record_failure = recording(
        "Record failure",
        {
            "trackingId.$": "$.trackingId",
            # An enrichment's status lives in the enrichment table, addressed by catalog id.
            **({"catalogId.$": "$.catalogId"} if catalog else {}),
            # What dedupe trusts to hand this execution's claims on (docs/contracts.md): the
            # execution ends in the Fail state below, which a redrive cannot get past.
            **({} if catalog else {"terminal": True}),
            "status": "FAILED",
            "error.$": f"{ERROR_PATH}.Error",
            "cause.$": f"{ERROR_PATH}.Cause",
        },
        # Failing to record must not hide the error that sent us here.
        catch=[Catch.on(StatesError.ALL, next=failed, result_path="$.recordFailureError")],
    )
    # Without a tracking id there is nothing to record against; a missing Parameters path would
    # fail with States.Runtime, which no catcher can catch.
    on_failure = (
        Choice("Has tracking id?")
        .when(Condition.is_present("$.trackingId"), record_failure.next(failed))
        .otherwise(failed)
    )
    return Catch.on(StatesError.ALL, next=on_failure, result_path=ERROR_PATH)


def screening(catch_all: Catch, *, validate_name: str) -> tuple[LambdaInvoke, LambdaInvoke]:
    """Validate, then drop what was seen before."""
    validate = LambdaInvoke(
        validate_name,
        function="validate",
        retry=[transient_dependency_retry()],
        catch=[catch_all],
    )
    dedupe = LambdaInvoke(
        "Drop duplicates",
        function="dedupe",
        retry=[transient_dependency_retry()],
        catch=[catch_all],
    )
    return validate, dedupe


def nothing_new_branch() -> Chain:
    return Chain.start(
        LambdaInvoke(
            "Record status", function="update_status", retry=[transient_dependency_retry()]
        )
    ).next(Succeed("Done"))


# The envelope's lists, passed on so that a final status record names every event it did not
# deliver (bundle and archive keep them beside the claim-checked bundle); the requests a queued
# batch carries, so that each gets the status too; and the execution, which the records name.
_LISTS: Final = {
    "rejected.$": "$.rejected",
    "duplicates.$": "$.duplicates",
    "carried.$": "$.carried",
    "execution.$": "$.execution",
}
EXECUTION_PATH: Final = "$.execution"


def note_the_execution() -> Pass:
    """Keep the execution's ARN in the state, for the status records (``executionArn``)."""
    return Pass(
        "Note the execution",
        parameters={"executionArn.$": "$$.Execution.Id"},
        result_path=EXECUTION_PATH,
    )


def delivery(config: StackConfig, catch_all: Catch, *, bundle_name: str) -> Chain:
    """Bundle -> (nothing bundled: REJECTED) -> archive -> circuit check -> deliver, parking
    while the circuit is open or after the downstream refused the bundle."""
    record_delivery = LambdaInvoke(
        "Record delivery",
        function="update_status",
        payload={
            "trackingId.$": "$.trackingId",
            "status": "DELIVERED",
            "counts.$": "$.counts",
            "archive.$": "$.archive",
            "delivery.$": "$.delivery",
            **_LISTS,
        },
        retry=[transient_dependency_retry()],
    )
    delivered = record_delivery.next(Succeed("Delivered"))

    check = LambdaInvoke(
        "Check the circuit",
        function="deliver",
        payload={"action": "check"},
        timeout_seconds=DELIVER_TASK_TIMEOUT_SECONDS,
        result_path="$.circuit",
        output_path=None,
        result_selector={
            "state.$": "$.Payload.state",
            "allow.$": "$.Payload.allow",
            "retryAfterSeconds.$": "$.Payload.retryAfterSeconds",
        },
        retry=[transient_dependency_retry()],
        catch=[catch_all],
    )
    count_check = Pass(
        "Count the park check",
        parameters={"checks.$": "States.MathAdd($.park.checks, 1)"},
        result_path="$.park",
    )
    # No catch-all here: CircuitOpenError, TransientDeliveryError, PermanentDeliveryError and
    # anything unforeseen must fail the execution at this very step (status PARKED), so that
    # RedriveExecution re-runs it once the cause is fixed.
    deliver_parked = LambdaInvoke(
        "Deliver parked bundle",
        function="deliver",
        timeout_seconds=DELIVER_TASK_TIMEOUT_SECONDS,
        retry=[
            transient_delivery_retry(),
            transient_dependency_retry(),
            # Redriving many parked executions at once: one holds the probe, the others wait
            # for it to close the breaker instead of failing straight back into PARKED.
            Retry.on(CircuitOpenError, interval=10, max_attempts=4, backoff=2),
        ],
        # Raised before anything is sent, and no redrive can mend them.
        catch=[pre_send_failures(catch_all)],
    )
    deliver_parked.next(delivered)
    record_parked = recording(
        "Record parked",
        {
            "trackingId.$": "$.trackingId",
            "status": "PARKED",
            "counts.$": "$.counts",
            "archive.$": "$.archive",
            "reason": "the downstream circuit is open; redrive the execution to deliver",
            **_LISTS,
        },
    )
    record_parked.next(deliver_parked)
    # The downstream's own words (PermanentDeliveryError's message carries the HTTP status and
    # says to fix the cause and redrive), or whatever left the delivery's outcome unknown.
    record_refused = recording(
        "Record refused delivery",
        {
            "trackingId.$": "$.trackingId",
            "status": "PARKED",
            "counts.$": "$.counts",
            "archive.$": "$.archive",
            "error.$": f"{DELIVERY_ERROR_PATH}.Error",
            "cause.$": f"{DELIVERY_ERROR_PATH}.Cause",
            **_LISTS,
        },
    )
    record_refused.next(deliver_parked)
    # Both deliveries share the Retry; only the first may loop back to the circuit check.
    deliver = LambdaInvoke(
        "Deliver bundle",
        function="deliver",
        timeout_seconds=DELIVER_TASK_TIMEOUT_SECONDS,
        retry=[transient_delivery_retry(), transient_dependency_retry()],
        catch=[
            Catch.on(
                TransientDeliveryError,
                CircuitOpenError,
                next=count_check,
                result_path="$.lastDeliveryError",
            ),
            pre_send_failures(catch_all),
            Catch.on(PermanentDeliveryError, next=record_refused, result_path=DELIVERY_ERROR_PATH),
            # A timeout or a crash may come after the bundle arrived: FAILED would let dedupe
            # hand its events to a re-send, delivering them twice. Parked, a redrive re-sends
            # the same bundle under the same Idempotency-Key.
            Catch.on(StatesError.ALL, next=record_refused, result_path=DELIVERY_ERROR_PATH),
        ],
    )
    wait = Wait("Wait for the cooldown", seconds_path="$.circuit.retryAfterSeconds")
    circuit_open = (
        Choice("Circuit open?")
        .when(Condition.boolean_equals("$.circuit.allow", True), deliver.next(delivered))
        .when(
            Condition.numeric_greater_than_equals("$.park.checks", config.park_checks),
            record_parked,
        )
        .otherwise(wait.next(count_check))
    )
    count_check.next(check)
    check.next(circuit_open)

    bundle = LambdaInvoke(
        bundle_name,
        function="bundle",
        timeout_seconds=BUNDLE_TASK_TIMEOUT_SECONDS,
        retry=[transient_dependency_retry()],
        catch=[catch_all],
    )
    archive = LambdaInvoke(
        "Archive bundle",
        function="archive",
        timeout_seconds=ARCHIVE_TASK_TIMEOUT_SECONDS,
        retry=[transient_dependency_retry()],
        catch=[catch_all],
    )
    start_count = Pass("Start the park count", result={"checks": 0}, result_path="$.park")
    # Every record was rejected while bundling: the downstream refuses an empty bundle, and
    # there is nothing to deliver anyway.
    record_rejection = LambdaInvoke(
        "Record rejection",
        function="update_status",
        payload={
            "trackingId.$": "$.trackingId",
            "status": "REJECTED",
            "reason": "every record was rejected while bundling; nothing was delivered",
            "counts.$": "$.counts",
            **_LISTS,
        },
        retry=[transient_dependency_retry()],
    )
    anything_bundled = (
        Choice("Anything bundled?")
        .when(
            Condition.numeric_greater_than("$.bundle.count", 0),
            Chain.start(archive).next(start_count).next(check),
        )
        .otherwise(record_rejection.next(Succeed("Nothing to deliver")))
    )
    return Chain.start(bundle).next(anything_bundled)


def pre_send_failures(catch_all: Catch) -> Catch:
    """deliver's errors raised before anything is sent that no retry or redrive mends."""
    return Catch.on(
        ConfigurationError, InvalidEnvelopeError, next=catch_all.handler, result_path=ERROR_PATH
    )


def bundle_pipeline(
    config: StackConfig | None, *, validate_name: str, bundle_name: str, comment: str
) -> StateMachine:
    """Validate -> drop duplicates -> note the execution -> (nothing new: record and succeed)
    -> :func:`delivery`.

    The ingest and aggregate workflows differ only in what their steps read, so only the names
    of the two steps that read differently and the comment tell them apart.
    """
    config = config or StackConfig()
    catch_all = failure_path()
    validate, dedupe = screening(catch_all, validate_name=validate_name)
    anything_new = (
        Choice("Anything new?")
        .when(
            Condition.numeric_greater_than("$.counts.fresh", 0),
            delivery(config, catch_all, bundle_name=bundle_name),
        )
        .otherwise(nothing_new_branch())
    )
    return StateMachine(
        start=Chain.start(validate).next(dedupe).next(note_the_execution()).next(anything_new),
        comment=comment,
        timeout_seconds=TIMEOUT_SECONDS,
    )
