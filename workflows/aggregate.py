"""The aggregate workflow: objects landed in S3 (notification -> SQS -> Pipe), one bundle out.

It reuses the ingest workflow's Lambdas: ``validate`` reads the S3 notifications into an envelope of
objects, ``dedupe`` claims each object by key and ETag, and ``bundle`` streams the objects.
"""

from __future__ import annotations

from stack.spec import StackConfig
from workflows.builder import StateMachine
from workflows.pipeline import bundle_pipeline


def aggregate_definition(config: StackConfig | None = None) -> StateMachine:
    return bundle_pipeline(
        config,
        validate_name="Read the notifications",
        bundle_name="Bundle objects",
        comment="Objects landed: dedupe by key and ETag, bundle, archive, deliver, record status.",
    )
