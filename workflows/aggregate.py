"""The aggregate workflow: objects landed in S3 (notification -> SQS -> Pipe), one bundle out.

It reuses the ingest workflow's Lambdas: ``validate`` reads the S3 notifications into an envelope of
objects, ``dedupe`` claims each object by key and ETag, and ``bundle`` streams the objects.
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


def aggregate_definition(config: StackConfig | None = None) -> StateMachine:
    config = config or StackConfig()
    catch_all, _ = failure_path()
    read, dedupe = screening(catch_all, validate_name="Read the notifications")
    anything_new = (
        Choice("Anything new?")
        .when(
            Condition.numeric_greater_than("$.counts.fresh", 0),
            delivery(config, catch_all, bundle_name="Bundle objects"),
        )
        .otherwise(nothing_new_branch())
    )
    return StateMachine(
        start=Chain.start(read).next(dedupe).next(anything_new),
        comment="Objects landed: dedupe by key and ETag, bundle, archive, deliver, record status.",
        timeout_seconds=TIMEOUT_SECONDS,
    )
