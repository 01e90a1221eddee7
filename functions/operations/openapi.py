"""The operations API's OpenAPI document; ``docs/openapi-operations.json`` is its copy.

The public API's document (``functions/api/openapi.py``, served at ``/openapi.json``) and this
one are two documents of one HTTP API: each Lambda ships alone and cannot import the other's
routes. The Swagger UI at ``/docs`` offers both. Regenerate the committed copy with
``UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_operations_openapi.py``.

The request bodies are added here: the routes parse their bodies themselves (so that a bad
body answers 400 naming every field), so Powertools does not know their schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel

TITLE: Final = "Stepflow operations API"
VERSION: Final = "1.0.0"
DOCUMENT_PATH: Final = Path(__file__).resolve().parents[2] / "docs" / "openapi-operations.json"
_REF: Final = "#/components/schemas/{model}"
_DESCRIPTION: Final = (
    "For operators (IAM, SigV4): queues and dead-letter queues, their redrive with loop "
    "prevention, failed and parked executions and their redrive, the circuit breaker, replays "
    "of archived bundles, and health."
)
_POWERTOOLS_VALIDATION_SCHEMAS: Final = (
    "HTTPValidationError",
    "ResponseValidationError",
    "ValidationError",
)
_BODIES: Final = {
    ("/ops/queues/{queueName}/redrive", "post"): ("RedriveQueueBody", False),
    ("/ops/queues/{queueName}/redrive/cancel", "post"): ("CancelBody", True),
    ("/ops/executions/redrive", "post"): ("RedriveExecutionsBody", False),
    ("/ops/breaker", "post"): ("BreakerBody", True),
    ("/ops/replay", "post"): ("ReplayBody", True),
}


def document(resolver: APIGatewayHttpResolver) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the operations routes of ``resolver``.

    Example::

        document(functions.operations.app.app)["paths"]["/ops/breaker"]["get"]["summary"]
    """
    from functions.operations import app as routes

    schema = resolver.get_openapi_schema(title=TITLE, version=VERSION, description=_DESCRIPTION)
    spec: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    paths = spec["paths"]
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    for (path, method), (model_name, required) in _BODIES.items():
        model: type[BaseModel] = getattr(routes, model_name)
        model_schema = model.model_json_schema(by_alias=True, ref_template=_REF)
        components.update(model_schema.pop("$defs", {}))
        components[model_name] = model_schema
        paths[path][method]["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model=model_name)}}},
        }
    for operations in paths.values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                del responses["422"]
            operation["responses"] = dict(sorted(responses.items()))
            operation["security"] = [{"sigv4": []}]
    for name in _POWERTOOLS_VALIDATION_SCHEMAS:
        components.pop(name, None)
    spec.setdefault("components", {})["securitySchemes"] = {
        "sigv4": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "description": "AWS Signature Version 4 (execute-api), operator credentials.",
        }
    }
    spec["paths"] = dict(sorted(paths.items()))
    spec["components"]["schemas"] = dict(sorted(components.items()))
    return spec


def render(resolver: APIGatewayHttpResolver) -> str:
    """:func:`document` as the text of ``docs/openapi-operations.json``."""
    return json.dumps(document(resolver), indent=2, ensure_ascii=False) + "\n"
