"""The console server on its own: static files, examples, what the proxy refuses and forwards.

A stub (one recording server, :class:`~tests.console.json_stub.JsonStub`) stands in for the
AWS endpoint and the HTTP API, so what the proxy sends upstream is checked exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.json_http import request_json
from tests.console.json_stub import JsonStub, console_in_front_of


@pytest.fixture(scope="module")
def stubbed() -> Iterator[tuple[str, JsonStub]]:
    with console_in_front_of({("POST", "/"): (200, {"stateMachines": []})}) as both:
        yield both


@pytest.fixture(scope="module")
def console(stubbed: tuple[str, JsonStub]) -> str:
    return stubbed[0]


@pytest.fixture(scope="module")
def upstream(stubbed: tuple[str, JsonStub]) -> JsonStub:
    return stubbed[1]


def _states(console: str, action: str, headers: dict[str, str] | None = None) -> Any:
    return request_json(
        "POST",
        f"{console}aws/states",
        {},
        {"X-Amz-Target": f"AWSStepFunctions.{action}", **(headers or {})},
    )


def test_a_step_functions_call_is_forwarded_signed(console: str, upstream: JsonStub) -> None:
    status, answer = _states(console, "ListStateMachines")
    assert (status, answer) == (200, {"stateMachines": []})
    forwarded = upstream.received[-1]
    assert forwarded["headers"]["X-Amz-Target"] == "AWSStepFunctions.ListStateMachines"
    assert forwarded["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=local/")
    assert "/us-east-1/states/aws4_request" in forwarded["headers"]["Authorization"]


def test_actions_outside_the_console_s_needs_are_refused(console: str, upstream: JsonStub) -> None:
    before = len(upstream.received)
    status, answer = _states(console, "DeleteStateMachine")
    assert status == 403
    assert "DeleteStateMachine" in answer["message"]
    assert len(upstream.received) == before


def test_a_request_from_another_site_is_refused(console: str) -> None:
    status, answer = _states(console, "ListStateMachines", {"Origin": "http://evil.example"})
    assert status == 403
    assert answer == {"message": "requests from other sites are refused"}


def test_the_operations_api_s_errors_come_back_as_they_were(
    console: str, upstream: JsonStub
) -> None:
    assert request_json("GET", f"{console}api/ops/queues") == (404, {"message": "Not Found"})
    assert upstream.received[-1]["path"] == "/ops/queues"
    assert request_json("GET", f"{console}api/ops/executions?status=PARKED")[0] == 404
    assert upstream.received[-1]["path"] == "/ops/executions?status=PARKED"
    status, _ = request_json("GET", f"{console}api/openapi.json")
    assert status == 404


def test_static_files_and_examples_are_served_and_nothing_outside(console: str) -> None:
    status, examples = request_json("GET", f"{console}console/examples")
    assert status == 200
    assert examples["examples"]["envelope.json"]["trackingId"] == "readme-1"
    status, answer = request_json("GET", f"{console}static/../server.py")
    assert status == 404
    assert "no such page" in answer["message"]
