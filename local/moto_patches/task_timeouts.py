"""Patch 22: a ``TimeoutSecondsPath`` or ``HeartbeatSecondsPath`` that does not give a positive
integer fails the task once, with ``States.Runtime``.

moto recorded a path with no value as an ``ExecutionFailed`` event of the task, followed by the
execution's own ``ExecutionFailed`` (two in one history), and let any other value through to a
Python comparison (``'<=' not supported between instances of 'str' and 'int'`` as the cause).
Now the task records ``TaskFailed`` and the execution one ``ExecutionFailed``.
(https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html: "TimeoutSecondsPath ...
must resolve to a positive integer")
"""

from __future__ import annotations

import json
from typing import Any

from local.moto_patches.interpreter_failures import states_failure
from local.moto_patches.patch_context import moto_module


def _seconds_from_path(field: str) -> Any:
    NoSuchJsonPathError = moto_module(
        "moto.stepfunctions.parser.asl.utils.json_path"
    ).NoSuchJsonPathError

    def eval_seconds(self: Any, env: Any) -> int:
        try:
            self.string_sampler.eval(env=env)
        except NoSuchJsonPathError as error:
            path = error.json_path
            cause = f"Invalid path '{path}' : No results for path: $['{path[2:]}']"
            raise states_failure(env, "States.Runtime", "TaskFailed", {"cause": cause}) from error
        seconds = env.stack.pop()
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
            cause = (
                f"The {field} field must resolve to a positive integer; "
                f"{self.string_sampler.literal_value} is {json.dumps(seconds)}"
            )
            raise states_failure(env, "States.Runtime", "TaskFailed", {"cause": cause})
        return seconds

    return eval_seconds


def patch_task_timeouts() -> None:
    timeouts = "moto.stepfunctions.parser.asl.component.common.timeouts"
    TimeoutSecondsPath = moto_module(f"{timeouts}.timeout").TimeoutSecondsPath
    HeartbeatSecondsPath = moto_module(f"{timeouts}.heartbeat").HeartbeatSecondsPath

    TimeoutSecondsPath._eval_seconds = _seconds_from_path("TimeoutSecondsPath")
    HeartbeatSecondsPath._eval_seconds = _seconds_from_path("HeartbeatSecondsPath")
