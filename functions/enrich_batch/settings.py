"""enrich_batch's environment, read once at cold start (see :func:`functions._shared.settings`)."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, Field

from functions._shared import names
from functions.enrich_batch.provider import RetryPolicy

# Tuning knobs with safe defaults; the stack does not set them (see names.py for those it does).
PROVIDER_CONNECT_TIMEOUT_ENV: Final = "PROVIDER_CONNECT_TIMEOUT_SECONDS"
PROVIDER_READ_TIMEOUT_ENV: Final = "PROVIDER_READ_TIMEOUT_SECONDS"
PROVIDER_MAX_ATTEMPTS_ENV: Final = "PROVIDER_MAX_ATTEMPTS"
PROVIDER_RETRY_AFTER_CAP_ENV: Final = "PROVIDER_RETRY_AFTER_CAP_SECONDS"
PROVIDER_SECRET_MAX_AGE_ENV: Final = "PROVIDER_SECRET_MAX_AGE_SECONDS"


class EnrichSettings(BaseModel):
    """Where the provider is, with which key, where products and batch files go.

    Connect 3 s + read 10 s per request, four attempts with waits of at most 10 s each: the
    lookups of a batch are also bounded by the invocation's remaining time (see
    :mod:`functions.enrich_batch.provider`), which keeps them inside the 120 s timeout.

    Example::

        settings = load_settings(EnrichSettings)
        settings.policy().max_attempts  # 4
    """

    provider_url: str = Field(alias=names.PROVIDER_URL_ENV, pattern=r"^https?://[^\s/]+[^\s]*$")
    secret_name: str = Field(alias=names.PROVIDER_SECRET_ENV, min_length=1)
    products_table: str = Field(alias=names.PRODUCTS_TABLE_ENV, min_length=1)
    staging_bucket: str = Field(alias=names.STAGING_BUCKET_ENV, min_length=1)
    connect_timeout_seconds: float = Field(alias=PROVIDER_CONNECT_TIMEOUT_ENV, default=3.0, gt=0)
    read_timeout_seconds: float = Field(alias=PROVIDER_READ_TIMEOUT_ENV, default=10.0, gt=0)
    max_attempts: int = Field(alias=PROVIDER_MAX_ATTEMPTS_ENV, default=4, ge=1, le=10)
    retry_after_cap_seconds: float = Field(alias=PROVIDER_RETRY_AFTER_CAP_ENV, default=10.0, ge=0)
    secret_max_age_seconds: int = Field(alias=PROVIDER_SECRET_MAX_AGE_ENV, default=300, ge=0)
    # Multiplies every wait between provider attempts, so the local runtime's scaled workflows
    # are not slowed by real waits; tests set 0 to never wait at all.
    retry_scale: float = Field(alias=names.LOCAL_TIME_SCALE_ENV, default=1.0, ge=0, le=1)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            retry_after_cap=self.retry_after_cap_seconds,
            scale=self.retry_scale,
        )
