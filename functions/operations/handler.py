"""Lambda entry point of the operations API: HTTP API events (payload 2.0), and
``{"action": "redrive-parked", "reason": ...}`` from the workflow that heals parked work.

Cold start reads the environment (a wrong one fails here, naming the variable) and builds the
adapters; their AWS clients are created on first use.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions._shared import names
from functions._shared.errors import InvalidEnvelopeError
from functions._shared.settings import load_settings
from functions._shared.state_machines import state_machine_arn
from functions.operations.adapters import (
    AwsHealthProbes,
    DynamoDbBreakerStore,
    DynamoDbRedriveLedger,
    HttpReplayDownstream,
    S3Archive,
    SqsQueues,
    StepFunctionsExecutions,
)
from functions.operations.app import (
    CIRCUIT_ID,
    JSON,
    Operations,
    app,
    configure,
    logger,
    redrive_parked,
    scaffold,
)
from functions.operations.breaker import BreakerClock, breaker_view
from functions.operations.queues import queue_report
from functions.operations.settings import OperationsSettings

REDRIVE_PARKED_ACTION: Final = "redrive-parked"
# deliver's default: a probe is abandoned after twice its 60 s timeout.
_PROBE_STALE_SECONDS: Final = 120

settings = load_settings(OperationsSettings)
sqs = SqsQueues()
executions = StepFunctionsExecutions()
breaker_store = DynamoDbBreakerStore(settings.circuit_table)
clock = BreakerClock(settings.clock_scale)
probe_stale_seconds = math.ceil(_PROBE_STALE_SECONDS / settings.clock_scale)
_configured_for: str | None = None


class _Probes(AwsHealthProbes):
    def tables(self) -> list[str]:
        return sorted(self.table_keys)

    def buckets(self) -> list[str]:
        return [settings.landing_bucket, settings.staging_bucket, settings.archive_bucket]

    def queue_report(self) -> dict[str, Any]:
        return queue_report(settings.queues, sqs)

    def breaker(self) -> dict[str, Any]:
        return breaker_view(
            breaker_store.read(CIRCUIT_ID),
            clock,
            cooldown_seconds=settings.cooldown_seconds,
            probe_stale_seconds=probe_stale_seconds,
        )


def _configure(function_arn: str) -> None:
    redrive_parked_arn = state_machine_arn(function_arn, settings.redrive_parked_workflow)

    def start_redrive_parked(name: str) -> str:
        payload = {"action": REDRIVE_PARKED_ACTION, "reason": name}
        return executions.start(redrive_parked_arn, name, payload)

    configure(
        Operations(
            queues=settings.queues,
            sqs=sqs,
            ledger=DynamoDbRedriveLedger(settings.redrives_table),
            executions=executions,
            workflows=settings.workflows(function_arn),
            breaker=breaker_store,
            clock=clock,
            cooldown_seconds=settings.cooldown_seconds,
            probe_stale_seconds=probe_stale_seconds,
            health=_Probes(
                {
                    settings.circuit_table: names.CIRCUIT_KEY,
                    settings.redrives_table: names.REDRIVES_KEY,
                    settings.status_table: names.STATUS_KEY,
                    settings.dedupe_table: names.DEDUPE_KEY,
                }
            ),
            archive=S3Archive(settings.archive_bucket),
            downstream=HttpReplayDownstream(settings.downstream_url, settings.downstream_secret),
            max_dlq_redrives=settings.max_dlq_redrives,
            redrive_parked=start_redrive_parked,
        )
    )


@scaffold.entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The state machines' ARNs follow from this function's, known from the first invocation.
    global _configured_for  # noqa: PLW0603 - the composition root, built once per process
    if _configured_for != context.invoked_function_arn:
        _configure(context.invoked_function_arn)
        _configured_for = context.invoked_function_arn
    if isinstance(event, dict) and "action" in event:
        if event["action"] != REDRIVE_PARKED_ACTION:
            raise InvalidEnvelopeError(f"unknown action {event['action']!r}")
        return redrive_parked(str(event.get("reason") or REDRIVE_PARKED_ACTION))
    try:
        return app.resolve(event, context)
    except Exception:
        logger.exception("The request could not be handled; answered 500")
        return {
            "statusCode": 500,
            "headers": {"Content-Type": JSON},
            "body": json.dumps({"message": "internal error; the details are logged"}),
            "isBase64Encoded": False,
        }
