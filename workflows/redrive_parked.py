"""The redrive-parked workflow: when the breaker closes, parked work is redriven (seed 003).

deliver starts it when its probe closes the circuit (the operations API when an operator closes
it), named after that closing, so a retried start is the same execution. One step: the
operations Lambda redrives every parked execution, idempotently (one already redriven is
skipped). A workflow, not a direct invocation, because Step Functions runs it the same way on
AWS and locally, retries it, and keeps its history for the operator.
"""

from __future__ import annotations

from typing import Final

from workflows.builder import Chain, LambdaInvoke, StateMachine, Succeed
from workflows.pipeline import transient_dependency_retry

# The operations Lambda's own timeout (stack/app.py) plus a cold start.
REDRIVE_TASK_TIMEOUT_SECONDS: Final = 90


def redrive_parked_definition() -> StateMachine:
    redrive = LambdaInvoke(
        "Redrive parked executions",
        function="operations",
        payload={"action": "redrive-parked", "reason.$": "$$.Execution.Name"},
        timeout_seconds=REDRIVE_TASK_TIMEOUT_SECONDS,
        retry=[transient_dependency_retry()],
    )
    return StateMachine(
        start=Chain.start(redrive).next(Succeed("Parked work redriven")),
        comment="The breaker closed: redrive every parked execution.",
        timeout_seconds=600,
    )
