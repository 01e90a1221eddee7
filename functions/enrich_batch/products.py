"""Product identity in enrich_batch's terms: the key each product is stored and looked up by.

The rule itself is :func:`functions._shared.enrichment.validate_product`, the one the API
applies to inline catalogs, so the plan refuses exactly the products the API refuses: a JSON
object with exactly one of ``asin`` (10 upper-case letters or digits) or ``ean`` (13 digits, as
a string); every other key is the catalog's own and is kept. The check digit of an EAN is not
verified: a well-formed identifier the provider does not know is stored as not enriched, which
tells the catalog's owner more than a rejection would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from functions._shared.enrichment import (
    ASIN_PATTERN,
    EAN_PATTERN,
    ProductProblem,
    validate_product,
)
from functions._shared.validation import WHOLE_VALUE

_ASIN: Final = re.compile(ASIN_PATTERN)
_EAN: Final = re.compile(EAN_PATTERN)


class IdType(StrEnum):
    """The identifiers the provider answers for; the value is the product's key for it."""

    ASIN = "asin"
    EAN = "ean"

    @property
    def pattern(self) -> re.Pattern[str]:
        return _ASIN if self is IdType.ASIN else _EAN


@dataclass(frozen=True, order=True)
class ProductKey:
    """A product's identifier: its type and value.

    >>> key = ProductKey(IdType.ASIN, "B000123456")
    >>> key.product_id
    'asin:B000123456'
    >>> ProductKey.parse("ean:4006381333931")
    ProductKey(id_type=<IdType.EAN: 'ean'>, value='4006381333931')
    """

    id_type: IdType
    value: str

    @property
    def product_id(self) -> str:
        return f"{self.id_type.value}:{self.value}"

    @classmethod
    def parse(cls, product_id: str) -> ProductKey:
        """The key of a ``productId``; ``ValueError`` when it is not one."""
        id_type, _, value = product_id.partition(":")
        try:
            key = cls(IdType(id_type), value)
        except ValueError:
            raise ValueError(f"not a product id: {product_id!r}") from None
        if not key.id_type.pattern.fullmatch(value):
            raise ValueError(f"not a product id: {product_id!r}")
        return key


class InvalidProductError(ValueError):
    """A product that cannot be enriched; the message says why, in the catalog's terms."""


def identify(product: object) -> ProductKey:
    """The identifier of a catalog product, or :class:`InvalidProductError` saying what is wrong.

    >>> identify({"asin": "B000123456", "sku": "x"}).product_id
    'asin:B000123456'
    >>> identify({"ean": "4006381333931"}).product_id
    'ean:4006381333931'
    >>> identify({"asin": "b000123456"})
    Traceback (most recent call last):
    ...
    functions.enrich_batch.products.InvalidProductError: asin must be 10 upper-case letters or \
digits, got 'b000123456'
    """
    verdict = validate_product(product)
    if isinstance(verdict, ProductProblem):
        if verdict.field == WHOLE_VALUE:
            raise InvalidProductError(verdict.reason)
        raise InvalidProductError(f"{verdict.field} {verdict.reason}")
    product_id, _ = verdict
    return ProductKey.parse(product_id)
