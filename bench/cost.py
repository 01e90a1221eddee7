"""Dollars per million events, measured: a realistic mix through the local stack, priced by the
cost meter (:mod:`local.cost`) at AWS list prices.

The mix is what the producers send: mostly single-event ``POST /events``, some
``POST /events/bulk``, some SQS messages. It runs once per intake design the stack offers
(``StackConfig.intake``: ``per-request`` and ``queued``), each on a fresh stack, and the table
puts them side by side with their ratio; a stack without that setting runs today's design only
and says so. Everything is counted: state transitions from the histories, Lambda requests and
GB-seconds, DynamoDB units, S3, SQS, Pipes, API requests, from a baseline taken after a warm-up
of one request of each kind (start-up INITs are a fixed cost, not a per-event one). The target
is at most $5 per million events for the queued design.

    python -m bench.cost [--singles 300] [--bulk 5] [--bulk-size 20] [--sqs 50] [--clients 4]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.cost import CostReport, baseline, report
from local.cost.usage import unmetered_client
from local.environment import LocalEnvironment
from local.json_http import request_json
from local.runtime import REPO_ROOT, LocalSettings, LocalStack
from stack.app import build_app
from stack.spec import StackConfig

INTAKE_FIELD = "intake"
INTAKE_DESIGNS = ("per-request", "queued")
TARGET_PER_MILLION = 5.0
_SETTLE_DEADLINE_SECONDS = 600.0


@dataclass(frozen=True)
class Mix:
    singles: int
    bulk_posts: int
    bulk_size: int
    sqs_messages: int
    clients: int

    @property
    def events(self) -> int:
        return self.singles + self.bulk_posts * self.bulk_size + self.sqs_messages


@dataclass(frozen=True)
class Run:
    design: str
    sent: int
    seconds: float
    report: CostReport


def intake_designs() -> list[str | None]:
    """The intake designs this stack offers; ``[None]`` when it has no such setting."""
    fields = {field.name for field in dataclasses.fields(StackConfig)}
    return list(INTAKE_DESIGNS) if INTAKE_FIELD in fields else [None]


def _event_template() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((REPO_ROOT / "examples" / "event.json").read_text())
    return document


def _fresh(template: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(template)
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    return event


def _post(api: str, path: str, body: Any) -> None:
    status, answer = request_json("POST", f"{api}{path}", body)
    if status != 202:
        raise RuntimeError(f"POST {path} answered {status}: {answer}")


def drive(stack: LocalStack, mix: Mix) -> None:
    """Send the mix: SQS messages first (they wait for a batch), then the POSTs in parallel."""
    template = _event_template()
    sqs = stack.client("sqs")
    queue_url = stack.queue_url("ingest")
    for _ in range(mix.sqs_messages):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(_fresh(template)))
    api = stack.api_url
    posts: list[tuple[str, Any]] = [("/events", _fresh(template)) for _ in range(mix.singles)]
    bulk = [
        ("/events/bulk", [_fresh(template) for _ in range(mix.bulk_size)])
        for _ in range(mix.bulk_posts)
    ]
    # Bulk posts spread through the singles, as producers would send them.
    step = max(1, len(posts) // max(1, len(bulk)))
    for index, post in enumerate(bulk):
        posts.insert(min(len(posts), (index + 1) * step), post)
    with ThreadPoolExecutor(max_workers=mix.clients) as pool:
        list(pool.map(lambda post: _post(api, *post), posts))


def _observer(stack: LocalStack, service: str) -> Any:
    # Waiting costs nothing on AWS: these calls are not metered.
    return unmetered_client(stack.endpoint_url, stack.app.config.region, service)


def _busy(stack: LocalStack) -> bool:
    sqs, sfn = _observer(stack, "sqs"), _observer(stack, "stepfunctions")
    for queue in stack.resources.queues.values():
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if any(int(count) for count in attributes.values()):
            return True
    for arn in stack.resources.state_machines.values():
        running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1)
        if running["executions"]:
            return True
    return False


def settle(stack: LocalStack) -> None:
    """Wait until no queue holds a message and no execution runs, twice in a row."""
    deadline = time.monotonic() + _SETTLE_DEADLINE_SECONDS
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise TimeoutError("the stack did not settle: messages queued or executions running")
        quiet = 0 if _busy(stack) else quiet + 1
        time.sleep(0.2)


@contextmanager
def _stack(design: str | None, state_dir: Path) -> Iterator[LocalStack]:
    config = StackConfig()
    if design is not None:
        changes: dict[str, Any] = {INTAKE_FIELD: design}  # a field this branch may lack
        config = dataclasses.replace(config, **changes)
    settings = LocalSettings(port=0, state_dir=state_dir, time_scale=0.001, persist_tables=False)
    with LocalEnvironment(build_app(config), settings) as env:
        yield env.stack


def run(design: str | None, mix: Mix) -> Run:
    with (
        tempfile.TemporaryDirectory(prefix="bench-cost-") as state_dir,
        _stack(design, Path(state_dir)) as stack,
    ):
        # One of each kind first, so the pool's start-up INITs and first imports are not
        # priced as if every million events paid them; the scale-out under load still is.
        drive(stack, Mix(singles=1, bulk_posts=1, bulk_size=2, sqs_messages=1, clients=1))
        settle(stack)
        since = baseline(stack.endpoint_url)
        started = time.monotonic()
        drive(stack, mix)
        settle(stack)
        seconds = time.monotonic() - started
        priced = report(stack, since=since)
        return Run(design or "today's (per-request)", mix.events, seconds, priced)


def _per_million(run: Run, dollars: float) -> float | None:
    return run.report.per_million_events(dollars)


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def print_runs(runs: list[Run]) -> None:
    services = sorted({service for run in runs for service in run.report.by_service()})
    header = f"{'$ per million events':<22}" + "".join(f"{run.design:>24}" for run in runs)
    ratio = len(runs) == 2
    if ratio:
        header += f"{'ratio':>10}"
    print(header)
    print("-" * len(header))

    def row(label: str, values: list[float | None]) -> None:
        line = f"{label:<22}" + "".join(f"{_cell(value):>24}" for value in values)
        if ratio and values[0] and values[1]:
            line += f"{values[0] / values[1]:>9.1f}x"
        print(line)

    for service in services:
        row(service, [_per_million(run, run.report.by_service().get(service, 0.0)) for run in runs])
    row("total", [_per_million(run, run.report.total) for run in runs])
    print()
    for run in runs:
        per_execution = run.report.per_execution()
        print(
            f"{run.design}: {run.sent:,} events sent, {run.report.events:,} accepted in "
            f"{run.report.executions:,} executions ({run.seconds:.0f} s); per execution "
            f"{_cell(per_execution) if per_execution is None else f'${per_execution:.6f}'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=300, help="single-event POSTs")
    parser.add_argument("--bulk", type=int, default=5, help="bulk POSTs")
    parser.add_argument("--bulk-size", type=int, default=20, help="events per bulk POST")
    parser.add_argument("--sqs", type=int, default=50, help="SQS messages of one event")
    parser.add_argument("--clients", type=int, default=4, help="parallel HTTP clients")
    args = parser.parse_args()
    mix = Mix(args.singles, args.bulk, args.bulk_size, args.sqs, args.clients)
    designs = intake_designs()
    print(
        f"mix: {mix.singles} single POSTs, {mix.bulk_posts} bulk POSTs of {mix.bulk_size}, "
        f"{mix.sqs_messages} SQS messages = {mix.events:,} events; list prices, us-east-1"
    )
    if designs == [None]:
        print(
            f"StackConfig has no `{INTAKE_FIELD}` setting on this branch: "
            "today's per-request design only"
        )
    print()
    runs = [run(design, mix) for design in designs]
    print_runs(runs)
    queued = next((r for r in runs if r.design == "queued"), None)
    if queued is not None:
        total = queued.report.per_million_events()
        verdict = "met" if total is not None and total <= TARGET_PER_MILLION else "NOT met"
        print(f"\ntarget <= ${TARGET_PER_MILLION:.2f} per million events (queued): {verdict}")


if __name__ == "__main__":
    main()
