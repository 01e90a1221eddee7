"""The console in a real browser: start from the form, watch the graph, read a failure, redrive
it, filter the history; every page readable, and API errors shown as messages."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from playwright.sync_api import expect

from local.json_http import request_json
from local.runtime import REPO_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.local]


def _execution_page(showcase: dict[str, str], execution_arn: str) -> str:
    return f"{showcase['console']}#/executions/{quote(execution_arn, safe='')}"


def _carrying_execution(showcase: dict[str, str], tracking_id: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, record = request_json("GET", f"{showcase['api']}/events/{tracking_id}")
        if status == 200 and record.get("executionArn"):
            return str(record["executionArn"])
        time.sleep(0.2)
    raise AssertionError(f"no execution carried {tracking_id} within 120 s")


def _start(showcase: dict[str, str], document: dict[str, Any]) -> str:
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=showcase["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    started = sfn.start_execution(stateMachineArn=showcase["showcase"], input=json.dumps(document))
    return str(started["executionArn"])


def _start_from_form(page: Any, showcase: dict[str, str], text: str, name: str) -> None:
    page.goto(f"{showcase['console']}#/executions?machine={quote(showcase['showcase'], safe='')}")
    editor = page.locator("#input-editor")
    editor.fill("{not json")
    expect(page.locator("#input-check")).to_contain_text("Invalid input")
    expect(page.locator("#start-execution")).to_be_disabled()
    editor.fill(text)
    expect(page.locator("#input-check")).to_contain_text("Valid JSON")
    page.locator("#execution-name").fill(name)
    page.locator("#start-execution").click()
    expect(page.locator(".execution-header h1")).to_contain_text(name)


def _start_held_by_file(
    page: Any, showcase: dict[str, str], directory: Path, key: str
) -> tuple[Path, str]:
    """Start from the form with ``{key: <a file that exists>}``; the file and execution name."""
    held_by = directory / key
    held_by.touch()
    name = f"{key}-{uuid.uuid4().hex[:8]}"
    _start_from_form(page, showcase, json.dumps({key: str(held_by)}), name)
    return held_by, name


def _state(page: Any, name: str) -> Any:
    return page.locator(f'#execution-graph g[data-state="{name}"]')


def test_an_execution_started_from_the_form_turns_the_graph_green(
    page: Any, showcase: dict[str, str]
) -> None:
    name = f"form-{uuid.uuid4().hex[:8]}"
    _start_from_form(page, showcase, '{"items": [1, 2, 3]}', name)

    expect(_state(page, "Done")).to_have_attribute("data-status", "succeeded")
    expect(page.locator(".execution-header .badge")).to_have_text("SUCCEEDED")
    expect(_state(page, "Shape the item")).to_have_attribute("data-status", "succeeded")
    expect(_state(page, "Ask the refusing dependency")).to_have_attribute("data-status", "caught")
    expect(_state(page, "Pass the gate")).to_have_attribute("data-status", "not-reached")
    expect(page.locator("#execution-output")).to_contain_text('"refused": true')


def test_the_graph_of_a_running_execution_updates_live(
    page: Any, showcase: dict[str, str], tmp_path: Path
) -> None:
    hold, name = _start_held_by_file(page, showcase, tmp_path, "hold")

    expect(page.locator(".execution-header .badge")).to_have_text("RUNNING")
    expect(_state(page, "Wait for the release")).to_have_attribute("data-status", "in-progress")
    expect(_state(page, "Done")).to_have_attribute("data-status", "not-reached")
    expect(page.get_by_role("button", name=f"Stop {name}")).to_be_visible()

    hold.unlink()
    expect(_state(page, "Done")).to_have_attribute("data-status", "succeeded")
    expect(_state(page, "Wait for the release")).to_have_attribute("data-status", "succeeded")
    expect(page.locator(".execution-header .badge")).to_have_text("SUCCEEDED")


def test_a_failed_execution_shows_its_cause_and_redrives_to_success(
    page: Any, showcase: dict[str, str], tmp_path: Path
) -> None:
    gate, name = _start_held_by_file(page, showcase, tmp_path, "gate")

    expect(page.locator(".execution-header .badge")).to_have_text("FAILED")
    expect(_state(page, "Pass the gate")).to_have_attribute("data-status", "failed")
    expect(page.locator("#execution-error")).to_contain_text("GateShutError")
    expect(page.locator("#execution-error")).to_contain_text("the gate gate is shut")

    gate.unlink()
    page.get_by_role("button", name=f"Redrive {name}").click()
    expect(page.locator(".execution-header .badge")).to_have_text("SUCCEEDED")
    expect(_state(page, "Pass the gate")).to_have_attribute("data-status", "succeeded")
    expect(page.locator(".execution-header .meta")).to_contain_text("redriven 1 time(s)")


def test_the_history_filters_by_type_and_expands_an_event(
    page: Any, showcase: dict[str, str]
) -> None:
    execution_arn = _start(showcase, {"items": [1]})
    page.goto(_execution_page(showcase, execution_arn))
    expect(page.locator(".execution-header .badge")).to_have_text("SUCCEEDED")
    expect(page.locator("#events tbody tr")).to_have_count(page.locator("#events tbody tr").count())
    assert page.locator("#events tbody tr").count() > 10

    page.locator("#event-type-filter").select_option("TaskFailed")
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-type", "TaskFailed")

    page.get_by_role("button", name="details of event").first.press("Enter")
    details = page.locator("#events tr.event-details pre")
    expect(details).to_contain_text('"error": "RefusedError"')
    expect(details).to_contain_text('"errorMessage": "the dependency refused the call"')


def test_the_execution_list_filters_by_status_and_name(page: Any, showcase: dict[str, str]) -> None:
    marker = uuid.uuid4().hex[:8]
    _start(showcase, {"items": [], "marker": marker})
    page.goto(
        f"{showcase['console']}#/executions?machine={quote(showcase['showcase'], safe='')}"
        "&status=SUCCEEDED"
    )
    rows = page.locator("#executions tbody tr[data-execution]")
    expect(rows.first).to_be_visible()
    for text in rows.locator("td:nth-child(2)").all_inner_texts():
        assert text == "SUCCEEDED"

    page.locator("#name-search").fill("no-such-execution-name")
    expect(page.locator("#executions tbody")).to_contain_text("No executions match.")


def test_the_workflows_page_draws_containers_choices_and_catches(
    page: Any, showcase: dict[str, str]
) -> None:
    page.goto(showcase["console"])
    card = page.locator('section.workflow[aria-label="stepflow-dev-showcase"]')
    expect(card.locator(".cluster-label", has_text="Parallel: Fan out")).to_be_visible()
    expect(card.locator(".cluster-label", has_text="Map: Each item")).to_be_visible()
    expect(card.locator(".edge-label", has_text="$.gate is present")).to_have_count(1)
    expect(card.locator(".edge-label", has_text="Catch RefusedError")).to_have_count(1)
    # The stack's four workflows and the showcase.
    expect(page.locator("section.workflow")).to_have_count(5)
    expect(
        page.locator('section.workflow[aria-label="stepflow-dev-ingest"] .meta')
    ).to_contain_text("STANDARD")


def test_the_pipeline_page_reads_the_stacks_operations_api(
    page: Any, showcase: dict[str, str]
) -> None:
    page.goto(f"{showcase['console']}#/pipeline")
    queues = page.locator("#queues")
    expect(queues).to_contain_text("stepflow-dev-ingest", timeout=60_000)
    expect(queues.get_by_role("button", name="redrive the dead letters of stepflow-dev-ingest"))
    for panel in ("#queues", "#breaker", "#parked"):
        expect(page.locator(panel)).not_to_contain_text("unavailable", timeout=60_000)
    expect(page.locator("#rate .rate-chart")).to_be_visible()


@pytest.mark.parametrize("route", ["#/workflows", "#/executions", "#/pipeline"])
def test_every_page_fits_a_phone_width_window(
    browser: Any, showcase: dict[str, str], route: str
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        phone = context.new_page()
        phone.goto(showcase["console"] + route)
        expect(phone.locator("main h1")).to_be_visible(timeout=60_000)
        expect(phone.locator("main")).not_to_contain_text("Loading…", timeout=60_000)
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
    finally:
        context.close()


def test_an_ingest_execution_shows_its_tracking_id_and_status(
    page: Any, showcase: dict[str, str]
) -> None:
    event = json.loads((REPO_ROOT / "examples" / "event.json").read_text(encoding="utf-8"))
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    status, accepted = request_json("POST", f"{showcase['api']}/events", event)
    assert status == 202
    # Queued intake: the execution that carries the event is known once the pipe started it.
    execution_arn = _carrying_execution(showcase, accepted["trackingId"])

    page.goto(_execution_page(showcase, execution_arn))
    expect(page.locator(".execution-header .badge")).to_have_text("SUCCEEDED")
    tracking = page.locator("#tracking li")
    expect(tracking).to_contain_text(accepted["trackingId"])
    expect(tracking.locator(".badge")).to_have_text("DELIVERED")
    expect(_state(page, "Validate events")).to_have_attribute("data-status", "succeeded")


def test_the_console_is_usable_from_the_keyboard(page: Any, showcase: dict[str, str]) -> None:
    page.goto(f"{showcase['console']}#/pipeline")
    expect(page.locator("main h1")).to_have_text("Pipeline")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Executions":
            break
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Executions")
    page.locator("#status-filter").focus()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#status-filter")).to_have_value("RUNNING")
