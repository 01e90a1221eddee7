"""One batch enriched with a fake provider and an in-memory products table; the inputs the Map
sends; the docstring examples of every enrich_batch module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from functions._shared.enrichment import batch_id
from functions._shared.errors import ProviderUnavailableError
from functions.enrich_batch.core import (
    MAX_BATCH_SIZE,
    MAX_LISTED_FAILURES,
    BatchPointer,
    BatchRequest,
    PlanRequest,
    enrich_products,
)
from functions.enrich_batch.products import IdType
from functions.enrich_batch.provider import UNKNOWN, Deadline, Enriched, Lookup, NotEnriched
from tests.events import load_event

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
ATTRIBUTES = {
    "title": "Kettle",
    "brand": "Acme",
    "category": "Kitchen",
    "price": {"amount": 19.99, "currency": "EUR"},
    "salesRank": 7,
}


class FakeProvider:
    """Knows every id except those ending in Z; records each lookup."""

    def __init__(self, answers: Mapping[str, Lookup] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[tuple[IdType, list[str]]] = []

    def lookup(
        self, id_type: IdType, ids: Sequence[str], deadline: Deadline | None = None
    ) -> dict[str, Lookup]:
        self.calls.append((id_type, list(ids)))
        return {
            identifier: self.answers.get(
                identifier,
                NotEnriched(UNKNOWN) if identifier.endswith("Z") else Enriched(ATTRIBUTES),
            )
            for identifier in ids
        }


class FailingProvider:
    def lookup(
        self, id_type: IdType, ids: Sequence[str], deadline: Deadline | None = None
    ) -> dict[str, Lookup]:
        raise ProviderUnavailableError("down")


class Table:
    """The products table as a dict keyed like DynamoDB's."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.puts = 0

    def put(self, item: Mapping[str, Any]) -> None:
        self.puts += 1
        self.items[(item["catalogId"], item["productId"])] = dict(item)


def enrich(products: Sequence[Any], provider: Any = None, table: Table | None = None) -> Any:
    return enrich_products(
        products,
        catalog_id="cat-1",
        tracking_id="enr-1",
        batch_id="enr-1#batch-00000",
        lookups=provider or FakeProvider(),
        store=table if table is not None else Table(),
        now=NOW,
    )


SAMPLE = load_event("enrich_batch_inline.json")["item"]


def test_a_batch_is_looked_up_once_per_id_type_and_every_product_stored() -> None:
    provider = FakeProvider()
    table = Table()

    outcome = enrich(SAMPLE, provider, table)

    assert outcome.to_json() == {
        "batchId": "enr-1#batch-00000",
        "enriched": 3,
        "failed": 1,
        "failures": [{"productId": "asin:B00000000Z", "reason": UNKNOWN}],
    }
    assert provider.calls == [
        (IdType.ASIN, ["B000123456", "B00000000Z"]),
        (IdType.EAN, ["4006381333931", "4006381333932"]),
    ]
    assert table.items[("cat-1", "asin:B000123456")] == {
        "catalogId": "cat-1",
        "productId": "asin:B000123456",
        "idType": "asin",
        "trackingId": "enr-1",
        "batchId": "enr-1#batch-00000",
        "updatedAt": "2026-03-04T05:06:07Z",
        "product": {"asin": "B000123456", "sku": "SKU-1", "name": "Kettle"},
        "enriched": True,
        **ATTRIBUTES,
    }
    unknown = table.items[("cat-1", "asin:B00000000Z")]
    assert (unknown["enriched"], unknown["reason"]) == (False, UNKNOWN)
    assert "title" not in unknown
    assert len(table.items) == 4


def test_a_rerun_overwrites_the_same_items_and_reports_the_same_counts() -> None:
    table = Table()

    first = enrich(SAMPLE, table=table)
    second = enrich(SAMPLE, table=table)

    assert first.to_json() == second.to_json()
    assert len(table.items) == 4
    assert table.puts == 8


def test_garbage_for_one_product_is_stored_as_not_enriched_with_the_reason() -> None:
    reason = "provider answered garbage: price is missing"
    table = Table()

    outcome = enrich(SAMPLE, FakeProvider({"4006381333931": NotEnriched(reason)}), table)

    assert outcome.failures[-1].to_json() == {"productId": "ean:4006381333931", "reason": reason}
    stored = table.items[("cat-1", "ean:4006381333931")]
    assert (stored["enriched"], stored["reason"]) == (False, reason)
    assert not {"title", "brand", "price"} & set(stored)


def test_products_without_an_identifier_or_repeated_count_as_failed_and_are_not_stored() -> None:
    products = [
        {"asin": "B000000001"},
        {"sku": "no id"},
        {"asin": "B000000001", "sku": "again"},
        "junk",
    ]
    table = Table()

    outcome = enrich(products, table=table)

    assert outcome.to_json()["failures"] == [
        {
            "productId": None,
            "reason": "product 1 of the batch: has no identifier: give exactly one of "
            "asin (10 upper-case letters or digits) or ean (13 digits)",
        },
        {"productId": "asin:B000000001", "reason": "repeats product 0 of the batch"},
        {"productId": None, "reason": "product 3 of the batch: must be a JSON object, got string"},
    ]
    assert (outcome.enriched, outcome.failed) == (1, 3)
    assert list(table.items) == [("cat-1", "asin:B000000001")]
    assert table.items[("cat-1", "asin:B000000001")]["product"] == {"asin": "B000000001"}


def test_enriched_plus_failed_is_the_batch_size_and_failures_are_listed_up_to_the_cap() -> None:
    products = [{"asin": f"B{index:08d}Z"} for index in range(MAX_LISTED_FAILURES + 10)]

    outcome = enrich(products)

    answer = outcome.to_json()
    assert (answer["enriched"], answer["failed"]) == (0, MAX_LISTED_FAILURES + 10)
    assert len(answer["failures"]) == MAX_LISTED_FAILURES


def test_a_lookup_that_fails_for_good_leaves_nothing_written() -> None:
    table = Table()

    with pytest.raises(ProviderUnavailableError):
        enrich(SAMPLE, FailingProvider(), table)

    assert table.items == {}


def test_an_empty_batch_looks_nothing_up() -> None:
    provider = FakeProvider()

    outcome = enrich([], provider)

    assert outcome.to_json() == {
        "batchId": "enr-1#batch-00000",
        "enriched": 0,
        "failed": 0,
        "failures": [],
    }
    assert provider.calls == []


# -- inputs -----------------------------------------------------------------------------------


def test_the_batch_id_is_derived_from_the_tracking_id_and_the_map_index() -> None:
    inline = BatchRequest.model_validate(load_event("enrich_batch_inline.json"))
    pointed = BatchRequest.model_validate(load_event("enrich_batch_pointer.json"))

    assert inline.batch_id == "enr-test-1#batch-00000"
    assert inline.inline_products == SAMPLE
    assert inline.pointer is None
    assert pointed.batch_id == "enr-test-1#batch-00001"
    assert isinstance(pointed.pointer, BatchPointer)
    assert pointed.pointer.pointer.uri == (
        "s3://stepflow-test-staging/enrichment/enr-test-1/batch-00001.json"
    )
    assert pointed.inline_products is None
    assert batch_id("t", 123_456) == "t#batch-123456"


@pytest.mark.parametrize(
    "changes",
    [
        {"trackingId": None},
        {"trackingId": "  "},
        {"catalogId": "../etc"},
        {"catalogId": ""},
        {"batchIndex": -1},
        {"batchIndex": "3"},
        {"batchIndex": True},
        {"item": "products"},
        {"item": {"batchId": "x"}},
        {"item": {"pointer": {"bucket": "b", "key": ""}}},
        {"item": [{"asin": "B000000001"}] * (MAX_BATCH_SIZE + 1)},
    ],
)
def test_a_malformed_batch_input_is_refused(changes: dict[str, Any]) -> None:
    event = {**load_event("enrich_batch_inline.json"), **changes}

    with pytest.raises(ValidationError):
        BatchRequest.model_validate(event)


@pytest.mark.parametrize(
    "changes",
    [
        {"batchSize": 0},
        {"batchSize": MAX_BATCH_SIZE + 1},
        {"batchSize": "20"},
        {"productsPointer": None},
        {"productsPointer": {"bucket": "b"}},
        {"action": "other"},
    ],
)
def test_a_malformed_plan_input_is_refused(changes: dict[str, Any]) -> None:
    event = {**load_event("enrich_plan.json"), **changes}

    with pytest.raises(ValidationError):
        PlanRequest.model_validate(event)


def test_the_plan_input_names_its_catalog() -> None:
    request = PlanRequest.model_validate(load_event("enrich_plan.json"))

    assert request.products_pointer.uri == "s3://stepflow-test-staging/uploads/cat-1.ndjson"
    assert (request.tracking_id, request.catalog_id, request.batch_size) == (
        "enr-test-1",
        "cat-1",
        20,
    )


# -- docstring examples -----------------------------------------------------------------------
