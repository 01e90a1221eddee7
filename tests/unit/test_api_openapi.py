"""docs/openapi.json is the document the routes generate, and it describes what they answer.

After a deliberate change to the API, regenerate it with
``UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_api_openapi.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from functions.api.app import app
from functions.api.openapi import DOCUMENT_PATH, document, render
from stack.app import build_app

_UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return document(app)


def test_the_committed_document_is_the_generated_one() -> None:
    generated = render(app)
    if _UPDATE:
        DOCUMENT_PATH.write_text(generated, encoding="utf-8")
    assert DOCUMENT_PATH.exists(), "no docs/openapi.json; create it with UPDATE_SNAPSHOTS=1"

    assert DOCUMENT_PATH.read_text(encoding="utf-8") == generated, (
        "docs/openapi.json is stale; regenerate it with UPDATE_SNAPSHOTS=1 and review the diff"
    )


def test_every_route_of_the_stack_is_documented_except_the_document_itself(
    spec: dict[str, Any],
) -> None:
    api = build_app().api
    assert api is not None
    routes = {
        (route.method.value.lower(), route.path)
        for route in api.routes
        # The operations routes have their own document (tests/unit/test_operations_openapi.py).
        if route.path != "/openapi.json" and route.function == "api"
    }

    documented = {(method, path) for path, item in spec["paths"].items() for method in item}

    assert documented == routes


def test_request_bodies_are_the_event_schema(spec: dict[str, Any]) -> None:
    single = spec["paths"]["/events"]["post"]["requestBody"]
    bulk = spec["paths"]["/events/bulk"]["post"]["requestBody"]["content"]["application/json"]

    assert single["required"] is True
    event_ref = {"$ref": "#/components/schemas/Event"}
    assert single["content"]["application/json"]["schema"] == event_ref
    assert bulk["schema"] == {"type": "array", "items": event_ref, "minItems": 1, "maxItems": 100}
    header = spec["components"]["schemas"]["EventHeader"]
    assert header["properties"]["uuid"]["format"] == "uuid"
    assert set(header["required"]) == {"uuid", "eventName", "eventType", "createdDate", "savedDate"}


def test_the_bulk_maximum_follows_the_setting() -> None:
    bulk = document(app, max_bulk_events=7)["paths"]["/events/bulk"]["post"]["requestBody"]

    assert bulk["content"]["application/json"]["schema"]["maxItems"] == 7


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/events", "post", ["202", "400", "409", "413", "415", "422", "503"]),
        ("/events/bulk", "post", ["202", "400", "409", "413", "415", "422", "503"]),
        ("/events/{trackingId}", "get", ["200", "400", "404", "503"]),
        ("/health", "get", ["200"]),
        (
            "/catalogs/{catalogId}/enrichments",
            "post",
            ["202", "400", "403", "409", "413", "415", "422", "503"],
        ),
        ("/catalogs/{catalogId}/enrichments/{trackingId}", "get", ["200", "400", "404", "503"]),
        ("/users/{userId}/enrichments", "get", ["200", "400", "403", "503"]),
    ],
)
def test_each_route_documents_the_statuses_it_answers(
    spec: dict[str, Any], path: str, method: str, codes: list[str]
) -> None:
    assert list(spec["paths"][path][method]["responses"]) == codes


def test_powertools_default_validation_answer_is_not_documented(spec: dict[str, Any]) -> None:
    text = json.dumps(spec)

    assert "HTTPValidationError" not in text
    assert "ResponseValidationError" not in text


def test_the_idempotency_key_header_and_tracking_id_are_described(spec: dict[str, Any]) -> None:
    (header,) = spec["paths"]["/events"]["post"]["parameters"]
    (path_parameter,) = spec["paths"]["/events/{trackingId}"]["get"]["parameters"]

    assert (header["in"], header["name"], header["required"]) == (
        "header",
        "idempotency-key",
        False,
    )
    assert (path_parameter["in"], path_parameter["name"]) == ("path", "trackingId")
    assert path_parameter["schema"]["pattern"].startswith("^[A-Za-z0-9]")


def test_the_catalog_body_is_the_enrichment_request(spec: dict[str, Any]) -> None:
    body = spec["paths"]["/catalogs/{catalogId}/enrichments"]["post"]["requestBody"]
    schemas = spec["components"]["schemas"]

    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EnrichmentRequest"
    }
    request = schemas["EnrichmentRequest"]
    # The owner is the token's subject; a body may name it, never require it.
    assert "required" not in request
    assert request["oneOf"] == [{"required": ["products"]}, {"required": ["productsPointer"]}]
    assert request["additionalProperties"] is False
    (products,) = [
        option for option in request["properties"]["products"]["anyOf"] if "items" in option
    ]
    assert (products["minItems"], products["maxItems"]) == (1, 1000)
    batch_size = request["properties"]["batchSize"]
    assert (batch_size["minimum"], batch_size["maximum"]) == (1, 100)
    product = schemas["Product"]
    assert product["oneOf"] == [{"required": ["asin"]}, {"required": ["ean"]}]
    assert product["additionalProperties"] is True


def test_the_inline_maximum_follows_the_setting() -> None:
    request = document(app, max_inline_products=7)["components"]["schemas"]["EnrichmentRequest"]

    (products,) = [
        option for option in request["properties"]["products"]["anyOf"] if "items" in option
    ]
    assert products["maxItems"] == 7


def test_the_catalog_routes_describe_their_parameters(spec: dict[str, Any]) -> None:
    progress = spec["paths"]["/catalogs/{catalogId}/enrichments/{trackingId}"]["get"]
    listing = spec["paths"]["/users/{userId}/enrichments"]["get"]

    assert [parameter["name"] for parameter in progress["parameters"]] == [
        "catalogId",
        "trackingId",
    ]
    assert [(parameter["name"], parameter["in"]) for parameter in listing["parameters"]] == [
        ("userId", "path"),
        ("limit", "query"),
        ("nextToken", "query"),
    ]
    limit = listing["parameters"][1]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, 20)
    answers = spec["components"]["schemas"]["EnrichmentProgress"]["properties"]
    assert {
        "trackingId",
        "catalogId",
        "userId",
        "status",
        "totalProducts",
        "totalBatches",
        "batchesDone",
        "productsEnriched",
        "productsFailed",
        "failures",
        "startedAt",
        "finishedAt",
    } <= set(answers)
