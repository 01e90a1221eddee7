"""Names shared by the Lambdas and the stack description: environment variables and table keys.

The stack imports these (never the reverse), so a renamed variable cannot reach only one side.
"""

from typing import Final

DEDUPE_TABLE_ENV: Final = "DEDUPE_TABLE_NAME"
DEDUPE_TTL_SECONDS_ENV: Final = "DEDUPE_TTL_SECONDS"
STATUS_TABLE_ENV: Final = "STATUS_TABLE_NAME"

DEDUPE_KEY: Final = "eventId"
DEDUPE_EXPIRY_ATTRIBUTE: Final = "expiresAt"
STATUS_KEY: Final = "trackingId"

METRICS_NAMESPACE: Final = "Stepflow"

STAGING_BUCKET_ENV: Final = "STAGING_BUCKET_NAME"
INGEST_QUEUE_URL_ENV: Final = "INGEST_QUEUE_URL"
EXECUTION_OUTCOMES_DLQ_URL_ENV: Final = "EXECUTION_OUTCOMES_DLQ_URL"
ARCHIVE_BUCKET_ENV: Final = "ARCHIVE_BUCKET_NAME"
LANDING_BUCKET_ENV: Final = "LANDING_BUCKET_NAME"
QUARANTINE_BUCKET_ENV: Final = "QUARANTINE_BUCKET_NAME"
CIRCUIT_TABLE_ENV: Final = "CIRCUIT_TABLE_NAME"
CIRCUIT_FAILURE_THRESHOLD_ENV: Final = "CIRCUIT_FAILURE_THRESHOLD"
CIRCUIT_COOLDOWN_SECONDS_ENV: Final = "CIRCUIT_COOLDOWN_SECONDS"
DOWNSTREAM_URL_ENV: Final = "DOWNSTREAM_URL"
DOWNSTREAM_SECRET_ENV: Final = "DOWNSTREAM_SECRET_NAME"
IDEMPOTENCY_TABLE_ENV: Final = "IDEMPOTENCY_TABLE_NAME"
INGEST_STATE_MACHINE_ENV: Final = "INGEST_STATE_MACHINE_ARN"
MAX_BULK_EVENTS_ENV: Final = "MAX_BULK_EVENTS"
# "queued" or "per-request" (stack.spec.Intake): how the api hands events to the ingest workflow.
INTAKE_ENV: Final = "INTAKE"
# Never set on AWS (so 1 there); the local runtime sets its time scale here for every function,
# so the Lambdas' own waits and clocks keep pace with its scaled Wait states and Retry intervals.
LOCAL_TIME_SCALE_ENV: Final = "LOCAL_TIME_SCALE"

CIRCUIT_KEY: Final = "circuitId"
# Powertools Idempotency's default attribute names.
IDEMPOTENCY_KEY: Final = "id"
IDEMPOTENCY_EXPIRY_ATTRIBUTE: Final = "expiration"

ENRICHMENT_STATUS_TABLE_ENV: Final = "ENRICHMENT_STATUS_TABLE_NAME"
PRODUCTS_TABLE_ENV: Final = "PRODUCTS_TABLE_NAME"
ENRICH_STATE_MACHINE_ENV: Final = "ENRICH_STATE_MACHINE_ARN"
PROVIDER_URL_ENV: Final = "PROVIDER_URL"
PROVIDER_SECRET_ENV: Final = "PROVIDER_SECRET_NAME"
MAX_INLINE_PRODUCTS_ENV: Final = "MAX_INLINE_PRODUCTS"
ENRICH_BATCH_SIZE_ENV: Final = "ENRICH_BATCH_SIZE"

ENRICHMENT_KEY: Final = "catalogId"
ENRICHMENT_SORT_KEY: Final = "batchId"
ENRICHMENT_USER_INDEX: Final = "byUser"
ENRICHMENT_USER_KEY: Final = "userId"
ENRICHMENT_CREATED_KEY: Final = "createdAt"
PRODUCTS_KEY: Final = "catalogId"
PRODUCTS_SORT_KEY: Final = "productId"

# The operations Lambda (issue 11) and the workflow that redrives parked work.
# State machines go by name: their ARNs follow from the function's own (partition, region,
# account), which breaks the cycle operations -> redrive-parked workflow -> operations.
OPERATED_QUEUES_ENV: Final = "OPERATED_QUEUES"
OPERATED_WORKFLOWS_ENV: Final = "OPERATED_WORKFLOWS"
REDRIVE_PARKED_WORKFLOW_ENV: Final = "REDRIVE_PARKED_WORKFLOW_NAME"
REDRIVES_TABLE_ENV: Final = "REDRIVES_TABLE_NAME"
MAX_DLQ_REDRIVES_ENV: Final = "MAX_DLQ_REDRIVES"
REDRIVES_KEY: Final = "messageKey"
REDRIVES_EXPIRY_ATTRIBUTE: Final = "expiresAt"
