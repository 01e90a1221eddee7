"""Catalogs enriched through the whole local stack: API, enrich workflow (a Map of batches),
enrich_batch workers, a real provider server on loopback, and the status and products tables."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local.environment import LocalEnvironment
from local.json_http import request_json
from local.runtime import LocalStack
from local.sign_in import Tokens, sign_in_demo_user
from tests.events import load_example

_DONE = {"COMPLETE", "COMPLETE_WITH_FAILURES", "FAILED"}


_signed_in: dict[str, Tokens] = {}


def _demo_user(stack: LocalStack) -> Tokens:
    # Enrichments belong to people: the demo user signs in once, the token says who owns them.
    pool = stack.resources.user_pool
    assert pool is not None
    if pool.id not in _signed_in:
        _signed_in[pool.id] = sign_in_demo_user(stack)
    return _signed_in[pool.id]


def _request(stack: LocalStack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    token = _demo_user(stack).id_token
    return request_json(method, f"{stack.api_url}{path}", body, bearer_token=token)


def _wait_for(stack: LocalStack, path: str, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, progress = _request(stack, "GET", path)
        assert code == 200, progress
        if progress["status"] in _DONE:
            return dict(progress)
        time.sleep(0.05)
    raise AssertionError(f"{path} did not finish in {timeout} s")


def _products(stack: LocalStack, catalog_id: str) -> list[dict[str, Any]]:
    dynamodb = stack.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("query").paginate(
        TableName=stack.app.physical_name("products"),
        KeyConditionExpression="catalogId = :c",
        ExpressionAttributeValues={":c": {"S": catalog_id}},
        ConsistentRead=True,
    ):
        items.extend(page["Items"])
    return items


@pytest.fixture
def env(local_env: LocalEnvironment) -> Iterator[LocalEnvironment]:
    local_env.provider.reset()
    yield local_env
    local_env.provider.reset()


def test_the_sample_catalog_is_enriched_with_unknown_products_reported(
    env: LocalEnvironment,
) -> None:
    stack = env.stack
    catalog = load_example("catalog.json")
    catalog_id = f"cat-{uuid.uuid4().hex[:8]}"
    code, accepted = _request(stack, "POST", f"/catalogs/{catalog_id}/enrichments", catalog)
    assert code == 202, accepted
    assert accepted["totalProducts"] == len(catalog["products"]) == 45
    assert accepted["totalBatches"] == 3

    progress = _wait_for(stack, f"/catalogs/{catalog_id}/enrichments/{accepted['trackingId']}")
    assert progress["status"] == "COMPLETE_WITH_FAILURES"
    assert (progress["productsEnriched"], progress["productsFailed"]) == (40, 5)
    assert progress["batchesDone"] == progress["totalBatches"] == 3
    assert {f["reason"] for f in progress["failures"]} == {"unknown to the provider"}

    stored = _products(stack, catalog_id)
    assert len(stored) == 45
    assert sum(item["enriched"]["BOOL"] for item in stored) == 40

    described = stack.wait_for_execution(accepted["executionId"])
    assert described["status"] == "SUCCEEDED"
    history = stack.client("stepfunctions").get_execution_history(
        executionArn=accepted["executionId"], maxResults=1000
    )["events"]
    assert sum(e["type"] == "MapIterationSucceeded" for e in history) == 3

    code, listed = _request(stack, "GET", f"/users/{_demo_user(stack).subject}/enrichments")
    assert code == 200
    assert accepted["trackingId"] in [e["trackingId"] for e in listed["enrichments"]]


def test_a_pointer_to_a_missing_object_ends_failed_with_the_reason(env: LocalEnvironment) -> None:
    stack = env.stack
    catalog_id = f"cat-{uuid.uuid4().hex[:8]}"
    key = f"uploads/{_demo_user(stack).subject}/nothing-here.ndjson"
    pointer = {"bucket": stack.app.bucket_name("staging"), "key": key}
    code, accepted = _request(
        stack, "POST", f"/catalogs/{catalog_id}/enrichments", {"productsPointer": pointer}
    )
    assert code == 202, accepted
    progress = _wait_for(stack, f"/catalogs/{catalog_id}/enrichments/{accepted['trackingId']}")
    assert progress["status"] == "FAILED"
    assert key in json.dumps(progress)


def test_two_thousand_products_through_throttling_and_faults(env: LocalEnvironment) -> None:
    stack, provider = env.stack, env.provider
    concurrency = stack.app.config.enrich_concurrency
    provider.set_rate_limit(60, burst=20)
    provider.set_fault_rate(0.2)
    # Slow enough answers that batches overlap and the concurrency limit is actually exercised.
    provider.set_latency_ms(50)
    products = [
        {"asin": f"B{index:08d}{'Z' if index % 100 == 0 else 'A'}"} for index in range(2000)
    ]
    unknown = sum(p["asin"].endswith("Z") for p in products)

    # A large catalog travels as an S3 pointer, as the API tells callers to send it.
    staging = stack.app.bucket_name("staging")
    key = f"uploads/{_demo_user(stack).subject}/{uuid.uuid4().hex}.ndjson"
    stack.client("s3").put_object(
        Bucket=staging, Key=key, Body="\n".join(json.dumps(p) for p in products).encode()
    )
    catalog_id = f"cat-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    code, accepted = _request(
        stack,
        "POST",
        f"/catalogs/{catalog_id}/enrichments",
        {"productsPointer": {"bucket": staging, "key": key}},
    )
    assert code == 202, accepted
    path = f"/catalogs/{catalog_id}/enrichments/{accepted['trackingId']}"

    observed: list[tuple[int, int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            _, progress = _request(stack, "GET", path)
            observed.append(
                (
                    progress.get("batchesDone") or 0,
                    progress.get("productsEnriched") or 0,
                    progress.get("productsFailed") or 0,
                )
            )
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        progress = _wait_for(stack, path, timeout=600)
    finally:
        stop.set()
        watcher.join()
    elapsed = time.monotonic() - started

    assert progress["status"] in {"COMPLETE", "COMPLETE_WITH_FAILURES"}
    assert progress["totalProducts"] == 2000
    assert progress["batchesDone"] == progress["totalBatches"] == 100
    assert progress["productsEnriched"] + progress["productsFailed"] == 2000
    stored = _products(stack, catalog_id)
    # A batch that failed for good counts all its products as failed without storing them.
    assert len(stored) + _failed_batch_products(stack, catalog_id) == 2000
    enriched = sum(item["enriched"]["BOOL"] for item in stored)
    assert enriched == progress["productsEnriched"]
    for item in stored:
        assert item["enriched"]["BOOL"] or item["reason"]["S"]
    assert progress["productsFailed"] >= unknown
    for earlier, later in itertools.pairwise(observed):
        assert all(b >= a for a, b in zip(earlier, later, strict=True)), (earlier, later)
    assert 1 < provider.max_in_flight <= concurrency
    print(
        f"\n2,000 products: {elapsed:.1f} s, {provider.total_calls} provider calls "
        f"(max {provider.max_in_flight} in flight), {progress['productsEnriched']} enriched, "
        f"{progress['productsFailed']} unenriched"
    )


def _failed_batch_products(stack: LocalStack, catalog_id: str) -> int:
    rows = stack.client("dynamodb").query(
        TableName=stack.app.physical_name("enrichment-status"),
        KeyConditionExpression="catalogId = :c",
        ExpressionAttributeValues={":c": {"S": catalog_id}},
        ConsistentRead=True,
    )["Items"]
    return sum(
        int(row["failed"]["N"])
        for row in rows
        if "#batch-" in row["batchId"]["S"] and row["status"]["S"] == "FAILED"
    )
