"""Planning an NDJSON catalog: lines across chunk boundaries, partitioning, and the problems
that refuse a catalog (each naming its line)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions._shared.errors import CatalogSourceError
from functions.enrich_batch.planning import (
    MAX_LINE_BYTES,
    MAX_LISTED_PROBLEMS,
    ndjson_lines,
    plan_catalog,
)

SOURCE = "s3://uploads/cat-1.ndjson"
STAGING = "stepflow-test-staging"


class Writer:
    """Batch files in a dict, in the order written."""

    bucket = STAGING

    def __init__(self) -> None:
        self.files: dict[str, list[Any]] = {}

    def write_batch(self, key: str, products: list[Any]) -> None:
        self.files[key] = json.loads(json.dumps(products))


def asin(index: int) -> str:
    return f"B{index:09d}"


def catalog(count: int, start: int = 0) -> bytes:
    return b"".join(
        json.dumps({"asin": asin(index), "sku": f"s-{index}"}).encode() + b"\n"
        for index in range(start, start + count)
    )


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def plan(data: bytes, writer: Writer | None = None, batch_size: int = 20, **limits: Any) -> Any:
    return plan_catalog(
        chunks(data),
        source=SOURCE,
        tracking_id="enr-1",
        batch_size=batch_size,
        writer=writer or Writer(),
        **limits,
    )


# -- lines ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_lines_are_the_same_whatever_the_chunk_boundaries(size: int) -> None:
    data = b'{"asin": "B000000001"}\r\n\n{"ean": "4006381333931"}\nlast line without newline'

    assert list(ndjson_lines(chunks(data, size))) == [
        (1, b'{"asin": "B000000001"}\r'),
        (2, b""),
        (3, b'{"ean": "4006381333931"}'),
        (4, b"last line without newline"),
    ]


@pytest.mark.parametrize("size", [1, 4, 5, 6, 100])
def test_an_overlong_line_is_reported_as_none_and_the_next_line_still_counts(size: int) -> None:
    data = b"12345\n123456\n\n1234567890123\nok"

    assert list(ndjson_lines(chunks(data, size), max_line_bytes=5)) == [
        (1, b"12345"),
        (2, None),
        (3, b""),
        (4, None),
        (5, b"ok"),
    ]


def test_an_empty_stream_has_no_lines_and_a_final_newline_adds_none() -> None:
    assert list(ndjson_lines([])) == []
    assert list(ndjson_lines([b"", b"a\n"])) == [(1, b"a")]


# -- partitioning -----------------------------------------------------------------------------


def test_a_catalog_is_cut_into_batches_in_order_each_written_as_a_json_array() -> None:
    writer = Writer()

    result = plan(catalog(45), writer)

    assert result.to_json() == {
        "totalProducts": 45,
        "totalBatches": 3,
        "batches": [
            {
                "batchId": f"enr-1#batch-{index:05d}",
                "pointer": {
                    "bucket": STAGING,
                    "key": f"enrichment/enr-1/batch-{index:05d}.json",
                },
                "count": count,
            }
            for index, count in enumerate([20, 20, 5])
        ],
    }
    assert list(writer.files) == [f"enrichment/enr-1/batch-{i:05d}.json" for i in range(3)]
    written = [product for batch in writer.files.values() for product in batch]
    assert written == [{"asin": asin(index), "sku": f"s-{index}"} for index in range(45)]


@pytest.mark.parametrize(("count", "batch_size", "counts"), [(40, 20, [20, 20]), (3, 1, [1] * 3)])
def test_a_catalog_that_divides_evenly_has_no_empty_batch(
    count: int, batch_size: int, counts: list[int]
) -> None:
    result = plan(catalog(count), batch_size=batch_size)

    assert [batch.count for batch in result.batches] == counts


def test_other_keys_and_unicode_are_kept_as_given() -> None:
    writer = Writer()
    line = {"ean": "4006381333931", "name": "Crème brûlée ☕", "tags": ["a", {"b": 1}], "n": 1.5}

    plan(json.dumps(line, ensure_ascii=False).encode() + b"\n", writer)

    assert writer.files["enrichment/enr-1/batch-00000.json"] == [line]


def test_blank_lines_a_byte_order_mark_and_crlf_are_accepted() -> None:
    data = b'\xef\xbb\xbf{"asin": "B000000001"}\r\n\r\n   \n{"asin": "B000000002"}\r\n'

    result = plan(data)

    assert result.total_products == 2


def test_a_two_thousand_product_catalog_plans_into_a_small_answer() -> None:
    result = plan(catalog(2000))

    size = len(json.dumps(result.to_json()))
    assert result.to_json()["totalBatches"] == 100
    assert size < 16_000


# -- problems ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"asin": "B0000', "line 3 is not valid JSON"),
        (b"[1, 2]", "line 3: must be a JSON object, got array"),
        (b'{"sku": "x"}', "line 3: has no identifier: give exactly one of asin"),
        (
            b'{"asin": "short"}',
            "line 3: asin must be 10 upper-case letters or digits, got 'short'",
        ),
        (b'{"asin": "B000000001"}', "line 3: asin:B000000001 repeats line 1"),
        (b'{"n": NaN}', "line 3 is not valid JSON: NaN"),
        (b"\xff\xfe{}", "line 3 is not UTF-8 text"),
        (b"[" * 200 + b"]" * 200, "line 3 is nested 200 levels deep"),
    ],
)
def test_a_bad_line_refuses_the_catalog_naming_the_line(line: bytes, reason: str) -> None:
    data = catalog(2, start=1) + line + b"\n" + catalog(1, start=10)

    with pytest.raises(CatalogSourceError) as caught:
        plan(data)

    assert str(caught.value).startswith(f"{SOURCE} is not a valid catalog: ")
    assert reason in str(caught.value)


def test_an_overlong_line_is_a_problem_not_a_memory_hog() -> None:
    data = catalog(1) + b'{"asin": "B000000009", "pad": "' + b"x" * MAX_LINE_BYTES + b'"}\n'

    with pytest.raises(CatalogSourceError, match=f"line 2 is longer than {MAX_LINE_BYTES} bytes"):
        plan(data)


def test_every_problem_is_listed_and_nothing_is_written_after_the_first() -> None:
    writer = Writer()
    data = catalog(20) + b'{"sku": 1}\n' + catalog(25, start=100) + b"oops\n" + catalog(1)

    with pytest.raises(CatalogSourceError) as caught:
        plan(data, writer)

    message = str(caught.value)
    assert "line 21: has no identifier" in message
    assert "line 47 is not valid JSON" in message
    assert "line 48: asin:B000000000 repeats line 1" in message
    assert "stopped reading" not in message
    assert list(writer.files) == ["enrichment/enr-1/batch-00000.json"]


def test_problems_stop_the_reading_at_the_listing_limit() -> None:
    bad = b"not json\n" * (MAX_LISTED_PROBLEMS + 50)
    read: list[int] = []

    def counted(data: bytes) -> Iterator[bytes]:
        for chunk in chunks(data, 9):
            read.append(len(chunk))
            yield chunk

    with pytest.raises(CatalogSourceError) as caught:
        plan_catalog(counted(bad), source=SOURCE, tracking_id="t", batch_size=20, writer=Writer())

    assert str(caught.value).count("is not valid JSON") == MAX_LISTED_PROBLEMS
    assert str(caught.value).endswith("(stopped reading there)")
    assert len(read) <= MAX_LISTED_PROBLEMS + 1


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"\xef\xbb\xbf\n"])
def test_a_catalog_without_products_is_refused(data: bytes) -> None:
    with pytest.raises(CatalogSourceError, match=f"{SOURCE} holds no products"):
        plan(data)


def test_a_catalog_needing_too_many_batches_is_refused_before_it_is_all_read() -> None:
    writer = Writer()

    with pytest.raises(CatalogSourceError, match="needs more than 3 batches of 20 products"):
        plan(catalog(100), writer, max_batches=3)

    assert len(writer.files) == 3


def test_a_plan_too_large_for_the_state_is_refused() -> None:
    with pytest.raises(CatalogSourceError, match="a plan over 500 bytes"):
        plan(catalog(100), max_plan_bytes=500)
