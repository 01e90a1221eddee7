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

from functions._shared.dynamodb import from_item
from functions.api.adapters import EnrichmentTable, StatusTable, StepFunctionsStarter
from functions.api.body import MAX_BODY_BYTES
from functions.api.openapi import document
from tests.events import load_event
from tests.functional.conftest import (
    ENRICH_BATCH_SIZE,
    ENRICH_STATE_MACHINE_ARN,
    ENRICHMENT_STATUS_TABLE,
    INGEST_STATE_MACHINE_ARN,
    MAX_BULK_EVENTS,
    MAX_INLINE_PRODUCTS,
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


# --- Catalog enrichments -----------------------------------------------------------------------

CATALOG_PATH = "/catalogs/cat-1/enrichments"
PRODUCTS: list[dict[str, Any]] = json.loads(load_event("api_post_catalog_enrichment.json")["body"])[
    "products"
]


def catalog_post(
    body: Any = ..., *, path: str = CATALOG_PATH, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return http_event("api_post_catalog_enrichment.json", path=path, body=body, headers=headers)


def catalog_get(path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    event = http_event("api_get_catalog_enrichment.json", path=path)
    if query is not None:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{name}={value}" for name, value in query.items())
    return event


def asins(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"asin": f"B{index:09d}"} for index in range(start, start + count)]


def enrichment_rows(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(
        TableName=ENRICHMENT_STATUS_TABLE, ConsistentRead=True
    )["Items"]
    return items


def enrich_executions(stepfunctions: Any) -> list[dict[str, Any]]:
    return started_executions(stepfunctions, ENRICH_STATE_MACHINE_ARN)


@pytest.fixture
def record(load_handler: HandlerLoader, lambda_context: FakeLambdaContext) -> Any:
    """update_status, as the enrich workflow invokes it."""
    update_status = load_handler("update_status")

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = update_status.lambda_handler(payload, lambda_context)
        return answer

    return invoke


def test_a_catalog_starts_one_enrichment_with_the_contract_input(
    call: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    answer = call(load_event("api_post_catalog_enrichment.json"))

    assert answer.status == 202
    tracking_id = answer.body["trackingId"]
    assert re.fullmatch(r"enr-[0-9a-f]{32}", tracking_id)
    assert answer.body == {
        "trackingId": tracking_id,
        "executionId": f"{ENRICH_STATE_MACHINE_ARN.replace('stateMachine', 'execution')}"
        f":{tracking_id}",
        "totalProducts": 6,
        "totalBatches": 2,
    }
    assert answer.headers["Location"] == f"{CATALOG_PATH}/{tracking_id}"
    (execution,) = enrich_executions(stepfunctions)
    assert execution["name"] == tracking_id
    assert execution["input"] == {
        "trackingId": tracking_id,
        "catalogId": "cat-1",
        "userId": "u-1",
        "batchSize": ENRICH_BATCH_SIZE,
        "products": PRODUCTS,
    }
    assert list(execution["input"]) == [
        "trackingId",
        "catalogId",
        "userId",
        "batchSize",
        "products",
    ]
    assert started_executions(stepfunctions) == []
    assert status_records(dynamodb) == []
    (row,) = [from_item(item) for item in enrichment_rows(dynamodb)]
    assert row["batchId"] == f"{tracking_id}#CATALOG"
    assert (row["status"], row["statusRank"], row["userId"]) == ("RECEIVED", 10, "u-1")
    assert (row["totalProducts"], row["totalBatches"], row["batchSize"]) == (6, 2, 4)
    assert row["createdAt"] == row["updatedAt"]


@pytest.mark.parametrize(("batch_size", "batches"), [(1, 6), (5, 2), (6, 1), (100, 1)])
def test_the_batch_size_of_the_request_makes_the_batches(
    call: Any, stepfunctions: Any, batch_size: int, batches: int
) -> None:
    answer = call(catalog_post({"userId": "u-1", "products": PRODUCTS, "batchSize": batch_size}))

    assert (answer.status, answer.body["totalBatches"]) == (202, batches)
    (execution,) = enrich_executions(stepfunctions)
    assert execution["input"]["batchSize"] == batch_size


def test_a_catalog_in_s3_starts_with_its_pointer_and_unknown_totals(
    call: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    pointer = {"bucket": "stepflow-test-landing", "key": "catalogs/cat 1/products.ndjson"}

    answer = call(catalog_post({"userId": "u-1", "productsPointer": pointer}))

    assert answer.status == 202
    assert (answer.body["totalProducts"], answer.body["totalBatches"]) == (None, None)
    (execution,) = enrich_executions(stepfunctions)
    assert execution["input"] == {
        "trackingId": answer.body["trackingId"],
        "catalogId": "cat-1",
        "userId": "u-1",
        "batchSize": ENRICH_BATCH_SIZE,
        "productsPointer": pointer,
    }
    (row,) = [from_item(item) for item in enrichment_rows(dynamodb)]
    assert "totalProducts" not in row
    assert row["productsPointer"] == pointer


def test_the_enrichment_is_readable_right_after_the_202(call: Any) -> None:
    accepted = call(load_event("api_post_catalog_enrichment.json"))
    tracking_id = accepted.body["trackingId"]

    answer = call(catalog_get(f"{CATALOG_PATH}/{tracking_id}"))

    assert answer.status == 200
    assert answer.body == {
        "trackingId": tracking_id,
        "catalogId": "cat-1",
        "userId": "u-1",
        "status": "RECEIVED",
        "totalProducts": 6,
        "totalBatches": 2,
        "batchesDone": 0,
        "productsEnriched": 0,
        "productsFailed": 0,
        "failures": [],
        "startedAt": answer.body["startedAt"],
        "finishedAt": None,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", answer.body["startedAt"])
    assert answer.headers["Cache-Control"] == "no-store"


def test_progress_is_counted_from_the_batches_and_never_goes_backwards(
    call: Any, record: Any
) -> None:
    accepted = call(catalog_post({"userId": "u-1", "products": asins(10)}))
    tracking_id = accepted.body["trackingId"]
    path = f"{CATALOG_PATH}/{tracking_id}"
    ids = {"catalogId": "cat-1", "trackingId": tracking_id}
    record({**ids, "status": "PLANNED", "totalProducts": 10, "totalBatches": 3})
    seen = [call(catalog_get(path)).body]

    record(
        {
            **ids,
            "batchId": f"{tracking_id}#batch-00001",
            "status": "ENRICHED",
            "enriched": 3,
            "failed": 1,
            "failures": [{"productId": "asin:B000000005", "reason": "unknown to the provider"}],
        }
    )
    seen.append(call(catalog_get(path)).body)
    record({**ids, "batchIndex": 2, "item": asins(2, 8), "status": "FAILED", "error": "E"})
    seen.append(call(catalog_get(path)).body)
    record(
        {**ids, "batchId": f"{tracking_id}#batch-00000", "status": "ENRICHED", "enriched": 4}
        | {"failed": 0, "failures": []}
    )
    seen.append(call(catalog_get(path)).body)
    record({**ids, "status": "COMPLETE"})
    seen.append(call(catalog_get(path)).body)

    progress = [
        (body["batchesDone"], body["productsEnriched"], body["productsFailed"]) for body in seen
    ]
    assert progress == [(0, 0, 0), (1, 3, 1), (2, 3, 3), (3, 7, 3), (3, 7, 3)]
    assert [body["status"] for body in seen] == [
        "PLANNED",
        "PLANNED",
        "PLANNED",
        "PLANNED",
        "COMPLETE_WITH_FAILURES",
    ]
    final = seen[-1]
    assert final["failures"] == [
        {"productId": "asin:B000000005", "reason": "unknown to the provider", "batchIndex": 1},
        {"productId": "asin:B000000008", "reason": "E", "batchIndex": 2},
        {"productId": "asin:B000000009", "reason": "E", "batchIndex": 2},
    ]
    assert final["finishedAt"] is not None
    assert final["reason"] == "3 of 10 products failed"
    assert (final["totalProducts"], final["totalBatches"]) == (10, 3)


def test_a_failed_s3_batch_is_listed_as_one_failure_of_the_batch(call: Any, record: Any) -> None:
    pointer = {"bucket": "stepflow-test-landing", "key": "c.ndjson"}
    tracking_id = call(catalog_post({"userId": "u-1", "productsPointer": pointer})).body[
        "trackingId"
    ]
    item = {"batchId": f"{tracking_id}#batch-00000", "pointer": pointer, "count": 20}
    record(
        {"catalogId": "cat-1", "trackingId": tracking_id, "batchIndex": 0, "item": item}
        | {"status": "FAILED", "error": "ProviderUnavailableError", "cause": "503 x4"}
    )

    body = call(catalog_get(f"{CATALOG_PATH}/{tracking_id}")).body

    assert (body["batchesDone"], body["productsFailed"]) == (1, 20)
    assert body["failures"] == [
        {"productId": None, "reason": "ProviderUnavailableError: 503 x4", "batchIndex": 0}
    ]


def test_the_first_100_failures_are_listed_and_every_one_counted(call: Any, record: Any) -> None:
    tracking_id = call(catalog_post({"userId": "u-1", "products": asins(30)})).body["trackingId"]
    for index in range(3):
        failures = [{"productId": f"asin:B{index}{n:08d}", "reason": "unknown"} for n in range(50)]
        record(
            {"catalogId": "cat-1", "trackingId": tracking_id, "status": "ENRICHED"}
            | {"batchId": f"{tracking_id}#batch-{index:05d}", "enriched": 0, "failed": 60}
            | {"failures": failures}
        )

    body = call(catalog_get(f"{CATALOG_PATH}/{tracking_id}")).body

    assert body["productsFailed"] == 180
    assert len(body["failures"]) == 100
    assert [failure["batchIndex"] for failure in body["failures"]] == [0] * 50 + [1] * 50


def test_an_unknown_enrichment_is_a_404(call: Any) -> None:
    accepted = call(load_event("api_post_catalog_enrichment.json"))
    tracking_id = accepted.body["trackingId"]

    unknown = call(catalog_get(f"{CATALOG_PATH}/enr-{'0' * 32}"))
    other_catalog = call(catalog_get(f"/catalogs/cat-2/enrichments/{tracking_id}"))
    ingest_id = call(catalog_get(f"{CATALOG_PATH}/trk-{'0' * 32}"))

    assert (unknown.status, other_catalog.status, ingest_id.status) == (404, 404, 404)
    assert other_catalog.body == {
        "message": f"catalog cat-2 has no enrichment {tracking_id}",
        "errors": [],
    }


@pytest.mark.parametrize(
    ("path", "message", "fields"),
    [
        (f"/catalogs/-cat/enrichments/enr-{'0' * 32}", "malformed catalog id", ["path.catalogId"]),
        (f"/catalogs/{'c' * 129}/enrichments/enr-1", "malformed catalog id", ["path.catalogId"]),
        ("/catalogs/cat-1/enrichments/bad$id", "malformed tracking id", ["path.trackingId"]),
        (
            "/catalogs/cat$1/enrichments/bad$id",
            "invalid request parameters: path.catalogId, path.trackingId",
            ["path.catalogId", "path.trackingId"],
        ),
        ("/users/-u/enrichments", "malformed user id", ["path.userId"]),
    ],
)
def test_malformed_ids_in_the_path_are_400s(
    call: Any, path: str, message: str, fields: list[str]
) -> None:
    answer = call(catalog_get(path))

    assert answer.status == 400
    assert answer.body["message"] == message
    assert sorted(error["field"] for error in answer.body["errors"]) == fields
    assert all(error["reason"] for error in answer.body["errors"])


def big_products(count: int, size: int) -> list[dict[str, Any]]:
    return [{**product, "description": "d" * size} for product in asins(count)]


CATALOG_BAD_REQUESTS: list[tuple[str, dict[str, Any], int, list[str], list[str]]] = [
    # id, event, status, words of the message, fields named
    (
        "malformed-catalog-id",
        catalog_post(path="/catalogs/-cat-1/enrichments"),
        400,
        ["malformed catalog id"],
        ["path.catalogId"],
    ),
    (
        "catalog-id-with-space",
        catalog_post(path="/catalogs/cat%201/enrichments"),
        400,
        ["malformed catalog id"],
        ["path.catalogId"],
    ),
    (
        "catalog-id-too-long",
        catalog_post(path=f"/catalogs/{'c' * 129}/enrichments"),
        400,
        ["malformed catalog id"],
        ["path.catalogId"],
    ),
    ("missing-user", catalog_post({"products": PRODUCTS}), 400, ["userId is required"], ["userId"]),
    (
        "user-not-a-string",
        catalog_post({"userId": 7, "products": PRODUCTS}),
        400,
        ["userId must be a string, got number"],
        ["userId"],
    ),
    (
        "malformed-user",
        catalog_post({"userId": "u 1", "products": PRODUCTS}),
        400,
        ["userId must be 1-128 letters"],
        ["userId"],
    ),
    (
        "no-products-nor-pointer",
        catalog_post({"userId": "u-1"}),
        400,
        ["products is required", "has no products"],
        ["products"],
    ),
    (
        "null-products",
        catalog_post({"userId": "u-1", "products": None}),
        400,
        ["has no products"],
        ["products"],
    ),
    (
        "empty-products",
        catalog_post({"userId": "u-1", "products": []}),
        400,
        ["products holds no products"],
        ["products"],
    ),
    (
        "products-not-a-list",
        catalog_post({"userId": "u-1", "products": {"asin": "B000000001"}}),
        400,
        ["must be a JSON array of products, got object"],
        ["products"],
    ),
    (
        "product-without-identifier",
        catalog_post({"userId": "u-1", "products": [*asins(2), {"sku": "x"}]}),
        400,
        ["products.2 has no identifier"],
        ["products.2"],
    ),
    (
        "product-with-both-identifiers",
        catalog_post(
            {"userId": "u-1", "products": [{"asin": "B000000001", "ean": "4006381333931"}]}
        ),
        400,
        ["products.0 has both asin and ean"],
        ["products.0"],
    ),
    (
        "malformed-identifiers",
        catalog_post(
            {"userId": "u-1", "products": [{"asin": "b000000001"}, {"ean": 4006381333931}]}
        ),
        400,
        ["products.0.asin must be 10 upper-case", "products.1.ean must be a string of 13 digits"],
        ["products.0.asin", "products.1.ean"],
    ),
    (
        "product-not-an-object",
        catalog_post({"userId": "u-1", "products": ["B000000001"]}),
        400,
        ["products.0 must be a JSON object, got string"],
        ["products.0"],
    ),
    (
        "duplicate-products",
        catalog_post({"userId": "u-1", "products": [*asins(3), {"asin": "B000000001", "n": 2}]}),
        400,
        ["products.3 is the same product (asin:B000000001) as products.1"],
        ["products.3"],
    ),
    (
        "more-than-the-inline-maximum",
        catalog_post({"userId": "u-1", "products": asins(MAX_INLINE_PRODUCTS + 1)}),
        400,
        [
            f"holds {MAX_INLINE_PRODUCTS + 1} products; at most {MAX_INLINE_PRODUCTS} are "
            "accepted inline",
            "upload the catalog to S3 as NDJSON",
            '"productsPointer": {"bucket", "key"}',
        ],
        ["products"],
    ),
    (
        "products-and-pointer",
        catalog_post(
            {
                "userId": "u-1",
                "products": PRODUCTS,
                "productsPointer": {"bucket": "b-1", "key": "k"},
            }
        ),
        400,
        ["productsPointer cannot be given with products"],
        ["productsPointer"],
    ),
    (
        "malformed-pointer",
        catalog_post({"userId": "u-1", "productsPointer": {"bucket": "Bad_Bucket", "key": ""}}),
        400,
        ["productsPointer.bucket is required and must be an S3 bucket name"],
        ["productsPointer.bucket", "productsPointer.key"],
    ),
    (
        "pointer-not-an-object",
        catalog_post({"userId": "u-1", "productsPointer": "s3://b/k"}),
        400,
        ['productsPointer must be a JSON object {"bucket", "key"}, got string'],
        ["productsPointer"],
    ),
    (
        "batch-size-zero",
        catalog_post({"userId": "u-1", "products": PRODUCTS, "batchSize": 0}),
        400,
        ["batchSize must be a whole number from 1 to 100, got 0"],
        ["batchSize"],
    ),
    (
        "batch-size-too-large",
        catalog_post({"userId": "u-1", "products": PRODUCTS, "batchSize": 101}),
        400,
        ["got 101"],
        ["batchSize"],
    ),
    (
        "batch-size-as-text",
        catalog_post({"userId": "u-1", "products": PRODUCTS, "batchSize": "20"}),
        400,
        ["got string"],
        ["batchSize"],
    ),
    (
        "batch-size-boolean",
        catalog_post({"userId": "u-1", "products": PRODUCTS, "batchSize": True}),
        400,
        ["got boolean"],
        ["batchSize"],
    ),
    (
        "unknown-field",
        catalog_post({"userId": "u-1", "productPointer": {"bucket": "b-1", "key": "k"}}),
        400,
        ["productPointer is not a field of this request", "products is required"],
        ["productPointer", "products"],
    ),
    (
        "every-problem-at-once",
        catalog_post({"products": [{"sku": "x"}, *asins(2), *asins(1)], "batchSize": 0}),
        400,
        ["userId is required", "batchSize must be", "products.0 has no identifier", "products.3"],
        ["userId", "batchSize", "products.0", "products.3"],
    ),
    ("body-an-array", catalog_post(PRODUCTS), 400, ["must be a JSON object"], ["$"]),
    (
        "not-json",
        http_event("api_post_catalog_enrichment.json", raw_body="{"),
        400,
        ["JSON"],
        ["$"],
    ),
    (
        "over-the-execution-limit",
        catalog_post({"userId": "u-1", "products": big_products(MAX_INLINE_PRODUCTS, 9_000)}),
        413,
        ["at most 262,144 bytes per execution", "upload the catalog to S3 as NDJSON"],
        ["products"],
    ),
    (
        "text-plain",
        http_event("api_post_catalog_enrichment.json", headers={"Content-Type": "text/plain"}),
        415,
        ["must be application/json"],
        ["header.Content-Type"],
    ),
]


@pytest.mark.parametrize(
    "case", CATALOG_BAD_REQUESTS, ids=[case[0] for case in CATALOG_BAD_REQUESTS]
)
def test_a_bad_catalog_is_a_4xx_naming_each_problem_and_starts_and_writes_nothing(
    call: Any,
    stepfunctions: Any,
    dynamodb: Any,
    case: tuple[str, dict[str, Any], int, list[str], list[str]],
) -> None:
    _, event, status, words, fields = case

    answer = call(event)

    assert answer.status == status
    for word in words:
        assert word in answer.body["message"]
    assert [error["field"] for error in answer.body["errors"]] == fields
    assert all(error["reason"] for error in answer.body["errors"])
    assert enrich_executions(stepfunctions) == []
    assert started_executions(stepfunctions) == []
    assert enrichment_rows(dynamodb) == []
    assert status_records(dynamodb) == []


def test_a_problem_in_a_product_names_its_index(call: Any) -> None:
    answer = call(catalog_post({"userId": "u-1", "products": [*asins(4), {"title": "no id"}]}))

    assert answer.body["errors"] == [
        {
            "index": 4,
            "field": "products.4",
            "reason": "has no identifier: give exactly one of asin (10 upper-case letters or "
            "digits) or ean (13 digits)",
        }
    ]
    assert answer.body["message"].endswith("; nothing was started")


def test_every_duplicate_names_both_indexes(call: Any) -> None:
    products = [{"ean": "4006381333931"}, *asins(2), {"ean": "4006381333931"}, *asins(1)]

    answer = call(catalog_post({"userId": "u-1", "products": products}))

    assert answer.body["errors"] == [
        {
            "index": 3,
            "field": "products.3",
            "reason": "is the same product (ean:4006381333931) as products.0",
        },
        {
            "index": 4,
            "field": "products.4",
            "reason": "is the same product (asin:B000000000) as products.1",
        },
    ]


def test_exactly_the_inline_maximum_is_accepted(call: Any) -> None:
    answer = call(catalog_post({"userId": "u-1", "products": asins(MAX_INLINE_PRODUCTS)}))

    assert answer.status == 202
    assert answer.body["totalProducts"] == MAX_INLINE_PRODUCTS


def test_a_retried_catalog_with_the_same_key_starts_nothing_new(
    call: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    event = catalog_post({"userId": "u-1", "products": PRODUCTS}, headers={"Idempotency-Key": "c1"})

    first = call(event)
    retry = call(copy.deepcopy(event))

    assert (first.status, retry.status) == (202, 202)
    assert retry.body == first.body
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Location"] == first.headers["Location"]
    assert len(enrich_executions(stepfunctions)) == 1
    assert len(enrichment_rows(dynamodb)) == 1


def test_the_same_key_with_another_catalog_body_is_a_422(call: Any, stepfunctions: Any) -> None:
    call(catalog_post({"userId": "u-1", "products": PRODUCTS}, headers={"Idempotency-Key": "c1"}))

    answer = call(
        catalog_post({"userId": "u-1", "products": asins(2)}, headers={"Idempotency-Key": "c1"})
    )

    assert answer.status == 422
    assert answer.body["errors"][0]["field"] == "header.Idempotency-Key"
    assert len(enrich_executions(stepfunctions)) == 1


def test_a_key_is_scoped_to_its_catalog_and_route(call: Any, stepfunctions: Any) -> None:
    body = {"userId": "u-1", "products": PRODUCTS}
    headers = {"Idempotency-Key": "k-1"}

    first = call(catalog_post(body, headers=headers))
    other = call(catalog_post(body, path="/catalogs/cat-2/enrichments", headers=headers))
    events = call(http_event(body=an_event(), headers=headers))

    assert (first.status, other.status, events.status) == (202, 202, 202)
    assert first.body["trackingId"] != other.body["trackingId"]
    assert len(enrich_executions(stepfunctions)) == 2
    assert len(started_executions(stepfunctions)) == 1


def test_a_failed_enrich_start_is_a_503_recorded_failed_and_the_retry_starts(
    api: ModuleType, call: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    services = api.services
    missing = ENRICH_STATE_MACHINE_ARN.replace("enrich", "missing")
    api.configure(
        dataclasses.replace(
            services, enrich_starter=StepFunctionsStarter(missing, workflow="enrich")
        )
    )
    event = catalog_post({"userId": "u-1", "products": PRODUCTS}, headers={"Idempotency-Key": "k"})

    refused = call(event)

    assert (refused.status, refused.headers["Retry-After"]) == (503, "5")
    assert enrich_executions(stepfunctions) == []
    (row,) = [from_item(item) for item in enrichment_rows(dynamodb)]
    assert (row["status"], row["statusRank"]) == ("FAILED", 90)
    assert "the enrich workflow could not be started" in row["reason"]
    assert row["finishedAt"]

    api.configure(services)
    retried = call(copy.deepcopy(event))

    assert retried.status == 202
    assert len(enrich_executions(stepfunctions)) == 1


def test_a_throttled_enrichment_table_is_a_503_and_starts_nothing(
    api: ModuleType, call: Any, stepfunctions: Any
) -> None:
    api.configure(
        dataclasses.replace(
            api.services, enrichments=EnrichmentTable(ENRICHMENT_STATUS_TABLE, ThrottledDynamoDb())
        )
    )

    posted = call(load_event("api_post_catalog_enrichment.json"))
    read = call(load_event("api_get_catalog_enrichment.json"))
    listed = call(load_event("api_get_user_catalog_enrichments.json"))

    assert (posted.status, read.status, listed.status) == (503, 503, 503)
    assert enrich_executions(stepfunctions) == []


def test_accepted_enrichments_are_counted_and_logged_with_their_ids(
    call: Any, logs: Callable[[], list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    answer = call(load_event("api_post_catalog_enrichment.json"))

    assert emitted_metrics(capsys.readouterr().out)["EnrichmentsStarted"] == 1
    accepted = next(line for line in logs() if line["message"] == "Enrichment accepted")
    assert (accepted["trackingId"], accepted["catalogId"]) == (answer.body["trackingId"], "cat-1")
    assert (accepted["totalProducts"], accepted["pointer"]) == (6, False)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", CATALOG_PATH, "POST"),
        ("PUT", f"{CATALOG_PATH}/enr-1", "GET"),
        ("POST", "/users/u-1/enrichments", "GET"),
    ],
)
def test_a_catalog_path_with_another_method_is_a_405(
    call: Any, method: str, path: str, allowed: str
) -> None:
    answer = call(http_event("api_post_catalog_enrichment.json", method=method, path=path))

    assert answer.status == 405
    assert answer.headers["Allow"] == allowed


# --- A user's enrichments ------------------------------------------------------------------------


def user_page(user_id: str = "u-1", **query: str) -> dict[str, Any]:
    event = http_event(
        "api_get_user_catalog_enrichments.json", path=f"/users/{user_id}/enrichments"
    )
    event["queryStringParameters"] = query or None
    event["rawQueryString"] = "&".join(f"{name}={value}" for name, value in query.items())
    return event


def post_enrichments(call: Any, user_id: str, count: int) -> list[str]:
    tracking_ids = []
    for index in range(count):
        answer = call(
            catalog_post(
                {"userId": user_id, "products": asins(index + 1)},
                path=f"/catalogs/cat-{index}/enrichments",
            )
        )
        assert answer.status == 202
        tracking_ids.append(answer.body["trackingId"])
    return tracking_ids


def test_a_users_enrichments_are_listed_newest_first_a_page_at_a_time(call: Any) -> None:
    posted = post_enrichments(call, "u-1", 5)
    post_enrichments(call, "u-2", 2)

    pages = [call(user_page(limit="2"))]
    while pages[-1].body["nextToken"] is not None:
        pages.append(call(user_page(limit="2", nextToken=pages[-1].body["nextToken"])))

    assert [page.status for page in pages] == [200, 200, 200]
    listed = [entry for page in pages for entry in page.body["enrichments"]]
    assert [entry["trackingId"] for entry in listed] == posted[::-1]
    assert [len(page.body["enrichments"]) for page in pages] == [2, 2, 1]
    newest = listed[0]
    assert newest == {
        "trackingId": posted[-1],
        "catalogId": "cat-4",
        "userId": "u-1",
        "status": "RECEIVED",
        "totalProducts": 5,
        "totalBatches": 2,
        "startedAt": newest["startedAt"],
        "finishedAt": None,
    }
    assert all(page.headers["Cache-Control"] == "no-store" for page in pages)


def test_the_list_defaults_to_20_and_a_last_full_page_has_no_token(call: Any) -> None:
    post_enrichments(call, "u-1", 3)

    default = call(user_page())
    exact = call(user_page(limit="3"))

    assert len(default.body["enrichments"]) == 3
    assert default.body["nextToken"] is None
    assert exact.body["nextToken"] is None


def test_a_finished_enrichment_is_listed_with_its_final_counts(call: Any, record: Any) -> None:
    (tracking_id,) = post_enrichments(call, "u-1", 1)
    ids = {"catalogId": "cat-0", "trackingId": tracking_id}
    record({**ids, "status": "PLANNED", "totalProducts": 1, "totalBatches": 1})
    record(
        {**ids, "batchId": f"{tracking_id}#batch-00000", "status": "ENRICHED"}
        | {"enriched": 1, "failed": 0, "failures": []}
    )
    record({**ids, "status": "COMPLETE"})

    (entry,) = call(user_page()).body["enrichments"]

    assert entry["status"] == "COMPLETE"
    assert (entry["batchesDone"], entry["productsEnriched"], entry["productsFailed"]) == (1, 1, 0)
    assert entry["finishedAt"] is not None


def test_a_user_without_enrichments_has_an_empty_list(call: Any) -> None:
    answer = call(user_page("nobody"))

    assert (answer.status, answer.body) == (200, {"enrichments": [], "nextToken": None})


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "101"}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"nextToken": "not-a-token"}, "query.nextToken"),
        ({"nextToken": "W10"}, "query.nextToken"),
        ({"nextToken": "x" * 1025}, "query.nextToken"),
    ],
)
def test_a_malformed_limit_or_token_is_a_400(call: Any, query: dict[str, str], field: str) -> None:
    answer = call(user_page(**query))

    assert answer.status == 400
    assert [error["field"] for error in answer.body["errors"]] == [field]
    assert all(error["reason"] for error in answer.body["errors"])
