"""The enrichment routes' work, without HTTP or AWS: check a catalog, start its enrichment,
report its progress and list a user's enrichments (``docs/contracts.md``, "The enrichment
workflow").

Products are judged by :func:`functions._shared.enrichment.validate_product`, the rule
enrich_batch applies to S3 catalogs, so an inline catalog the API accepts is never refused later
for its products, and a bad one is refused before anything starts or is written.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from pydantic import ValidationError

from functions._shared.enrichment import (
    CATALOG_ID_PATTERN,
    ENRICH_TRACKING_ID_PREFIX,
    MAX_BATCH_SIZE,
    MAX_LISTED_FAILURES,
    MIN_BATCH_SIZE,
    SUMMARY_SUFFIX,
    ProductProblem,
    ProductScreen,
    is_catalog_id,
    is_user_id,
)
from functions._shared.models import format_utc, json_type_name
from functions._shared.validation import WHOLE_VALUE
from functions.api.core import MAX_EXECUTION_INPUT_BYTES, WorkflowStarter, execution_input_of
from functions.api.errors import ApiError, DependencyUnavailableError, field_error
from functions.api.schemas import MAX_OBJECT_KEY_LENGTH
from functions.api.schemas import EnrichmentRequest as EnrichmentRequestBody

USER_ID_FIELD: Final = "userId"
PRODUCTS_FIELD: Final = "products"
POINTER_FIELD: Final = "productsPointer"
BATCH_SIZE_FIELD: Final = "batchSize"
REQUEST_FIELDS: Final = (USER_ID_FIELD, PRODUCTS_FIELD, POINTER_FIELD, BATCH_SIZE_FIELD)

DEFAULT_LIST_LIMIT: Final = 20
MAX_LIST_LIMIT: Final = 100
MAX_NEXT_TOKEN_LENGTH: Final = 1024

_MESSAGE_PROBLEMS: Final = 5
_USER_ID_RULE: Final = (
    "must be 1-128 letters, digits, '.', '_', '@', ':', '+' or '-', starting with a letter or digit"
)
_POINTER_ADVICE: Final = (
    'upload the catalog to S3 as NDJSON (one product per line) and post {"userId", '
    '"productsPointer": {"bucket", "key"}} instead'
)


@dataclass(frozen=True)
class EnrichmentRequest:
    """A checked ``POST /catalogs/{catalogId}/enrichments``: products normalised, or a pointer."""

    catalog_id: str
    user_id: str
    batch_size: int
    products: list[dict[str, Any]] | None = None
    pointer: dict[str, str] | None = None


@dataclass(frozen=True)
class EnrichmentSubmission:
    """An enrichment ready to start: its ids, totals (``None`` for a pointer) and input."""

    tracking_id: str
    catalog_id: str
    user_id: str
    batch_size: int
    total_products: int | None
    total_batches: int | None
    pointer: dict[str, str] | None
    execution_input: str


class EnrichmentRecorder(Protocol):
    """Writes the summary rows the API owns; raises :class:`DependencyUnavailableError`."""

    def record_received(self, submission: EnrichmentSubmission, at: str) -> None:
        """Create the RECEIVED summary row (``userId``, ``createdAt``, totals for inline)."""
        ...

    def record_start_failure(self, catalog_id: str, tracking_id: str, reason: str, at: str) -> None:
        """Move the summary row to FAILED with ``reason``, unless it has moved on already."""
        ...


class EnrichmentReader(Protocol):
    """Reads the enrichment table; raises :class:`DependencyUnavailableError`."""

    def read_summary(self, catalog_id: str, tracking_id: str) -> dict[str, Any] | None:
        """The summary row (strongly consistent), or ``None``."""
        ...

    def batch_rows(self, catalog_id: str, tracking_id: str) -> Iterable[dict[str, Any]]:
        """Every batch row of the enrichment in batch order (strongly consistent)."""
        ...

    def list_by_user(
        self, user_id: str, count: int, start_after: tuple[str, str, str] | None
    ) -> list[dict[str, Any]]:
        """Up to ``count`` summary rows of ``user_id``, newest first, after the row keyed
        ``(createdAt, catalogId, batchId)`` when given."""
        ...


def new_enrichment_tracking_id() -> str:
    """A fresh enrichment tracking id, also the execution's name.

    >>> tracking_id = new_enrichment_tracking_id()
    >>> tracking_id.startswith("enr-"), len(tracking_id)
    (True, 36)
    """
    return f"{ENRICH_TRACKING_ID_PREFIX}{uuid.uuid4().hex}"


# --- POST ---------------------------------------------------------------------------------------


def upload_prefix(owner: str) -> str:
    """Where ``owner``'s catalogs are uploaded in the staging bucket, and the only place a
    ``productsPointer`` of theirs may point.

    >>> upload_prefix("0b6e-42")
    'uploads/0b6e-42/'
    """
    return f"uploads/{owner}/"


def parse_enrichment_request(
    catalog_id: str,
    body: Any,
    *,
    owner: str,
    max_inline_products: int,
    default_batch_size: int,
    staging_bucket: str | None = None,
) -> EnrichmentRequest:
    """The checked request, or a 400 naming every problem (nothing is started or written).

    ``owner`` is the signed-in user (the token's subject): the enrichment is theirs. A body
    may still name its ``userId``, but only as that same user (403 otherwise). A
    ``productsPointer`` must name an object under the owner's :func:`upload_prefix` in
    ``staging_bucket``: anything else is a 403 before anything is read, so the answer is the
    same whether the object exists or not.

    The body is validated by :class:`~functions.api.schemas.EnrichmentRequest`, the schema the
    OpenAPI document shows; what a schema cannot say is checked here: products or a pointer
    (not both), the deployment's inline maximum, and each product by the rule enrich_batch
    applies, duplicates included.

    >>> request = parse_enrichment_request("cat-1", {"userId": "u-1", "products": [
    ...     {"asin": "B000123456"}]}, owner="u-1", max_inline_products=10, default_batch_size=20)
    >>> request.products, request.batch_size
    ([{'asin': 'B000123456'}], 20)
    >>> parse_enrichment_request("cat-1", {"products": [{"asin": "B000123456"},
    ...     {"asin": "B000123456"}]}, owner="u-1", max_inline_products=10, default_batch_size=20)
    Traceback (most recent call last):
    ...
    functions.api.errors.ApiError: products.1 is the same product (asin:B000123456) as products.0; nothing was started
    """  # noqa: E501
    if not is_catalog_id(catalog_id):
        raise ApiError(
            400,
            "malformed catalog id",
            [field_error("path.catalogId", f"must match {CATALOG_ID_PATTERN}")],
        )
    if not isinstance(body, dict):
        given = json_type_name(body)
        raise ApiError(
            400,
            f'the body must be a JSON object {{"userId", "products"}} or {{"userId", '
            f'"productsPointer"}}, got {given}',
            [field_error(WHOLE_VALUE, f"must be a JSON object, got {given}")],
        )
    try:
        model: EnrichmentRequestBody | None = EnrichmentRequestBody.model_validate(body)
        errors: list[dict[str, Any]] = []
    except ValidationError as invalid:
        model, errors = None, _schema_errors(invalid)
    raw_products, raw_pointer = body.get(PRODUCTS_FIELD), body.get(POINTER_FIELD)
    products: list[dict[str, Any]] | None = None
    if raw_products is not None and raw_pointer is not None:
        errors.append(
            field_error(
                POINTER_FIELD,
                "cannot be given with products: give the products inline or a pointer to "
                "them in S3, not both",
            )
        )
    elif raw_products is None and raw_pointer is None:
        errors.append(
            field_error(
                PRODUCTS_FIELD,
                f"is required: give 1 to {max_inline_products} products, or productsPointer "
                "to an NDJSON catalog in S3; the request has no products",
            )
        )
    elif isinstance(raw_products, list) and raw_products:
        products = _products(raw_products, max_inline_products, errors)
    if errors:
        raise ApiError(400, _message(errors), errors)
    assert model is not None  # the schema found nothing wrong
    if model.user_id is not None and model.user_id != owner:
        raise ApiError(
            403,
            "an enrichment belongs to the signed-in user: userId must be yours or left out",
            [field_error(USER_ID_FIELD, "is not the signed-in user (the token's subject)")],
        )
    pointer = model.products_pointer
    if pointer is not None and not (
        staging_bucket is not None
        and pointer.bucket == staging_bucket
        and pointer.key.startswith(upload_prefix(owner))
    ):
        raise ApiError(
            403,
            "productsPointer must name a catalog you uploaded: an object under "
            f"{upload_prefix(owner)} in the staging bucket",
            [field_error(POINTER_FIELD, "is outside the signed-in user's upload prefix")],
        )
    return EnrichmentRequest(
        catalog_id=catalog_id,
        user_id=owner,
        batch_size=(model.batch_size if BATCH_SIZE_FIELD in body else default_batch_size),
        products=products,
        pointer=None if pointer is None else {"bucket": pointer.bucket, "key": pointer.key},
    )


def prepare_enrichment(request: EnrichmentRequest, tracking_id: str) -> EnrichmentSubmission:
    """The execution input of the contract, refused with a 413 when it exceeds Step Functions'
    limit (the message says to post a pointer instead)."""
    document: dict[str, Any] = {
        "trackingId": tracking_id,
        "catalogId": request.catalog_id,
        "userId": request.user_id,
        "batchSize": request.batch_size,
    }
    total_products = total_batches = None
    if request.products is not None:
        document[PRODUCTS_FIELD] = request.products
        total_products = len(request.products)
        total_batches = -(-total_products // request.batch_size)
    else:
        document[POINTER_FIELD] = request.pointer
    execution_input, size = execution_input_of(document)
    if size > MAX_EXECUTION_INPUT_BYTES:
        raise ApiError(
            413,
            f"the products make an execution input of {size:,} bytes; Step Functions accepts "
            f"at most {MAX_EXECUTION_INPUT_BYTES:,} bytes per execution: {_POINTER_ADVICE}",
            [
                field_error(
                    PRODUCTS_FIELD,
                    f"make {size} bytes of execution input, over the limit of "
                    f"{MAX_EXECUTION_INPUT_BYTES} bytes; post productsPointer instead",
                )
            ],
        )
    return EnrichmentSubmission(
        tracking_id=tracking_id,
        catalog_id=request.catalog_id,
        user_id=request.user_id,
        batch_size=request.batch_size,
        total_products=total_products,
        total_batches=total_batches,
        pointer=request.pointer,
        execution_input=execution_input,
    )


def start_enrichment(
    submission: EnrichmentSubmission,
    starter: WorkflowStarter,
    recorder: EnrichmentRecorder,
    now: datetime,
) -> dict[str, Any]:
    """Write the summary row RECEIVED, then start the enrich workflow; the 202's body.

    RECEIVED first, so a ``GET`` right after the 202 finds the enrichment. When the start fails,
    the row says FAILED (best effort) and the error propagates (a 503).
    """
    at = format_utc(now)
    recorder.record_received(submission, at)
    try:
        execution_arn = starter.start(submission.tracking_id, submission.execution_input)
    except DependencyUnavailableError as error:
        reason = (
            f"the enrich workflow could not be started ({error}); the client was answered 503 "
            "and may retry under a new tracking id"
        )
        with suppress(DependencyUnavailableError):
            recorder.record_start_failure(submission.catalog_id, submission.tracking_id, reason, at)
        raise
    return {
        "trackingId": submission.tracking_id,
        "executionId": execution_arn,
        "totalProducts": submission.total_products,
        "totalBatches": submission.total_batches,
    }


# Each field's rule in the words of the JSON a client wrote; pydantic's own wording names
# Python types and regular expressions.
_FIELD_RULES: Final = {
    USER_ID_FIELD: _USER_ID_RULE,
    BATCH_SIZE_FIELD: f"must be a whole number from {MIN_BATCH_SIZE} to {MAX_BATCH_SIZE}, got "
    "{given}",
    PRODUCTS_FIELD: "must be a JSON array of products, got {given}",
    POINTER_FIELD: 'must be a JSON object {{"bucket", "key"}}, got {given}',
    f"{POINTER_FIELD}.bucket": "is required and must be an S3 bucket name (3-63 lower-case "
    "letters, digits, '.' or '-')",
    f"{POINTER_FIELD}.key": "is required and must be an S3 object key of 1 to "
    f"{MAX_OBJECT_KEY_LENGTH} bytes",
}
_MISSING_RULES: Final = {USER_ID_FIELD: "is required: the user the enrichment is for"}
_NO_PRODUCTS: Final = "holds no products; give at least one product"
# Unknown fields first, then the fields in the order a reader of the request meets them.
_FIELD_ORDER: Final = {name: rank for rank, name in enumerate(REQUEST_FIELDS, start=1)}


def _schema_errors(invalid: ValidationError) -> list[dict[str, Any]]:
    """The schema's findings as the API words them. Problems inside a product are left to
    :class:`ProductScreen`, which words them as enrich_batch does."""
    found: list[tuple[int, dict[str, Any]]] = []
    for detail in invalid.errors(include_url=False):
        location = detail["loc"]
        name = str(location[0]) if location else WHOLE_VALUE
        if name == PRODUCTS_FIELD and len(location) > 1:
            continue
        field = ".".join(str(part) for part in location)
        kind = detail["type"]
        if kind == "extra_forbidden":
            expected = ", ".join(REQUEST_FIELDS)
            reason = f"is not a field of this request; expected {expected}"
            field = field[:100]
        elif kind == "missing" and field in _MISSING_RULES:
            reason = _MISSING_RULES[field]
        elif kind == "string_type" and field == USER_ID_FIELD:
            reason = f"must be a string, got {json_type_name(detail['input'])}"
        elif kind == "too_short" and field == PRODUCTS_FIELD:
            reason = _NO_PRODUCTS
        else:
            given = detail["input"]
            shown = given if kind in {"greater_than_equal", "less_than_equal"} else None
            reason = _FIELD_RULES.get(field, detail["msg"]).format(
                given=json_type_name(given) if shown is None else shown
            )
        found.append((_FIELD_ORDER.get(name, 0), field_error(field, reason)))
    return [error for _, error in sorted(found, key=lambda ranked: ranked[0])]


def _products(
    value: list[Any], max_inline_products: int, errors: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    if len(value) > max_inline_products:
        errors.append(
            field_error(
                PRODUCTS_FIELD,
                f"holds {len(value):,} products; at most {max_inline_products:,} are accepted "
                f"inline: {_POINTER_ADVICE}",
            )
        )
        return None
    screen = ProductScreen()
    products: list[dict[str, Any]] = []
    for index, raw in enumerate(value):
        verdict = screen.check(index, raw)
        if isinstance(verdict, ProductProblem):
            place = f"{PRODUCTS_FIELD}.{index}"
            field = place if verdict.field == WHOLE_VALUE else f"{place}.{verdict.field}"
            errors.append(field_error(field, verdict.reason, index=index))
        else:
            products.append(verdict[1])
    return products


def _message(errors: Sequence[Mapping[str, Any]]) -> str:
    shown = [f"{error['field']} {error['reason']}" for error in errors[:_MESSAGE_PROBLEMS]]
    if len(errors) > _MESSAGE_PROBLEMS:
        shown.append(f"and {len(errors) - _MESSAGE_PROBLEMS} more problems (see errors)")
    return "; ".join(shown) + "; nothing was started"


# --- GET progress -------------------------------------------------------------------------------


def read_progress(
    catalog_id: str, tracking_id: str, reader: EnrichmentReader, *, owner: str
) -> dict[str, Any]:
    """The progress of one of ``owner``'s enrichments, or a 404 when the catalog has no such
    enrichment or it is someone else's: the same answer, so that nobody learns which tracking
    ids exist."""
    summary = reader.read_summary(catalog_id, tracking_id)
    if summary is None or summary.get("userId") != owner:
        raise ApiError(404, f"catalog {catalog_id} has no enrichment {tracking_id}")
    return enrichment_progress(summary, reader.batch_rows(catalog_id, tracking_id))


def enrichment_progress(
    summary: Mapping[str, Any], batch_rows: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """What ``GET /catalogs/{catalogId}/enrichments/{trackingId}`` answers.

    The counts are sums over the batch rows, which are written once and never change, so read
    consistently they only grow while the enrichment runs; ``failures`` lists the first
    :data:`~functions._shared.enrichment.MAX_LISTED_FAILURES` in batch order.

    >>> summary = {"catalogId": "c", "trackingId": "enr-1", "status": "PLANNED",
    ...     "userId": "u", "totalProducts": 3, "totalBatches": 2, "createdAt": "t0"}
    >>> rows = [{"batchIndex": 0, "status": "ENRICHED", "enriched": 1, "failed": 1,
    ...     "failures": [{"productId": "asin:B000000001", "reason": "unknown"}]}]
    >>> progress = enrichment_progress(summary, rows)
    >>> progress["batchesDone"], progress["productsEnriched"], progress["productsFailed"]
    (1, 1, 1)
    >>> progress["failures"]
    [{'productId': 'asin:B000000001', 'reason': 'unknown', 'batchIndex': 0}]
    """
    batches_done = enriched = failed = 0
    failures: list[dict[str, Any]] = []
    for row in batch_rows:
        batches_done += 1
        row_enriched, row_failed = int(row.get("enriched", 0)), int(row.get("failed", 0))
        enriched += row_enriched
        failed += row_failed
        if len(failures) >= MAX_LISTED_FAILURES:
            continue
        index = row.get("batchIndex")
        listed = [
            {
                "productId": entry.get("productId"),
                "reason": entry.get("reason"),
                "batchIndex": index,
            }
            for entry in row.get("failures") or []
            if isinstance(entry, Mapping)
        ]
        if not listed and row_failed and row.get("reason"):
            # A batch planned from S3 that failed as a whole: its products are not known here.
            listed = [{"productId": None, "reason": row.get("reason"), "batchIndex": index}]
        failures.extend(listed[: MAX_LISTED_FAILURES - len(failures)])
    progress: dict[str, Any] = {
        "trackingId": summary.get("trackingId"),
        "catalogId": summary.get("catalogId"),
        "userId": summary.get("userId"),
        "status": summary.get("status"),
        "totalProducts": summary.get("totalProducts"),
        "totalBatches": summary.get("totalBatches"),
        "batchesDone": batches_done,
        "productsEnriched": enriched,
        "productsFailed": failed,
        "failures": failures,
        "startedAt": summary.get("createdAt"),
        "finishedAt": summary.get("finishedAt"),
    }
    if summary.get("reason"):
        progress["reason"] = summary["reason"]
    return progress


# --- GET by user --------------------------------------------------------------------------------


def list_enrichments(
    user_id: str, limit: int, next_token: str | None, reader: EnrichmentReader, *, owner: str
) -> dict[str, Any]:
    """A page of ``user_id``'s enrichments, newest first, and the token of the next page
    (``None`` on the last); only ``owner`` (the signed-in user) may list their own.

    Another user's list is a 403, not a 404: the path names a person, not a resource that may
    or may not exist, and the answer is the same whether that person has enrichments or not.
    """
    if not is_user_id(user_id):
        raise ApiError(400, "malformed user id", [field_error("path.userId", _USER_ID_RULE)])
    if user_id != owner:
        raise ApiError(
            403,
            "a user lists only their own enrichments",
            [field_error("path.userId", "is not the signed-in user (the token's subject)")],
        )
    start_after = decode_next_token(next_token) if next_token is not None else None
    rows = reader.list_by_user(user_id, limit + 1, start_after)
    page = rows[:limit]
    token = None
    if len(rows) > limit and page:
        last = page[-1]
        token = encode_next_token(
            (str(last["createdAt"]), str(last["catalogId"]), str(last["batchId"]))
        )
    return {"enrichments": [enrichment_summary(row) for row in page], "nextToken": token}


def enrichment_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of a user's list: the summary row, the final counts once final.

    >>> enrichment_summary({"trackingId": "enr-1", "catalogId": "c", "status": "RECEIVED",
    ...     "createdAt": "t0", "statusRank": 10})["startedAt"]
    't0'
    """
    summary: dict[str, Any] = {
        "trackingId": row.get("trackingId"),
        "catalogId": row.get("catalogId"),
        "userId": row.get("userId"),
        "status": row.get("status"),
        "totalProducts": row.get("totalProducts"),
        "totalBatches": row.get("totalBatches"),
        "startedAt": row.get("createdAt"),
        "finishedAt": row.get("finishedAt"),
    }
    for name in ("batchesDone", "productsEnriched", "productsFailed", "reason"):
        if row.get(name) is not None:
            summary[name] = row[name]
    return summary


def encode_next_token(position: tuple[str, str, str]) -> str:
    """An opaque token for the position after the row keyed ``(createdAt, catalogId, batchId)``.

    >>> decode_next_token(encode_next_token(("t0", "cat-1", "enr-1#CATALOG")))
    ('t0', 'cat-1', 'enr-1#CATALOG')
    """
    text = json.dumps(list(position), separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_next_token(token: str) -> tuple[str, str, str]:
    """The position a token names, or a 400 when it is not a token this API answered."""
    refused = ApiError(
        400,
        "malformed nextToken; pass the nextToken of the previous page unchanged",
        [field_error("query.nextToken", "is not a token this API answered")],
    )
    if len(token) > MAX_NEXT_TOKEN_LENGTH:
        raise refused
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
        position = json.loads(text)
    except (binascii.Error, ValueError):
        raise refused from None
    if (
        not isinstance(position, list)
        or len(position) != 3
        or not all(isinstance(part, str) and part for part in position)
        or not is_catalog_id(position[1])
        or not position[2].endswith(SUMMARY_SUFFIX)
    ):
        raise refused
    created_at, catalog_id, row_id = position
    return created_at, catalog_id, row_id
