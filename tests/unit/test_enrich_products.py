"""Product identity: exactly one valid asin or ean (the API's rule), the productId built
from it."""

from __future__ import annotations

from typing import Any

import pytest

from functions._shared.enrichment import validate_product
from functions.enrich_batch.products import IdType, InvalidProductError, ProductKey, identify


@pytest.mark.parametrize(
    ("product", "product_id"),
    [
        ({"asin": "B000123456"}, "asin:B000123456"),
        ({"asin": "0123456789"}, "asin:0123456789"),
        ({"ean": "4006381333931", "sku": "x", "title": "kept"}, "ean:4006381333931"),
        ({"ean": "0000000000000"}, "ean:0000000000000"),
    ],
)
def test_a_product_with_one_valid_identifier_is_keyed_by_it(
    product: dict[str, Any], product_id: str
) -> None:
    key = identify(product)

    assert key.product_id == product_id
    assert key.id_type is IdType(product_id.split(":", maxsplit=1)[0])


@pytest.mark.parametrize(
    ("product", "reason"),
    [
        ({"sku": "x"}, "has no identifier"),
        ({}, "has no identifier"),
        ({"asin": "B000123456", "ean": "4006381333931"}, "has both asin and ean"),
        ({"asin": "b000123456"}, "asin must be 10 upper-case letters or digits, got 'b000123456'"),
        ({"asin": "B00012345"}, "asin must be 10 upper-case"),
        ({"asin": "B0001234567"}, "asin must be 10 upper-case"),
        ({"asin": "B00012345-"}, "asin must be 10 upper-case"),
        ({"asin": "B000123456\n"}, "asin must be 10 upper-case"),
        ({"ean": "400638133393"}, "ean must be 13 digits"),
        ({"ean": "400638133393A"}, "ean must be 13 digits"),
        ({"ean": "٤٠٠٦٣٨١٣٣٣٩٣١"}, "ean must be 13 digits"),
        ({"ean": 4006381333931}, "ean must be a string of 13 digits, got number"),
        ({"asin": None}, "asin must be a string"),
        ({"asin": ["B000123456"]}, "asin must be a string"),
        ("B000123456", "must be a JSON object, got string"),
        (None, "must be a JSON object, got null"),
        ([{"asin": "B000123456"}], "must be a JSON object, got array"),
    ],
)
def test_a_product_without_exactly_one_valid_identifier_is_refused_as_the_api_refuses_it(
    product: Any, reason: str
) -> None:
    with pytest.raises(InvalidProductError) as caught:
        identify(product)

    assert str(caught.value).startswith(reason)
    shared = validate_product(product)
    assert not isinstance(shared, tuple)
    assert shared.reason in str(caught.value)


def test_a_very_long_identifier_is_cut_in_the_message() -> None:
    with pytest.raises(InvalidProductError) as caught:
        identify({"asin": "A" * 10_000})

    assert len(str(caught.value)) < 120


def test_a_product_id_parses_back_into_its_key() -> None:
    key = ProductKey(IdType.EAN, "4006381333931")

    assert ProductKey.parse(key.product_id) == key
    for wrong in ("isbn:123", "asin:short", "B000123456", "ean:"):
        with pytest.raises(ValueError, match="not a product id"):
            ProductKey.parse(wrong)
