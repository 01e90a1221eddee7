"""Single-event POSTs at a fixed rate through the whole local stack, per-request and queued intake.

Each intake runs in its own process (moto is global to a process), on a local stack brought up
the way the tests bring it up (:class:`local.environment.LocalEnvironment`, ephemeral ports) but
with the stack's own settings: journaled state, the ingest pipe's 1 s batching window. A pool of
clients POSTs one event at a time on a fixed schedule (``--rate`` per second for ``--seconds``);
the run then waits until the downstream holds every acknowledged event. Printed per intake:

- POSTs/s sustained: acknowledged POSTs over the time the producer took to send them (below the
  target rate when the API could not keep up);
- delivered events/s: acknowledged events over the time from the first POST to the last arrival;
- POST -> DELIVERED p50/p95: from the start of an event's POST to its arrival downstream (the
  downstream's log, polled every 50 ms), which is what the DELIVERED status records;
- ingest executions started, and events per execution;
- POST p50/p95: how long the API took to answer, where the producer's time went;

then the ratios queued / per-request. Usage::

    python -m bench.throughput                       # 200 POSTs/s for 10 s, both intakes
    python -m bench.throughput --rate 100 --seconds 20 --intake queued
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from bench.chaos import valid_event
from local.json_http import request_json
from stack.spec import Intake

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
_RESULT_PREFIX: Final = "RESULT "
_ARRIVAL_POLL_SECONDS: Final = 0.05
_DEFAULT_CLIENTS: Final = 16


@dataclass
class Sent:
    event_id: str
    started: float
    acknowledged: float | None = None
    tracking_id: str | None = None
    status: int | None = None


@dataclass(frozen=True)
class IntakeResult:
    """What one intake did under the load; times in seconds."""

    intake: str
    target_rate: float
    posts: int
    acknowledged: int
    refused: int
    send_seconds: float
    delivered: int
    delivery_seconds: float
    latency_p50: float | None
    latency_p95: float | None
    executions: int
    statuses_delivered: int
    statuses_with_execution: int
    post_p50: float | None = None
    post_p95: float | None = None
    """How long the API took to answer a POST: where the producer's time goes."""
    lone_event_seconds: float | None = None

    @property
    def posts_per_second(self) -> float:
        return self.acknowledged / self.send_seconds if self.send_seconds else 0.0

    @property
    def delivered_per_second(self) -> float:
        return self.delivered / self.delivery_seconds if self.delivery_seconds else 0.0

    @property
    def events_per_execution(self) -> float:
        return self.delivered / self.executions if self.executions else 0.0


class ArrivalClock:
    """When each event id first showed up at the downstream, polled from its log."""

    def __init__(self, received_events: Callable[[], dict[str, int]]) -> None:
        self._received_events = received_events
        self.arrivals: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arrivals", daemon=True)

    def __enter__(self) -> ArrivalClock:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()

    def poll(self) -> None:
        now = time.monotonic()
        for event_id in self._received_events():
            self.arrivals.setdefault(event_id, now)

    def _run(self) -> None:
        while not self._stop.wait(_ARRIVAL_POLL_SECONDS):
            self.poll()


def drive(api_url: str, rate: float, seconds: float, clients: int) -> list[Sent]:
    """POST ``rate * seconds`` single events, the i-th at ``i / rate`` after the start."""
    total = max(1, round(rate * seconds))
    sent = [Sent(event_id=str(uuid.uuid4()), started=0.0) for _ in range(total)]
    next_index = iter(range(total))
    lock = threading.Lock()
    start = time.monotonic()

    def client() -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            due = start + index / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the producer, not waiting on the stack
            item = sent[index]
            item.started = time.monotonic()
            try:
                code, body = request_json(
                    "POST", f"{api_url}/events", valid_event(item.event_id), timeout=120
                )
            except OSError:
                code, body = None, None
            item.acknowledged = time.monotonic()
            item.status = code
            if code == 202 and isinstance(body, dict):
                item.tracking_id = body.get("trackingId")

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent


def wait_for(condition: Callable[[], bool], deadline: float) -> bool:
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def run_intake(
    intake: Intake,
    rate: float,
    seconds: float,
    *,
    clients: int = _DEFAULT_CLIENTS,
    lone_event: bool = False,
    deadline_seconds: float = 600.0,
) -> IntakeResult:
    """Bring a local stack up with ``intake``, drive it, measure; the stack is stopped after."""
    from local.environment import LocalEnvironment
    from local.runtime import LocalSettings
    from stack.app import build_app
    from stack.spec import StackConfig

    with tempfile.TemporaryDirectory(prefix="throughput-") as state_dir:
        settings = LocalSettings(port=0, state_dir=Path(state_dir))
        with LocalEnvironment(build_app(StackConfig(intake=intake)), settings) as env:
            stack = env.stack

            def received_events() -> dict[str, int]:
                return env.downstream.received().events

            with ArrivalClock(received_events) as clock:
                began = time.monotonic()
                sent = drive(stack.api_url, rate, seconds, clients)
                send_seconds = max(item.acknowledged or began for item in sent) - began
                accepted = [item for item in sent if item.status == 202]
                wanted = {item.event_id for item in accepted}
                wait_for(
                    lambda: wanted <= clock.arrivals.keys(),
                    time.monotonic() + deadline_seconds,
                )
            answer_times = [
                item.acknowledged - item.started for item in sent if item.acknowledged is not None
            ]
            latencies = [
                clock.arrivals[item.event_id] - item.started
                for item in accepted
                if item.event_id in clock.arrivals
            ]
            arrived = [clock.arrivals[event_id] for event_id in wanted & clock.arrivals.keys()]
            last_arrival = max(arrived, default=began)
            ingest = stack.state_machine_arn("ingest")
            executions = _executions(stack.client("stepfunctions"), ingest)
            tracking_ids = [item.tracking_id for item in accepted if item.tracking_id]
            # The DELIVERED record is written just after the downstream answered.
            statuses: tuple[int, int] = (0, 0)

            def all_recorded() -> bool:
                nonlocal statuses
                statuses = _statuses(stack.api_url, tracking_ids)
                return statuses[0] == len(tracking_ids)

            wait_for(all_recorded, time.monotonic() + 60)
            delivered, with_execution = statuses
            lone = _lone_event_seconds(stack.api_url, received_events) if lone_event else None
    return IntakeResult(
        intake=intake.value,
        target_rate=rate,
        posts=len(sent),
        acknowledged=len(accepted),
        refused=len(sent) - len(accepted),
        send_seconds=send_seconds,
        delivered=len(arrived),
        delivery_seconds=max(0.0, last_arrival - began),
        latency_p50=percentile(latencies, 0.50),
        latency_p95=percentile(latencies, 0.95),
        executions=executions,
        statuses_delivered=delivered,
        statuses_with_execution=with_execution,
        post_p50=percentile(answer_times, 0.50),
        post_p95=percentile(answer_times, 0.95),
        lone_event_seconds=lone,
    )


def _executions(sfn: Any, state_machine_arn: str) -> int:
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn)
    return sum(len(page["executions"]) for page in pages)


def _statuses(api_url: str, tracking_ids: list[str]) -> tuple[int, int]:
    """How many records say DELIVERED after RECEIVED, and how many of those name their
    execution (the status route, as a producer reads it)."""
    delivered = with_execution = 0
    for tracking_id in tracking_ids:
        code, record = request_json("GET", f"{api_url}/events/{tracking_id}")
        if code != 200 or not isinstance(record, dict):
            continue
        steps = [step["status"] for step in record.get("history", [])]
        if record.get("status") == "DELIVERED" and steps[:1] == ["RECEIVED"]:
            delivered += 1
            with_execution += bool(record.get("executionArn"))
    return delivered, with_execution


def _lone_event_seconds(api_url: str, received_events: Callable[[], dict[str, int]]) -> float:
    """One event on a quiet stack: seconds from its POST to its arrival downstream."""
    event_id = str(uuid.uuid4())
    started = time.monotonic()
    code, body = request_json("POST", f"{api_url}/events", valid_event(event_id))
    if code != 202:
        raise RuntimeError(f"the lone event was refused: {code} {body}")
    if not wait_for(lambda: event_id in received_events(), started + 120):
        raise RuntimeError("the lone event was not delivered within 120 s")
    return time.monotonic() - started


def run_in_subprocess(
    intake: Intake, rate: float, seconds: float, clients: int, *, lone_event: bool = False
) -> IntakeResult:
    """:func:`run_intake` in a fresh interpreter, as each intake needs its own moto."""
    command = [
        sys.executable, "-m", "bench.throughput", "--child", "--intake", intake.value,
        "--rate", str(rate), "--seconds", str(seconds), "--clients", str(clients),
        *(["--lone-event"] if lone_event else []),
    ]  # fmt: skip
    finished = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=3600
    )
    lines = [line for line in finished.stdout.splitlines() if line.startswith(_RESULT_PREFIX)]
    if finished.returncode != 0 or not lines:
        raise RuntimeError(f"the {intake} run failed:\n{finished.stderr[-3000:]}")
    document = json.loads(lines[-1].removeprefix(_RESULT_PREFIX))
    return IntakeResult(**document)


def report(results: list[IntakeResult]) -> list[str]:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    lines = [
        f"{'intake':<12} {'POSTs/s':>8} {'delivered/s':>11} {'p50':>8} {'p95':>8} "
        f"{'executions':>10} {'events/exec':>11} {'refused':>7} {'POST p50/p95':>14}"
    ]
    for result in results:
        lines.append(
            f"{result.intake:<12} {result.posts_per_second:>8.1f} "
            f"{result.delivered_per_second:>11.1f} {seconds(result.latency_p50):>8} "
            f"{seconds(result.latency_p95):>8} {result.executions:>10} "
            f"{result.events_per_execution:>11.1f} {result.refused:>7} "
            f"{seconds(result.post_p50):>7}/{seconds(result.post_p95)}"
        )
    lines += [
        f"{result.intake}: a lone event on the quiet stack took "
        f"{seconds(result.lone_event_seconds)} from POST to the downstream"
        for result in results
        if result.lone_event_seconds is not None
    ]
    by_intake = {result.intake: result for result in results}
    queued, per_request = by_intake.get(Intake.QUEUED), by_intake.get(Intake.PER_REQUEST)
    if queued and per_request:
        lines.append(
            "queued / per-request: "
            f"POSTs/s x{_ratio(queued.posts_per_second, per_request.posts_per_second)}, "
            "delivered/s "
            f"x{_ratio(queued.delivered_per_second, per_request.delivered_per_second)}, "
            f"p95 x{_ratio(queued.latency_p95, per_request.latency_p95)}, "
            f"executions x{_ratio(queued.executions, per_request.executions)}"
        )
    return lines


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="POSTs per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to send")
    parser.add_argument("--clients", type=int, default=_DEFAULT_CLIENTS)
    parser.add_argument(
        "--intake", choices=[*Intake, "both"], default="both", help="which intake to run"
    )
    parser.add_argument(
        "--lone-event", action="store_true", help="then time one event on the quiet stack"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        result = run_intake(
            Intake(arguments.intake),
            arguments.rate,
            arguments.seconds,
            clients=arguments.clients,
            lone_event=arguments.lone_event,
        )
        print(_RESULT_PREFIX + json.dumps(asdict(result)), flush=True)
        return 0
    intakes = list(Intake) if arguments.intake == "both" else [Intake(arguments.intake)]
    print(
        f"{arguments.rate:g} single-event POSTs/s for {arguments.seconds:g} s, "
        f"{arguments.clients} clients, per intake in its own local stack"
    )
    results = []
    for intake in sorted(intakes, key=lambda item: item != Intake.PER_REQUEST):
        results.append(
            run_in_subprocess(
                intake,
                arguments.rate,
                arguments.seconds,
                arguments.clients,
                lone_event=arguments.lone_event,
            )
        )
        print(report(results[-1:])[-1], flush=True)
    print("\n".join(report(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
