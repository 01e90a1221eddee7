"""docs/openapi-operations.json is the document the operations routes generate.

After a deliberate change, regenerate it with
``UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_operations_openapi.py`` and review the diff.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from functions.operations.app import app
from functions.operations.openapi import DOCUMENT_PATH, document, render
from stack.app import build_app
from stack.spec import Authorization

_UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
_UNDOCUMENTED = frozenset({"/ops/openapi.json", "/docs", "/docs/{asset}"})


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return document(app)


def test_the_committed_document_is_the_generated_one() -> None:
    generated = render(app)
    if _UPDATE:
        DOCUMENT_PATH.write_text(generated, encoding="utf-8")
    assert DOCUMENT_PATH.exists(), "no docs/openapi-operations.json; create it: UPDATE_SNAPSHOTS=1"
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == generated, (
        "docs/openapi-operations.json is stale; regenerate it with UPDATE_SNAPSHOTS=1"
    )


def test_every_operations_route_is_documented_and_needs_operator_credentials(
    spec: dict[str, Any],
) -> None:
    api = build_app().api
    assert api is not None
    routes = [route for route in api.routes if route.function == "operations"]
    documented = {(method, path) for path, item in spec["paths"].items() for method in item}

    assert documented == {
        (route.method.value.lower(), route.path)
        for route in routes
        if route.path not in _UNDOCUMENTED
    }
    for route in routes:
        public = route.path in _UNDOCUMENTED
        assert (route.authorization is Authorization.NONE) is public, route.key
    for item in spec["paths"].values():
        for operation in item.values():
            assert operation["security"] == [{"sigv4": []}]


def test_the_request_bodies_are_documented(spec: dict[str, Any]) -> None:
    breaker = spec["paths"]["/ops/breaker"]["post"]["requestBody"]
    schema = spec["components"]["schemas"]["BreakerBody"]

    assert breaker["required"] is True
    assert schema["properties"]["state"]["enum"] == ["open", "closed"]
    assert set(schema["required"]) == {"state", "reason"}
    redrive = spec["components"]["schemas"]["RedriveQueueBody"]
    assert redrive["properties"]["maxMessagesPerSecond"]["anyOf"][0]["maximum"] == 500
