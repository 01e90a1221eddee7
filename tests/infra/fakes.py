"""A stack description with what the real one does not have (indexes, READ table grants, queue
grants, a WRITE-only bucket grant, a queue without a DLQ, two buckets notifying one queue, a
custom pipe batch, no API...).

``ChainDefinition`` stands in for the workflow builder: Lambda tasks in a row, rendered the way
the builder renders a ``LambdaInvoke``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.config import InfraSettings
from stack.spec import (
    Access,
    App,
    BucketGrant,
    BucketNotificationSpec,
    BucketSpec,
    FunctionSpec,
    IndexSpec,
    PipeSpec,
    QueueGrant,
    QueueSpec,
    SecretGrant,
    SecretSpec,
    StackConfig,
    TableGrant,
    TableSpec,
    WorkflowGrant,
    WorkflowSpec,
    WorkflowType,
)
from tests.infra.harness import REGION

SYNTHETIC_PREFIX = "synthetic"
# A dev stack's settings, every one off its default.
SYNTHETIC_SETTINGS = InfraSettings(
    log_retention_days=7,
    deletion_protection=False,
    powertools_layer_version=27,
    state_machine_log_level="ALL",
    log_execution_data=True,
    alarm_email="ops@example.com",
    queue_age_alarm_seconds=120,
)


@dataclass(frozen=True)
class ChainDefinition:
    """Lambda tasks in a row; ``undeclared`` are rendered but left out of the references."""

    steps: tuple[str, ...]
    undeclared: tuple[str, ...] = ()

    def referenced_functions(self) -> frozenset[str]:
        return frozenset(self.steps)

    def render(self, function_arn: Callable[[str], Any]) -> dict[str, Any]:
        names = [*self.steps, *self.undeclared]
        states: dict[str, Any] = {}
        for index, name in enumerate(names):
            state: dict[str, Any] = {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_arn(name), "Payload.$": "$"},
                "OutputPath": "$.Payload",
            }
            if index + 1 < len(names):
                state["Next"] = names[index + 1]
            else:
                state["End"] = True
            states[name] = state
        return {"StartAt": names[0], "States": states}


def _function(name: str, *grants: TableGrant, **settings: Any) -> FunctionSpec:
    # Reuses an existing function folder: packaging needs real code to archive.
    return FunctionSpec(
        name=name,
        handler="functions.validate.handler.lambda_handler",
        description=f"The {name} function.",
        tables=grants,
        **settings,
    )


def synthetic_bucket(logical_name: str) -> str:
    """The physical name of one of the synthetic description's buckets."""
    return synthetic_app().bucket_name(logical_name)


def synthetic_app(*workflows: WorkflowSpec) -> App:
    config = StackConfig(
        prefix=SYNTHETIC_PREFIX,
        region=REGION,
        log_level="WARNING",
        workflow_type=WorkflowType.EXPRESS,
        point_in_time_recovery=False,
    )
    return App(
        config=config,
        tables=(
            TableSpec(
                name="items",
                partition_key="id",
                sort_key="version",
                point_in_time_recovery=False,
                indexes=(
                    IndexSpec("by-owner", partition_key="owner", sort_key="version"),
                    IndexSpec("by-state", partition_key="state"),
                ),
            ),
            TableSpec(name="audit", partition_key="id", ttl_attribute="expiresAt"),
        ),
        functions=(
            _function(
                "reader",
                TableGrant("items", Access.READ, "ITEMS_TABLE"),
                reserved_concurrency=5,
                memory_mb=512,
                timeout_seconds=60,
            ),
            _function(
                "writer",
                TableGrant("items", Access.WRITE, "ITEMS_TABLE"),
                buckets=(BucketGrant("archive", Access.WRITE, "ARCHIVE_BUCKET"),),
                queues=(QueueGrant("inbox", Access.WRITE, "INBOX_URL"),),
            ),
            _function(
                "auditor",
                TableGrant("items", Access.READ, "ITEMS_TABLE"),
                TableGrant("audit", Access.READ_WRITE, "AUDIT_TABLE"),
                buckets=(BucketGrant("landing", Access.READ, "LANDING_BUCKET"),),
                queues=(
                    QueueGrant("inbox", Access.READ, "INBOX_URL"),
                    QueueGrant("scratch", Access.READ_WRITE, "SCRATCH_URL"),
                ),
                secrets=(SecretGrant("api-key", "API_KEY_SECRET"),),
            ),
            _function("idle"),
            _function(
                "starter",
                workflows=(WorkflowGrant("pipeline", "PIPELINE_ARN"),),
                buckets=(BucketGrant("archive", Access.READ_WRITE, "ARCHIVE_BUCKET"),),
            ),
        ),
        queues=(QueueSpec("inbox", max_receive_count=3), QueueSpec("scratch", max_receive_count=0)),
        buckets=(
            BucketSpec("archive", expire_after_days=30, versioned=True),
            BucketSpec("landing"),
        ),
        secrets=(SecretSpec("api-key", "A key."),),
        pipes=(PipeSpec("drain", "inbox", "pipeline", batch_size=50, batching_window_seconds=5),),
        notifications=(
            BucketNotificationSpec("landing", "scratch", prefix="in/"),
            BucketNotificationSpec("archive", "scratch"),
            BucketNotificationSpec("landing", "inbox"),
        ),
        workflows=workflows
        or (
            WorkflowSpec(
                name="pipeline",
                description="Read, then write.",
                definition=ChainDefinition(("reader", "writer")),
                type=WorkflowType.EXPRESS,
            ),
        ),
    )
