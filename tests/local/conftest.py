"""A running local stack for the tests: the real app, and a small app of behaviour fixtures.

Both run with a time scale of 1/1000, so a 300 s wait takes 0.3 s, and an ephemeral port.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from local.environment import LocalEnvironment
from local.runtime import LocalSettings, LocalStack
from stack.app import build_app
from stack.spec import App, FunctionSpec, Intake, StackConfig, WorkflowSpec
from tests.local.fixtures.handlers import PermanentDeliveryError, TransientDeliveryError
from workflows.builder import Catch, Chain, LambdaInvoke, Pass, StateMachine, Succeed, Wait
from workflows.builder.error_names import StatesError

TEST_TIME_SCALE = 0.001
_FIXTURES = "tests.local.fixtures.handlers"


def behaviour_app() -> App:
    """Workflows that each exercise one interpreter behaviour through real Lambda workers."""
    functions = (
        FunctionSpec("echo", f"{_FIXTURES}.echo", "returns its input"),
        FunctionSpec("flaky", f"{_FIXTURES}.flaky", "fails twice, then succeeds"),
        FunctionSpec("permanent", f"{_FIXTURES}.permanent", "always fails permanently"),
        FunctionSpec("slow", f"{_FIXTURES}.slow", "outlives its timeout", timeout_seconds=1),
    )

    from workflows.builder import Retry

    retrying = StateMachine(
        start=Chain.start(
            LambdaInvoke(
                "Call the flaky dependency",
                function="flaky",
                retry=[Retry.on(TransientDeliveryError, interval=5, max_attempts=3, backoff=2)],
            )
        ).next(Succeed("Delivered")),
        timeout_seconds=600,
    )
    handled = Pass("Record the refusal", result_path="$.handled", result={"handled": True})
    catching = StateMachine(
        start=Chain.start(
            LambdaInvoke(
                "Call the refusing dependency",
                function="permanent",
                catch=[Catch.on(PermanentDeliveryError, next=handled, result_path="$.error")],
            )
        ),
        timeout_seconds=600,
    )
    timed_out = Pass("Note the timeout")
    timing_out = StateMachine(
        start=Chain.start(
            LambdaInvoke(
                "Call the slow dependency",
                function="slow",
                catch=[Catch.on(StatesError.ALL, next=timed_out, result_path="$.error")],
            )
        ),
        timeout_seconds=600,
    )
    waiting = StateMachine(
        start=Chain.start(Wait("Cool down", seconds=300)).next(
            LambdaInvoke("Echo", function="echo")
        ),
        timeout_seconds=900,
    )
    workflows = (
        WorkflowSpec("retrying", "Retry by exception class", retrying),
        WorkflowSpec("catching", "Catch by exception class", catching),
        WorkflowSpec("timing_out", "Lambda timeout", timing_out),
        WorkflowSpec("waiting", "Wait follows the time scale", waiting),
    )
    return App(
        config=StackConfig(prefix="behaviour"),
        functions=functions,
        tables=(),
        queues=(),
        buckets=(),
        workflows=workflows,
    )


def test_app() -> App:
    """The real stack plus the behaviour fixtures: one stack per process (moto is global)."""
    # One execution per POST, which these tests follow by its executionId; queued intake (the
    # default) has its own stack in tests/local/test_queued_intake.py.
    real = build_app(StackConfig(intake=Intake.PER_REQUEST))
    fixtures = behaviour_app()
    return replace(
        real,
        functions=real.functions + fixtures.functions,
        workflows=real.workflows + fixtures.workflows,
    )


@pytest.fixture(scope="session")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnvironment]:
    """The stack with its downstream and provider peers; one per test process."""
    settings = LocalSettings(
        port=0,
        state_dir=tmp_path_factory.mktemp("local-stack"),
        time_scale=TEST_TIME_SCALE,
        persist_tables=False,
        pipe_batching_window_seconds=0.2,
        max_workers_per_function=6,
    )
    with LocalEnvironment(test_app(), settings) as env:
        yield env


@pytest.fixture(scope="session")
def local_stack(local_env: LocalEnvironment) -> LocalStack:
    return local_env.stack
