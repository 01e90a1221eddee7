"""The stack the browser tests drive: the real one plus a showcase workflow with every shape.

The showcase's default path has a Parallel whose branches hold a Map and a caught failure; the
``gate`` path fails while a file exists, so a test can fail an execution and then redrive it;
the ``hold`` path runs while a file exists, so a test sees an execution running.
Run as ``python -m tests.console.showcase STATE_DIR``: it prints one JSON line with the URLs,
serves until its stdin closes, and stops (a stack of its own process: moto is process-wide).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from local.environment import LocalEnvironment
from local.runtime import LocalSettings
from stack.app import build_app
from stack.spec import App, FunctionSpec, WorkflowSpec
from tests.console.handlers import RefusedError
from workflows.builder import (
    Catch,
    Chain,
    Choice,
    Condition,
    LambdaInvoke,
    Map,
    Parallel,
    Pass,
    StateMachine,
    Succeed,
    Wait,
)

SHOWCASE_WORKFLOW = "showcase"
_HANDLERS = "tests.console.handlers"


def _showcase() -> StateMachine:
    caught = Pass("Record the refusal", result_path="$.refusal", result={"refused": True})
    each_item = Map("Each item", items_path="$.items", result_path="$.items").item_processor(
        Pass("Shape the item", parameters={"item.$": "$"})
    )
    refusing = LambdaInvoke(
        "Ask the refusing dependency",
        function="console_refuse",
        result_path="$.answer",
        output_path="$",
        catch=[Catch.on(RefusedError, next=caught, result_path="$.error")],
    )
    fan_out = Parallel("Fan out", result_path="$.branches").branch(
        Chain.start(each_item), Chain.start(Wait("Cool down", seconds=1)).next(refusing)
    )
    done = Succeed("Done")
    gate = LambdaInvoke("Pass the gate", function="console_gated").next(done)
    hold = LambdaInvoke("Wait for the release", function="console_held").next(done)
    return StateMachine(
        start=Chain.start(Pass("Prepare")).next(
            Choice("Gate given?")
            .when(Condition.is_present("$.gate"), gate)
            .when(Condition.is_present("$.hold"), hold)
            .otherwise(Chain.start(fan_out).next(done))
        ),
        timeout_seconds=300,
    )


def showcase_app() -> App:
    real = build_app()
    functions = (
        FunctionSpec("console_gated", f"{_HANDLERS}.gated", "fails while its gate file exists"),
        FunctionSpec("console_refuse", f"{_HANDLERS}.refuse", "always refuses"),
        FunctionSpec("console_held", f"{_HANDLERS}.held", "runs while its hold file exists"),
    )
    workflow = WorkflowSpec(SHOWCASE_WORKFLOW, "Every shape the console draws", _showcase())
    return replace(
        real, functions=real.functions + functions, workflows=(*real.workflows, workflow)
    )


def main(state_dir: str) -> int:
    settings = LocalSettings(
        port=0, state_dir=Path(state_dir), time_scale=0.001, pipe_batching_window_seconds=0.2
    )
    with LocalEnvironment(showcase_app(), settings) as env:
        stack = env.stack
        urls = {
            "console": stack.console_url,
            "endpoint": stack.endpoint_url,
            "api": stack.api_url,
            "showcase": stack.state_machine_arn(SHOWCASE_WORKFLOW),
        }
        print(json.dumps(urls), flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
