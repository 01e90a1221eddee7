"""deliver's environment, read once at cold start (see :func:`functions._shared.settings`)."""

from __future__ import annotations

import math
from typing import Final

from pydantic import BaseModel, Field

from functions._shared import names
from functions.deliver.circuit import BreakerPolicy

# Tuning knobs with safe defaults; the stack does not set them (see names.py for those it does).
CIRCUIT_ID_ENV: Final = "CIRCUIT_ID"
CIRCUIT_PROBE_STALE_SECONDS_ENV: Final = "CIRCUIT_PROBE_STALE_SECONDS"
DOWNSTREAM_CONNECT_TIMEOUT_ENV: Final = "DOWNSTREAM_CONNECT_TIMEOUT_SECONDS"
DOWNSTREAM_READ_TIMEOUT_ENV: Final = "DOWNSTREAM_READ_TIMEOUT_SECONDS"
DOWNSTREAM_SECRET_MAX_AGE_ENV: Final = "DOWNSTREAM_SECRET_MAX_AGE_SECONDS"


class DeliverSettings(BaseModel):
    """Where to deliver, with which secret, and how the breaker behaves.

    ``CIRCUIT_PROBE_STALE_SECONDS`` defaults to twice the function's 60 s timeout: a probe
    older than that belongs to an invocation that is certainly dead. Connect 3 s + read 20 s
    leave the archive read room inside the 60 s timeout.

    Example::

        settings = load_settings(DeliverSettings)
        settings.policy().cooldown_seconds
    """

    table_name: str = Field(alias=names.CIRCUIT_TABLE_ENV, min_length=1)
    downstream_url: str = Field(alias=names.DOWNSTREAM_URL_ENV, pattern=r"^https?://[^\s/]+")
    secret_name: str = Field(alias=names.DOWNSTREAM_SECRET_ENV, min_length=1)
    archive_bucket: str | None = Field(alias=names.ARCHIVE_BUCKET_ENV, default=None)
    failure_threshold: int = Field(alias=names.CIRCUIT_FAILURE_THRESHOLD_ENV, default=5, ge=1)
    cooldown_seconds: int = Field(alias=names.CIRCUIT_COOLDOWN_SECONDS_ENV, default=300, ge=1)
    probe_stale_seconds: int = Field(alias=CIRCUIT_PROBE_STALE_SECONDS_ENV, default=120, ge=1)
    circuit_id: str = Field(alias=CIRCUIT_ID_ENV, default="downstream", min_length=1)
    connect_timeout_seconds: float = Field(alias=DOWNSTREAM_CONNECT_TIMEOUT_ENV, default=3.0, gt=0)
    read_timeout_seconds: float = Field(alias=DOWNSTREAM_READ_TIMEOUT_ENV, default=20.0, gt=0)
    secret_max_age_seconds: int = Field(alias=DOWNSTREAM_SECRET_MAX_AGE_ENV, default=300, ge=0)
    # The local runtime shortens a workflow's Wait for the cooldown, so the breaker must see
    # time pass equally fast or the shortened wait never outlasts the cooldown.
    clock_scale: float = Field(alias=names.LOCAL_TIME_SCALE_ENV, default=1.0, gt=0, le=1)
    # Started when a probe closes the circuit (functions/deliver/breaker_closed.py).
    redrive_parked_workflow: str | None = Field(
        alias=names.REDRIVE_PARKED_WORKFLOW_ENV, default=None, min_length=1
    )

    def policy(self) -> BreakerPolicy:
        return BreakerPolicy(
            failure_threshold=self.failure_threshold,
            cooldown_seconds=self.cooldown_seconds,
            # A probe's holder is a Lambda whose timeout runs in real time, while the breaker's
            # clock runs 1/clock_scale times faster locally: measured on that clock, a live but
            # slow probe (a loaded machine) would look stale and a second probe would go out.
            probe_stale_seconds=math.ceil(self.probe_stale_seconds / self.clock_scale),
        )
