"""What the api Lambda's functional tests share: events, answers and moto lookups."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from functions.api.body import MAX_BODY_BYTES
from tests.events import load_event
from tests.functional.conftest import (
    ENRICH_STATE_MACHINE_ARN,
    ENRICHMENT_STATUS_TABLE,
    MAX_BULK_EVENTS,
    MAX_INLINE_PRODUCTS,
    STATUS_TABLE,
    http_event,
    started_executions,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


VALID_EVENTS: list[dict[str, Any]] = load_event("ingest_envelope.json")["events"][:4]


def an_event(index: int = 0) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(VALID_EVENTS[index])
    return event


@dataclasses.dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def status_records(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(TableName=STATUS_TABLE)["Items"]
    return items


def get(path: str) -> dict[str, Any]:
    return http_event("api_get_status.json", path=path)


def without_body() -> dict[str, Any]:
    event = http_event()
    del event["body"]
    return event


def deeply_nested_event() -> dict[str, Any]:
    event = an_event()
    nested: Any = "bottom"
    for _ in range(100):
        nested = {"inner": nested}
    event["entities"][0]["specs"] = nested
    return event


def event_with(path: str, value: Any, index: int = 0) -> dict[str, Any]:
    event = an_event(index)
    *parents, last = path.split(".")
    target: Any = event
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return event


def big_events(count: int, size: int) -> list[dict[str, Any]]:
    events = []
    for index in range(count):
        event = an_event(index % 4)
        event["eventHeader"]["uuid"] = f"00000000-0000-4000-8000-{index:012d}"
        event["entities"][0]["notes"] = "x" * size
        events.append(event)
    return events


BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str, list[str]]] = [
    # id, event, status, words of the message, fields named
    ("no-body", without_body(), 400, "no body", ["$"]),
    ("empty-body", http_event(raw_body=""), 400, "no body", ["$"]),
    ("not-json", http_event(raw_body="eventName=Car Created"), 400, "not valid JSON", ["$"]),
    ("truncated-json", http_event(raw_body='{"eventHeader": {'), 400, "not valid JSON", ["$"]),
    ("json-string", http_event(body="an event"), 400, "got string", ["$"]),
    ("json-number", http_event(body=42), 400, "got number", ["$"]),
    ("json-null", http_event(body=None), 400, "got null", ["$"]),
    ("list-on-single", http_event(body=[an_event()]), 400, "/events/bulk", ["$"]),
    (
        "object-on-bulk",
        http_event("api_post_events_bulk.json", body=an_event()),
        400,
        "single event to /events",
        ["$"],
    ),
    (
        "missing-fields",
        http_event(body=event_with("eventHeader.uuid", ...)),
        400,
        "the event is invalid",
        ["eventHeader.uuid"],
    ),
    (
        "missing-entities",
        http_event(body=event_with("entities", ...)),
        400,
        "the event is invalid",
        ["entities"],
    ),
    (
        "mistyped-fields",
        http_event(body=event_with("eventHeader.eventType", 42)),
        400,
        "the event is invalid",
        ["eventHeader.eventType"],
    ),
    (
        "invalid-date",
        http_event(body=event_with("eventHeader.createdDate", "2024-02-30T10:00:00Z")),
        400,
        "the event is invalid",
        ["eventHeader.createdDate"],
    ),
    (
        "date-without-offset",
        http_event(body=event_with("entities.0.entityHeader.updatedAt", "2024-03-02T09:15:00")),
        400,
        "the event is invalid",
        ["entities.0.entityHeader.updatedAt"],
    ),
    (
        "saved-before-created",
        http_event(body=event_with("eventHeader.savedDate", "2020-01-01T00:00:00Z")),
        400,
        "the event is invalid",
        ["eventHeader.savedDate"],
    ),
    (
        "bulk-with-invalid",
        http_event(
            "api_post_events_bulk.json",
            body=[an_event(0), event_with("eventHeader.uuid", "not-a-uuid", 1), an_event(2)],
        ),
        400,
        "1 of 3 events is invalid",
        ["eventHeader.uuid"],
    ),
    (
        "bulk-repeated-uuid",
        http_event("api_post_events_bulk.json", body=[an_event(0), an_event(0)]),
        400,
        "1 of 2 events is invalid",
        ["eventHeader.uuid"],
    ),
    (
        "bulk-empty",
        http_event("api_post_events_bulk.json", body=[]),
        400,
        "holds no events",
        ["$"],
    ),
    (
        "bulk-over-the-max",
        http_event("api_post_events_bulk.json", body=big_events(MAX_BULK_EVENTS + 1, 0)),
        400,
        f"at most {MAX_BULK_EVENTS} are accepted per request",
        ["$"],
    ),
    (
        "over-the-execution-limit",
        http_event("api_post_events_bulk.json", body=big_events(MAX_BULK_EVENTS, 30_000)),
        413,
        "at most 262,144 bytes",
        ["$"],
    ),
    (
        "over-the-read-limit",
        http_event(raw_body=" " * (MAX_BODY_BYTES + 1)),
        413,
        "at most 1,048,576 bytes are read",
        ["$"],
    ),
    (
        "text-plain",
        http_event(headers={"Content-Type": "text/plain"}),
        415,
        "must be application/json",
        ["header.Content-Type"],
    ),
    (
        "no-content-type",
        http_event(drop_headers=("content-type",)),
        415,
        "no Content-Type",
        ["header.Content-Type"],
    ),
    (
        "latin-1",
        http_event(headers={"Content-Type": "application/json; charset=latin-1"}),
        415,
        "must be UTF-8",
        ["header.Content-Type"],
    ),
    (
        "invalid-utf8",
        http_event(raw_body=b'{"eventHeader": {"eventName": "Car \xc3\x28 Created"}}'),
        400,
        "not valid UTF-8",
        ["$"],
    ),
    (
        "deeply-nested",
        http_event(body=deeply_nested_event()),
        400,
        "levels deep; at most 64",
        ["$"],
    ),
    (
        "nested-without-end",
        http_event(raw_body="[" * 200_000),
        400,
        "levels deep; at most 64",
        ["$"],
    ),
    (
        "malformed-idempotency-key",
        http_event(headers={"Idempotency-Key": "two words"}),
        400,
        "header.Idempotency-Key",
        ["header.Idempotency-Key"],
    ),
    (
        "idempotency-key-too-long",
        http_event(headers={"Idempotency-Key": "k" * 256}),
        400,
        "header.Idempotency-Key",
        ["header.Idempotency-Key"],
    ),
]


class ThrottledDynamoDb:
    def __getattr__(self, name: str) -> Any:
        def throttled(**_: Any) -> None:
            raise ClientError(
                {
                    "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                name,
            )

        return throttled


CATALOG_PATH = "/catalogs/cat-1/enrichments"


PRODUCTS: list[dict[str, Any]] = json.loads(load_event("api_post_catalog_enrichment.json")["body"])[
    "products"
]


def signed_in_as(event: dict[str, Any], subject: str) -> dict[str, Any]:
    """``event`` as the JWT authorizer sends it for a token whose ``sub`` is ``subject``."""
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = subject
    return event


def catalog_post(
    body: Any = ...,
    *,
    path: str = CATALOG_PATH,
    headers: dict[str, str] | None = None,
    subject: str = "u-1",
) -> dict[str, Any]:
    event = http_event("api_post_catalog_enrichment.json", path=path, body=body, headers=headers)
    return signed_in_as(event, subject)


def catalog_get(
    path: str, query: dict[str, str] | None = None, *, subject: str = "u-1"
) -> dict[str, Any]:
    event = signed_in_as(http_event("api_get_catalog_enrichment.json", path=path), subject)
    if query is not None:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{name}={value}" for name, value in query.items())
    return event


def asins(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"asin": f"B{index:09d}"} for index in range(start, start + count)]


def enrichment_rows(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(
        TableName=ENRICHMENT_STATUS_TABLE, ConsistentRead=True
    )["Items"]
    return items


def enrich_executions(stepfunctions: Any) -> list[dict[str, Any]]:
    return started_executions(stepfunctions, ENRICH_STATE_MACHINE_ARN)


def big_products(count: int, size: int) -> list[dict[str, Any]]:
    return [{**product, "description": "d" * size} for product in asins(count)]


CATALOG_BAD_REQUESTS: list[tuple[str, dict[str, Any], int, list[str], list[str]]] = [
    # id, event, status, words of the message, fields named
    (
        "malformed-catalog-id",
        catalog_post(path="/catalogs/-cat-1/enrichments"),
        400,
        ["malformed catalog id"],
        ["path.catalogId"],
    ),
    (
        "catalog-id-with-space",
        catalog_post(path="/catalogs/cat%201/enrichments"),
        400,
        ["malformed catalog id"],
        ["path.catalogId"],
    ),
    (
        "catalog-id-too-long",
        catalog_post(path=f"/catalogs/{'c' * 129}/enrichments"),
        400,
        ["malformed catalog id"],
        ["path.catalogId"],
    ),
    (
        "another-users-id",
        catalog_post({"userId": "u-2", "products": PRODUCTS}),
        403,
        ["userId must be yours"],
        ["userId"],
    ),
    (
        "user-not-a-string",
        catalog_post({"userId": 7, "products": PRODUCTS}),
        400,
        ["userId must be a string, got number"],
        ["userId"],
    ),
    (
        "malformed-user",
        catalog_post({"userId": "u 1", "products": PRODUCTS}),
        400,
        ["userId must be 1-128 letters"],
        ["userId"],
    ),
    (
        "no-products-nor-pointer",
        catalog_post({"userId": "u-1"}),
        400,
        ["products is required", "has no products"],
        ["products"],
    ),
    (
        "null-products",
        catalog_post({"userId": "u-1", "products": None}),
        400,
        ["has no products"],
        ["products"],
    ),
    (
        "empty-products",
        catalog_post({"userId": "u-1", "products": []}),
        400,
        ["products holds no products"],
        ["products"],
    ),
    (
        "products-not-a-list",
        catalog_post({"userId": "u-1", "products": {"asin": "B000000001"}}),
        400,
        ["must be a JSON array of products, got object"],
        ["products"],
    ),
    (
        "product-without-identifier",
        catalog_post({"userId": "u-1", "products": [*asins(2), {"sku": "x"}]}),
        400,
        ["products.2 has no identifier"],
        ["products.2"],
    ),
    (
        "product-with-both-identifiers",
        catalog_post(
            {"userId": "u-1", "products": [{"asin": "B000000001", "ean": "4006381333931"}]}
        ),
        400,
        ["products.0 has both asin and ean"],
        ["products.0"],
    ),
    (
        "malformed-identifiers",
        catalog_post(
            {"userId": "u-1", "products": [{"asin": "b000000001"}, {"ean": 4006381333931}]}
        ),
        400,
        ["products.0.asin must be 10 upper-case", "products.1.ean must be a string of 13 digits"],
        ["products.0.asin", "products.1.ean"],
    ),
    (
        "product-not-an-object",
        catalog_post({"userId": "u-1", "products": ["B000000001"]}),
        400,
        ["products.0 must be a JSON object, got string"],
        ["products.0"],
    ),
    (
        "duplicate-products",
        catalog_post({"userId": "u-1", "products": [*asins(3), {"asin": "B000000001", "n": 2}]}),
        400,
        ["products.3 is the same product (asin:B000000001) as products.1"],
        ["products.3"],
    ),
    (
        "more-than-the-inline-maximum",
        catalog_post({"userId": "u-1", "products": asins(MAX_INLINE_PRODUCTS + 1)}),
        400,
        [
            f"holds {MAX_INLINE_PRODUCTS + 1} products; at most {MAX_INLINE_PRODUCTS} are "
            "accepted inline",
            "upload the catalog to S3 as NDJSON",
            '"productsPointer": {"bucket", "key"}',
        ],
        ["products"],
    ),
    (
        "products-and-pointer",
        catalog_post(
            {
                "userId": "u-1",
                "products": PRODUCTS,
                "productsPointer": {"bucket": "b-1", "key": "k"},
            }
        ),
        400,
        ["productsPointer cannot be given with products"],
        ["productsPointer"],
    ),
    (
        "malformed-pointer",
        catalog_post({"userId": "u-1", "productsPointer": {"bucket": "Bad_Bucket", "key": ""}}),
        400,
        ["productsPointer.bucket is required and must be an S3 bucket name"],
        ["productsPointer.bucket", "productsPointer.key"],
    ),
    (
        "pointer-not-an-object",
        catalog_post({"userId": "u-1", "productsPointer": "s3://b/k"}),
        400,
        ['productsPointer must be a JSON object {"bucket", "key"}, got string'],
        ["productsPointer"],
    ),
    (
        "batch-size-zero",
        catalog_post({"userId": "u-1", "products": PRODUCTS, "batchSize": 0}),
        400,
        ["batchSize must be a whole number from 1 to 100, got 0"],
        ["batchSize"],
    ),
    (
        "batch-size-too-large",
        catalog_post({"userId": "u-1", "products": PRODUCTS, "batchSize": 101}),
        400,
        ["got 101"],
        ["batchSize"],
    ),
    (
        "batch-size-as-text",
        catalog_post({"userId": "u-1", "products": PRODUCTS, "batchSize": "20"}),
        400,
        ["got string"],
        ["batchSize"],
    ),
    (
        "batch-size-boolean",
        catalog_post({"userId": "u-1", "products": PRODUCTS, "batchSize": True}),
        400,
        ["got boolean"],
        ["batchSize"],
    ),
    (
        "unknown-field",
        catalog_post({"userId": "u-1", "productPointer": {"bucket": "b-1", "key": "k"}}),
        400,
        ["productPointer is not a field of this request", "products is required"],
        ["productPointer", "products"],
    ),
    (
        "every-problem-at-once",
        catalog_post({"products": [{"sku": "x"}, *asins(2), *asins(1)], "batchSize": 0}),
        400,
        ["batchSize must be", "products.0 has no identifier", "products.3"],
        ["batchSize", "products.0", "products.3"],
    ),
    ("body-an-array", catalog_post(PRODUCTS), 400, ["must be a JSON object"], ["$"]),
    (
        "not-json",
        http_event("api_post_catalog_enrichment.json", raw_body="{"),
        400,
        ["JSON"],
        ["$"],
    ),
    (
        "over-the-execution-limit",
        catalog_post({"userId": "u-1", "products": big_products(MAX_INLINE_PRODUCTS, 9_000)}),
        413,
        ["at most 262,144 bytes per execution", "upload the catalog to S3 as NDJSON"],
        ["products"],
    ),
    (
        "text-plain",
        http_event("api_post_catalog_enrichment.json", headers={"Content-Type": "text/plain"}),
        415,
        ["must be application/json"],
        ["header.Content-Type"],
    ),
]


def user_page(user_id: str = "u-1", *, subject: str | None = None, **query: str) -> dict[str, Any]:
    event = http_event(
        "api_get_user_catalog_enrichments.json", path=f"/users/{user_id}/enrichments"
    )
    signed_in_as(event, user_id if subject is None else subject)
    event["queryStringParameters"] = query or None
    event["rawQueryString"] = "&".join(f"{name}={value}" for name, value in query.items())
    return event


def post_enrichments(call: Any, user_id: str, count: int) -> list[str]:
    tracking_ids = []
    for index in range(count):
        answer = call(
            catalog_post(
                {"userId": user_id, "products": asins(index + 1)},
                path=f"/catalogs/cat-{index}/enrichments",
                subject=user_id,
            )
        )
        assert answer.status == 202
        tracking_ids.append(answer.body["trackingId"])
    return tracking_ids
