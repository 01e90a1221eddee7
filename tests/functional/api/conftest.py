"""The api Lambda, cold-started per test against moto, and what its tests observe."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.functional.api.support import Answer
from tests.functional.conftest import (
    FakeLambdaContext,
    HandlerLoader,
)


@pytest.fixture
def api(load_handler: HandlerLoader, stepfunctions: Any) -> Iterator[ModuleType]:
    """A cold start: the routes' module too, so its logger writes to this test's stdout."""
    sys.modules.pop("functions.api.app", None)
    yield load_handler("api")
    sys.modules.pop("functions.api.app", None)


@pytest.fixture
def call(api: ModuleType, lambda_context: FakeLambdaContext) -> Any:
    def invoke(event: dict[str, Any]) -> Answer:
        response = api.lambda_handler(event, lambda_context)
        assert response["headers"]["Content-Type"] == "application/json"
        return Answer(response["statusCode"], json.loads(response["body"]), response["headers"])

    return invoke


@pytest.fixture
def logs(api: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[dict[str, Any]]]:
    """The JSON log lines the API writes from now on (its handler outlives pytest's capture)."""
    stream = io.StringIO()
    monkeypatch.setattr(api.logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def record(load_handler: HandlerLoader, lambda_context: FakeLambdaContext) -> Any:
    """update_status, as the enrich workflow invokes it."""
    update_status = load_handler("update_status")

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = update_status.lambda_handler(payload, lambda_context)
        return answer

    return invoke
