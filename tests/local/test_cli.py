"""The operator CLI against a running local stack, and its answers to bad input."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from local.cli import MAX_INPUT_BYTES, main
from local.runtime import LocalStack


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _ingest_input(tracking_id: str) -> str:
    return json.dumps({"trackingId": tracking_id, "source": "cli", "events": []})


def test_start_wait_list_describe_and_history(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = local_stack.endpoint_url
    name = f"cli-{uuid.uuid4().hex[:8]}"
    code, out, err = _cli(
        capsys,
        "start",
        "retrying",
        "--endpoint",
        endpoint,
        "--name",
        name,
        "--input",
        json.dumps({"key": name, "failures": 1}),
        "--wait",
    )
    assert code == 0, err
    described = json.loads(out)
    assert described["status"] == "SUCCEEDED"
    assert described["output"] == {"key": name, "attempts": 2}

    code, out, _ = _cli(capsys, "list", "retrying", "--endpoint", endpoint, "--status", "SUCCEEDED")
    assert code == 0
    assert name in out

    code, out, _ = _cli(capsys, "describe", name, "--endpoint", endpoint)
    assert code == 0
    assert json.loads(out)["name"] == name

    code, out, _ = _cli(capsys, "history", name, "--endpoint", endpoint)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["time", "id", "event", "state", "duration", "error", "/", "cause"]
    assert any("TaskFailed" in line and "TransientDeliveryError" in line for line in lines)
    assert "ExecutionSucceeded" in lines[-1]

    code, out, _ = _cli(capsys, "history", name, "--endpoint", endpoint, "--reverse", "--json")
    assert code == 0
    events: list[dict[str, Any]] = json.loads(out)
    assert events[0]["type"] == "ExecutionSucceeded"
    assert events[-1]["type"] == "ExecutionStarted"


def test_start_without_wait_prints_the_execution_arn(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    code, out, _ = _cli(
        capsys,
        "start",
        "ingest",
        "--endpoint",
        local_stack.endpoint_url,
        "--name",
        name,
        "--input",
        _ingest_input(name),
    )
    assert code == 0
    assert (
        out.strip()
        == local_stack.state_machine_arn("ingest").replace(":stateMachine:", ":execution:")
        + f":{name}"
    )
    local_stack.wait_for_execution(out.strip())


def test_the_same_name_and_input_while_running_is_idempotent_and_later_refused(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    args = (
        "start",
        "waiting",
        "--endpoint",
        local_stack.endpoint_url,
        "--name",
        name,
        "--input",
        "{}",
    )
    first = _cli(capsys, *args)
    second = _cli(capsys, *args)
    assert first[0] == second[0] == 0
    assert first[1] == second[1]
    local_stack.wait_for_execution(first[1].strip())
    code, _, err = _cli(capsys, *args)
    assert code == 2
    assert "Execution Already Exists" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--input", "{not json"), "--input is not valid JSON"),
        (("--input", "{}", "--input-file", "x.json"), "not both"),
        (("--input-file", "/nonexistent/input.json"), "cannot read input file"),
        (("--name", "has space", "--input", "{}"), "invalid execution name"),
    ],
)
def test_bad_input_is_one_clear_line_and_starts_nothing(
    local_stack: LocalStack,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    message: str,
) -> None:
    sfn = local_stack.client("stepfunctions")
    machine = local_stack.state_machine_arn("ingest")
    before = len(sfn.list_executions(stateMachineArn=machine, maxResults=1000)["executions"])
    code, out, err = _cli(capsys, "start", "ingest", "--endpoint", local_stack.endpoint_url, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    after = len(sfn.list_executions(stateMachineArn=machine, maxResults=1000)["executions"])
    assert after == before


def test_input_over_the_state_limit_is_refused(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * MAX_INPUT_BYTES}))
    code, _, err = _cli(
        capsys, "start", "ingest", "--endpoint", local_stack.endpoint_url, "--input-file", str(big)
    )
    assert code == 2
    assert "262,144" in err
    assert "S3 pointer" in err


def test_unknown_workflow_names_the_known_ones(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(capsys, "start", "nosuch", "--endpoint", local_stack.endpoint_url)
    assert code == 2
    assert "unknown workflow 'nosuch'" in err
    assert "ingest" in err


def test_an_unreachable_endpoint_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _cli(capsys, "list", "--endpoint", "http://127.0.0.1:9")
    assert code == 1
    assert err.startswith("error: ")
    assert "Traceback" not in err
