"""The enrich workflow: a catalog enriched in batches through the provider, with live progress.

Plan batches (inline: ``States.ArrayPartition``; from S3: ``enrich_batch`` plans and writes batch
files) -> record the plan -> a Map over the batches (bounded concurrency) of enrich -> record the
batch -> record the catalog. A batch that fails for good is recorded FAILED with its reason and
the rest of the catalog still completes (docs/contracts.md).
"""

from __future__ import annotations

from functions._shared.errors import (
    ProviderThrottledError,
    ProviderUnavailableError,
    TransientDependencyError,
)
from stack.spec import StackConfig
from workflows.builder import (
    DISCARD,
    Catch,
    Chain,
    Choice,
    Condition,
    JitterStrategy,
    LambdaInvoke,
    Map,
    Pass,
    Retry,
    StateMachine,
    StatesError,
    Succeed,
)
from workflows.pipeline import TIMEOUT_SECONDS, failure_path, transient_dependency_retry


def _provider_retry() -> Retry:
    # enrich_batch already retried inside the call (honouring Retry-After); these are the
    # longer waits between attempts of the whole batch.
    return Retry.on(
        ProviderThrottledError,
        ProviderUnavailableError,
        TransientDependencyError,
        interval=5,
        max_attempts=4,
        backoff=2,
        max_delay=60,
        jitter=JitterStrategy.FULL,
    )


def _batch_processor() -> Chain:
    record_batch = LambdaInvoke(
        "Record the batch",
        function="update_status",
        payload={
            "catalogId.$": "$.catalogId",
            "trackingId.$": "$.trackingId",
            "batchId.$": "$.result.batchId",
            "status": "ENRICHED",
            "enriched.$": "$.result.enriched",
            "failed.$": "$.result.failed",
            "failures.$": "$.result.failures",
        },
        result_path=DISCARD,
        output_path=None,
        retry=[transient_dependency_retry()],
    )
    record_failed_batch = LambdaInvoke(
        "Record the failed batch",
        function="update_status",
        payload={
            "catalogId.$": "$.catalogId",
            "trackingId.$": "$.trackingId",
            "batchIndex.$": "$.batchIndex",
            "item.$": "$.item",
            "status": "FAILED",
            "error.$": "$.error.Error",
            "cause.$": "$.error.Cause",
        },
        retry=[transient_dependency_retry()],
    )
    enrich = LambdaInvoke(
        "Enrich the batch",
        function="enrich_batch",
        timeout_seconds=150,
        result_path="$.result",
        result_selector={
            "batchId.$": "$.Payload.batchId",
            "enriched.$": "$.Payload.enriched",
            "failed.$": "$.Payload.failed",
            "failures.$": "$.Payload.failures",
        },
        output_path=None,
        retry=[_provider_retry()],
        # A batch that fails for good is recorded and the catalog goes on without it.
        catch=[Catch.on(StatesError.ALL, next=record_failed_batch, result_path="$.error")],
    )
    return Chain.start(enrich).next(record_batch)


def enrich_definition(config: StackConfig | None = None) -> StateMachine:
    config = config or StackConfig()
    catch_all = failure_path(catalog=True)

    # The plan replaces the state: keeping $.products beside $.plan.batches would double it,
    # and a large inline catalog would then outgrow the 262,144-byte state limit.
    plan_inline = Pass(
        "Plan batches",
        parameters={
            "trackingId.$": "$.trackingId",
            "catalogId.$": "$.catalogId",
            "userId.$": "$.userId",
            "batchSize.$": "$.batchSize",
            "plan": {
                "totalProducts.$": "States.ArrayLength($.products)",
                "batches.$": "States.ArrayPartition($.products, $.batchSize)",
            },
        },
    )
    plan_from_s3 = LambdaInvoke(
        "Plan batches from S3",
        function="enrich_batch",
        timeout_seconds=150,
        payload={
            "action": "plan",
            "trackingId.$": "$.trackingId",
            "catalogId.$": "$.catalogId",
            "batchSize.$": "$.batchSize",
            "productsPointer.$": "$.productsPointer",
        },
        result_path="$.plan",
        result_selector={
            "totalProducts.$": "$.Payload.totalProducts",
            "batches.$": "$.Payload.batches",
        },
        output_path=None,
        retry=[transient_dependency_retry()],
        catch=[catch_all],
    )
    record_plan = LambdaInvoke(
        "Record the plan",
        function="update_status",
        payload={
            "catalogId.$": "$.catalogId",
            "trackingId.$": "$.trackingId",
            "status": "PLANNED",
            "totalProducts.$": "$.plan.totalProducts",
            "totalBatches.$": "States.ArrayLength($.plan.batches)",
        },
        result_path=DISCARD,
        output_path=None,
        retry=[transient_dependency_retry()],
        catch=[catch_all],
    )
    each_batch = Map(
        "Enrich each batch",
        items_path="$.plan.batches",
        item_selector={
            "catalogId.$": "$.catalogId",
            "trackingId.$": "$.trackingId",
            "batchIndex.$": "$$.Map.Item.Index",
            "item.$": "$$.Map.Item.Value",
        },
        max_concurrency=config.enrich_concurrency,
        # The summaries are in the status table; keeping them here could outgrow the state limit.
        result_path=DISCARD,
        catch=[catch_all],
    ).item_processor(_batch_processor())
    record_catalog = LambdaInvoke(
        "Record the catalog",
        function="update_status",
        payload={
            "catalogId.$": "$.catalogId",
            "trackingId.$": "$.trackingId",
            "status": "COMPLETE",
        },
        retry=[transient_dependency_retry()],
        catch=[catch_all],
    )
    planned = Chain.start(record_plan).next(each_batch).next(record_catalog).next(Succeed("Done"))
    inline = (
        Choice("Inline products?")
        .when(Condition.is_present("$.products"), plan_inline.next(planned))
        .otherwise(plan_from_s3.next(record_plan))
    )
    return StateMachine(
        start=inline,
        comment="A catalog in: plan batches, enrich each through the provider, record progress.",
        timeout_seconds=TIMEOUT_SECONDS * 6,
    )
