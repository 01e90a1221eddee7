"""The scaffold traces every invocation where Powertools would (on AWS), and makes no Tracer
where tracing is off, so the X-Ray SDK is never imported there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools import Tracer

from functions._shared import scaffold
from functions._shared.scaffold import Scaffold
from tests.functional.conftest import FakeLambdaContext


class RecordingTracer(Tracer):
    """Powertools' Tracer with its own rule for when to trace; counts how often it is made
    and the invocations it wraps."""

    made = 0
    traced_calls = 0

    def __init__(self) -> None:  # no X-Ray provider: nothing to send traces to here
        type(self).made += 1

    def capture_lambda_handler(  # type: ignore[override]
        self, handler: Callable[[Any, Any], Any]
    ) -> Callable[[Any, Any], Any]:
        def traced(event: Any, context: Any) -> Any:
            type(self).traced_calls += 1
            return handler(event, context)

        return traced


@pytest.fixture
def recording_tracer(monkeypatch: pytest.MonkeyPatch) -> type[RecordingTracer]:
    RecordingTracer.made = RecordingTracer.traced_calls = 0
    monkeypatch.setattr(scaffold, "Tracer", RecordingTracer)
    return RecordingTracer


def _echo_handler() -> Callable[[Any, Any], Any]:
    scaffold = Scaffold()

    @scaffold.entry
    def handler(event: Any, context: Any) -> Any:
        return {"echo": event["trackingId"]}

    return handler


def test_on_aws_one_tracer_traces_every_invocation(
    monkeypatch: pytest.MonkeyPatch,
    recording_tracer: type[RecordingTracer],
    lambda_context: FakeLambdaContext,
) -> None:
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)
    handler = _echo_handler()

    assert recording_tracer.made == 0  # nothing at import (cold start)
    answers = [handler({"trackingId": f"trk-{n}"}, lambda_context) for n in range(3)]

    assert answers == [{"echo": "trk-0"}, {"echo": "trk-1"}, {"echo": "trk-2"}]
    assert (recording_tracer.made, recording_tracer.traced_calls) == (1, 3)


@pytest.mark.parametrize(
    "environment",
    [
        {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"},
        {"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"},
        {},
    ],
)
def test_where_tracing_is_off_no_tracer_is_made(
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    recording_tracer: type[RecordingTracer],
    lambda_context: FakeLambdaContext,
) -> None:
    for variable in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    handler = _echo_handler()

    assert handler({"trackingId": "trk-1"}, lambda_context) == {"echo": "trk-1"}
    assert recording_tracer.made == 0
