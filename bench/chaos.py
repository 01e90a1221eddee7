"""A chaos run: events through every door, poison, downstream faults, a ``kill -9``, recovery.

The stack runs as ``python -m local up`` in a subprocess (a temporary state directory, free
ports, ``--downstream-url``); the downstream runs here, in this process, so it outlives the
stack and counts what really arrived. Valid events go in through single POSTs, bulk POSTs, SQS
messages and landing files; one input in every hundred is poison (an out-of-range date, ``1e400``,
a body that is not JSON, a binary landing file). The downstream answers 30% 5xx throughout, 401
for a window, and is down for another; the stack is killed with SIGKILL mid-run and restarted on
the same state directory. Then the documented recovery: redrive every FAILED execution until
nothing is left to redrive. The report counts at the receiver.

    python -m bench.chaos                         # 2,000 events
    python -m bench.chaos --events 10000
    python -m bench.chaos --no-401-window         # what today's code promises without parking
    python -m bench.chaos --poison-every 10       # poison through every door in a short run
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local.json_http import request_json
from local.peers.downstream import DownstreamServer

REPO_ROOT = Path(__file__).resolve().parent.parent
_ACCOUNT_REGION = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
_UP_LINE = re.compile(r"AWS endpoint: (\S+)\s+API: (\S+)")
_BULK_SIZE = 10
_FILE_SIZE = 10
_POISON_EVERY = 100
_CHANNELS = ("single", "bulk", "sqs", "landing")
_POISON_BODIES: tuple[bytes, ...] = (
    b"this is not JSON",
    b"\x00\x01\x02\xff\xfe binary \x89PNG",
)


def valid_event(event_id: str) -> dict[str, Any]:
    return {
        "eventHeader": {
            "uuid": event_id,
            "eventName": "Car Created",
            "eventType": "CarCreated",
            "createdDate": "2024-01-15T10:30:00Z",
            "savedDate": "2024-01-15T10:30:05Z",
        },
        "entities": [
            {
                "entityHeader": {
                    "entityId": event_id,
                    "entityType": "Car",
                    "createdAt": "2024-01-15T10:30:00Z",
                    "updatedAt": "2024-01-15T10:30:00Z",
                },
                "id": event_id,
                "make": "Tesla",
                "year": 2025,
            }
        ],
    }


def poison_event(index: int) -> dict[str, Any] | bytes:
    """Poison in turn: an out-of-range date, a non-finite number, non-JSON bytes, binary bytes."""
    kind = index % 4
    if kind == 0:
        event = valid_event(f"poison-{uuid.uuid4()}")
        event["eventHeader"]["createdDate"] = "0001-01-01T00:00:00+01:00"
        return event
    if kind == 1:
        text = json.dumps(valid_event(f"poison-{uuid.uuid4()}"))
        return text.replace('"year": 2025', '"year": 1e400').encode()
    return _POISON_BODIES[kind - 2]


@dataclass
class Tally:
    """What the producers handed over, as the stack acknowledged it."""

    accepted: set[str] = field(default_factory=set)
    poison_sent: dict[str, int] = field(default_factory=dict)
    poison_refused: list[tuple[str, int, str]] = field(default_factory=list)
    """(channel, status, reason) for poison the front door refused."""
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, event_ids: list[str]) -> None:
        with self.lock:
            self.accepted.update(event_ids)


@dataclass(frozen=True)
class ChaosReport:
    events: int
    accepted: int
    delivered_unique: int
    lost: list[str]
    duplicated: dict[str, int]
    poison_sent: dict[str, int]
    poison_refused: int
    poison_refused_without_reason: int
    poison_delivered: int
    poison_kept: int
    """Rejected inputs kept verbatim with their reason in the quarantine bucket (non-empty)."""
    retries: int
    recovery_seconds: float
    redrives: int
    failed_left: int
    total_seconds: float

    def lines(self) -> list[str]:
        return [
            f"events generated (valid)       {self.events:>8,}",
            f"acknowledged valid events       {self.accepted:>8,}",
            f"delivered (unique event ids)    {self.delivered_unique:>8,}",
            f"lost (acked, never delivered)   {len(self.lost):>8,}",
            f"duplicated (delivered > once)   {len(self.duplicated):>8,}",
            f"poison inputs sent              {sum(self.poison_sent.values()):>8,}  "
            f"{self.poison_sent}",
            f"  refused at the door (4xx)     {self.poison_refused:>8,}  "
            f"(without a reason: {self.poison_refused_without_reason})",
            f"  delivered downstream          {self.poison_delivered:>8,}",
            f"  rejected, bytes kept          {self.poison_kept:>8,}  "
            f"(of {self.poison_sent.get('sqs', 0) + self.poison_sent.get('landing', 0)} "
            "accepted by SQS or landing)",
            f"producer retries (no answer)    {self.retries:>8,}",
            f"recovery (redrive until quiet)  {self.recovery_seconds:>8.1f} s  "
            f"({self.redrives} redrives, {self.failed_left} FAILED left)",
            f"whole run                       {self.total_seconds:>8.1f} s",
        ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class StackProcess:
    """``python -m local up`` in a subprocess that can be killed with SIGKILL and restarted."""

    def __init__(self, state_dir: Path, downstream: DownstreamServer, time_scale: float) -> None:
        self.state_dir = state_dir
        self.port = _free_port()
        self.api_port = _free_port()
        self._downstream = downstream
        self._time_scale = time_scale
        self._process: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.api = ""

    def start(self, deadline_seconds: float = 300.0) -> None:
        command = [
            sys.executable, "-m", "local", "up",
            "--port", str(self.port), "--api-port", str(self.api_port),
            "--state-dir", str(self.state_dir), "--time-scale", str(self._time_scale),
            "--downstream-url", self._downstream.ingest_url,
        ]  # fmt: skip
        environment = {**os.environ, "STEPFLOW_DOWNSTREAM_TOKEN": self._downstream.token}
        log = (self.state_dir.parent / "up.log").open("a")
        self._process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,  # its own process group: the kill takes its workers too
        )
        assert self._process.stdout is not None
        lines = stdout_lines(self._process.stdout)
        until = time.monotonic() + deadline_seconds
        while time.monotonic() < until:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                if self._process.poll() is not None:
                    break
                continue
            match = _UP_LINE.search(line)
            if match:
                self.endpoint, self.api = match.group(1), match.group(2)
                return
        tail = (self.state_dir.parent / "up.log").read_text()[-2000:]
        raise RuntimeError(f"the stack did not come up:\n{tail}")

    def kill(self) -> None:
        assert self._process is not None
        # SIGKILL to the runtime and its Lambda workers at once, as a crash of the machine's
        # session would: no clean stop, and no orphaned worker holding the ports.
        os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()

    def restart(self, deadline_seconds: float = 300.0) -> None:
        """Start again on the same ports and state; a port may take a moment to be released."""
        until = time.monotonic() + deadline_seconds
        while True:
            try:
                self.start(deadline_seconds)
                return
            except RuntimeError:
                if time.monotonic() > until:
                    raise
                time.sleep(1.0)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def client(self, service: str) -> Any:
        import boto3

        from stack.app import build_app

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=build_app().config.region,
            **_ACCOUNT_REGION,
        )


def stdout_lines(stream: IO[str]) -> queue.Queue[str]:
    """The lines of a child's output as they come, for waiting on one without blocking."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


class Producer:
    """Hands inputs over through one of the four doors, retrying until the stack answers."""

    def __init__(self, stack: StackProcess, tally: Tally, give_up_at: float) -> None:
        from stack.app import build_app

        app = build_app()
        self._stack = stack
        self._tally = tally
        self._give_up_at = give_up_at
        self._landing = app.bucket_name("landing")
        self._queue_name = f"{app.config.prefix}-ingest"

    def _until_answered(self, send: Callable[[], None]) -> None:
        while True:
            try:
                send()
                return
            except (OSError, urllib.error.URLError, ConnectionError) as error:
                self._retry(error)
            except Exception as error:  # botocore's connection errors while the stack restarts
                if "connect" not in str(error).lower() and "endpoint" not in str(error).lower():
                    raise
                self._retry(error)

    def _retry(self, error: Exception) -> None:
        if time.monotonic() > self._give_up_at:
            raise TimeoutError(f"the stack did not answer again: {error}") from error
        with self._tally.lock:
            self._tally.retries += 1
        time.sleep(0.2)

    def post(self, path: str, body: Any, event_ids: list[str], raw: bytes | None = None) -> None:
        def send() -> None:
            status, answer = (
                _post_raw(self._stack.api + path, raw)
                if raw is not None
                else request_json("POST", self._stack.api + path, body)
            )
            if status == 202:
                self._tally.accept(event_ids)
            elif status >= 500:
                raise ConnectionError(f"{path} answered {status}")  # the producer retries
            elif not event_ids:
                reason = json.dumps(answer)[:200] if answer else ""
                with self._tally.lock:
                    self._tally.poison_refused.append((path, status, reason))
            else:
                raise RuntimeError(f"a valid input was refused: {status} {answer}")

        self._until_answered(send)

    def sqs(self, body: bytes | str, event_ids: list[str]) -> None:
        def send() -> None:
            sqs = self._stack.client("sqs")
            url = sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            sqs.send_message(QueueUrl=url, MessageBody=text)
            self._tally.accept(event_ids)

        self._until_answered(send)

    def landing(self, body: bytes, event_ids: list[str]) -> None:
        key = f"chaos/{uuid.uuid4().hex}.ndjson"

        def send() -> None:
            self._stack.client("s3").put_object(Bucket=self._landing, Key=key, Body=body)
            self._tally.accept(event_ids)

        self._until_answered(send)


def _post_raw(url: str, body: bytes) -> tuple[int, Any]:
    from local.json_http import request_json

    return request_json("POST", url, data=body)


def _ndjson(events: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(event) + "\n" for event in events).encode()


def produce(
    producer: Producer,
    tally: Tally,
    events: int,
    progress: Callable[[int], None],
    poison_every: int = _POISON_EVERY,
) -> None:
    """Send ``events`` valid events in inputs rotating over the four doors, poison every 100th."""
    sent = 0
    inputs = 0
    while sent < events:
        channel = _CHANNELS[inputs % len(_CHANNELS)]
        inputs += 1
        if inputs % poison_every == 0:
            # Rotate poison over the doors on its own count: ``inputs`` would pin it to one.
            poisoned = inputs // poison_every
            _send_poison(producer, tally, _CHANNELS[poisoned % len(_CHANNELS)], poisoned)
            continue
        size = _BULK_SIZE if channel == "bulk" else _FILE_SIZE if channel == "landing" else 1
        size = min(size, events - sent)
        batch = [valid_event(str(uuid.uuid4())) for _ in range(size)]
        ids = [event["eventHeader"]["uuid"] for event in batch]
        if channel == "single":
            producer.post("/events", batch[0], ids)
        elif channel == "bulk":
            producer.post("/events/bulk", batch, ids)
        elif channel == "sqs":
            producer.sqs(json.dumps(batch[0]), ids)
        else:
            producer.landing(_ndjson(batch), ids)
        sent += size
        progress(sent)


def _send_poison(producer: Producer, tally: Tally, channel: str, index: int) -> None:
    poison = poison_event(index)
    raw = poison if isinstance(poison, bytes) else json.dumps(poison).encode()
    with tally.lock:
        tally.poison_sent[channel] = tally.poison_sent.get(channel, 0) + 1
    if channel == "single":
        producer.post("/events", None, [], raw=raw)
    elif channel == "bulk":
        producer.post("/events/bulk", None, [], raw=b"[" + raw + b"]")
    elif channel == "sqs":
        producer.sqs(raw, [])
    else:
        producer.landing(raw if isinstance(poison, bytes) else _POISON_BODIES[1], [])


def _machines(sfn: Any) -> list[str]:
    return [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]


def _executions(sfn: Any, status: str) -> list[str]:
    arns: list[str] = []
    for machine in _machines(sfn):
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine, statusFilter=status
        ):
            arns.extend(e["executionArn"] for e in page["executions"])
    return arns


def _wait_quiet(sfn: Any, until: float) -> None:
    while time.monotonic() < until and _executions(sfn, "RUNNING"):
        time.sleep(0.5)


def _queued(sqs: Any) -> int:
    """Messages still on the way through a source queue, in flight ones included: a message a
    poller had received when the stack was killed comes back only after its visibility timeout
    (real time, not scaled), and its events are not lost, just not yet started."""
    total = 0
    for url in sqs.list_queues().get("QueueUrls", []):
        if url.endswith("-dlq"):
            continue
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        total += sum(int(value) for value in attributes.values())
    return total


def _wait_drained(sqs: Any, sfn: Any, until: float) -> None:
    while time.monotonic() < until and _queued(sqs):
        time.sleep(0.5)
    _wait_quiet(sfn, until)


def recover(stack: StackProcess, downstream: DownstreamServer, tally: Tally, until: float) -> int:
    """The documented recovery: redrive every FAILED execution until none is left or all of the
    acknowledged events arrived; answers how many redrives it took."""
    sfn = stack.client("stepfunctions")
    redrives = 0
    fruitless_rounds = 0
    delivered = -1
    sqs = stack.client("sqs")
    while time.monotonic() < until:
        _wait_drained(sqs, sfn, until)
        arrived = set(downstream.received().events)
        if tally.accepted <= arrived:
            return redrives
        # Work that fails again on every redrive (a Fail state re-entered) never converges.
        fruitless_rounds = fruitless_rounds + 1 if len(arrived) == delivered else 0
        if fruitless_rounds >= 3:
            return redrives
        delivered = len(arrived)
        failed = _executions(sfn, "FAILED")
        redriven = 0
        for arn in failed:
            try:
                sfn.redrive_execution(executionArn=arn)
                redriven += 1
            except sfn.exceptions.ExecutionNotRedrivable:
                continue
        redrives += redriven
        if not redriven:
            # Nothing left to redrive: wait for pollers still draining queues, then decide.
            _wait_drained(sqs, sfn, until)
            if not _executions(sfn, "FAILED") or tally.accepted <= set(
                downstream.received().events
            ):
                return redrives
    return redrives


def run_chaos(
    events: int,
    work_dir: Path,
    *,
    window_401: bool = True,
    kill: bool = True,
    time_scale: float = 0.001,
    poison_every: int = _POISON_EVERY,
    deadline_seconds: float = 1800.0,
    say: Callable[[str], None] = lambda _: None,
) -> ChaosReport:
    started = time.monotonic()
    give_up_at = started + deadline_seconds
    downstream = DownstreamServer(secrets.token_urlsafe(24), seed=7)
    downstream.set_fail_rate(0.3)
    tally = Tally()
    with downstream:
        stack = StackProcess(work_dir / "state", downstream, time_scale)
        stack.start()
        say(f"stack up: {stack.endpoint}  API {stack.api}  downstream {downstream.ingest_url}")
        try:
            faults = _fault_schedule(
                events, downstream, stack, window_401=window_401, kill=kill, say=say
            )
            produce(Producer(stack, tally, give_up_at), tally, events, faults, poison_every)
            downstream.configure(fail_rate=0.0, status_override=None, down=False)
            say(f"all inputs handed over ({len(tally.accepted):,} valid acknowledged); recovering")
            recovery_started = time.monotonic()
            redrives = recover(stack, downstream, tally, give_up_at)
            recovery_seconds = time.monotonic() - recovery_started
            failed_left = len(_executions(stack.client("stepfunctions"), "FAILED"))
            poison_kept = _kept_in_quarantine(stack)
        finally:
            stack.stop()
        received = downstream.received()
    return ChaosReport(
        events=events,
        accepted=len(tally.accepted),
        delivered_unique=len(set(received.events) & tally.accepted),
        lost=sorted(tally.accepted - set(received.events)),
        duplicated=received.events_delivered_twice,
        poison_sent=dict(tally.poison_sent),
        poison_refused=len(tally.poison_refused),
        poison_refused_without_reason=sum(1 for *_, reason in tally.poison_refused if not reason),
        poison_delivered=sum(1 for event_id in received.events if event_id.startswith("poison-")),
        poison_kept=poison_kept,
        retries=tally.retries,
        recovery_seconds=recovery_seconds,
        redrives=redrives,
        failed_left=failed_left,
        total_seconds=time.monotonic() - started,
    )


def _kept_in_quarantine(stack: StackProcess) -> int:
    """Rejected inputs in the quarantine bucket that hold bytes and a reason."""
    from functions.operations.quarantine import list_rejected
    from stack.app import build_app

    items = list_rejected(stack.client("s3"), build_app().bucket_name("quarantine"), limit=100_000)
    return sum(1 for item in items if item.size > 0 and item.reason)


def _fault_schedule(
    events: int,
    downstream: DownstreamServer,
    stack: StackProcess,
    *,
    window_401: bool,
    kill: bool,
    say: Callable[[str], None],
) -> Callable[[int], None]:
    """Faults by progress (share of valid events sent), so a run of any size meets all of them."""
    steps: list[tuple[float, str, Callable[[], None]]] = []
    if window_401:
        steps.append((0.20, "401 window opens", lambda: downstream.set_status_override(401)))
        steps.append((0.30, "401 window closes", lambda: downstream.set_status_override(None)))
    steps.append((0.45, "downstream down", lambda: downstream.set_down(True)))
    steps.append((0.55, "downstream back", lambda: downstream.set_down(False)))
    if kill:

        def crash() -> None:
            stack.kill()
            stack.restart()

        steps.append((0.70, "kill -9 of the stack, restart", crash))
    pending = list(steps)

    def progress(sent: int) -> None:
        while pending and sent >= pending[0][0] * events:
            _, label, act = pending.pop(0)
            say(f"{sent:>7,} sent: {label}")
            act()

    return progress


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--no-401-window", action="store_true")
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument(
        "--poison-every", type=int, default=_POISON_EVERY, help="one input in N is poison"
    )
    parser.add_argument("--deadline", type=float, default=3600.0, help="seconds for the run")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stepflow-chaos-") as work:
        report = run_chaos(
            arguments.events,
            Path(work),
            window_401=not arguments.no_401_window,
            kill=not arguments.no_kill,
            poison_every=arguments.poison_every,
            deadline_seconds=arguments.deadline,
            say=lambda line: print(line, flush=True),
        )
    print("\n".join(report.lines()))
    return 0 if not report.lost and not report.duplicated else 1


if __name__ == "__main__":
    raise SystemExit(main())
