"""``kill -9`` of ``python -m local up`` mid-load loses nothing that was acknowledged.

The stack runs as a subprocess (as ``make up`` runs it) on free ports with a temporary state
directory; the downstream runs here, in the test process, so it outlives the crash and counts
every delivery. Deliveries are held, so executions are in flight when the stack is killed.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.durability.executions import RUNTIME_STOPPED_CAUSE, RUNTIME_STOPPED_ERROR
from local.json_http import request_json
from local.peers.downstream import DownstreamServer
from local.runtime import REPO_ROOT
from stack.app import build_app
from tests.events import load_example

pytestmark = pytest.mark.local

_DEADLINE_SECONDS = 180.0
_READY = re.compile(r"AWS endpoint: (\S+)\s+API: (\S+)")


class UpProcess:
    """``python -m local up`` in its own process group, as ``make up`` runs it."""

    def __init__(self, state_dir: Path, downstream: DownstreamServer) -> None:
        environment = {**os.environ, "STEPFLOW_DOWNSTREAM_TOKEN": downstream.token}
        self.process = subprocess.Popen(
            [
                *_up_command(state_dir),
                "--port",
                "0",
                "--time-scale",
                "0.001",
                "--downstream-url",
                downstream.ingest_url,
            ],
            cwd=REPO_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._drain, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + _DEADLINE_SECONDS
        seen: list[str] = []
        while True:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            seen.append(line)
            if match := _READY.search(line):
                self.endpoint, self.api = match.groups()
                return
            if not line:
                raise AssertionError("the stack exited before it was up:\n" + "".join(seen))

    def _drain(self, lines: queue.Queue[str]) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            lines.put(line)
        lines.put("")

    def kill(self) -> None:
        """``kill -9``: the stack and its Lambda workers, with no chance to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=_DEADLINE_SECONDS)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=_DEADLINE_SECONDS)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=build_app().config.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )


def _up_command(state_dir: Path) -> list[str]:
    # Per-request intake: the test follows each event's own execution through the kill.
    return [
        sys.executable,
        "-m",
        "local",
        "up",
        "--state-dir",
        str(state_dir),
        "--intake",
        "per-request",
    ]


def _clean_command(state_dir: Path) -> list[str]:
    return [sys.executable, "-m", "local", "clean", "--state-dir", str(state_dir)]


def _event() -> dict[str, Any]:
    event: dict[str, Any] = load_example("event.json")
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    return event


def _wait_until_ended(sfn: Any, execution_arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + _DEADLINE_SECONDS
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        assert time.monotonic() < deadline, f"{execution_arn} still RUNNING"
        time.sleep(0.05)


@pytest.fixture
def downstream() -> Iterator[DownstreamServer]:
    server = DownstreamServer(secrets.token_urlsafe(24))
    server.start()
    yield server
    server.stop()


_DLQ = build_app().physical_name("ingest") + "-dlq"
_BUCKET = build_app().bucket_name("staging")


def _load_then_kill(
    state_dir: Path, downstream: DownstreamServer, events: list[Any]
) -> dict[str, str]:
    """Start the stack, post ``events`` (held at the downstream), queue and store, kill -9."""
    first = UpProcess(state_dir, downstream)
    try:
        downstream.hold()
        started: dict[str, str] = {}
        for event in events:
            code, body = request_json("POST", f"{first.api}/events", event)
            assert code == 202, body
            started[body["trackingId"]] = body["executionId"]
        sqs = first.client("sqs")
        dlq_url = sqs.get_queue_url(QueueName=_DLQ)["QueueUrl"]
        sqs.send_message(QueueUrl=dlq_url, MessageBody="kept")
        for _ in range(2):
            received = sqs.receive_message(QueueUrl=dlq_url, VisibilityTimeout=0)
            assert [m["Body"] for m in received["Messages"]] == ["kept"]
        first.client("s3").put_object(
            Bucket=_BUCKET, Key="kept/object.bin", Body=b"\x00kept", Metadata={"origin": "test"}
        )
        assert downstream.wait_for_arrivals(1, timeout=_DEADLINE_SECONDS)
    finally:
        first.kill()
    downstream.release()
    return started


def _assert_queue_and_object_back(stack: UpProcess) -> None:
    sqs = stack.client("sqs")
    dlq_url = sqs.get_queue_url(QueueName=_DLQ)["QueueUrl"]
    received = sqs.receive_message(
        QueueUrl=dlq_url, AttributeNames=["ApproximateReceiveCount"], VisibilityTimeout=0
    )
    (message,) = received["Messages"]
    assert message["Body"] == "kept"
    assert message["Attributes"]["ApproximateReceiveCount"] == "3"
    stored = stack.client("s3").get_object(Bucket=_BUCKET, Key="kept/object.bin")
    assert stored["Body"].read() == b"\x00kept"
    assert stored["Metadata"] == {"origin": "test"}


def _redrive_interrupted(stack: UpProcess, execution_arns: list[str]) -> None:
    """Executions in flight at the kill are FAILED with the cause; redriven, they succeed."""
    sfn = stack.client("stepfunctions")
    interrupted = []
    for execution_arn in execution_arns:
        described = sfn.describe_execution(executionArn=execution_arn)
        assert described["status"] in {"SUCCEEDED", "FAILED"}, described
        if described["status"] == "FAILED":
            assert described["error"] == RUNTIME_STOPPED_ERROR
            assert described["cause"] == RUNTIME_STOPPED_CAUSE
            assert described["redriveStatus"] == "REDRIVABLE"
            interrupted.append(execution_arn)
    assert interrupted, "deliveries were held: some execution must have been in flight"
    for execution_arn in interrupted:
        sfn.redrive_execution(executionArn=execution_arn)
    for execution_arn in execution_arns:
        assert _wait_until_ended(sfn, execution_arn)["status"] == "SUCCEEDED"


def test_acknowledged_state_survives_kill_9(tmp_path: Path, downstream: DownstreamServer) -> None:
    state_dir = tmp_path / "state"
    events = [_event() for _ in range(4)]
    started = _load_then_kill(state_dir, downstream, events)

    second = UpProcess(state_dir, downstream)
    try:
        for tracking_id in started:
            code, body = request_json("GET", f"{second.api}/events/{tracking_id}")
            assert code == 200, (tracking_id, body)
        _assert_queue_and_object_back(second)
        _redrive_interrupted(second, list(started.values()))
        delivered = downstream.received()
        assert {event["eventHeader"]["uuid"] for event in events} <= set(delivered.events)
        assert delivered.events_delivered_twice == {}

        # The state directory is held while the stack runs: no second stack, no clean.
        for command in (_up_command(state_dir), _clean_command(state_dir)):
            refused = _run(command)
            assert refused.returncode != 0
            assert "in use by a running stack" in refused.stderr
        assert (state_dir / "journal.sqlite3").exists()
    finally:
        second.stop()
    assert _run(_clean_command(state_dir)).returncode == 0
    assert not state_dir.exists()


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=_DEADLINE_SECONDS,
    )


def test_up_on_a_busy_port_exits_at_once_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        finished = _run([*_up_command(tmp_path / "state"), "--port", str(port)])
    assert finished.returncode != 0
    (line,) = finished.stderr.strip().splitlines()
    assert f"port {port}" in line
    assert "in use" in line
