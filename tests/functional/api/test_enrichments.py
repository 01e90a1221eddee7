"""POST /catalogs/{catalogId}/enrichments and GET .../enrichments/{trackingId}: a catalog starts
one enrichment, a bad one is refused naming each problem, progress is counted from the batches.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest

from functions._shared.dynamodb import from_item
from functions.api.adapters import EnrichmentTable, StepFunctionsStarter
from tests.events import load_event
from tests.functional.api.support import (
    CATALOG_BAD_REQUESTS,
    CATALOG_PATH,
    PRODUCTS,
    ThrottledDynamoDb,
    an_event,
    asins,
    catalog_get,
    catalog_post,
    enrich_executions,
    enrichment_rows,
    status_records,
)
from tests.functional.conftest import (
    ENRICH_BATCH_SIZE,
    ENRICH_STATE_MACHINE_ARN,
    ENRICHMENT_STATUS_TABLE,
    MAX_INLINE_PRODUCTS,
    STAGING_BUCKET,
    emitted_metrics,
    http_event,
    started_executions,
)


def test_a_catalog_starts_one_enrichment_with_the_contract_input(
    call: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    answer = call(load_event("api_post_catalog_enrichment.json"))

    assert answer.status == 202
    tracking_id = answer.body["trackingId"]
    assert re.fullmatch(r"enr-[0-9a-f]{32}", tracking_id)
    assert answer.body == {
        "trackingId": tracking_id,
        "executionId": f"{ENRICH_STATE_MACHINE_ARN.replace('stateMachine', 'execution')}"
        f":{tracking_id}",
        "totalProducts": 6,
        "totalBatches": 2,
    }
    assert answer.headers["Location"] == f"{CATALOG_PATH}/{tracking_id}"
    (execution,) = enrich_executions(stepfunctions)
    assert execution["name"] == tracking_id
    assert execution["input"] == {
        "trackingId": tracking_id,
        "catalogId": "cat-1",
        "userId": "u-1",
        "batchSize": ENRICH_BATCH_SIZE,
        "products": PRODUCTS,
    }
    assert list(execution["input"]) == [
        "trackingId",
        "catalogId",
        "userId",
        "batchSize",
        "products",
    ]
    assert started_executions(stepfunctions) == []
    assert status_records(dynamodb) == []
    (row,) = [from_item(item) for item in enrichment_rows(dynamodb)]
    assert row["batchId"] == f"{tracking_id}#CATALOG"
    assert (row["status"], row["statusRank"], row["userId"]) == ("RECEIVED", 10, "u-1")
    assert (row["totalProducts"], row["totalBatches"], row["batchSize"]) == (6, 2, 4)
    assert row["createdAt"] == row["updatedAt"]


@pytest.mark.parametrize(("batch_size", "batches"), [(1, 6), (5, 2), (6, 1), (100, 1)])
def test_the_batch_size_of_the_request_makes_the_batches(
    call: Any, stepfunctions: Any, batch_size: int, batches: int
) -> None:
    answer = call(catalog_post({"userId": "u-1", "products": PRODUCTS, "batchSize": batch_size}))

    assert (answer.status, answer.body["totalBatches"]) == (202, batches)
    (execution,) = enrich_executions(stepfunctions)
    assert execution["input"]["batchSize"] == batch_size


def test_a_catalog_in_s3_starts_with_its_pointer_and_unknown_totals(
    call: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    pointer = {"bucket": STAGING_BUCKET, "key": "uploads/u-1/cat 1/products.ndjson"}

    answer = call(catalog_post({"userId": "u-1", "productsPointer": pointer}))

    assert answer.status == 202
    assert (answer.body["totalProducts"], answer.body["totalBatches"]) == (None, None)
    (execution,) = enrich_executions(stepfunctions)
    assert execution["input"] == {
        "trackingId": answer.body["trackingId"],
        "catalogId": "cat-1",
        "userId": "u-1",
        "batchSize": ENRICH_BATCH_SIZE,
        "productsPointer": pointer,
    }
    (row,) = [from_item(item) for item in enrichment_rows(dynamodb)]
    assert "totalProducts" not in row
    assert row["productsPointer"] == pointer


@pytest.mark.parametrize(
    "pointer",
    [
        {"bucket": "stepflow-test-landing", "key": "uploads/u-1/c.ndjson"},
        {"bucket": STAGING_BUCKET, "key": "uploads/u-2/their-catalog.ndjson"},
        {"bucket": STAGING_BUCKET, "key": "uploads/u-10/a-longer-id.ndjson"},
        {"bucket": STAGING_BUCKET, "key": "bundles/ab/ab12.ndjson.gz"},
        {"bucket": STAGING_BUCKET, "key": "uploads/u-1"},
    ],
)
def test_a_pointer_outside_the_callers_upload_prefix_is_forbidden_and_starts_nothing(
    call: Any, stepfunctions: Any, dynamodb: Any, pointer: dict[str, str]
) -> None:
    answer = call(catalog_post({"productsPointer": pointer}))

    assert answer.status == 403
    assert answer.body["errors"] == [
        {"field": "productsPointer", "reason": "is outside the signed-in user's upload prefix"}
    ]
    assert enrich_executions(stepfunctions) == []
    assert enrichment_rows(dynamodb) == []


def test_a_foreign_pointer_gets_the_same_answer_whether_its_object_exists_or_not(
    call: Any, dynamodb: Any
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=STAGING_BUCKET)
    there = {"bucket": STAGING_BUCKET, "key": "uploads/u-2/exists.ndjson"}
    s3.put_object(Bucket=STAGING_BUCKET, Key=there["key"], Body=b'{"asin": "B000000001"}\n')
    missing = {"bucket": STAGING_BUCKET, "key": "uploads/u-2/missing.ndjson"}

    found = call(catalog_post({"productsPointer": there}))
    not_found = call(catalog_post({"productsPointer": missing}))

    assert (found.status, found.body) == (not_found.status, not_found.body)


def test_the_enrichment_is_readable_right_after_the_202(call: Any) -> None:
    accepted = call(load_event("api_post_catalog_enrichment.json"))
    tracking_id = accepted.body["trackingId"]

    answer = call(catalog_get(f"{CATALOG_PATH}/{tracking_id}"))

    assert answer.status == 200
    assert answer.body == {
        "trackingId": tracking_id,
        "catalogId": "cat-1",
        "userId": "u-1",
        "status": "RECEIVED",
        "totalProducts": 6,
        "totalBatches": 2,
        "batchesDone": 0,
        "productsEnriched": 0,
        "productsFailed": 0,
        "failures": [],
        "startedAt": answer.body["startedAt"],
        "finishedAt": None,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", answer.body["startedAt"])
    assert answer.headers["Cache-Control"] == "no-store"


def test_progress_is_counted_from_the_batches_and_never_goes_backwards(
    call: Any, record: Any
) -> None:
    accepted = call(catalog_post({"userId": "u-1", "products": asins(10)}))
    tracking_id = accepted.body["trackingId"]
    path = f"{CATALOG_PATH}/{tracking_id}"
    ids = {"catalogId": "cat-1", "trackingId": tracking_id}
    record({**ids, "status": "PLANNED", "totalProducts": 10, "totalBatches": 3})
    seen = [call(catalog_get(path)).body]

    record(
        {
            **ids,
            "batchId": f"{tracking_id}#batch-00001",
            "status": "ENRICHED",
            "enriched": 3,
            "failed": 1,
            "failures": [{"productId": "asin:B000000005", "reason": "unknown to the provider"}],
        }
    )
    seen.append(call(catalog_get(path)).body)
    record({**ids, "batchIndex": 2, "item": asins(2, 8), "status": "FAILED", "error": "E"})
    seen.append(call(catalog_get(path)).body)
    record(
        {**ids, "batchId": f"{tracking_id}#batch-00000", "status": "ENRICHED", "enriched": 4}
        | {"failed": 0, "failures": []}
    )
    seen.append(call(catalog_get(path)).body)
    record({**ids, "status": "COMPLETE"})
    seen.append(call(catalog_get(path)).body)

    progress = [
        (body["batchesDone"], body["productsEnriched"], body["productsFailed"]) for body in seen
    ]
    assert progress == [(0, 0, 0), (1, 3, 1), (2, 3, 3), (3, 7, 3), (3, 7, 3)]
    assert [body["status"] for body in seen] == [
        "PLANNED",
        "PLANNED",
        "PLANNED",
        "PLANNED",
        "COMPLETE_WITH_FAILURES",
    ]
    final = seen[-1]
    assert final["failures"] == [
        {"productId": "asin:B000000005", "reason": "unknown to the provider", "batchIndex": 1},
        {"productId": "asin:B000000008", "reason": "E", "batchIndex": 2},
        {"productId": "asin:B000000009", "reason": "E", "batchIndex": 2},
    ]
    assert final["finishedAt"] is not None
    assert final["reason"] == "3 of 10 products failed"
    assert (final["totalProducts"], final["totalBatches"]) == (10, 3)


def test_a_failed_s3_batch_is_listed_as_one_failure_of_the_batch(call: Any, record: Any) -> None:
    pointer = {"bucket": STAGING_BUCKET, "key": "uploads/u-1/c.ndjson"}
    tracking_id = call(catalog_post({"userId": "u-1", "productsPointer": pointer})).body[
        "trackingId"
    ]
    item = {"batchId": f"{tracking_id}#batch-00000", "pointer": pointer, "count": 20}
    record(
        {"catalogId": "cat-1", "trackingId": tracking_id, "batchIndex": 0, "item": item}
        | {"status": "FAILED", "error": "ProviderUnavailableError", "cause": "503 x4"}
    )

    body = call(catalog_get(f"{CATALOG_PATH}/{tracking_id}")).body

    assert (body["batchesDone"], body["productsFailed"]) == (1, 20)
    assert body["failures"] == [
        {"productId": None, "reason": "ProviderUnavailableError: 503 x4", "batchIndex": 0}
    ]


def test_the_first_100_failures_are_listed_and_every_one_counted(call: Any, record: Any) -> None:
    tracking_id = call(catalog_post({"userId": "u-1", "products": asins(30)})).body["trackingId"]
    for index in range(3):
        failures = [{"productId": f"asin:B{index}{n:08d}", "reason": "unknown"} for n in range(50)]
        record(
            {"catalogId": "cat-1", "trackingId": tracking_id, "status": "ENRICHED"}
            | {"batchId": f"{tracking_id}#batch-{index:05d}", "enriched": 0, "failed": 60}
            | {"failures": failures}
        )

    body = call(catalog_get(f"{CATALOG_PATH}/{tracking_id}")).body

    assert body["productsFailed"] == 180
    assert len(body["failures"]) == 100
    assert [failure["batchIndex"] for failure in body["failures"]] == [0] * 50 + [1] * 50


def test_an_unknown_enrichment_is_a_404(call: Any) -> None:
    accepted = call(load_event("api_post_catalog_enrichment.json"))
    tracking_id = accepted.body["trackingId"]

    unknown = call(catalog_get(f"{CATALOG_PATH}/enr-{'0' * 32}"))
    other_catalog = call(catalog_get(f"/catalogs/cat-2/enrichments/{tracking_id}"))
    ingest_id = call(catalog_get(f"{CATALOG_PATH}/trk-{'0' * 32}"))

    assert (unknown.status, other_catalog.status, ingest_id.status) == (404, 404, 404)
    assert other_catalog.body == {
        "message": f"catalog cat-2 has no enrichment {tracking_id}",
        "errors": [],
    }


@pytest.mark.parametrize(
    ("path", "message", "fields"),
    [
        (f"/catalogs/-cat/enrichments/enr-{'0' * 32}", "malformed catalog id", ["path.catalogId"]),
        (f"/catalogs/{'c' * 129}/enrichments/enr-1", "malformed catalog id", ["path.catalogId"]),
        ("/catalogs/cat-1/enrichments/bad$id", "malformed tracking id", ["path.trackingId"]),
        (
            "/catalogs/cat$1/enrichments/bad$id",
            "invalid request parameters: path.catalogId, path.trackingId",
            ["path.catalogId", "path.trackingId"],
        ),
        ("/users/-u/enrichments", "malformed user id", ["path.userId"]),
    ],
)
def test_malformed_ids_in_the_path_are_400s(
    call: Any, path: str, message: str, fields: list[str]
) -> None:
    answer = call(catalog_get(path))

    assert answer.status == 400
    assert answer.body["message"] == message
    assert sorted(error["field"] for error in answer.body["errors"]) == fields
    assert all(error["reason"] for error in answer.body["errors"])


@pytest.mark.parametrize(
    "case", CATALOG_BAD_REQUESTS, ids=[case[0] for case in CATALOG_BAD_REQUESTS]
)
def test_a_bad_catalog_is_a_4xx_naming_each_problem_and_starts_and_writes_nothing(
    call: Any,
    stepfunctions: Any,
    dynamodb: Any,
    case: tuple[str, dict[str, Any], int, list[str], list[str]],
) -> None:
    _, event, status, words, fields = case

    answer = call(event)

    assert answer.status == status
    for word in words:
        assert word in answer.body["message"]
    assert [error["field"] for error in answer.body["errors"]] == fields
    assert all(error["reason"] for error in answer.body["errors"])
    assert enrich_executions(stepfunctions) == []
    assert started_executions(stepfunctions) == []
    assert enrichment_rows(dynamodb) == []
    assert status_records(dynamodb) == []


def test_a_problem_in_a_product_names_its_index(call: Any) -> None:
    answer = call(catalog_post({"userId": "u-1", "products": [*asins(4), {"title": "no id"}]}))

    assert answer.body["errors"] == [
        {
            "index": 4,
            "field": "products.4",
            "reason": "has no identifier: give exactly one of asin (10 upper-case letters or "
            "digits) or ean (13 digits)",
        }
    ]
    assert answer.body["message"].endswith("; nothing was started")


def test_every_duplicate_names_both_indexes(call: Any) -> None:
    products = [{"ean": "4006381333931"}, *asins(2), {"ean": "4006381333931"}, *asins(1)]

    answer = call(catalog_post({"userId": "u-1", "products": products}))

    assert answer.body["errors"] == [
        {
            "index": 3,
            "field": "products.3",
            "reason": "is the same product (ean:4006381333931) as products.0",
        },
        {
            "index": 4,
            "field": "products.4",
            "reason": "is the same product (asin:B000000000) as products.1",
        },
    ]


def test_exactly_the_inline_maximum_is_accepted(call: Any) -> None:
    answer = call(catalog_post({"userId": "u-1", "products": asins(MAX_INLINE_PRODUCTS)}))

    assert answer.status == 202
    assert answer.body["totalProducts"] == MAX_INLINE_PRODUCTS


def test_a_retried_catalog_with_the_same_key_starts_nothing_new(
    call: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    event = catalog_post({"userId": "u-1", "products": PRODUCTS}, headers={"Idempotency-Key": "c1"})

    first = call(event)
    retry = call(copy.deepcopy(event))

    assert (first.status, retry.status) == (202, 202)
    assert retry.body == first.body
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Location"] == first.headers["Location"]
    assert len(enrich_executions(stepfunctions)) == 1
    assert len(enrichment_rows(dynamodb)) == 1


def test_the_same_key_with_another_catalog_body_is_a_422(call: Any, stepfunctions: Any) -> None:
    call(catalog_post({"userId": "u-1", "products": PRODUCTS}, headers={"Idempotency-Key": "c1"}))

    answer = call(
        catalog_post({"userId": "u-1", "products": asins(2)}, headers={"Idempotency-Key": "c1"})
    )

    assert answer.status == 422
    assert answer.body["errors"][0]["field"] == "header.Idempotency-Key"
    assert len(enrich_executions(stepfunctions)) == 1


def test_a_key_is_scoped_to_its_catalog_and_route(call: Any, stepfunctions: Any) -> None:
    body = {"userId": "u-1", "products": PRODUCTS}
    headers = {"Idempotency-Key": "k-1"}

    first = call(catalog_post(body, headers=headers))
    other = call(catalog_post(body, path="/catalogs/cat-2/enrichments", headers=headers))
    events = call(http_event(body=an_event(), headers=headers))

    assert (first.status, other.status, events.status) == (202, 202, 202)
    assert first.body["trackingId"] != other.body["trackingId"]
    assert len(enrich_executions(stepfunctions)) == 2
    assert len(started_executions(stepfunctions)) == 1


def test_a_failed_enrich_start_is_a_503_recorded_failed_and_the_retry_starts(
    api: ModuleType, call: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    services = api.services
    missing = ENRICH_STATE_MACHINE_ARN.replace("enrich", "missing")
    api.configure(
        dataclasses.replace(
            services, enrich_starter=StepFunctionsStarter(missing, workflow="enrich")
        )
    )
    event = catalog_post({"userId": "u-1", "products": PRODUCTS}, headers={"Idempotency-Key": "k"})

    refused = call(event)

    assert (refused.status, refused.headers["Retry-After"]) == (503, "5")
    assert enrich_executions(stepfunctions) == []
    (row,) = [from_item(item) for item in enrichment_rows(dynamodb)]
    assert (row["status"], row["statusRank"]) == ("FAILED", 90)
    assert "the enrich workflow could not be started" in row["reason"]
    assert row["finishedAt"]

    api.configure(services)
    retried = call(copy.deepcopy(event))

    assert retried.status == 202
    assert len(enrich_executions(stepfunctions)) == 1


def test_a_throttled_enrichment_table_is_a_503_and_starts_nothing(
    api: ModuleType, call: Any, stepfunctions: Any
) -> None:
    api.configure(
        dataclasses.replace(
            api.services, enrichments=EnrichmentTable(ENRICHMENT_STATUS_TABLE, ThrottledDynamoDb())
        )
    )

    posted = call(load_event("api_post_catalog_enrichment.json"))
    read = call(load_event("api_get_catalog_enrichment.json"))
    listed = call(load_event("api_get_user_catalog_enrichments.json"))

    assert (posted.status, read.status, listed.status) == (503, 503, 503)
    assert enrich_executions(stepfunctions) == []


def test_accepted_enrichments_are_counted_and_logged_with_their_ids(
    call: Any, logs: Callable[[], list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    answer = call(load_event("api_post_catalog_enrichment.json"))

    assert emitted_metrics(capsys.readouterr().out)["EnrichmentsStarted"] == 1
    accepted = next(line for line in logs() if line["message"] == "Enrichment accepted")
    assert (accepted["trackingId"], accepted["catalogId"]) == (answer.body["trackingId"], "cat-1")
    assert (accepted["totalProducts"], accepted["pointer"]) == (6, False)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", CATALOG_PATH, "POST"),
        ("PUT", f"{CATALOG_PATH}/enr-1", "GET"),
        ("POST", "/users/u-1/enrichments", "GET"),
    ],
)
def test_a_catalog_path_with_another_method_is_a_405(
    call: Any, method: str, path: str, allowed: str
) -> None:
    answer = call(http_event("api_post_catalog_enrichment.json", method=method, path=path))

    assert answer.status == 405
    assert answer.headers["Allow"] == allowed
