"""A stack description with what the real one does not have yet (indexes, READ grants, queues...).

``ChainDefinition`` stands in for the workflow builder: Lambda tasks in a row, rendered the way
the builder renders a ``LambdaInvoke``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stack.spec import (
    Access,
    App,
    BucketSpec,
    FunctionSpec,
    IndexSpec,
    QueueSpec,
    StackConfig,
    TableGrant,
    TableSpec,
    WorkflowSpec,
    WorkflowType,
)
from tests.infra.harness import REGION

SYNTHETIC_PREFIX = "synthetic"


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
            _function("writer", TableGrant("items", Access.WRITE, "ITEMS_TABLE")),
            _function(
                "auditor",
                TableGrant("items", Access.READ, "ITEMS_TABLE"),
                TableGrant("audit", Access.READ_WRITE, "AUDIT_TABLE"),
            ),
            _function("idle"),
        ),
        queues=(QueueSpec("inbox", max_receive_count=3), QueueSpec("scratch", max_receive_count=0)),
        buckets=(BucketSpec("archive", expire_after_days=30), BucketSpec("landing")),
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
