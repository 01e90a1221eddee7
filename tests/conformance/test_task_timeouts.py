"""Every deployed Task waits for its Lambda's own timeout, plus a cold start.

A Task that gives up first ends in ``States.Timeout`` while the function still runs (and may
still succeed): the bundle step once waited 60 s for a 120 s Lambda. The margin lets a slow
invocation end as the function's own ``Sandbox.Timedout``, which the workflows' retries name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from infra.stack import Deployment
from stack.spec import App
from tests.infra.harness import LAMBDA, STATE_MACHINE, Run

# Lambda's init phase (a cold start) may take up to 10 s before the function's timeout starts.
COLD_START_SECONDS = 10


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Task state, nested ones (a Map's processor, a Parallel's branches) included."""
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from tasks(processor["States"])
        for branch in state.get("Branches", ()):
            yield from tasks(branch["States"])


def test_no_task_gives_up_before_its_function(app: App, run: Run[Deployment]) -> None:
    function_timeouts = {
        resource.state["arn"]: resource.inputs["timeout"] for resource in run.mocks.of_type(LAMBDA)
    }
    checked = []
    for machine in run.mocks.of_type(STATE_MACHINE):
        for name, task in tasks(json.loads(machine.inputs["definition"])["States"]):
            function_timeout = function_timeouts[task["Parameters"]["FunctionName"]]
            assert task["TimeoutSeconds"] >= function_timeout + COLD_START_SECONDS, (
                f"{machine.inputs['name']}: {name!r} waits {task['TimeoutSeconds']} s for a "
                f"Lambda that may run {function_timeout} s"
            )
            checked.append(name)
    # Every workflow's tasks, the bundle step among them.
    assert len(run.mocks.of_type(STATE_MACHINE)) == len(app.workflows)
    assert {"Bundle events", "Bundle objects", "Enrich the batch"} <= set(checked)
