"""Patch 2: ``Wait`` states and ``Retry`` intervals follow a :class:`~local.clock.TimeScale`."""

from __future__ import annotations

from typing import Any

from local.clock import TimeScale, WaitKind
from local.moto_patches.patch_context import context, moto_module


def _execution_arn(env: Any) -> str:
    return str(env.states.context_object.context_object_data["Execution"]["Id"])


def _state_name(env: Any) -> str:
    state = env.states.context_object.context_object_data.get("State") or {}
    return str(state.get("Name", "?"))


def patch_waits() -> None:
    retrier_decl = moto_module("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl")
    wait_function = moto_module(
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function"
    )

    def wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
        scale = context().time_scale or TimeScale()
        sleep = scale.record(
            _execution_arn(env), _state_name(env), WaitKind.WAIT_STATE, wait_seconds
        )
        if sleep > 0:
            # The event is set when the execution is stopped, which must cut the wait short.
            env.program_state_event.wait(sleep)

    wait_function.WaitFunction._wait_interval = wait_interval

    def retrier_body(self: Any, env: Any) -> None:
        # moto's own body, with time.sleep replaced by the scaled, recorded wait.
        self.error_equals.eval(env)
        if not env.stack.pop():
            env.stack.append(retrier_decl.RetrierOutcome.Skipped)
            return
        self.max_attempts.eval(env=env)
        if env.stack.pop() == retrier_decl.MaxAttemptsOutcome.EXHAUSTED:
            env.stack.append(retrier_decl.RetrierOutcome.Failed)
            return
        self.interval_seconds.eval(env=env)
        self.backoff_rate.eval(env=env)
        self.max_delay_seconds.eval(env=env)
        self.jitter_strategy.eval(env=env)
        interval_seconds: float = env.stack.pop()
        scale = context().time_scale or TimeScale()
        sleep = scale.record(
            _execution_arn(env), _state_name(env), WaitKind.RETRY, interval_seconds
        )
        if sleep > 0:
            env.program_state_event.wait(sleep)
        env.stack.append(retrier_decl.RetrierOutcome.Executed)

    retrier_decl.RetrierDecl._eval_body = retrier_body
