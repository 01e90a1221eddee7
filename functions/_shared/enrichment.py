"""The enrichment's shared vocabulary: product identity, catalog and batch ids, the status rows.

api, enrich_batch and update_status each ship alone with ``functions/_shared`` (see
``infra/packaging.py``), so what they must agree on lives here (``docs/contracts.md``, "The
enrichment workflow"):

- a product is a JSON object with exactly one of ``asin`` (10 upper-case letters or digits) or
  ``ean`` (13 digits); other keys are kept. :func:`validate_product` judges one and answers its
  product id (``asin:B000123``, the ``products`` table's sort key) and its normalised form;
  :class:`ProductScreen` adds the duplicate check over a whole catalog, streaming.
  (``functions/enrich_batch/products.py`` applies the same rule to S3 catalogs.)
- the ``enrichment-status`` table holds per enrichment one summary row
  (``batchId = "{trackingId}#CATALOG"``, the only row with ``userId``) and one row per batch
  (``batchId = "{trackingId}#batch-{index:05d}"``).
- statuses only move forward by rank, as in the ingest status table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from functions._shared.models import json_type_name
from functions._shared.status import RANK_ATTRIBUTE

# --- Identifiers -------------------------------------------------------------------------------

CATALOG_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""What a catalog id looks like (it is the enrichment table's partition key and a URL segment)."""

ENRICH_TRACKING_ID_PREFIX: Final = "enr-"
"""Tracking ids of enrichments, as the api mints them (``enr-`` + a uuid4's hex)."""

USER_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$"
"""What a user id looks like: it is the index's partition key and a URL segment."""

ASIN_KEY: Final = "asin"
EAN_KEY: Final = "ean"
IDENTIFIER_KEYS: Final = (ASIN_KEY, EAN_KEY)
ASIN_PATTERN: Final = r"^[A-Z0-9]{10}$"
EAN_PATTERN: Final = r"^[0-9]{13}$"

_ASIN: Final = re.compile(ASIN_PATTERN)
_EAN: Final = re.compile(EAN_PATTERN)
_CATALOG_ID: Final = re.compile(CATALOG_ID_PATTERN)
_USER_ID: Final = re.compile(USER_ID_PATTERN)
_IDENTIFIER_RULES: Final = {
    ASIN_KEY: "10 upper-case letters or digits",
    EAN_KEY: "13 digits",
}
_MAX_SHOWN_VALUE: Final = 40

SUMMARY_SUFFIX: Final = "#CATALOG"
BATCH_INFIX: Final = "#batch-"

# --- Sizes -------------------------------------------------------------------------------------

DEFAULT_BATCH_SIZE: Final = 20
"""Products per batch unless the request says otherwise."""
MIN_BATCH_SIZE: Final = 1
MAX_BATCH_SIZE: Final = 100
DEFAULT_MAX_INLINE_PRODUCTS: Final = 1000
"""Products a request may carry inline; larger catalogs are posted as an S3 pointer."""
MAX_LISTED_BATCH_FAILURES: Final = 50
"""Failures a batch row lists (its ``failed`` count is always exact)."""
MAX_LISTED_FAILURES: Final = 100
"""Failures ``GET /catalogs/{catalogId}/enrichments/{trackingId}`` lists."""


def is_catalog_id(value: object) -> bool:
    """Whether ``value`` is a well-formed catalog id.

    >>> is_catalog_id("cat-1"), is_catalog_id("-cat"), is_catalog_id("a" * 129)
    (True, False, False)
    """
    return isinstance(value, str) and _CATALOG_ID.fullmatch(value) is not None


def is_user_id(value: object) -> bool:
    """Whether ``value`` is a well-formed user id.

    >>> is_user_id("u-1"), is_user_id("ana@example.com"), is_user_id("has space")
    (True, True, False)
    """
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


def summary_id(tracking_id: str) -> str:
    """The sort key of an enrichment's summary row.

    >>> summary_id("enr-1")
    'enr-1#CATALOG'
    """
    return f"{tracking_id}{SUMMARY_SUFFIX}"


def batch_id(tracking_id: str, index: int) -> str:
    """The id (and sort key) of batch ``index`` (0-based) of an enrichment.

    >>> batch_id("enr-1", 7)
    'enr-1#batch-00007'
    """
    if index < 0:
        raise ValueError(f"a batch index is 0 or more, got {index}")
    return f"{tracking_id}{BATCH_INFIX}{index:05d}"


def batch_id_prefix(tracking_id: str) -> str:
    """What every batch row of an enrichment's sort key starts with (for ``begins_with``).

    >>> batch_id_prefix("enr-1")
    'enr-1#batch-'
    """
    return f"{tracking_id}{BATCH_INFIX}"


def batch_index(tracking_id: str, batch: str) -> int | None:
    """The index a batch id of ``tracking_id`` names, or ``None`` if it is not one of its ids.

    >>> batch_index("enr-1", "enr-1#batch-00007"), batch_index("enr-2", "enr-1#batch-00007")
    (7, None)
    """
    digits = batch.removeprefix(batch_id_prefix(tracking_id))
    if digits == batch or len(digits) < 5 or not digits.isascii() or not digits.isdigit():
        return None
    return int(digits)


def product_id(id_type: str, value: str) -> str:
    """A product's id: its identifier's type and value (the ``products`` table's sort key).

    >>> product_id("asin", "B000123456")
    'asin:B000123456'
    """
    return f"{id_type}:{value}"


# --- Products ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductProblem:
    """Why a product is refused.

    ``field`` is relative to the product (``asin``, ``ean`` or ``$`` for the whole product);
    ``duplicate_of`` is the index of the first product with the same id, for a duplicate.
    """

    field: str
    reason: str
    duplicate_of: int | None = None


def validate_product(raw: Any) -> tuple[str, dict[str, Any]] | ProductProblem:
    """``(product id, product)`` for a valid product, else the :class:`ProductProblem`.

    Exactly as the contract writes it: a JSON object with exactly one of the keys ``asin``
    (a string of 10 upper-case letters or digits) or ``ean`` (a string of 13 digits: a JSON
    number would lose leading zeros). Nothing is trimmed or case-folded, so an S3 catalog and an
    inline one are judged the same; the product is answered as a copy, every key kept.

    >>> validate_product({"asin": "B000123456", "title": "kept"})
    ('asin:B000123456', {'asin': 'B000123456', 'title': 'kept'})
    >>> validate_product({"ean": "4006381333931"})[0]
    'ean:4006381333931'
    >>> validate_product({"sku": "x"}).reason.startswith("has no identifier: give exactly one")
    True
    >>> validate_product({"asin": "b000123456"})
    ProductProblem(field='asin', reason="must be 10 upper-case letters or digits, got 'b000123456'", duplicate_of=None)
    """  # noqa: E501
    if not isinstance(raw, dict):
        return ProductProblem("$", f"must be a JSON object, got {json_type_name(raw)}")
    present = [key for key in IDENTIFIER_KEYS if key in raw]
    if not present:
        rules = " or ".join(f"{key} ({rule})" for key, rule in _IDENTIFIER_RULES.items())
        return ProductProblem("$", f"has no identifier: give exactly one of {rules}")
    if len(present) > 1:
        return ProductProblem("$", "has both asin and ean: give exactly one")
    (key,) = present
    value = raw[key]
    rule = _IDENTIFIER_RULES[key]
    if not isinstance(value, str):
        return ProductProblem(key, f"must be a string of {rule}, got {json_type_name(value)}")
    pattern = _ASIN if key == ASIN_KEY else _EAN
    if not value.isascii() or pattern.fullmatch(value) is None:
        return ProductProblem(key, f"must be {rule}, got {_shown(value)}")
    return product_id(key, value), dict(raw)


@dataclass
class ProductScreen:
    """:func:`validate_product` over a catalog, one product at a time, plus the duplicate check.

    Remembers the id of each valid product (a few dozen bytes each), so a catalog streams
    through in bounded memory per product.

    >>> screen = ProductScreen()
    >>> screen.check(0, {"asin": "B000123456"})
    ('asin:B000123456', {'asin': 'B000123456'})
    >>> screen.check(1, {"asin": "B000123456", "sku": "other"}).duplicate_of
    0
    """

    first_index: dict[str, int] = field(default_factory=dict)

    def check(self, index: int, raw: Any) -> tuple[str, dict[str, Any]] | ProductProblem:
        """Judge the product at ``index``; a repeat of an earlier product id is a problem."""
        verdict = validate_product(raw)
        if isinstance(verdict, ProductProblem):
            return verdict
        identity, _ = verdict
        first = self.first_index.setdefault(identity, index)
        if first != index:
            return ProductProblem(
                "$", f"is the same product ({identity}) as products.{first}", duplicate_of=first
            )
        return verdict


def _shown(value: str) -> str:
    if len(value) > _MAX_SHOWN_VALUE:
        value = value[: _MAX_SHOWN_VALUE - 3] + "..."
    return repr(value)


# --- Status rows -------------------------------------------------------------------------------


class EnrichmentStatus(StrEnum):
    """Statuses of the enrichment table's rows: summary (RECEIVED..FAILED) and batch (ENRICHED,
    FAILED)."""

    RECEIVED = "RECEIVED"
    PLANNED = "PLANNED"
    ENRICHED = "ENRICHED"
    COMPLETE = "COMPLETE"
    COMPLETE_WITH_FAILURES = "COMPLETE_WITH_FAILURES"
    FAILED = "FAILED"


SUMMARY_RANKS: Final[Mapping[EnrichmentStatus, int]] = {
    EnrichmentStatus.RECEIVED: 10,
    EnrichmentStatus.PLANNED: 20,
    EnrichmentStatus.COMPLETE: 90,
    EnrichmentStatus.COMPLETE_WITH_FAILURES: 90,
    EnrichmentStatus.FAILED: 90,
}
"""Ranks of the summary row (docs/contracts.md); a write ranked not above the stored one is a
no-op, so the summary never moves backwards and a final status is final."""

BATCH_RANKS: Final[Mapping[EnrichmentStatus, int]] = {
    EnrichmentStatus.ENRICHED: 90,
    EnrichmentStatus.FAILED: 90,
}
"""A batch row is written once, final: it never leaves ENRICHED or FAILED."""

FINAL_RANK: Final = 90

# Attributes of the rows besides the keys (names.ENRICHMENT_*).
TRACKING_ID_ATTRIBUTE: Final = "trackingId"
BATCH_INDEX_ATTRIBUTE: Final = "batchIndex"


def public_row(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row without its rank (what update_status answers and the API shows).

    >>> public_row({"catalogId": "c", "statusRank": 90, "status": "ENRICHED"})
    {'catalogId': 'c', 'status': 'ENRICHED'}
    """
    return {key: value for key, value in item.items() if key != RANK_ATTRIBUTE}
