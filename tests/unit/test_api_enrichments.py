"""The enrichment routes' work without HTTP or AWS: request checks, the execution input, the
start order, progress from batch rows and the user's pages."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.api.core import MAX_EXECUTION_INPUT_BYTES
from functions.api.enrichments import (
    EnrichmentRequest,
    EnrichmentSubmission,
    decode_next_token,
    encode_next_token,
    enrichment_progress,
    list_enrichments,
    parse_enrichment_request,
    prepare_enrichment,
    read_progress,
    start_enrichment,
)
from functions.api.errors import ApiError, DependencyUnavailableError
from functions.api.schemas import EnrichmentRequest as EnrichmentRequestModel

NOW = datetime(2024, 3, 2, 9, 15, tzinfo=UTC)


def parse(body: Any, catalog_id: str = "cat-1", max_inline: int = 10) -> EnrichmentRequest:
    return parse_enrichment_request(
        catalog_id,
        body,
        owner="u-1",
        max_inline_products=max_inline,
        default_batch_size=20,
        staging_bucket="b-1",
    )


def refusal(body: Any, catalog_id: str = "cat-1", max_inline: int = 10) -> ApiError:
    with pytest.raises(ApiError) as raised:
        parse(body, catalog_id, max_inline)
    return raised.value


def asins(count: int) -> list[dict[str, Any]]:
    return [{"asin": f"B{index:09d}"} for index in range(count)]


# --- Requests ----------------------------------------------------------------------------------


def test_an_inline_request_keeps_the_products_as_posted() -> None:
    products: list[dict[str, Any]] = [
        {"asin": "B000000001", "sku": "x", "nested": {"a": [1]}},
        {"ean": "4006381333931"},
    ]

    request = parse({"userId": "u-1", "products": products, "batchSize": 7})

    assert request == EnrichmentRequest("cat-1", "u-1", 7, products=products)


def test_a_pointer_request_keeps_only_bucket_and_key() -> None:
    pointer = {"bucket": "b-1", "key": "uploads/u-1/b c.ndjson", "versionId": "ignored"}

    request = parse({"userId": "u-1", "productsPointer": pointer, "products": None})

    assert request.pointer == {"bucket": "b-1", "key": "uploads/u-1/b c.ndjson"}
    assert (request.products, request.batch_size) == (None, 20)


def test_a_malformed_catalog_id_is_refused_before_the_body() -> None:
    error = refusal("not even an object", catalog_id="-x")

    assert (error.status, error.message) == (400, "malformed catalog id")
    assert [entry["field"] for entry in error.errors] == ["path.catalogId"]


def test_the_inline_maximum_is_checked_before_any_product() -> None:
    error = refusal({"userId": "u-1", "products": [{"sku": n} for n in range(11)]})

    assert [entry["field"] for entry in error.errors] == ["products"]
    assert "holds 11 products; at most 10 are accepted inline" in error.message


def test_a_long_list_of_problems_is_summed_up_in_the_message() -> None:
    error = refusal({"userId": "u-1", "products": [{"sku": n} for n in range(9)]})

    assert len(error.errors) == 9
    assert "and 4 more problems (see errors)" in error.message
    assert [entry["index"] for entry in error.errors] == list(range(9))


def test_what_the_api_accepts_the_documented_schema_accepts() -> None:
    accepted = [
        {"userId": "u-1", "products": asins(3)},
        {"userId": "u-1", "products": [{"ean": "4006381333931", "x": 1}], "batchSize": 100},
        {"productsPointer": {"bucket": "b-1", "key": "uploads/u-1/k"}},
    ]
    for body in accepted:
        parse(body)
        EnrichmentRequestModel.model_validate(body)


def test_fields_are_known_by_their_json_names_only() -> None:
    error = refusal({"user_id": "u-1", "products": asins(1)})

    assert [entry["field"] for entry in error.errors] == ["user_id"]


def test_a_pointer_key_is_measured_in_utf8_bytes() -> None:
    key = "é" * 600  # 600 characters, 1,200 bytes

    error = refusal({"userId": "u-1", "productsPointer": {"bucket": "b-1", "key": key}})

    assert [entry["field"] for entry in error.errors] == ["productsPointer.key"]
    assert "1 to 1024 bytes" in error.errors[0]["reason"]


# --- The execution input -----------------------------------------------------------------------


def test_the_execution_input_is_the_contracts() -> None:
    request = parse({"userId": "u-1", "products": asins(5), "batchSize": 2})

    submission = prepare_enrichment(request, "enr-1")

    assert (submission.total_products, submission.total_batches) == (5, 3)
    assert json.loads(submission.execution_input) == {
        "trackingId": "enr-1",
        "catalogId": "cat-1",
        "userId": "u-1",
        "batchSize": 2,
        "products": asins(5),
    }


def test_a_pointer_has_no_totals_yet() -> None:
    pointer = {"bucket": "b-1", "key": "uploads/u-1/k"}
    request = parse({"userId": "u-1", "productsPointer": pointer})

    submission = prepare_enrichment(request, "enr-1")

    assert (submission.total_products, submission.total_batches) == (None, None)
    assert json.loads(submission.execution_input)["productsPointer"] == pointer


def test_without_a_staging_bucket_no_pointer_is_accepted() -> None:
    with pytest.raises(ApiError) as raised:
        parse_enrichment_request(
            "cat-1",
            {"productsPointer": {"bucket": "b-1", "key": "uploads/u-1/k"}},
            owner="u-1",
            max_inline_products=10,
            default_batch_size=20,
        )

    assert raised.value.status == 403


def test_products_too_large_for_one_execution_are_a_413_advising_a_pointer() -> None:
    products = [{**product, "notes": "n" * 30_000} for product in asins(9)]

    with pytest.raises(ApiError) as raised:
        prepare_enrichment(parse({"userId": "u-1", "products": products}), "enr-1")

    assert raised.value.status == 413
    assert f"at most {MAX_EXECUTION_INPUT_BYTES:,} bytes" in raised.value.message
    assert "productsPointer" in raised.value.message


def test_an_unpaired_surrogate_is_a_400() -> None:
    request = parse({"userId": "u-1", "products": [{"asin": "B000000001", "t": "\ud800"}]})

    with pytest.raises(ApiError, match="unpaired UTF-16 surrogate"):
        prepare_enrichment(request, "enr-1")


# --- Starting ----------------------------------------------------------------------------------


class Journal:
    """A recorder and a starter that log what they are asked, in order."""

    def __init__(self, start_fails: bool = False) -> None:
        self.start_fails = start_fails
        self.calls: list[tuple[str, ...]] = []

    def record_received(self, submission: EnrichmentSubmission, at: str) -> None:
        self.calls.append(("received", submission.tracking_id, at))

    def record_start_failure(self, catalog_id: str, tracking_id: str, reason: str, at: str) -> None:
        self.calls.append(("failed", tracking_id, reason))

    def start(self, name: str, execution_input: str) -> str:
        self.calls.append(("start", name))
        if self.start_fails:
            raise DependencyUnavailableError("StateMachineDoesNotExist")
        return f"arn:aws:states:us-east-1:1:execution:enrich:{name}"


def submission() -> EnrichmentSubmission:
    return prepare_enrichment(parse({"userId": "u-1", "products": asins(3)}), "enr-1")


def test_received_is_written_before_the_start() -> None:
    journal = Journal()

    accepted = start_enrichment(submission(), journal, journal, NOW)

    assert journal.calls == [("received", "enr-1", "2024-03-02T09:15:00Z"), ("start", "enr-1")]
    assert accepted == {
        "trackingId": "enr-1",
        "executionId": "arn:aws:states:us-east-1:1:execution:enrich:enr-1",
        "totalProducts": 3,
        "totalBatches": 1,
    }


def test_a_failed_start_is_recorded_and_raised() -> None:
    journal = Journal(start_fails=True)

    with pytest.raises(DependencyUnavailableError):
        start_enrichment(submission(), journal, journal, NOW)

    assert journal.calls[-1][0] == "failed"
    assert "the enrich workflow could not be started" in journal.calls[-1][2]


# --- Progress ----------------------------------------------------------------------------------

SUMMARY = {
    "catalogId": "cat-1",
    "trackingId": "enr-1",
    "userId": "u-1",
    "status": "PLANNED",
    "totalProducts": 400,
    "totalBatches": 4,
    "createdAt": "2024-03-02T09:15:00Z",
}


def failed_row(index: int, listed: int, failed: int, reason: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "batchIndex": index,
        "status": "FAILED" if reason else "ENRICHED",
        "enriched": 100 - failed,
        "failed": failed,
        "failures": [
            {"productId": f"asin:B{index}{n:08d}", "reason": "unknown"} for n in range(listed)
        ],
    }
    if reason:
        row["reason"] = reason
    return row


def test_progress_sums_every_row_and_lists_the_first_100_failures() -> None:
    rows = [failed_row(0, 50, 50), failed_row(1, 0, 100, "S3 batch failed"), failed_row(2, 50, 70)]

    progress = enrichment_progress(SUMMARY, rows)

    assert (progress["batchesDone"], progress["productsEnriched"], progress["productsFailed"]) == (
        3,
        80,
        220,
    )
    failures = progress["failures"]
    assert len(failures) == 100
    assert failures[50] == {"productId": None, "reason": "S3 batch failed", "batchIndex": 1}
    assert [failure["batchIndex"] for failure in failures] == [0] * 50 + [1] + [2] * 49
    assert (progress["startedAt"], progress["finishedAt"]) == ("2024-03-02T09:15:00Z", None)
    assert "reason" not in progress


def test_progress_of_a_finished_enrichment_carries_its_reason() -> None:
    summary = {**SUMMARY, "status": "FAILED", "reason": "CatalogSourceError: gone"}

    progress = enrichment_progress(summary | {"finishedAt": "t1"}, [])

    assert (progress["status"], progress["reason"], progress["finishedAt"]) == (
        "FAILED",
        "CatalogSourceError: gone",
        "t1",
    )


class Table:
    """An :class:`~functions.api.enrichments.EnrichmentReader` over lists."""

    def __init__(self, summaries: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        self.summaries = summaries
        self.rows = rows
        self.requests: list[tuple[str, int, tuple[str, str, str] | None]] = []

    def read_summary(self, catalog_id: str, tracking_id: str) -> dict[str, Any] | None:
        return next(
            (
                row
                for row in self.summaries
                if (row["catalogId"], row["trackingId"]) == (catalog_id, tracking_id)
            ),
            None,
        )

    def batch_rows(self, catalog_id: str, tracking_id: str) -> Iterable[dict[str, Any]]:
        return iter(self.rows)

    def list_by_user(
        self, user_id: str, count: int, start_after: tuple[str, str, str] | None
    ) -> list[dict[str, Any]]:
        self.requests.append((user_id, count, start_after))
        ordered = sorted(self.summaries, key=lambda row: row["createdAt"], reverse=True)
        if start_after is not None:
            ordered = [row for row in ordered if row["createdAt"] < start_after[0]]
        return ordered[:count]


def test_an_unknown_enrichment_is_a_404() -> None:
    with pytest.raises(ApiError) as raised:
        read_progress("cat-1", "enr-2", Table([SUMMARY], []), owner="u-1")

    assert raised.value.status == 404


def test_another_users_enrichment_is_the_same_404_as_an_unknown_one() -> None:
    with pytest.raises(ApiError) as unknown:
        read_progress("cat-1", "enr-2", Table([SUMMARY], []), owner="u-2")
    with pytest.raises(ApiError) as someone_elses:
        read_progress("cat-1", "enr-1", Table([SUMMARY], []), owner="u-2")

    assert (someone_elses.value.status, someone_elses.value.message) == (
        404,
        unknown.value.message.replace("enr-2", "enr-1"),
    )


def test_another_users_list_is_forbidden_and_reads_nothing() -> None:
    table = Table(summaries(2), [])
    with pytest.raises(ApiError) as raised:
        list_enrichments("u-1", 2, None, table, owner="u-2")

    assert raised.value.status == 403
    assert table.requests == []


def test_a_body_naming_another_user_is_forbidden() -> None:
    error = refusal({"userId": "u-2", "products": [{"asin": "B000123456"}]})

    assert error.status == 403
    assert error.errors == [
        {"field": "userId", "reason": "is not the signed-in user (the token's subject)"}
    ]


def test_the_owner_is_the_signed_in_user_when_the_body_names_none() -> None:
    assert parse({"products": [{"asin": "B000123456"}]}).user_id == "u-1"


def summaries(count: int) -> list[dict[str, Any]]:
    return [
        {
            "catalogId": f"cat-{index}",
            "batchId": f"enr-{index}#CATALOG",
            "trackingId": f"enr-{index}",
            "userId": "u-1",
            "status": "RECEIVED",
            "createdAt": f"2024-03-02T09:{index:02d}:00Z",
        }
        for index in range(count)
    ]


def test_pages_ask_one_row_more_to_know_whether_another_page_follows() -> None:
    table = Table(summaries(4), [])

    first = list_enrichments("u-1", 2, None, table, owner="u-1")
    second = list_enrichments("u-1", 2, first["nextToken"], table, owner="u-1")

    assert [entry["trackingId"] for entry in first["enrichments"]] == ["enr-3", "enr-2"]
    assert [entry["trackingId"] for entry in second["enrichments"]] == ["enr-1", "enr-0"]
    assert second["nextToken"] is None
    assert table.requests[0] == ("u-1", 3, None)
    assert table.requests[1] == ("u-1", 3, ("2024-03-02T09:02:00Z", "cat-2", "enr-2#CATALOG"))


def test_a_token_is_opaque_and_checked() -> None:
    token = encode_next_token(("2024-03-02T09:02:00Z", "cat-2", "enr-2#CATALOG"))

    assert "cat-2" not in token
    assert decode_next_token(token) == ("2024-03-02T09:02:00Z", "cat-2", "enr-2#CATALOG")


@pytest.mark.parametrize(
    "position",
    [
        ["t", "cat-1"],
        ["t", "cat-1", "enr-1#batch-00000"],
        ["t", "bad catalog", "enr-1#CATALOG"],
        ["", "cat-1", "enr-1#CATALOG"],
        {"t": "cat-1"},
        [1, "cat-1", "enr-1#CATALOG"],
    ],
)
def test_a_token_this_api_did_not_answer_is_a_400(position: Any) -> None:
    token = base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")

    with pytest.raises(ApiError) as raised:
        decode_next_token(token)

    assert raised.value.status == 400
    assert raised.value.errors[0]["field"] == "query.nextToken"


@pytest.mark.parametrize("token", ["%%%", "////", "a", base64.b64encode(b"\xff\xfe").decode()])
def test_garbage_is_not_a_token(token: str) -> None:
    with pytest.raises(ApiError, match="malformed nextToken"):
        decode_next_token(token)
