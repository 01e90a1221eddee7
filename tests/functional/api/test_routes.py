"""Health, the OpenAPI document, and requests no route answers (404, 405)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from functions.api.openapi import document
from tests.events import load_event
from tests.functional.api.support import an_event
from tests.functional.conftest import (
    MAX_BULK_EVENTS,
    MAX_INLINE_PRODUCTS,
    http_event,
)


def test_health_answers_ok(call: Any) -> None:
    answer = call(load_event("api_get_health.json"))

    assert (answer.status, answer.body) == (200, {"status": "ok"})


def test_the_openapi_document_is_served_with_the_deployed_bulk_maximum(
    api: ModuleType, call: Any
) -> None:
    answer = call(http_event("api_get_health.json", path="/openapi.json"))

    assert answer.status == 200
    assert answer.body == document(
        api.app, max_bulk_events=MAX_BULK_EVENTS, max_inline_products=MAX_INLINE_PRODUCTS
    )


def test_an_unknown_route_is_a_json_404(call: Any) -> None:
    answer = call(http_event("api_get_health.json", path="/nowhere"))

    assert answer.status == 404
    assert answer.body["message"] == "no route for GET /nowhere"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("PUT", "/events", "POST"), ("DELETE", "/health", "GET"), ("POST", "/openapi.json", "GET")],
)
def test_a_known_path_with_another_method_is_a_405(
    call: Any, method: str, path: str, allowed: str
) -> None:
    answer = call(http_event(method=method, path=path, body=an_event()))

    assert answer.status == 405
    assert answer.headers["Allow"] == allowed


def test_a_named_stage_in_the_path_is_not_part_of_the_route(call: Any) -> None:
    event = http_event("api_get_health.json", path="/prod/health")
    event["requestContext"]["stage"] = "prod"

    assert call(event).status == 200
