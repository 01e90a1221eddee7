"""``make run``: the stack up on the local runtime, the sample events through it, the results shown.

Tables persist in the state directory between runs, so a second run finds the same event ids
already processed and reports them as duplicates.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from local.history_view import format_history
from local.runtime import REPO_ROOT, LocalSettings, LocalStack
from stack.app import build_app

EXAMPLES = REPO_ROOT / "examples"
SAMPLES = ("events.json", "event.json")


def _events_of(path: Path) -> list[Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return document if isinstance(document, list) else [document]


def _summary(output: dict[str, Any]) -> list[str]:
    lines = [f"  status:     {output.get('status')}"]
    counts = output.get("counts") or {}
    if counts:
        lines.append("  counts:     " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    for rejection in output.get("rejected") or []:
        reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in rejection.get("errors", []))
        lines.append(
            f"  rejected:   event #{rejection.get('index')} ({rejection.get('eventId')}) {reasons}"
        )
    duplicates = output.get("duplicates") or []
    if duplicates:
        lines.append(f"  duplicates: {', '.join(duplicates)}")
    return lines


def run_demo(*, port: int = 0, state_dir: Path | None = None, time_scale: float = 1.0) -> int:
    settings = LocalSettings(
        port=port, state_dir=state_dir or REPO_ROOT / ".state", time_scale=time_scale
    )
    app = build_app()
    failures = 0
    with LocalStack(app, settings) as stack:
        print(f"Local stack up at {stack.endpoint_url} (state in {settings.state_dir})")
        print(json.dumps(stack.outputs(), indent=2))
        sfn = stack.client("stepfunctions")
        for sample in SAMPLES:
            path = EXAMPLES / sample
            tracking_id = f"demo-{uuid.uuid4().hex[:12]}"
            execution_input = {
                "trackingId": tracking_id,
                "source": "cli",
                "events": _events_of(path),
            }
            started = sfn.start_execution(
                stateMachineArn=stack.state_machine_arn("ingest"),
                name=tracking_id,
                input=json.dumps(execution_input),
            )
            described = stack.wait_for_execution(started["executionArn"])
            print(f"\n=== ingest  {path.relative_to(REPO_ROOT)}  ->  execution {tracking_id}")
            print(f"  execution:  {described['status']}")
            if described["status"] == "SUCCEEDED":
                print("\n".join(_summary(json.loads(described["output"]))))
            else:
                failures += 1
                print(f"  error:      {described.get('error')}: {described.get('cause')}")
            events: list[dict[str, Any]] = []
            for page in sfn.get_paginator("get_execution_history").paginate(
                executionArn=started["executionArn"]
            ):
                events.extend(page["events"])
            print()
            print(format_history(events))
        print(
            f"\nInspect further while a stack is up (`make up`):\n"
            f"  python -m local list ingest\n"
            f"  python -m local history <execution-name>\n"
            f"  aws --endpoint-url http://127.0.0.1:4566 stepfunctions list-executions "
            f"--state-machine-arn {stack.state_machine_arn('ingest')}"
        )
    return 1 if failures else 0
