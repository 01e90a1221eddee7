"""The API's OpenAPI document, generated from the routes; ``docs/openapi.json`` is its copy.

Regenerate the committed copy with
``UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_api_openapi.py``; the test fails while the
two differ. The resolver is a parameter, not an import: :mod:`functions.api.app` serves this
document, so importing the app here would make the two modules import each other.

Powertools documents parameters and responses from the routes. The request bodies are added
here: the routes read their bodies themselves (size, UTF-8, nesting and content type are checked
before any parsing, see :mod:`functions.api.body`), so Powertools does not know their schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from functions._shared.enrichment import DEFAULT_MAX_INLINE_PRODUCTS
from functions._shared.models import Event
from functions.api.core import DEFAULT_MAX_BULK_EVENTS, MAX_EXECUTION_INPUT_BYTES
from functions.api.schemas import EnrichmentRequest

TITLE: Final = "Stepflow API"
VERSION: Final = "1.0.0"
DOCUMENT_PATH: Final = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"

_COMPONENTS_REF: Final = "#/components/schemas/{model}"
_EVENT_REF: Final = {"$ref": _COMPONENTS_REF.format(model="Event")}
_ENRICHMENT_REQUEST_REF: Final = {"$ref": _COMPONENTS_REF.format(model="EnrichmentRequest")}
# Powertools adds a 422 "Validation Error" to every validated route; this API answers 400.
_POWERTOOLS_VALIDATION_SCHEMAS: Final = (
    "HTTPValidationError",
    "ResponseValidationError",
    "ValidationError",
)

_DESCRIPTION: Final = (
    "Submit events to the ingest workflow and follow them; submit catalogs of products to the "
    "enrich workflow and follow their progress. A valid POST answers 202 with the execution ARN "
    "and a tracking id; bad input answers 4xx naming every wrong field and starts nothing. "
    "Bodies are UTF-8 JSON (application/json), nested at most 64 levels; all the events or "
    f"products of one request must fit one execution input ({MAX_EXECUTION_INPUT_BYTES:,} "
    "bytes)."
)


def document(
    resolver: APIGatewayHttpResolver,
    max_bulk_events: int | None = None,
    max_inline_products: int | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes of ``resolver``, for a bulk limit of
    ``max_bulk_events`` events and at most ``max_inline_products`` products inline.

    Example::

        document(functions.api.app.app)["paths"]["/health"]["get"]["summary"]  # "Liveness"
    """
    max_bulk = max_bulk_events or DEFAULT_MAX_BULK_EVENTS
    max_inline = max_inline_products or DEFAULT_MAX_INLINE_PRODUCTS
    schema = resolver.get_openapi_schema(title=TITLE, version=VERSION, description=_DESCRIPTION)
    spec: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    paths = spec["paths"]
    paths["/events"]["post"]["requestBody"] = _json_body("One event.", _EVENT_REF)
    paths["/events/bulk"]["post"]["requestBody"] = _json_body(
        f"1 to {max_bulk} events.",
        {"type": "array", "items": _EVENT_REF, "minItems": 1, "maxItems": max_bulk},
    )
    paths["/catalogs/{catalogId}/enrichments"]["post"]["requestBody"] = _json_body(
        f"The catalog: its products inline (1 to {max_inline}) or a pointer to an NDJSON "
        "object in S3.",
        _ENRICHMENT_REQUEST_REF,
    )
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, model in (("Event", Event), ("EnrichmentRequest", EnrichmentRequest)):
        model_schema = model.model_json_schema(by_alias=True, ref_template=_COMPONENTS_REF)
        components.update(model_schema.pop("$defs", {}))
        components[name] = model_schema
    products = components["EnrichmentRequest"]["properties"]["products"]
    for option in products.get("anyOf", [products]):
        if option.get("type") == "array":
            option["maxItems"] = max_inline
    _drop_powertools_validation_errors(paths, components)
    # A stable order (paths, status codes, schemas), so the committed copy diffs cleanly.
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"] = dict(sorted(operation["responses"].items()))
    spec["paths"] = dict(sorted(paths.items()))
    spec["components"]["schemas"] = dict(sorted(components.items()))
    return spec


def render(resolver: APIGatewayHttpResolver) -> str:
    """:func:`document` with the default limits, as the text of ``docs/openapi.json``."""
    return json.dumps(document(resolver), indent=2, ensure_ascii=False) + "\n"


def _json_body(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "required": True,
        "content": {"application/json": {"schema": schema}},
    }


def _drop_powertools_validation_errors(paths: dict[str, Any], components: dict[str, Any]) -> None:
    for operations in paths.values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            if "HTTPValidationError" in json.dumps(answer):
                del operation["responses"]["422"]
    if "HTTPValidationError" not in json.dumps(paths):
        for name in _POWERTOOLS_VALIDATION_SCHEMAS:
            components.pop(name, None)
