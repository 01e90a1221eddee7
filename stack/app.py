"""The composition root: every function, table, queue, bucket and workflow of the stack, once."""

from __future__ import annotations

from functions._shared import names
from stack.spec import (
    Access,
    App,
    FunctionSpec,
    StackConfig,
    TableGrant,
    TableSpec,
    WorkflowSpec,
)
from workflows.ingest import ingest_definition

_DAY_SECONDS = 86_400


def build_app(config: StackConfig | None = None) -> App:
    """Describe the whole stack for ``config``; both backends consume the result unchanged."""
    config = config or StackConfig()

    def powertools_env(service: str) -> dict[str, str]:
        return {
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": names.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": config.log_level,
        }

    tables = (
        TableSpec(
            name="dedupe",
            partition_key=names.DEDUPE_KEY,
            ttl_attribute=names.DEDUPE_EXPIRY_ATTRIBUTE,
            point_in_time_recovery=config.point_in_time_recovery,
        ),
        TableSpec(
            name="status",
            partition_key=names.STATUS_KEY,
            point_in_time_recovery=config.point_in_time_recovery,
        ),
    )

    functions = (
        FunctionSpec(
            name="validate",
            handler="functions.validate.handler.lambda_handler",
            description="Parse and check events against the schema; split valid from rejected.",
            environment=powertools_env("validate"),
        ),
        FunctionSpec(
            name="dedupe",
            handler="functions.dedupe.handler.lambda_handler",
            description="Drop events already processed, by conditional writes with an expiry.",
            environment={
                **powertools_env("dedupe"),
                names.DEDUPE_TTL_SECONDS_ENV: str(config.dedupe_ttl_days * _DAY_SECONDS),
            },
            tables=(TableGrant("dedupe", Access.READ_WRITE, names.DEDUPE_TABLE_ENV),),
        ),
        FunctionSpec(
            name="update_status",
            handler="functions.update_status.handler.lambda_handler",
            description="Record progress and final state per tracking id, never backwards.",
            environment=powertools_env("update_status"),
            tables=(TableGrant("status", Access.READ_WRITE, names.STATUS_TABLE_ENV),),
        ),
    )

    workflows = (
        WorkflowSpec(
            name="ingest",
            description="Events in; validate, dedupe and record their status.",
            definition=ingest_definition(),
            type=config.workflow_type,
        ),
    )

    return App(
        config=config,
        functions=functions,
        tables=tables,
        queues=(),
        buckets=(),
        workflows=workflows,
    )
