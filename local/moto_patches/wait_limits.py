"""Patch 21: a ``Wait`` longer than the Amazon States Language allows fails at once.

``Seconds`` (and what ``SecondsPath``, ``Timestamp`` or a JSONata expression work out to) is at
most 99,999,999 seconds. moto waited anyway: a longer wait left the execution RUNNING for good,
or failed it with a Python ``OverflowError`` as the cause. It fails now, as soon as the Wait is
entered, with ``States.Runtime``.
(https://docs.aws.amazon.com/step-functions/latest/dg/state-wait.html)
"""

from __future__ import annotations

from typing import Any

from local.moto_patches.interpreter_failures import states_failure
from local.moto_patches.patch_context import moto_module

MAX_WAIT_SECONDS = 99_999_999


def patch_wait_limits() -> None:
    WaitFunction = moto_module(
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function"
    ).WaitFunction

    def eval_body(self: Any, env: Any) -> None:
        seconds = self._get_wait_seconds(env=env)
        if seconds > MAX_WAIT_SECONDS:
            cause = (
                f"The Wait state would wait {seconds} seconds; the most a Wait state may wait "
                f"is {MAX_WAIT_SECONDS} seconds."
            )
            raise states_failure(env, "States.Runtime", "ExecutionFailed", {"cause": cause})
        self._wait_interval(env=env, wait_seconds=seconds)

    WaitFunction._eval_body = eval_body
