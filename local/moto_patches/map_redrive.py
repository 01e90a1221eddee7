"""A redrive of a failed ``Map`` re-runs only the iterations that did not succeed; the others
keep the output they had (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-map-run.html).

The succeeded iterations and their outputs are read from the history: a ``MapIterationSucceeded``
event follows (``previousEventId``) the last event of its iteration, the exit of the state that
gave the iteration's output. Iterations reused by an earlier redrive count too: the history of
every attempt of the Map since it was last entered other than by a redrive is read.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from local.moto_patches.patch_context import moto_module

_reusable: dict[tuple[str, str, int], Any] = {}
_lock = threading.Lock()


def succeeded_iterations(history: list[dict[str, Any]], map_name: str) -> dict[int, Any]:
    """The outputs of the iterations of ``map_name`` that succeeded, by index.

    >>> history = [
    ...     {"id": 2, "type": "MapStateEntered", "stateEnteredEventDetails": {"name": "M"}},
    ...     {"id": 3, "type": "PassStateExited", "stateExitedEventDetails": {"output": "7"}},
    ...     {"id": 4, "previousEventId": 3, "type": "MapIterationSucceeded",
    ...      "mapIterationSucceededEventDetails": {"name": "M", "index": 0}},
    ...     {"id": 5, "type": "MapIterationFailed",
    ...      "mapIterationFailedEventDetails": {"name": "M", "index": 1}},
    ... ]
    >>> succeeded_iterations(history, "M")
    {0: 7}
    """
    by_id = {event.get("id"): event for event in history}
    outputs: dict[int, Any] = {}
    previous_type = ""
    for event in history:
        kind = str(event.get("type", ""))
        if kind == "MapStateEntered":
            name = (event.get("stateEnteredEventDetails") or {}).get("name")
            if name == map_name and previous_type != "ExecutionRedriven":
                outputs.clear()
        elif kind == "MapIterationSucceeded":
            details = event.get("mapIterationSucceededEventDetails") or {}
            last = by_id.get(event.get("previousEventId")) or {}
            output = (last.get("stateExitedEventDetails") or {}).get("output")
            if details.get("name") == map_name and output is not None:
                outputs[int(details["index"])] = json.loads(output)
        previous_type = kind
    return outputs


def reuse_iterations(execution_arn: str, map_name: str, outputs: dict[int, Any]) -> None:
    """Let the next run of ``map_name`` in ``execution_arn`` skip these iterations."""
    with _lock:
        for index, output in outputs.items():
            _reusable[(execution_arn, map_name, index)] = output


_MISSING = object()


def _take(execution_arn: str, map_name: str, index: int) -> Any:
    with _lock:
        return _reusable.pop((execution_arn, map_name, index), _MISSING)


def patch_map_redrive() -> None:
    IterationWorker = moto_module(
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker"
    ).IterationWorker
    original = IterationWorker._eval_job

    def eval_job(self: Any, env: Any, job: Any) -> None:
        execution_arn = env.states.context_object.context_object_data["Execution"]["Id"]
        # Taken once: a later run of the same Map in this execution runs every iteration.
        output = _take(str(execution_arn), self._work_name, job.job_index)
        if output is _MISSING:
            original(self, env, job)
        else:
            job.job_output = output

    IterationWorker._eval_job = eval_job
