"""The operations Lambda's environment, read once at cold start."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, field_validator

from functions._shared import names
from functions._shared.state_machines import state_machine_arn


class OperationsSettings(BaseModel):
    """What the operations API operates on.

    ``OPERATED_QUEUES`` maps each queue's physical name to its dead-letter queue's (``""`` for
    none), as JSON; the URLs are looked up at first use, so both backends set names only.
    ``OPERATED_WORKFLOWS`` maps each workflow whose failures the API lists to its state
    machine's name (:mod:`functions._shared.state_machines`).

    Example::

        settings = load_settings(OperationsSettings)
        settings.workflows("arn:aws:lambda:us-east-1:123456789012:function:ops")
        # {"ingest": "arn:aws:states:us-east-1:123456789012:stateMachine:stepflow-dev-ingest"}
    """

    queues: dict[str, str] = Field(alias=names.OPERATED_QUEUES_ENV)
    circuit_table: str = Field(alias=names.CIRCUIT_TABLE_ENV, min_length=1)
    redrives_table: str = Field(alias=names.REDRIVES_TABLE_ENV, min_length=1)
    status_table: str = Field(alias=names.STATUS_TABLE_ENV, min_length=1)
    dedupe_table: str = Field(alias=names.DEDUPE_TABLE_ENV, min_length=1)
    archive_bucket: str = Field(alias=names.ARCHIVE_BUCKET_ENV, min_length=1)
    landing_bucket: str = Field(alias=names.LANDING_BUCKET_ENV, min_length=1)
    staging_bucket: str = Field(alias=names.STAGING_BUCKET_ENV, min_length=1)
    downstream_url: str = Field(alias=names.DOWNSTREAM_URL_ENV, pattern=r"^https?://[^\s/]+")
    downstream_secret: str = Field(alias=names.DOWNSTREAM_SECRET_ENV, min_length=1)
    workflow_names: dict[str, str] = Field(alias=names.OPERATED_WORKFLOWS_ENV)
    redrive_parked_workflow: str = Field(alias=names.REDRIVE_PARKED_WORKFLOW_ENV, min_length=1)
    max_dlq_redrives: int = Field(alias=names.MAX_DLQ_REDRIVES_ENV, default=3, ge=0)
    failure_threshold: int = Field(alias=names.CIRCUIT_FAILURE_THRESHOLD_ENV, default=5, ge=1)
    cooldown_seconds: int = Field(alias=names.CIRCUIT_COOLDOWN_SECONDS_ENV, default=300, ge=1)
    # The breaker's clock runs 1/scale times faster locally (see deliver's settings): times
    # read from or written to the circuit record are on that clock.
    clock_scale: float = Field(alias=names.LOCAL_TIME_SCALE_ENV, default=1.0, gt=0, le=1)

    @field_validator("queues", "workflow_names", mode="before")
    @classmethod
    def _parse_queues(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def workflows(self, function_arn: str) -> dict[str, str]:
        """The state machine ARNs of the operated workflows, seen from ``function_arn``."""
        return {
            workflow: state_machine_arn(function_arn, name)
            for workflow, name in self.workflow_names.items()
        }
