"""``make run``: the whole stack on the local runtime, driven the way its users drive it.

Brings the stack up with a real downstream endpoint and enrichment provider, then:

1. POSTs ``examples/events.json`` to ``/events/bulk`` and ``examples/event.json`` to ``/events``;
2. sends events to the ingest queue (the pipe starts the workflow);
3. drops NDJSON files into the landing bucket (S3 notification -> queue -> pipe -> aggregate);
4. signs the demo user in (Cognito ``InitiateAuth``, ``USER_PASSWORD_AUTH``) and, with the ID
   token, POSTs ``examples/catalog.json`` to ``/catalogs/demo-catalog/enrichments``, follows
   progress and lists the user's enrichments;

Events go signed with SigV4 (the local credentials), as a producer's SDK signs them on AWS.

and prints each execution's result, its status record and history, and what the downstream
endpoint received. Tables persist in the state directory, so a second run reports the same
events as duplicates.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.environment import LocalEnvironment
from local.history_view import format_history, format_table
from local.json_http import request_json
from local.runtime import REPO_ROOT, LocalSettings, LocalStack
from local.sign_in import sign_in_demo_user
from stack.app import build_app
from stack.spec import StackConfig

EXAMPLES = REPO_ROOT / "examples"
_WAIT_SECONDS = 120.0


def _load(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def _wait_until(condition: Callable[[], bool], timeout: float = _WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _executions(stack: LocalStack, workflow: str) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=stack.state_machine_arn(workflow)
    ):
        found.extend(page["executions"])
    return found


def _history(stack: LocalStack, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    paginator = stack.client("stepfunctions").get_paginator("get_execution_history")
    for page in paginator.paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def _status_line(record: dict[str, Any]) -> str:
    counts = record.get("counts") or {}
    parts = [f"status={record.get('status')}"]
    parts += [f"{key}={value}" for key, value in counts.items()]
    if record.get("archiveKey"):
        parts.append(f"archive={record['archiveKey']}")
    return "  ".join(parts)


def _show_ingest(
    stack: LocalStack, api: str, label: str, execution_arn: str, *, history: bool
) -> None:
    described = stack.wait_for_execution(execution_arn, timeout_seconds=_WAIT_SECONDS)
    tracking_id = (
        json.loads(described["input"]).get("trackingId")
        if described["input"].startswith("{")
        else None
    )
    output = json.loads(described.get("output") or "{}")
    tracking_id = tracking_id or output.get("trackingId")
    print(f"\n=== {label}: execution {described['name']} {described['status']}")
    if described["status"] != "SUCCEEDED":
        print(f"    error: {described.get('error')}: {str(described.get('cause'))[:200]}")
    if tracking_id:
        code, record = request_json("GET", f"{api}/events/{tracking_id}")
        if code == 200:
            print(f"    GET /events/{tracking_id} -> {_status_line(record)}")
            for rejection in record.get("rejected") or []:
                reasons = "; ".join(
                    f"{e['field']}: {e['reason']}" for e in rejection.get("errors", [])
                )
                print(f"      rejected event #{rejection.get('index')}: {reasons}")
            if record.get("duplicates"):
                print(f"      duplicates: {', '.join(record['duplicates'])}")
    if history:
        print()
        print(format_history(_history(stack, execution_arn)))


def run_demo(
    *,
    port: int = 0,
    state_dir: Path | None = None,
    time_scale: float = 1.0,
    config: StackConfig | None = None,
) -> int:
    settings = LocalSettings(
        port=port,
        state_dir=state_dir or REPO_ROOT / ".state",
        time_scale=time_scale,
        pipe_batching_window_seconds=0.5,
    )
    app = build_app(config)
    with LocalEnvironment(app, settings) as env:
        stack = env.stack
        api = stack.api_url
        print(f"Local stack up: AWS endpoint {stack.endpoint_url}, API {api}")
        print(f"Console (while this run lasts): {stack.console_url}")
        print(f"Peers: downstream {env.downstream.url}, provider {env.provider.url}")
        print(f"State, tables and logs: {settings.state_dir}")

        # 1. HTTP
        code, bulk = request_json(
            "POST", f"{api}/events/bulk", [e for e in _load("events.json") if _valid_looking(e)]
        )
        print(f"\nPOST /events/bulk (the valid events of examples/events.json) -> {code} {bulk}")
        code, invalid = request_json("POST", f"{api}/events/bulk", _load("events.json"))
        print(
            f"POST /events/bulk (all of examples/events.json) -> {code} {json.dumps(invalid)[:300]}"
        )
        key = "demo-" + uuid.uuid4().hex[:8]
        code, single = request_json(
            "POST", f"{api}/events", _load("event.json"), {"Idempotency-Key": key}
        )
        code_again, again = request_json(
            "POST", f"{api}/events", _load("event.json"), {"Idempotency-Key": key}
        )
        print(f"POST /events -> {code} {single}")
        print(f"POST /events again with the same Idempotency-Key -> {code_again} {again}")

        # 2. SQS
        sqs = stack.client("sqs")
        queue_events = _load("events.json")[:2]
        for event in queue_events:
            sqs.send_message(QueueUrl=stack.queue_url("ingest"), MessageBody=json.dumps(event))
        sqs.send_message(QueueUrl=stack.queue_url("ingest"), MessageBody="this is not JSON")
        print(f"\nSent {len(queue_events) + 1} messages to the ingest queue (one of them not JSON)")

        # 3. S3
        s3 = stack.client("s3")
        landing = app.bucket_name("landing")
        for index in range(2):
            lines = "\n".join(json.dumps({"reading": i, "file": index}) for i in range(500))
            s3.put_object(
                Bucket=landing, Key=f"readings/{uuid.uuid4().hex}.ndjson", Body=lines.encode()
            )
        print(f"Dropped 2 NDJSON files into s3://{landing}/readings/")

        shown: set[str] = set()
        for response, label in ((bulk, "POST /events/bulk"), (single, "POST /events")):
            if isinstance(response, dict) and "executionId" in response:
                history = label.endswith("bulk")
                _show_ingest(stack, api, label, response["executionId"], history=history)
                shown.add(response["executionId"])

        def queue_runs() -> list[dict[str, Any]]:
            return [
                e
                for e in _executions(stack, "ingest")
                if e["executionArn"] not in shown and _recent(e)
            ]

        _wait_until(lambda: bool(queue_runs()))
        for execution in queue_runs():
            _show_ingest(stack, api, "SQS -> pipe", execution["executionArn"], history=False)
        _wait_until(lambda: bool([e for e in _executions(stack, "aggregate") if _recent(e)]))
        for execution in [e for e in _executions(stack, "aggregate") if _recent(e)][:2]:
            _show_ingest(
                stack,
                api,
                "S3 -> queue -> pipe -> aggregate",
                execution["executionArn"],
                history=True,
            )

        received = env.downstream.received()
        print(
            f"\nThe downstream endpoint accepted {len(received.bundles)} bundle(s) carrying "
            f"{len(received.events)} distinct event id(s); delivered twice: "
            f"{len(received.events_delivered_twice)}"
        )

        # 4. Enrichment
        _run_enrichment(stack, api)
        print(
            "\nInspect further while a stack is up (`make up`):\n"
            "  the web console, printed by `make up` (http://127.0.0.1:4568/ by default)\n"
            "  .venv/bin/python -m local list ingest\n"
            "  .venv/bin/python -m local history <execution-name>\n"
            f"  aws --endpoint-url http://127.0.0.1:4566 stepfunctions list-executions "
            f"--state-machine-arn {stack.state_machine_arn('ingest')}"
        )
    return 0


def _valid_looking(event: Any) -> bool:
    header = event.get("eventHeader") if isinstance(event, dict) else None
    return (
        isinstance(header, dict)
        and header.get("eventType") != "CarSold"
        and not (header.get("savedDate", "") < header.get("createdDate", ""))
    )


_STARTED = time.time()


def _recent(execution: dict[str, Any]) -> bool:
    """Started by this run (the archive keeps earlier runs' executions)."""
    return bool(execution["startDate"].timestamp() >= _STARTED - 1)


def _run_enrichment(stack: LocalStack, api: str) -> None:
    catalog = _load("catalog.json")
    user = sign_in_demo_user(stack)
    print(f"\nsigned in as the demo user (InitiateAuth USER_PASSWORD_AUTH): sub {user.subject}")
    token = user.id_token
    code, accepted = request_json(
        "POST", f"{api}/catalogs/demo-catalog/enrichments", catalog, bearer_token=token
    )
    count = len(catalog["products"])
    print(f"\nPOST /catalogs/demo-catalog/enrichments ({count} products) -> {code} {accepted}")
    if code != 202:
        return
    progress_url = f"{api}/catalogs/demo-catalog/enrichments/{accepted['trackingId']}"
    seen: list[tuple[int, int]] = []

    def finished() -> bool:
        _, progress = request_json("GET", progress_url, bearer_token=token)
        seen.append((progress.get("batchesDone") or 0, progress.get("productsEnriched") or 0))
        return progress.get("status") in {"COMPLETE", "COMPLETE_WITH_FAILURES", "FAILED"}

    _wait_until(finished)
    _, progress = request_json("GET", progress_url, bearer_token=token)
    print(f"GET {progress_url.removeprefix(api)} ->")
    rows: list[tuple[str, ...]] = [
        (str(k), json.dumps(v)[:90]) for k, v in progress.items() if k != "failures"
    ]
    print(format_table(("field", "value"), rows))
    for failure in (progress.get("failures") or [])[:5]:
        print(f"  unenriched {failure.get('productId')}: {failure.get('reason')}")
    described = stack.wait_for_execution(accepted["executionId"], timeout_seconds=_WAIT_SECONDS)
    maps = [
        e for e in _history(stack, accepted["executionId"]) if e["type"] == "MapIterationSucceeded"
    ]
    print(f"execution {described['status']}: {len(maps)} Map iterations (one per batch)")
    mine = f"/users/{user.subject}/enrichments"
    _, listed = request_json("GET", f"{api}{mine}", bearer_token=token)
    listed_count = len(listed.get("enrichments", []))
    print(f"GET {mine} -> {listed_count} enrichment(s), newest first")
    status, _ = request_json("GET", f"{api}{mine}")
    print(f"GET {mine} signed with SigV4 but without a token -> {status}")
