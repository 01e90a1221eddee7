"""The shapes of the API's answers, for the OpenAPI document (routes build plain dicts)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_CAMEL_CASE = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)


class ErrorDetail(BaseModel):
    """One wrong field."""

    index: int | None = Field(
        default=None, description="Position of the event in the request, when the field is in one."
    )
    field: str = Field(
        description="Dotted path of the field in the event (`$` for the whole body or event), "
        "or `header.<Name>` / `path.<name>` for a request parameter."
    )
    reason: str = Field(description="What is wrong with it, in words a producer can act on.")


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer: a message for a person, and the wrong fields for a program."""

    message: str
    errors: list[ErrorDetail] = Field(default_factory=list)


class InternalErrorResponse(ErrorResponse):
    """An unexpected failure; quote ``requestId`` to the operators."""

    request_id: str | None = Field(default=None, alias="requestId")

    model_config = _CAMEL_CASE


class AcceptedResponse(BaseModel):
    """The workflow was started (or had been, for a retried ``Idempotency-Key``)."""

    model_config = _CAMEL_CASE

    execution_id: str = Field(alias="executionId", description="ARN of the ingest execution.")
    tracking_id: str = Field(
        alias="trackingId", description="Where to follow the events: `GET /events/{trackingId}`."
    )


class StatusStep(BaseModel):
    status: str
    at: str


class StatusRecord(BaseModel):
    """Where a tracking id's events are: status, counts, rejections, duplicates, history."""

    model_config = ConfigDict(
        extra="allow", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    tracking_id: str = Field(alias="trackingId")
    status: Literal[
        "RECEIVED",
        "ACCEPTED",
        "BUNDLED",
        "ARCHIVED",
        "PARKED",
        "FAILED",
        "DELIVERED",
        "REJECTED",
        "DUPLICATE",
    ]
    reason: str | None = Field(default=None, description="Why, for REJECTED, PARKED and FAILED.")
    source: str | None = None
    counts: dict[str, int] = Field(
        default_factory=dict,
        description="received, valid, rejected, fresh, duplicates (as far as the workflow got).",
    )
    rejected: list[dict[str, Any]] = Field(
        default_factory=list, description="Rejected events with each wrong field and why."
    )
    rejected_total: int | None = Field(default=None, alias="rejectedTotal")
    duplicates: list[str] = Field(default_factory=list, description="Ids already processed.")
    duplicates_total: int | None = Field(default=None, alias="duplicatesTotal")
    archive_key: str | None = Field(
        default=None, alias="archiveKey", description="Key of the archived bundle."
    )
    created_at: str | None = Field(default=None, alias="createdAt")
    updated_at: str | None = Field(default=None, alias="updatedAt")
    history: list[StatusStep] = Field(default_factory=list)


class HealthResponse(BaseModel):
    status: Literal["ok"]
