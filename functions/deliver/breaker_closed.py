"""What deliver does when its probe closes the circuit: start the redrive-parked workflow.

The execution is named after the probe that closed the circuit, so a retried start finds the
same execution instead of starting a second. A failure to start is logged and counted but never
fails the delivery that succeeded: an operator can still redrive by hand (``POST
/ops/executions/redrive``), and the next closing starts it again.

Example::

    hook = ParkedWorkRedriver("stepflow-dev-redrive-parked")
    hook.circuit_closed(probe_owner="req-1/ab12", function_arn=context.invoked_function_arn)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from functions._shared.clients import LazyClient
from functions._shared.state_machines import state_machine_arn


def execution_name(probe_owner: str) -> str:
    """A valid execution name, the same for the same probe.

    >>> execution_name("req-1/abc")[:15], len(execution_name("req-1/abc"))
    ('circuit-closed-', 55)
    """
    return "circuit-closed-" + hashlib.sha256(probe_owner.encode()).hexdigest()[:40]


class ParkedWorkRedriver:
    client = LazyClient("stepfunctions")

    def __init__(self, workflow_name: str | None, client: Any | None = None) -> None:
        self.workflow_name = workflow_name
        self._client = client

    def circuit_closed(self, *, probe_owner: str, function_arn: str) -> str | None:
        """Start the workflow (``None``: the stack has none); the execution's ARN."""
        if self.workflow_name is None:
            return None
        name = execution_name(probe_owner)
        machine = state_machine_arn(function_arn, self.workflow_name)
        payload = json.dumps({"action": "redrive-parked", "reason": name})
        try:
            answer = self.client.start_execution(stateMachineArn=machine, name=name, input=payload)
        except self.client.exceptions.ExecutionAlreadyExists:
            return machine.replace(":stateMachine:", ":execution:", 1) + ":" + name
        return str(answer["executionArn"])
