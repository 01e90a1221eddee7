"""Lambda entry point of the HTTP API: API Gateway HTTP API events (payload 2.0) in and out.

Cold start reads the environment (a wrong one fails here, naming the variable) and builds the
adapters; their AWS clients are created on first use, so health checks and bad requests never
import boto3.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions._shared.settings import load_settings
from functions.api.adapters import (
    EnrichmentTable,
    IdempotencyGate,
    IngestQueue,
    StatusTable,
    StepFunctionsStarter,
)
from functions.api.app import (
    JSON,
    Services,
    app,
    configure,
    internal_error_body,
    logger,
    scaffold,
)
from functions.api.core import ApiSettings

settings = load_settings(ApiSettings)
idempotency = IdempotencyGate(settings.idempotency_table)
services = Services(
    settings=settings,
    # One of the two, by the stack's intake (ApiSettings refuses an environment without it).
    starter=StepFunctionsStarter(settings.state_machine_arn)
    if settings.state_machine_arn
    else None,
    queue=IngestQueue(settings.ingest_queue_url) if settings.ingest_queue_url else None,
    statuses=StatusTable(settings.status_table),
    idempotency=idempotency,
    enrich_starter=StepFunctionsStarter(settings.enrich_state_machine_arn, workflow="enrich"),
    enrichments=EnrichmentTable(settings.enrichment_status_table),
)
configure(services)


@scaffold.entry
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    try:
        return app.resolve(event, context)
    except Exception:
        # Not an HTTP API event at all, or an error handler failed: still a JSON 500.
        logger.exception("The request could not be handled; answered 500")
        return {
            "statusCode": 500,
            "headers": {"Content-Type": JSON},
            "body": json.dumps(internal_error_body(getattr(context, "aws_request_id", None))),
            "isBase64Encoded": False,
        }
