"""``python -m local downstream``: a receiver in a process of its own, with its controls and log."""

from __future__ import annotations

import gzip
import json
import queue
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from bench.chaos import stdout_lines
from local.json_http import request_json

_URL_LINE = re.compile(r"downstream listening on (http://\S+)/ingest")
_DEADLINE_SECONDS = 60.0


def _wait_for_url(lines: queue.Queue[str]) -> str:
    while True:
        line = lines.get(timeout=_DEADLINE_SECONDS)
        match = _URL_LINE.search(line)
        if match:
            return match.group(1)


@pytest.fixture
def receiver() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "downstream", "--port", "0", "--token", "t0ken"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        yield _wait_for_url(stdout_lines(process.stdout))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=_DEADLINE_SECONDS) == 0


def _post_bundle(url: str, key: str, uuids: list[str], token: str = "t0ken") -> int:
    lines = "".join(json.dumps({"eventHeader": {"uuid": u}}) + "\n" for u in uuids)
    request = urllib.request.Request(
        url + "/ingest",
        data=gzip.compress(lines.encode()),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": key,
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=_DEADLINE_SECONDS) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_it_receives_counts_and_logs_bundles(receiver: str) -> None:
    assert _post_bundle(receiver, "bundle-1", ["e-1", "e-2"]) in (200, 202)
    assert _post_bundle(receiver, "bundle-1", ["e-1", "e-2"]) == 200  # a repeat counts nothing
    assert _post_bundle(receiver, "bundle-2", ["e-3"], token="wrong") == 401

    status, received = request_json("GET", receiver + "/_received")
    assert status == 200
    assert received["events"] == {"e-1": 1, "e-2": 1}
    assert list(received["bundles"]) == ["bundle-1"]
    outcomes = [r["outcome"] for r in received["requests"] if r["path"] == "/ingest"]
    assert outcomes == ["accepted", "duplicate", "unauthorized"]


def test_its_fault_controls_answer_over_http(receiver: str) -> None:
    status, _ = request_json("POST", receiver + "/_control", {"status_override": 401})
    assert status == 200
    assert _post_bundle(receiver, "bundle-3", ["e-4"]) == 401
    request_json("POST", receiver + "/_control", {"status_override": None})
    assert _post_bundle(receiver, "bundle-3", ["e-4"]) in (200, 202)
    _, received = request_json("GET", receiver + "/_received")
    assert received["events"] == {"e-4": 1}
