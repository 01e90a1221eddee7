"""The shapes of the API's answers, for the OpenAPI document (routes build plain dicts)."""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from functions._shared.enrichment import (
    ASIN_PATTERN,
    DEFAULT_BATCH_SIZE,
    EAN_PATTERN,
    MAX_BATCH_SIZE,
    MIN_BATCH_SIZE,
    USER_ID_PATTERN,
)
from functions._shared.status import Status

MAX_OBJECT_KEY_LENGTH: Final = 1024
S3_BUCKET_PATTERN: Final = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"

_CAMEL_CASE = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)


class ErrorDetail(BaseModel):
    """One wrong field."""

    index: int | None = Field(
        default=None,
        description="Position of the event (or product) in the request, when the field is in one.",
    )
    field: str = Field(
        description="Dotted path of the field in the event (`$` for the whole body or event), "
        "in the catalog's body (`products.3.asin`), or `header.<Name>` / `path.<name>` / "
        "`query.<name>` for a request parameter."
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
    """The events were accepted (or had been, for a retried ``Idempotency-Key``)."""

    model_config = _CAMEL_CASE

    execution_id: str | None = Field(
        default=None,
        alias="executionId",
        description="ARN of the ingest execution, when the stack starts one per request "
        "(intake `per-request`). Queued (the default), the events wait in the ingest queue and "
        "the status record names the execution that carried them (`executionArn`) once one did.",
    )
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
    status: Status
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
    execution_arn: str | None = Field(
        default=None,
        alias="executionArn",
        description="The ingest execution that carried the events, once one did.",
    )
    created_at: str | None = Field(default=None, alias="createdAt")
    updated_at: str | None = Field(default=None, alias="updatedAt")
    history: list[StatusStep] = Field(default_factory=list)


class HealthResponse(BaseModel):
    status: Literal["ok"]


# --- Enrichments -------------------------------------------------------------------------------

_ENRICHMENT_STATUS = Literal["RECEIVED", "PLANNED", "COMPLETE", "COMPLETE_WITH_FAILURES", "FAILED"]


class Product(BaseModel):
    """A product: exactly one of ``asin`` or ``ean``; any other keys are kept as they are."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"oneOf": [{"required": ["asin"]}, {"required": ["ean"]}]},
    )

    asin: str | None = Field(
        default=None,
        pattern=ASIN_PATTERN,
        description="Amazon Standard Identification Number: 10 upper-case letters or digits.",
    )
    ean: str | None = Field(
        default=None,
        pattern=EAN_PATTERN,
        description="European Article Number: 13 digits, as a string (a number loses leading "
        "zeros).",
    )


class ProductsPointer(BaseModel):
    """Where a large catalog is: an S3 object of NDJSON, one product per line."""

    bucket: str = Field(pattern=S3_BUCKET_PATTERN)
    key: str = Field(min_length=1, max_length=MAX_OBJECT_KEY_LENGTH)

    @field_validator("key")
    @classmethod
    def _key_fits_in_bytes(cls, key: str) -> str:
        # S3 counts a key's length in UTF-8 bytes, not in characters.
        if len(key.encode("utf-8", "replace")) > MAX_OBJECT_KEY_LENGTH:
            raise ValueError(f"is over {MAX_OBJECT_KEY_LENGTH} bytes")
        return key


class EnrichmentRequest(BaseModel):
    """A catalog to enrich: its products inline, or a pointer to them in S3 (not both)."""

    # The API validates requests with this model (functions/api/enrichments.py), by the JSON
    # names only; each product is then judged by the rule enrich_batch applies.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [{"required": ["products"]}, {"required": ["productsPointer"]}]
        },
        validate_by_name=False,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    user_id: str | None = Field(
        default=None,
        alias="userId",
        strict=True,
        pattern=USER_ID_PATTERN,
        description="Who the enrichment is for: the signed-in user (the token's subject), "
        "whether given or not; any other user is refused with 403.",
    )
    products: list[Product] | None = Field(
        default=None,
        min_length=1,
        description="1 to MAX_INLINE_PRODUCTS products, each product once.",
    )
    products_pointer: ProductsPointer | None = Field(
        default=None,
        alias="productsPointer",
        description="A larger catalog: an NDJSON object in S3 (checked by the workflow).",
    )
    batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE,
        alias="batchSize",
        strict=True,  # "20" and true are refused, not read as 20 and 1
        ge=MIN_BATCH_SIZE,
        le=MAX_BATCH_SIZE,
        description="Products per batch; the default is the deployment's ENRICH_BATCH_SIZE.",
    )


class EnrichmentAccepted(BaseModel):
    """The enrich workflow was started (or had been, for a retried ``Idempotency-Key``)."""

    model_config = _CAMEL_CASE

    tracking_id: str = Field(
        alias="trackingId",
        description="Where to follow it: `GET /catalogs/{catalogId}/enrichments/{trackingId}`.",
    )
    execution_id: str = Field(alias="executionId", description="ARN of the enrich execution.")
    total_products: int | None = Field(
        alias="totalProducts", description="Products posted inline; null for a pointer."
    )
    total_batches: int | None = Field(
        alias="totalBatches", description="Batches they make; null for a pointer."
    )


class EnrichmentFailure(BaseModel):
    """A product that was not enriched, and why."""

    model_config = _CAMEL_CASE

    product_id: str | None = Field(
        alias="productId",
        description="`asin:...` or `ean:...`; null when a batch planned from S3 failed as a "
        "whole (its products are not listed).",
    )
    reason: str
    batch_index: int | None = Field(default=None, alias="batchIndex")


class EnrichmentProgress(BaseModel):
    """An enrichment's status and progress, counted from the batches recorded so far."""

    model_config = _CAMEL_CASE

    tracking_id: str = Field(alias="trackingId")
    catalog_id: str = Field(alias="catalogId")
    user_id: str | None = Field(alias="userId")
    status: _ENRICHMENT_STATUS
    total_products: int | None = Field(
        alias="totalProducts", description="Null until an S3 catalog is planned."
    )
    total_batches: int | None = Field(alias="totalBatches")
    batches_done: int = Field(alias="batchesDone")
    products_enriched: int = Field(alias="productsEnriched")
    products_failed: int = Field(alias="productsFailed")
    failures: list[EnrichmentFailure] = Field(description="The first 100 failures.")
    started_at: str | None = Field(alias="startedAt")
    finished_at: str | None = Field(alias="finishedAt", description="Null while it runs.")
    reason: str | None = Field(
        default=None, description="Why it FAILED, or what failed in COMPLETE_WITH_FAILURES."
    )


class EnrichmentSummary(BaseModel):
    """One enrichment of a user's list; the final counts once it is finished."""

    model_config = _CAMEL_CASE

    tracking_id: str = Field(alias="trackingId")
    catalog_id: str = Field(alias="catalogId")
    user_id: str | None = Field(alias="userId")
    status: _ENRICHMENT_STATUS
    total_products: int | None = Field(alias="totalProducts")
    total_batches: int | None = Field(alias="totalBatches")
    started_at: str | None = Field(alias="startedAt")
    finished_at: str | None = Field(alias="finishedAt")
    batches_done: int | None = Field(default=None, alias="batchesDone")
    products_enriched: int | None = Field(default=None, alias="productsEnriched")
    products_failed: int | None = Field(default=None, alias="productsFailed")
    reason: str | None = None


class EnrichmentList(BaseModel):
    """A page of a user's enrichments, newest first."""

    model_config = _CAMEL_CASE

    enrichments: list[EnrichmentSummary]
    next_token: str | None = Field(
        alias="nextToken", description="Pass it as `?nextToken=` for the next page; null last."
    )
