"""The api Lambda as API Gateway invokes it (payload 2.0), against DynamoDB and Step Functions
in moto: accepted events start one execution; bad input gets a 4xx naming what is wrong and
starts nothing; a retried POST with the same Idempotency-Key starts nothing new.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.api.adapters import StatusTable, StepFunctionsStarter
from functions.api.body import MAX_BODY_BYTES
from functions.api.openapi import document
from tests.events import load_event
from tests.functional.conftest import (
    INGEST_STATE_MACHINE_ARN,
    MAX_BULK_EVENTS,
    REGION,
    STATUS_TABLE,
    FakeLambdaContext,
    HandlerLoader,
    emitted_metrics,
    http_event,
    started_executions,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
VALID_EVENTS: list[dict[str, Any]] = load_event("ingest_envelope.json")["events"][:4]


def an_event(index: int = 0) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(VALID_EVENTS[index])
    return event


@dataclasses.dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


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


def status_records(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(TableName=STATUS_TABLE)["Items"]
    return items


def get(path: str) -> dict[str, Any]:
    return http_event("api_get_status.json", path=path)


# --- Accepted ----------------------------------------------------------------------------------


def test_a_valid_event_starts_one_execution_named_by_its_tracking_id(
    call: Any, stepfunctions: Any
) -> None:
    answer = call(load_event("api_post_event.json"))

    assert answer.status == 202
    tracking_id = answer.body["trackingId"]
    assert re.fullmatch(r"trk-[0-9a-f]{32}", tracking_id)
    assert answer.body == {
        "executionId": f"{INGEST_STATE_MACHINE_ARN.replace('stateMachine', 'execution')}"
        f":{tracking_id}",
        "trackingId": tracking_id,
    }
    assert answer.headers["Location"] == f"/events/{tracking_id}"
    (execution,) = started_executions(stepfunctions)
    assert execution["executionArn"] == answer.body["executionId"]
    assert execution["name"] == tracking_id
    assert execution["input"] == {
        "trackingId": tracking_id,
        "source": "api",
        "events": [json.loads(load_event("api_post_event.json")["body"])],
    }


def test_a_valid_bulk_starts_one_execution_with_every_event(call: Any, stepfunctions: Any) -> None:
    answer = call(load_event("api_post_events_bulk.json"))

    assert answer.status == 202
    (execution,) = started_executions(stepfunctions)
    assert execution["input"]["events"] == VALID_EVENTS
    assert execution["input"]["trackingId"] == answer.body["trackingId"]


def test_the_status_is_readable_right_after_the_202(call: Any) -> None:
    accepted = call(http_event(body=an_event()))

    answer = call(get(f"/events/{accepted.body['trackingId']}"))

    assert answer.status == 200
    record = answer.body
    assert record["trackingId"] == accepted.body["trackingId"]
    assert (record["status"], record["source"], record["counts"]) == (
        "RECEIVED",
        "api",
        {"received": 1},
    )
    assert [step["status"] for step in record["history"]] == ["RECEIVED"]
    assert {"rejected", "duplicates", "updatedAt", "createdAt"} <= set(record)
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_status_shows_what_the_workflow_recorded_since(call: Any, dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=STATUS_TABLE,
        Item={
            "trackingId": {"S": "sqs-7e18f737311b2dc3"},
            "status": {"S": "DELIVERED"},
            "statusRank": {"N": "90"},
            "counts": {"M": {"received": {"N": "3"}, "valid": {"N": "2"}}},
            "rejected": {"L": [{"M": {"index": {"N": "2"}, "eventId": {"NULL": True}}}]},
            "duplicates": {"L": []},
            "archiveKey": {"S": "bundles/ab/ab12.ndjson.gz"},
            "updatedAt": {"S": "2024-03-02T09:20:00Z"},
            "history": {"L": [{"M": {"status": {"S": "DELIVERED"}, "at": {"S": "x"}}}]},
        },
    )

    answer = call(get("/events/sqs-7e18f737311b2dc3"))

    assert answer.status == 200
    assert answer.body["archiveKey"] == "bundles/ab/ab12.ndjson.gz"
    assert answer.body["counts"] == {"received": 3, "valid": 2}
    assert answer.body["rejected"] == [{"index": 2, "eventId": None}]
    assert "statusRank" not in answer.body


def test_an_unknown_tracking_id_is_a_404(call: Any) -> None:
    answer = call(get("/events/trk-0123456789abcdef0123456789abcdef"))

    assert answer.status == 404
    assert answer.body == {"message": "no such tracking id", "errors": []}


@pytest.mark.parametrize(
    "tracking_id",
    ["bad$id", "-dash-first", "a" * 257, "trk%20x", "trk;1"],
    ids=["dollar", "dash-first", "too-long", "percent", "semicolon"],
)
def test_a_malformed_tracking_id_is_a_400(call: Any, tracking_id: str) -> None:
    answer = call(get(f"/events/{tracking_id}"))

    assert answer.status == 400
    assert answer.body["message"] == "malformed tracking id"
    assert [error["field"] for error in answer.body["errors"]] == ["path.trackingId"]
    assert "letters, digits" in answer.body["errors"][0]["reason"]


def test_health_answers_ok(call: Any) -> None:
    answer = call(load_event("api_get_health.json"))

    assert (answer.status, answer.body) == (200, {"status": "ok"})


def test_the_openapi_document_is_served_with_the_deployed_bulk_maximum(call: Any) -> None:
    answer = call(http_event("api_get_health.json", path="/openapi.json"))

    assert answer.status == 200
    assert answer.body == document(max_bulk_events=MAX_BULK_EVENTS)


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


# --- Refused, and nothing started --------------------------------------------------------------


def without_body() -> dict[str, Any]:
    event = http_event()
    del event["body"]
    return event


def deeply_nested_event() -> dict[str, Any]:
    event = an_event()
    nested: Any = "bottom"
    for _ in range(100):
        nested = {"inner": nested}
    event["entities"][0]["specs"] = nested
    return event


def event_with(path: str, value: Any, index: int = 0) -> dict[str, Any]:
    event = an_event(index)
    *parents, last = path.split(".")
    target: Any = event
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return event


def big_events(count: int, size: int) -> list[dict[str, Any]]:
    events = []
    for index in range(count):
        event = an_event(index % 4)
        event["eventHeader"]["uuid"] = f"00000000-0000-4000-8000-{index:012d}"
        event["entities"][0]["notes"] = "x" * size
        events.append(event)
    return events


BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str, list[str]]] = [
    # id, event, status, words of the message, fields named
    ("no-body", without_body(), 400, "no body", ["$"]),
    ("empty-body", http_event(raw_body=""), 400, "no body", ["$"]),
    ("not-json", http_event(raw_body="eventName=Car Created"), 400, "not valid JSON", ["$"]),
    ("truncated-json", http_event(raw_body='{"eventHeader": {'), 400, "not valid JSON", ["$"]),
    ("json-string", http_event(body="an event"), 400, "got string", ["$"]),
    ("json-number", http_event(body=42), 400, "got number", ["$"]),
    ("json-null", http_event(body=None), 400, "got null", ["$"]),
    ("list-on-single", http_event(body=[an_event()]), 400, "/events/bulk", ["$"]),
    (
        "object-on-bulk",
        http_event("api_post_events_bulk.json", body=an_event()),
        400,
        "single event to /events",
        ["$"],
    ),
    (
        "missing-fields",
        http_event(body=event_with("eventHeader.uuid", ...)),
        400,
        "the event is invalid",
        ["eventHeader.uuid"],
    ),
    (
        "missing-entities",
        http_event(body=event_with("entities", ...)),
        400,
        "the event is invalid",
        ["entities"],
    ),
    (
        "mistyped-fields",
        http_event(body=event_with("eventHeader.eventType", 42)),
        400,
        "the event is invalid",
        ["eventHeader.eventType"],
    ),
    (
        "invalid-date",
        http_event(body=event_with("eventHeader.createdDate", "2024-02-30T10:00:00Z")),
        400,
        "the event is invalid",
        ["eventHeader.createdDate"],
    ),
    (
        "date-without-offset",
        http_event(body=event_with("entities.0.entityHeader.updatedAt", "2024-03-02T09:15:00")),
        400,
        "the event is invalid",
        ["entities.0.entityHeader.updatedAt"],
    ),
    (
        "saved-before-created",
        http_event(body=event_with("eventHeader.savedDate", "2020-01-01T00:00:00Z")),
        400,
        "the event is invalid",
        ["eventHeader.savedDate"],
    ),
    (
        "bulk-with-invalid",
        http_event(
            "api_post_events_bulk.json",
            body=[an_event(0), event_with("eventHeader.uuid", "not-a-uuid", 1), an_event(2)],
        ),
        400,
        "1 of 3 events is invalid",
        ["eventHeader.uuid"],
    ),
    (
        "bulk-repeated-uuid",
        http_event("api_post_events_bulk.json", body=[an_event(0), an_event(0)]),
        400,
        "1 of 2 events is invalid",
        ["eventHeader.uuid"],
    ),
    (
        "bulk-empty",
        http_event("api_post_events_bulk.json", body=[]),
        400,
        "holds no events",
        ["$"],
    ),
    (
        "bulk-over-the-max",
        http_event("api_post_events_bulk.json", body=big_events(MAX_BULK_EVENTS + 1, 0)),
        400,
        f"at most {MAX_BULK_EVENTS} are accepted per request",
        ["$"],
    ),
    (
        "over-the-execution-limit",
        http_event("api_post_events_bulk.json", body=big_events(MAX_BULK_EVENTS, 30_000)),
        413,
        "at most 262,144 bytes",
        ["$"],
    ),
    (
        "over-the-read-limit",
        http_event(raw_body=" " * (MAX_BODY_BYTES + 1)),
        413,
        "at most 1,048,576 bytes are read",
        ["$"],
    ),
    (
        "text-plain",
        http_event(headers={"Content-Type": "text/plain"}),
        415,
        "must be application/json",
        ["header.Content-Type"],
    ),
    (
        "no-content-type",
        http_event(drop_headers=("content-type",)),
        415,
        "no Content-Type",
        ["header.Content-Type"],
    ),
    (
        "latin-1",
        http_event(headers={"Content-Type": "application/json; charset=latin-1"}),
        415,
        "must be UTF-8",
        ["header.Content-Type"],
    ),
    (
        "invalid-utf8",
        http_event(raw_body=b'{"eventHeader": {"eventName": "Car \xc3\x28 Created"}}'),
        400,
        "not valid UTF-8",
        ["$"],
    ),
    (
        "deeply-nested",
        http_event(body=deeply_nested_event()),
        400,
        "levels deep; at most 64",
        ["$"],
    ),
    (
        "nested-without-end",
        http_event(raw_body="[" * 200_000),
        400,
        "levels deep; at most 64",
        ["$"],
    ),
    (
        "malformed-idempotency-key",
        http_event(headers={"Idempotency-Key": "two words"}),
        400,
        "header.Idempotency-Key",
        ["header.Idempotency-Key"],
    ),
    (
        "idempotency-key-too-long",
        http_event(headers={"Idempotency-Key": "k" * 256}),
        400,
        "header.Idempotency-Key",
        ["header.Idempotency-Key"],
    ),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
def test_bad_input_is_a_4xx_naming_what_is_wrong_and_starts_nothing(
    call: Any,
    stepfunctions: Any,
    dynamodb: Any,
    case: tuple[str, dict[str, Any], int, str, list[str]],
) -> None:
    _, event, status, words, fields = case

    answer = call(event)

    assert answer.status == status
    assert words in answer.body["message"]
    assert [error["field"] for error in answer.body["errors"]] == fields
    assert all(error["reason"] for error in answer.body["errors"])
    assert started_executions(stepfunctions) == []
    assert status_records(dynamodb) == []


def test_invalid_base64_is_a_400(call: Any, stepfunctions: Any) -> None:
    event = http_event(raw_body="{not base64}")
    event["isBase64Encoded"] = True

    answer = call(event)

    assert (answer.status, answer.body["errors"][0]["reason"]) == (400, "is not valid base64")
    assert started_executions(stepfunctions) == []


def test_every_wrong_field_of_every_event_is_named_with_its_index(
    call: Any, stepfunctions: Any
) -> None:
    first = event_with("eventHeader.createdDate", "yesterday", 0)
    first["entities"] = "one car"
    third = event_with("entities.0.entityHeader.entityId", "", 2)

    answer = call(
        http_event("api_post_events_bulk.json", body=[first, an_event(1), third, an_event(3)])
    )

    assert answer.status == 400
    assert answer.body["message"] == "2 of 4 events are invalid; nothing was started"
    assert answer.body["errors"] == [
        {
            "index": 0,
            "field": "eventHeader.createdDate",
            "reason": "must be an ISO-8601 date-time such as 2024-01-15T10:30:00Z",
        },
        {"index": 0, "field": "entities", "reason": "must be a JSON array, got string"},
        {"index": 2, "field": "entities.0.entityHeader.entityId", "reason": "must not be empty"},
    ]
    assert started_executions(stepfunctions) == []


# --- Idempotency -------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_starts_nothing_new_and_answers_the_same_ids(
    call: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    event = http_event(body=an_event(), headers={"Idempotency-Key": "order-42-attempt"})

    first = call(event)
    retry = call(copy.deepcopy(event))

    assert (first.status, retry.status) == (202, 202)
    assert retry.body == first.body
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(started_executions(stepfunctions)) == 1
    assert len(status_records(dynamodb)) == 1


def test_the_same_body_sent_differently_formatted_is_the_same_request(
    call: Any, stepfunctions: Any
) -> None:
    event = an_event()
    compact = http_event(raw_body=json.dumps(event), headers={"Idempotency-Key": "k-1"})
    pretty = http_event(raw_body=json.dumps(event, indent=4), headers={"Idempotency-Key": "k-1"})

    assert call(compact).body == call(pretty).body
    assert len(started_executions(stepfunctions)) == 1


def test_the_same_key_with_another_body_is_a_422_and_starts_nothing(
    call: Any, stepfunctions: Any
) -> None:
    call(http_event(body=an_event(0), headers={"Idempotency-Key": "k-1"}))

    answer = call(http_event(body=an_event(1), headers={"Idempotency-Key": "k-1"}))

    assert answer.status == 422
    assert "already used with a different body" in answer.body["message"]
    assert answer.body["errors"][0]["field"] == "header.Idempotency-Key"
    assert len(started_executions(stepfunctions)) == 1


def test_a_key_is_scoped_to_its_route(call: Any, stepfunctions: Any) -> None:
    single = call(http_event(body=an_event(), headers={"Idempotency-Key": "k-1"}))
    bulk = call(
        http_event(
            "api_post_events_bulk.json", body=[an_event()], headers={"Idempotency-Key": "k-1"}
        )
    )

    assert (single.status, bulk.status) == (202, 202)
    assert single.body["trackingId"] != bulk.body["trackingId"]
    assert len(started_executions(stepfunctions)) == 2


def test_without_a_key_each_post_starts_its_own_execution(call: Any, stepfunctions: Any) -> None:
    first = call(http_event(body=an_event()))
    second = call(http_event(body=an_event()))

    assert first.body["trackingId"] != second.body["trackingId"]
    assert len(started_executions(stepfunctions)) == 2


def test_a_refused_request_stores_no_idempotency_record(call: Any, stepfunctions: Any) -> None:
    bad = call(
        http_event(body=event_with("eventHeader.uuid", ...), headers={"Idempotency-Key": "k"})
    )
    good = call(http_event(body=an_event(), headers={"Idempotency-Key": "k"}))

    assert (bad.status, good.status) == (400, 202)
    assert len(started_executions(stepfunctions)) == 1


# --- Dependencies failing ----------------------------------------------------------------------


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


class ThrottledDynamoDb:
    def __getattr__(self, name: str) -> Any:
        def throttled(**_: Any) -> None:
            raise ClientError(
                {
                    "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                name,
            )

        return throttled


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


# --- Operations --------------------------------------------------------------------------------


@pytest.fixture
def logs(api: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[dict[str, Any]]]:
    """The JSON log lines the API writes from now on (its handler outlives pytest's capture)."""
    stream = io.StringIO()
    monkeypatch.setattr(api.logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


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
class Context:
    function_name = "api"; memory_limit_in_mb = 128; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    def get_remaining_time_in_millis(self): return 1000
codes = [handler.lambda_handler(e, Context())["statusCode"] for e in (health, bad)]
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
    assert result == {"codes": [200, 400], "boto3": False}
