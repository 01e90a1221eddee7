"""The api Lambda when AWS fails (503, 500) and what it tells operators: metrics, logs, a
cold start that refuses a wrong environment, and no boto3 for requests that need none.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from functions.api.adapters import StatusTable, StepFunctionsStarter
from tests.events import load_event
from tests.functional.api.support import (
    REPO_ROOT,
    ThrottledDynamoDb,
    an_event,
    event_with,
    get,
    status_records,
)
from tests.functional.conftest import (
    ENRICH_STATE_MACHINE_ARN,
    ENRICHMENT_STATUS_TABLE,
    INGEST_STATE_MACHINE_ARN,
    REGION,
    STATUS_TABLE,
    FakeLambdaContext,
    HandlerLoader,
    emitted_metrics,
    http_event,
    started_executions,
)


def test_a_failed_start_is_a_503_with_a_retry_hint_and_the_retry_then_starts(
    api: ModuleType, call: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    services = api.services
    missing = INGEST_STATE_MACHINE_ARN.replace("ingest", "missing")
    api.configure(dataclasses.replace(services, starter=StepFunctionsStarter(missing)))
    event = http_event(body=an_event(), headers={"Idempotency-Key": "k-503"})

    refused = call(event)

    assert refused.status == 503
    assert refused.headers["Retry-After"] == "5"
    assert "retry in a few seconds" in refused.body["message"]
    assert "Traceback" not in json.dumps(refused.body)
    assert started_executions(stepfunctions) == []
    (record,) = status_records(dynamodb)
    assert record["status"]["S"] == "FAILED"

    api.configure(services)
    retried = call(copy.deepcopy(event))

    assert retried.status == 202
    assert len(started_executions(stepfunctions)) == 1


def test_a_throttled_status_table_is_a_503_and_starts_nothing(
    api: ModuleType, call: Any, stepfunctions: Any
) -> None:
    services = api.services
    api.configure(
        dataclasses.replace(services, statuses=StatusTable(STATUS_TABLE, ThrottledDynamoDb()))
    )

    posted = call(http_event(body=an_event()))
    read = call(get("/events/trk-1"))

    assert (posted.status, read.status) == (503, 503)
    assert started_executions(stepfunctions) == []


def test_an_unexpected_error_is_a_500_without_internals(
    api: ModuleType, call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> str:
        raise RuntimeError("secret internals in /opt/python")

    monkeypatch.setattr("functions.api.app.new_tracking_id", broken)

    answer = call(http_event(body=an_event()))

    assert answer.status == 500
    assert answer.body["message"].startswith("internal error")
    assert (
        answer.body["requestId"] == load_event("api_post_event.json")["requestContext"]["requestId"]
    )
    assert "secret" not in json.dumps(answer.body)


def test_an_event_that_is_not_an_http_request_is_still_a_json_500(
    api: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    response = api.lambda_handler({"Records": []}, lambda_context)

    assert response["statusCode"] == 500
    assert json.loads(response["body"])["requestId"] == lambda_context.aws_request_id


def test_accepted_events_are_counted_and_logs_carry_the_request_and_tracking_ids(
    call: Any, logs: Callable[[], list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    answer = call(load_event("api_post_events_bulk.json"))

    assert emitted_metrics(capsys.readouterr().out)["EventsAccepted"] == 4
    accepted = next(line for line in logs() if line["message"] == "Events accepted")
    assert accepted["trackingId"] == answer.body["trackingId"]
    assert accepted["correlation_id"] == "JKJaXmPLvHcESHA="
    assert (accepted["count"], accepted["replayed"]) == (4, False)


def test_refusals_are_logged_with_field_names_only(
    call: Any, logs: Callable[[], list[dict[str, Any]]]
) -> None:
    event = event_with("eventHeader.eventType", "Confidential Owner Name")

    call(http_event(body=event))

    refusal = next(line for line in logs() if line["message"] == "Request refused")
    assert (refusal["status"], refusal["fields"]) == (400, ["eventHeader.eventType"])
    assert "Confidential" not in json.dumps(refusal)


def test_a_503_is_logged_with_its_cause(
    api: ModuleType, call: Any, logs: Callable[[], list[dict[str, Any]]]
) -> None:
    missing = INGEST_STATE_MACHINE_ARN.replace("ingest", "missing")
    api.configure(dataclasses.replace(api.services, starter=StepFunctionsStarter(missing)))

    call(http_event(body=an_event()))

    failure = next(line for line in logs() if line["level"] == "ERROR")
    assert "StateMachineDoesNotExist" in failure["exception"]


def test_a_wrong_environment_fails_the_cold_start_naming_the_variable(
    load_handler: HandlerLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INGEST_STATE_MACHINE_ARN")

    with pytest.raises(Exception, match="INGEST_STATE_MACHINE_ARN is not set"):
        load_handler("api")


def test_health_and_bad_requests_never_import_boto3() -> None:
    script = f"""
import json, sys
import functions.api.handler as handler
health = json.load(open({str(REPO_ROOT / "tests/events/api_get_health.json")!r}))
bad = json.load(open({str(REPO_ROOT / "tests/events/api_post_event.json")!r}))
bad["body"] = "[1]"
catalog = json.load(open({str(REPO_ROOT / "tests/events/api_post_catalog_enrichment.json")!r}))
catalog["body"] = json.dumps({{"userId": "u-1", "products": [{{"asin": "B1"}}]}})
class Context:
    function_name = "api"; memory_limit_in_mb = 128; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    def get_remaining_time_in_millis(self): return 1000
codes = [handler.lambda_handler(e, Context())["statusCode"] for e in (health, bad, catalog)]
print("RESULT", json.dumps({{"codes": codes, "boto3": "boto3" in sys.modules}}))
"""
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "StepflowTest",
        "STATUS_TABLE_NAME": STATUS_TABLE,
        "IDEMPOTENCY_TABLE_NAME": "idempotency",
        "INGEST_STATE_MACHINE_ARN": INGEST_STATE_MACHINE_ARN,
        "INGEST_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/ingest",
        "ENRICHMENT_STATUS_TABLE_NAME": ENRICHMENT_STATUS_TABLE,
        "ENRICH_STATE_MACHINE_ARN": ENRICH_STATE_MACHINE_ARN,
    }

    finished = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    (line,) = [line for line in finished.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    assert result == {"codes": [200, 400, 400], "boto3": False}
