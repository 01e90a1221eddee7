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
