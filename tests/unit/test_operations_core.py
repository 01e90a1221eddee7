"""The operations' pure parts with fakes: loop prevention, idempotent redrives, the breaker
view, health, and the Swagger UI page served without a CDN."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.operations.breaker import BreakerClock, BreakerRecord, breaker_view
from functions.operations.executions import (
    ExecutionFacts,
    RedriveRequest,
    list_executions,
    redrive_executions,
)
from functions.operations.health import health_report
from functions.operations.queues import (
    HeldMessage,
    QueueDepth,
    RedriveInProgressError,
    RedriveTarget,
    start_redrive,
)
from tests.events import load_event

TARGET = RedriveTarget("q", "arn:q", "q-dlq", "url:q-dlq", "arn:q-dlq")


class FakeQueues:
    def __init__(self, bodies: Sequence[str], running: bool = False) -> None:
        self.held = [HeldMessage(f"m{n}", body, {}, f"r{n}") for n, body in enumerate(bodies)]
        self.released: list[str] = []
        self.deleted: list[str] = []
        self.moves: list[tuple[str, str, int | None]] = []
        self.running = running

    def url(self, name: str) -> str:
        return f"url:{name}"

    def arn(self, url: str) -> str:
        return url.replace("url:", "arn:")

    def depth(self, name: str, url: str) -> QueueDepth:
        return QueueDepth(name, url, len(self.held), 0, 0, None)

    def cancel_move(self, task_handle: str) -> int:
        return 0

    def list_moves(self, source_arn: str) -> list[dict[str, Any]]:
        return [{"Status": "RUNNING"}] if self.running else [{"Status": "COMPLETED"}]

    def hold(self, url: str, limit: int) -> list[HeldMessage]:
        return self.held[:limit]

    def release(self, url: str, messages: Sequence[HeldMessage]) -> None:
        self.released += [m.message_id for m in messages]

    def delete(self, url: str, message: HeldMessage) -> None:
        self.deleted.append(message.message_id)

    def start_move(self, source_arn: str, destination_arn: str, rate: int | None) -> str:
        self.moves.append((source_arn, destination_arn, rate))
        return "handle-1"


class FakeLedger:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.set_aside_keys: list[str] = []

    def count_redrive(self, key: str, queue: str, now: str) -> int:
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]

    def set_aside(self, key: str, queue: str, message: HeldMessage, now: str) -> None:
        self.set_aside_keys.append(key)


def test_a_message_back_more_than_the_limit_is_set_aside_and_the_rest_moved() -> None:
    ledger = FakeLedger()
    for _ in range(2):
        start_redrive(TARGET, FakeQueues(["loops"]), ledger, max_redrives=2, rate=None, now="t")
    sqs = FakeQueues(["loops", "fresh"])

    started = start_redrive(TARGET, sqs, ledger, max_redrives=2, rate=7, now="t")

    assert [entry.message_id for entry in started.set_aside] == ["m0"]
    assert started.set_aside[0].redrives == 3
    assert sqs.deleted == ["m0"]
    assert sqs.released == ["m1"]
    assert sqs.moves == [("arn:q-dlq", "arn:q", 7)]
    assert started.to_payload()["taskHandle"] == "handle-1"


def test_a_running_move_refuses_a_second_redrive_before_counting_anything() -> None:
    ledger = FakeLedger()
    with pytest.raises(RedriveInProgressError):
        start_redrive(
            TARGET, FakeQueues(["a"], running=True), ledger, max_redrives=3, rate=None, now="t"
        )
    assert ledger.counts == {}


MACHINE = "arn:aws:states:us-east-1:1:stateMachine:sm-ingest"


def _facts(name: str, error: str, redrive_status: str = "REDRIVABLE") -> ExecutionFacts:
    return ExecutionFacts(
        arn=f"arn:aws:states:us-east-1:1:execution:sm-ingest:{name}",
        status="FAILED",
        error=error,
        cause="why",
        stop_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        redrive_status=redrive_status,
        redrive_count=0,
    )


class FakeExecutions:
    def __init__(self, facts: Sequence[ExecutionFacts]) -> None:
        self.facts = {f.arn: f for f in facts}
        self.tokens: list[str] = []

    def failed_arns(self, state_machine_arn: str, status: str, limit: int) -> list[str]:
        return list(self.facts) if status == "FAILED" else []

    def describe(self, execution_arn: str) -> ExecutionFacts:
        return self.facts[execution_arn]

    def redrive(self, execution_arn: str, client_token: str) -> None:
        self.tokens.append(client_token)
        self.facts[execution_arn] = replace(
            self.facts[execution_arn], status="RUNNING", redrive_status="NOT_REDRIVABLE"
        )


def test_parked_executions_are_listed_and_redriven_once() -> None:
    sfn = FakeExecutions([_facts("a", "CircuitOpenError"), _facts("b", "States.Runtime")])
    workflows = {"ingest": MACHINE}

    listed = list_executions(workflows, sfn, status="PARKED")
    first = redrive_executions(workflows, sfn, RedriveRequest(status="PARKED"))
    again = redrive_executions(
        workflows, sfn, RedriveRequest(execution_arns=(listed[0]["executionArn"], "arn:x"))
    )

    assert [(e["status"], e["workflow"], e["reason"]) for e in listed] == [
        ("PARKED", "ingest", "CircuitOpenError: why")
    ]
    assert first["redriven"] == [listed[0]["executionArn"]]
    assert first["failed"] == []
    assert again["redriven"] == []
    assert {s["executionArn"] for s in again["skipped"]} == {listed[0]["executionArn"], "arn:x"}
    assert len(sfn.tokens) == 1


def test_the_breaker_view_converts_the_scaled_clock_and_health_names_the_open_breaker() -> None:
    record = BreakerRecord("downstream", "OPEN", 5, opened_at=1_000_000, version=2)
    view = breaker_view(record, BreakerClock(0.001), cooldown_seconds=300, probe_stale_seconds=120)
    assert view["state"] == "open"
    assert view["lastFailureAt"] == "1970-01-01T00:16:40+00:00"
    assert view["nextProbeAt"] == "1970-01-01T00:16:40.300000+00:00"

    class Probes:
        def tables(self) -> list[str]:
            return ["t"]

        def read_table(self, table: str) -> None:
            return None

        def buckets(self) -> list[str]:
            return ["b"]

        def read_bucket(self, bucket: str) -> None:
            raise PermissionError("denied")

        def queue_report(self) -> dict[str, Any]:
            dlq = QueueDepth("q-dlq", "u", 2, 0, 0, None).to_payload()
            return {
                "queues": [{**QueueDepth("q", "u", 0, 0, 0, None).to_payload(), "deadLetter": dlq}]
            }

        def breaker(self) -> dict[str, Any]:
            return view

    report = health_report(Probes())
    assert report["status"] == "degraded"
    assert {name: check["status"] for name, check in report["checks"].items()} == {
        "tables": "ok",
        "queues": "degraded",
        "buckets": "degraded",
        "breaker": "degraded",
        "downstream": "degraded",
    }
    assert report["checks"]["queues"]["detail"] == {"deadLetterMessages": {"q-dlq": 2}}


def test_the_swagger_ui_is_served_from_the_api_with_both_documents() -> None:
    from functions.operations.app import app

    def get(path: str) -> dict[str, Any]:
        event = load_event("api_get_health.json")
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["routeKey"] = event["requestContext"]["routeKey"] = f"GET {path}"
        answer: dict[str, Any] = app.resolve(event, cast(LambdaContext, None))
        return answer

    page = get("/docs")
    assert page["statusCode"] == 200
    assert page["headers"]["Content-Type"].startswith("text/html")
    assert "docs/swagger-ui-bundle.js" in page["body"]
    assert '"ops/openapi.json"' in page["body"]
    assert '"openapi.json"' in page["body"]
    assert "https://" not in page["body"]  # nothing from a CDN
    bundle = get("/docs/swagger-ui-bundle.js")
    assert bundle["statusCode"] == 200
    assert bundle["headers"]["Content-Type"] == "application/javascript"
    assert get("/docs/../handler.py")["statusCode"] == 404
    document = get("/ops/openapi.json")
    assert document["statusCode"] == 200
