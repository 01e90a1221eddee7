"""Enrich one batch: identify its products, look them up, store one item per product.

The batch arrives as the Map's ItemSelector builds it (docs/contracts.md)::

    {"trackingId": "enr-1", "catalogId": "cat-1", "batchIndex": 7,
     "item": [{"asin": "B000123456"}, ...]}                     # an inline catalog's chunk
    {"trackingId": "enr-1", "catalogId": "cat-1", "batchIndex": 7,
     "item": {"batchId": "enr-1#batch-00007", "pointer": {"bucket": "...", "key": "..."},
              "count": 20}}                                     # planned from S3

Its id is ``"{trackingId}#batch-{batchIndex:05d}"`` either way
(:func:`functions._shared.enrichment.batch_id`). What is stored and answered:

- one ``products`` item per distinct product (``PutItem``: a re-run of the batch overwrites the
  same keys, so nothing is ever counted twice), carrying ``trackingId``, ``batchId``,
  ``updatedAt``, the catalog's own entry as ``product``, and either the provider's attributes
  with ``enriched: true`` or ``enriched: false`` with ``reason``;
- ``{"batchId", "enriched", "failed", "failures": [{"productId", "reason"}]}``, failures listed up
  to :data:`MAX_LISTED_FAILURES`. ``enriched + failed`` is always the number of products in the
  batch, so the per-batch counts add up to the catalog's total.

The API and the plan refuse products without a valid identifier and repeats; should one reach a
batch anyway it is counted as failed (``productId`` ``null`` for one without an identifier), not
stored, and never fails the other products.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from functions._shared.enrichment import (
    CATALOG_ID_PATTERN,
    MAX_LISTED_BATCH_FAILURES,
    batch_id,
)
from functions._shared.enrichment import MAX_BATCH_SIZE as SHARED_MAX_BATCH_SIZE
from functions._shared.models import TrackingId, format_utc
from functions.enrich_batch.products import IdType, InvalidProductError, ProductKey, identify
from functions.enrich_batch.provider import Deadline, Enriched, Lookup, NotEnriched

MAX_LISTED_FAILURES: Final = MAX_LISTED_BATCH_FAILURES
MAX_BATCH_SIZE: Final = SHARED_MAX_BATCH_SIZE
"""Products per batch at most: five provider requests, well inside the function's timeout."""
PLAN_ACTION: Final = "plan"

CatalogId = Annotated[str, Field(pattern=CATALOG_ID_PATTERN)]


def batch_key(tracking_id: str, batch_index: int) -> str:
    """Where the plan writes a batch in the staging bucket.

    >>> batch_key("enr-1", 7)
    'enrichment/enr-1/batch-00007.json'
    """
    return f"enrichment/{tracking_id}/batch-{batch_index:05d}.json"


# -- inputs -----------------------------------------------------------------------------------


class S3Pointer(BaseModel):
    model_config = ConfigDict(extra="allow")

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class BatchPointer(BaseModel):
    """A batch the plan wrote to the staging bucket."""

    model_config = ConfigDict(extra="allow")

    batch_id: str | None = Field(alias="batchId", default=None)
    pointer: S3Pointer
    count: int | None = Field(default=None, ge=0)


class BatchRequest(BaseModel):
    """One iteration of the Map: which batch of which enrichment, and its products or where
    they are.

    >>> request = BatchRequest.model_validate({"trackingId": "enr-1", "catalogId": "cat-1",
    ...     "batchIndex": 3, "item": [{"asin": "B000123456"}]})
    >>> request.batch_id, request.inline_products
    ('enr-1#batch-00003', [{'asin': 'B000123456'}])
    """

    model_config = ConfigDict(extra="allow")

    tracking_id: TrackingId = Field(alias="trackingId")
    catalog_id: CatalogId = Field(alias="catalogId")
    batch_index: int = Field(alias="batchIndex", ge=0, strict=True)
    item: Annotated[list[Any], Field(max_length=MAX_BATCH_SIZE)] | BatchPointer

    @property
    def batch_id(self) -> str:
        return batch_id(self.tracking_id, self.batch_index)

    @property
    def inline_products(self) -> list[Any] | None:
        return self.item if isinstance(self.item, list) else None

    @property
    def pointer(self) -> BatchPointer | None:
        return self.item if isinstance(self.item, BatchPointer) else None


class PlanRequest(BaseModel):
    """``{"action": "plan", ...}``: split an NDJSON catalog in S3 into batch files.

    >>> PlanRequest.model_validate({"action": "plan", "trackingId": "enr-1",
    ...     "catalogId": "cat-1", "batchSize": 20,
    ...     "productsPointer": {"bucket": "uploads", "key": "cat-1.ndjson"}}).batch_size
    20
    """

    model_config = ConfigDict(extra="allow")

    action: Literal["plan"]
    tracking_id: TrackingId = Field(alias="trackingId")
    catalog_id: CatalogId = Field(alias="catalogId")
    batch_size: int = Field(alias="batchSize", ge=1, le=MAX_BATCH_SIZE, strict=True)
    products_pointer: S3Pointer = Field(alias="productsPointer")


# -- ports ------------------------------------------------------------------------------------


class Lookups(Protocol):
    def lookup(
        self, id_type: IdType, ids: Sequence[str], deadline: Deadline | None = None
    ) -> dict[str, Lookup]:
        """What the provider says about each id (see :class:`~functions.enrich_batch.provider.
        ProviderClient`)."""
        ...


class ProductStore(Protocol):
    def put(self, item: Mapping[str, Any]) -> None:
        """Store (overwrite) one ``products`` item; ``TransientDependencyError`` when busy."""
        ...


# -- the batch --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductFailure:
    product_id: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"productId": self.product_id, "reason": self.reason}


@dataclass
class BatchOutcome:
    """What happened to a batch; :meth:`to_json` is the Lambda's answer."""

    batch_id: str
    enriched: int = 0
    failures: list[ProductFailure] = field(default_factory=list)
    stored: int = 0

    @property
    def failed(self) -> int:
        return len(self.failures)

    def to_json(self) -> dict[str, Any]:
        """The contract's answer, failures listed up to :data:`MAX_LISTED_FAILURES`.

        >>> outcome = BatchOutcome("enr-1#batch-00000", enriched=1,
        ...     failures=[ProductFailure("asin:B00000000Z", "unknown to the provider")])
        >>> outcome.to_json()  # doctest: +NORMALIZE_WHITESPACE
        {'batchId': 'enr-1#batch-00000', 'enriched': 1, 'failed': 1,
         'failures': [{'productId': 'asin:B00000000Z', 'reason': 'unknown to the provider'}]}
        """
        return {
            "batchId": self.batch_id,
            "enriched": self.enriched,
            "failed": self.failed,
            "failures": [failure.to_json() for failure in self.failures[:MAX_LISTED_FAILURES]],
        }


def product_item(
    *,
    catalog_id: str,
    tracking_id: str,
    batch_id: str,
    key: ProductKey,
    product: Mapping[str, Any],
    lookup: Lookup,
    updated_at: datetime,
) -> dict[str, Any]:
    """The ``products`` item of one product, as plain JSON values.

    >>> from datetime import UTC
    >>> item = product_item(catalog_id="cat-1", tracking_id="enr-1",
    ...     batch_id="enr-1#batch-00000", key=ProductKey(IdType.ASIN, "B00000000Z"),
    ...     product={"asin": "B00000000Z", "sku": "x"},
    ...     lookup=NotEnriched("unknown to the provider"),
    ...     updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    >>> item  # doctest: +NORMALIZE_WHITESPACE
    {'catalogId': 'cat-1', 'productId': 'asin:B00000000Z', 'idType': 'asin',
     'trackingId': 'enr-1', 'batchId': 'enr-1#batch-00000', 'updatedAt': '2026-01-02T03:04:05Z',
     'product': {'asin': 'B00000000Z', 'sku': 'x'}, 'enriched': False,
     'reason': 'unknown to the provider'}
    """
    item: dict[str, Any] = {
        "catalogId": catalog_id,
        "productId": key.product_id,
        "idType": key.id_type.value,
        "trackingId": tracking_id,
        "batchId": batch_id,
        "updatedAt": format_utc(updated_at),
        # The catalog's own entry apart from the provider's attributes, so a catalog key
        # called "title" can never pass for the provider's title (or the reverse).
        "product": dict(product),
    }
    if isinstance(lookup, Enriched):
        return {**item, "enriched": True, **lookup.attributes}
    return {**item, "enriched": False, "reason": lookup.reason}


def enrich_products(
    products: Sequence[Any],
    *,
    catalog_id: str,
    tracking_id: str,
    batch_id: str,
    lookups: Lookups,
    store: ProductStore,
    now: datetime,
    deadline: Deadline | None = None,
) -> BatchOutcome:
    """Look every product of the batch up and store what the provider said about each.

    All lookups happen before the first write: a lookup that fails for good raises (the
    workflow retries the whole batch) and leaves nothing half-written for this attempt.

    Example::

        outcome = enrich_products(request.inline_products, catalog_id="cat-1",
                                  tracking_id="enr-1", batch_id="enr-1#batch-00000",
                                  lookups=client, store=DynamoDbProductStore(table),
                                  now=datetime.now(UTC))
        outcome.to_json()  # {'batchId': ..., 'enriched': 18, 'failed': 2, 'failures': [...]}
    """
    outcome = BatchOutcome(batch_id)
    keyed: dict[ProductKey, Mapping[str, Any]] = {}
    first_index: dict[ProductKey, int] = {}
    for index, product in enumerate(products):
        try:
            key = identify(product)
        except InvalidProductError as error:
            outcome.failures.append(ProductFailure(None, f"product {index} of the batch: {error}"))
            continue
        if key in keyed:
            outcome.failures.append(
                ProductFailure(key.product_id, f"repeats product {first_index[key]} of the batch")
            )
            continue
        keyed[key] = product
        first_index[key] = index

    found: dict[ProductKey, Lookup] = {}
    for id_type in IdType:
        ids = [key.value for key in keyed if key.id_type is id_type]
        if ids:
            answers = lookups.lookup(id_type, ids, deadline)
            found |= {ProductKey(id_type, value): lookup for value, lookup in answers.items()}

    for key, product in keyed.items():
        lookup = found.get(key, NotEnriched("the lookup returned nothing for it"))
        store.put(
            product_item(
                catalog_id=catalog_id,
                tracking_id=tracking_id,
                batch_id=batch_id,
                key=key,
                product=product,
                lookup=lookup,
                updated_at=now,
            )
        )
        outcome.stored += 1
        if isinstance(lookup, Enriched):
            outcome.enriched += 1
        else:
            outcome.failures.append(ProductFailure(key.product_id, lookup.reason))
    return outcome
