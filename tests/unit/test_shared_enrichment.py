"""The enrichment vocabulary the api, enrich_batch and update_status share: products, ids, ranks."""

from __future__ import annotations

import re
from typing import Any

import pytest

from functions._shared.enrichment import (
    BATCH_RANKS,
    CATALOG_ID_PATTERN,
    SUMMARY_RANKS,
    USER_ID_PATTERN,
    EnrichmentStatus,
    ProductProblem,
    ProductScreen,
    batch_id,
    batch_id_prefix,
    batch_index,
    is_catalog_id,
    is_user_id,
    public_row,
    summary_id,
    validate_product,
)


@pytest.mark.parametrize(
    ("raw", "expected_id"),
    [
        ({"asin": "B000123456"}, "asin:B000123456"),
        ({"asin": "0123456789", "sku": "x", "price": 1.5}, "asin:0123456789"),
        ({"ean": "4006381333931"}, "ean:4006381333931"),
        ({"ean": "0000000000000", "title": "leading zeros kept"}, "ean:0000000000000"),
    ],
)
def test_a_valid_product_answers_its_id_and_keeps_every_key(
    raw: dict[str, Any], expected_id: str
) -> None:
    verdict = validate_product(raw)

    assert not isinstance(verdict, ProductProblem)
    identity, product = verdict
    assert identity == expected_id
    assert product == raw
    assert product is not raw


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"sku": "x"}, "$", "has no identifier"),
        ({}, "$", "has no identifier"),
        ({"asin": "B000123456", "ean": "4006381333931"}, "$", "has both asin and ean"),
        ({"asin": None, "ean": "4006381333931"}, "$", "has both asin and ean"),
        ({"asin": None}, "asin", "must be a string of 10 upper-case letters or digits, got null"),
        ({"ean": 4006381333931}, "ean", "must be a string of 13 digits, got number"),
        ({"asin": "b000123456"}, "asin", "must be 10 upper-case letters or digits"),
        ({"asin": "B00012345"}, "asin", "got 'B00012345'"),
        ({"asin": " B000123456"}, "asin", "must be 10 upper-case"),
        ({"asin": "B00012345\u0661"}, "asin", "must be 10 upper-case"),
        ({"ean": "400638133393"}, "ean", "must be 13 digits"),
        ({"ean": "400638133393\u0663"}, "ean", "must be 13 digits"),
        ({"ean": "4006381333931\n"}, "ean", "must be 13 digits"),
        ({"ean": "x" * 500}, "ean", "..."),
        (["asin", "B000123456"], "$", "must be a JSON object, got array"),
        ("B000123456", "$", "must be a JSON object, got string"),
        (None, "$", "must be a JSON object, got null"),
    ],
)
def test_an_invalid_product_is_refused_naming_the_field(raw: Any, field: str, words: str) -> None:
    verdict = validate_product(raw)

    assert isinstance(verdict, ProductProblem)
    assert verdict.field == field
    assert words in verdict.reason
    assert len(verdict.reason) < 200
    assert verdict.duplicate_of is None


def test_the_screen_names_the_first_index_of_a_duplicate() -> None:
    screen = ProductScreen()
    products = [
        {"asin": "B000000001"},
        {"ean": "4006381333931"},
        {"sku": "no id"},
        {"asin": "B000000001", "sku": "another row"},
        {"ean": "4006381333931"},
        {"asin": "B000000002"},
    ]

    verdicts = [screen.check(index, product) for index, product in enumerate(products)]

    problems = {
        index: verdict
        for index, verdict in enumerate(verdicts)
        if isinstance(verdict, ProductProblem)
    }
    assert sorted(problems) == [2, 3, 4]
    assert problems[3].duplicate_of == 0
    assert problems[3].reason == "is the same product (asin:B000000001) as products.0"
    assert problems[4].duplicate_of == 1
    assert problems[2].duplicate_of is None


def test_an_asin_and_an_ean_never_collide() -> None:
    screen = ProductScreen()

    first = screen.check(0, {"asin": "1234567890"})
    second = screen.check(1, {"ean": "1234567890123"})

    assert not isinstance(first, ProductProblem)
    assert not isinstance(second, ProductProblem)


def test_row_ids_follow_the_contract() -> None:
    assert summary_id("enr-1") == "enr-1#CATALOG"
    assert batch_id("enr-1", 0) == "enr-1#batch-00000"
    assert batch_id("enr-1", 123_456) == "enr-1#batch-123456"
    assert batch_id("enr-1", 42).startswith(batch_id_prefix("enr-1"))
    assert not summary_id("enr-1").startswith(batch_id_prefix("enr-1"))
    with pytest.raises(ValueError, match="0 or more"):
        batch_id("enr-1", -1)


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ("enr-1#batch-00007", 7),
        ("enr-1#batch-123456", 123_456),
        ("enr-1#batch-7", None),
        ("enr-2#batch-00007", None),
        ("enr-1#CATALOG", None),
        ("enr-1#batch-0000x", None),
        ("enr-1#batch-\u0661\u0662\u0663\u0664\u0665", None),
    ],
)
def test_a_batch_index_is_read_back_only_from_its_own_ids(
    identity: str, expected: int | None
) -> None:
    assert batch_index("enr-1", identity) == expected


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("cat-1", True),
        ("Catalog_2024.v2", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("-cat", False),
        (".cat", False),
        ("cat 1", False),
        ("cat/1", False),
        ("cat#1", False),
        ("cat-1\n", False),
        ("", False),
        (42, False),
    ],
)
def test_catalog_ids(value: object, valid: bool) -> None:
    assert is_catalog_id(value) is valid
    if isinstance(value, str):
        assert (re.fullmatch(CATALOG_ID_PATTERN, value) is not None) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("u-1", True),
        ("ana.lopez@example.com", True),
        ("auth0:5f1c+team", True),
        ("has space", False),
        ("@first", False),
        ("a/b", False),
        ("", False),
        (None, False),
    ],
)
def test_user_ids(value: object, valid: bool) -> None:
    assert is_user_id(value) is valid
    if isinstance(value, str):
        assert (re.fullmatch(USER_ID_PATTERN, value) is not None) is valid


def test_ranks_are_the_contract_table() -> None:
    assert {status.value: rank for status, rank in SUMMARY_RANKS.items()} == {
        "RECEIVED": 10,
        "PLANNED": 20,
        "COMPLETE": 90,
        "COMPLETE_WITH_FAILURES": 90,
        "FAILED": 90,
    }
    assert set(BATCH_RANKS) == {EnrichmentStatus.ENRICHED, EnrichmentStatus.FAILED}
    assert len(set(BATCH_RANKS.values())) == 1


def test_a_public_row_has_no_rank() -> None:
    assert public_row({"catalogId": "c", "statusRank": 20, "status": "PLANNED"}) == {
        "catalogId": "c",
        "status": "PLANNED",
    }
