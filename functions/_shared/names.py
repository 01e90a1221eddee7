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
ARCHIVE_BUCKET_ENV: Final = "ARCHIVE_BUCKET_NAME"
LANDING_BUCKET_ENV: Final = "LANDING_BUCKET_NAME"
CIRCUIT_TABLE_ENV: Final = "CIRCUIT_TABLE_NAME"
CIRCUIT_FAILURE_THRESHOLD_ENV: Final = "CIRCUIT_FAILURE_THRESHOLD"
CIRCUIT_COOLDOWN_SECONDS_ENV: Final = "CIRCUIT_COOLDOWN_SECONDS"
DOWNSTREAM_URL_ENV: Final = "DOWNSTREAM_URL"
DOWNSTREAM_SECRET_ENV: Final = "DOWNSTREAM_SECRET_NAME"
IDEMPOTENCY_TABLE_ENV: Final = "IDEMPOTENCY_TABLE_NAME"
INGEST_STATE_MACHINE_ENV: Final = "INGEST_STATE_MACHINE_ARN"
MAX_BULK_EVENTS_ENV: Final = "MAX_BULK_EVENTS"

CIRCUIT_KEY: Final = "circuitId"
# Powertools Idempotency's default attribute names.
IDEMPOTENCY_KEY: Final = "id"
IDEMPOTENCY_EXPIRY_ATTRIBUTE: Final = "expiration"
