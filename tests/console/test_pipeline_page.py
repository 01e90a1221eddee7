"""The pipeline page against the operations API's contract, served by a stub that keeps it.

The operations API is built elsewhere; this stub answers its documented shapes, so the page's
DLQ redrive and "redrive all" are driven in the browser and what they send is checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.console.json_stub import Answers, JsonStub, console_in_front_of

pytestmark = pytest.mark.browser

_PARKED_ARN = "arn:aws:states:us-east-1:123456789012:execution:stepflow-dev-ingest:trk-parked"
_DEPTHS = {"visible": 3, "inFlight": 1, "delayed": 0, "oldestMessageAgeSeconds": 42}
_ANSWERS: Answers = {
    ("GET", "/ops/queues"): (
        200,
        {
            "queues": [
                {
                    "name": "ingest",
                    "url": "http://127.0.0.1/123456789012/stepflow-dev-ingest",
                    **_DEPTHS,
                    "deadLetter": {"name": "ingest-dlq", "url": "http://dlq", **_DEPTHS},
                }
            ]
        },
    ),
    ("POST", "/ops/queues/ingest/redrive"): (
        202,
        {"taskHandle": "task-1", "sourceArn": "arn:dlq", "destinationArn": "arn:ingest"},
    ),
    ("GET", "/ops/queues/ingest/redrive"): (200, {"tasks": [{"taskHandle": "task-1"}]}),
    ("GET", "/ops/breaker"): (
        200,
        {
            "state": "OPEN",
            "failureCount": 5,
            "lastFailureAt": "2026-01-01T00:00:00Z",
            "nextProbeAt": "2026-01-01T00:05:00Z",
            "history": [{"state": "OPEN", "at": "2026-01-01T00:00:00Z"}],
        },
    ),
    ("GET", "/ops/executions"): (
        200,
        {
            "executions": [
                {
                    "executionArn": _PARKED_ARN,
                    "workflow": "ingest",
                    "status": "PARKED",
                    "reason": "breaker open",
                    "stopDate": 1767225600,
                    "redrivable": True,
                }
            ]
        },
    ),
    ("POST", "/ops/executions/redrive"): (
        200,
        {"redriven": [_PARKED_ARN], "skipped": [], "failed": []},
    ),
    ("POST", "/"): (200, {"stateMachines": []}),
}


@pytest.fixture(scope="module")
def stubbed() -> Iterator[tuple[str, JsonStub]]:
    with console_in_front_of(_ANSWERS) as both:
        yield both


@pytest.fixture(scope="module")
def stub(stubbed: tuple[str, JsonStub]) -> JsonStub:
    return stubbed[1]


@pytest.fixture
def pipeline(browser: Any, stubbed: tuple[str, JsonStub]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{stubbed[0]}#/pipeline")
    yield page
    context.close()


def test_queues_breaker_and_parked_work_are_shown(pipeline: Any, stub: JsonStub) -> None:
    row = pipeline.locator('#queues tr[data-queue="ingest"]')
    expect(row).to_contain_text("3 / 1 / 0")
    expect(row).to_contain_text("42 s")
    expect(pipeline.locator("#breaker")).to_contain_text("OPEN")
    expect(pipeline.locator("#breaker")).to_contain_text("5 consecutive failure(s)")
    expect(pipeline.locator("#parked")).to_contain_text("breaker open")
    assert ("GET", "/ops/executions?status=PARKED", None) in stub.requests()


def test_a_dlq_is_redriven_from_the_pipeline_page(pipeline: Any, stub: JsonStub) -> None:
    pipeline.get_by_role("button", name="redrive the dead letters of ingest").click()
    expect(pipeline.locator("#queues")).to_contain_text("Redrive of ingest started (task-1)")
    assert ("POST", "/ops/queues/ingest/redrive", None) in stub.requests()


def test_redrive_all_sends_every_parked_execution(pipeline: Any, stub: JsonStub) -> None:
    pipeline.locator("#redrive-parked").click()
    expect(pipeline.locator("#parked")).to_contain_text("Redriven 1, skipped 0, failed 0.")
    assert (
        "POST",
        "/ops/executions/redrive",
        {"executionArns": [_PARKED_ARN]},
    ) in stub.requests()
