"""Patch 17: the context object (``$$`` in JSONPath, ``$states.context`` in JSONata) as AWS
writes it.

- ``Execution.StartTime`` and ``State.EnteredTime`` are ISO 8601 strings in milliseconds with a
  ``Z`` (``2019-03-26T20:14:13.192Z``); moto wrote microseconds and ``+00:00``, and kept the
  start time a ``datetime``, which no JSONata expression could return.
- ``Execution.RedriveCount`` is there: 0, then the number of redrives so far.

(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from local.moto_patches.patch_context import moto_module


def aws_timestamp(moment: dt.datetime | str) -> str:
    """``moment`` as the context object writes times.

    >>> aws_timestamp(dt.datetime(2019, 3, 26, 20, 14, 13, 192_456, tzinfo=dt.UTC))
    '2019-03-26T20:14:13.192Z'
    """
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def set_redrive_count(env: Any, count: int) -> None:
    env.states.context_object.context_object_data["Execution"]["RedriveCount"] = count


def patch_context_object() -> None:
    execution_worker = moto_module("moto.stepfunctions.parser.backend.execution_worker")
    state_module = moto_module("moto.stepfunctions.parser.asl.component.state.state")
    original_environment = execution_worker.ExecutionWorker._get_evaluation_environment
    original_state_data = state_module.StateData

    def environment(self: Any) -> Any:
        env = original_environment(self)
        execution = env.states.context_object.context_object_data["Execution"]
        execution["StartTime"] = aws_timestamp(execution["StartTime"])
        execution.setdefault("RedriveCount", 0)
        return env

    def state_data(**fields: Any) -> Any:
        if "EnteredTime" in fields:
            fields["EnteredTime"] = aws_timestamp(fields["EnteredTime"])
        fields.setdefault("RetryCount", 0)
        return original_state_data(**fields)

    execution_worker.ExecutionWorker._get_evaluation_environment = environment
    state_module.StateData = state_data
