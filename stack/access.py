"""The documents of the access policies (``AccessPolicySpec``), for both backends.

Plain dicts whose ARNs may be Pulumi Outputs (``pulumi.Output.json_dumps`` resolves them) or
plain strings (the local runtime creates the same policies in its IAM). Every action is on the
ARNs of the stack's own routes and state machines, never on ``"*"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from stack.spec import AccessPolicySpec, App, RouteSpec

VERSION: Final = "2012-10-17"
INVOKE_ACTIONS: Final = ("execute-api:Invoke",)
# On a state machine: list its executions. On its executions: read, stop and redrive them.
STATE_MACHINE_OPERATOR_ACTIONS: Final = ("states:DescribeStateMachine", "states:ListExecutions")
EXECUTION_OPERATOR_ACTIONS: Final = (
    "states:DescribeExecution",
    "states:GetExecutionHistory",
    "states:RedriveExecution",
    "states:StopExecution",
)
_PATH_PARAMETER = re.compile(r"\{[^}]+\}")


def route_resource_suffix(route: RouteSpec) -> str:
    """The part of a route's ``execute-api`` resource ARN after the API's execution ARN.

    >>> from stack.spec import HttpMethod
    >>> route_resource_suffix(RouteSpec(HttpMethod.GET, "/events/{trackingId}", "api"))
    '/*/GET/events/*'
    """
    return f"/*/{route.method.value}{_PATH_PARAMETER.sub('*', route.path)}"


def access_policy_document(
    app: App,
    spec: AccessPolicySpec,
    *,
    route_arn: Callable[[RouteSpec], Any],
    state_machine_arns: Mapping[str, Any],
    derive: Callable[[Any, Callable[[str], str]], Any],
) -> dict[str, Any]:
    """The policy's document; ``route_arn`` makes a route's resource ARN, and ``derive``
    applies a plain ``str -> str`` function to an ARN (both backend-specific: Pulumi Outputs
    or strings)."""
    assert app.api is not None
    routes = {route.key: route for route in app.api.routes}
    statements: list[dict[str, Any]] = [
        {
            "Sid": "InvokeRoutes",
            "Effect": "Allow",
            "Action": list(INVOKE_ACTIONS),
            "Resource": [route_arn(routes[key]) for key in spec.routes],
        }
    ]
    if spec.operated_workflows:
        machines = [state_machine_arns[name] for name in spec.operated_workflows]
        statements += [
            {
                "Sid": "ListExecutions",
                "Effect": "Allow",
                "Action": list(STATE_MACHINE_OPERATOR_ACTIONS),
                # A Map run's child executions are listed on the Map run.
                "Resource": machines + [derive(arn, map_run_arn_pattern) for arn in machines],
            },
            {
                "Sid": "OperateExecutions",
                "Effect": "Allow",
                "Action": list(EXECUTION_OPERATOR_ACTIONS),
                "Resource": [derive(arn, execution_arn_pattern) for arn in machines]
                + [derive(arn, express_execution_arn_pattern) for arn in machines],
            },
        ]
    return {"Version": VERSION, "Statement": statements}


def execution_arn_pattern(state_machine_arn: str) -> str:
    """The ARNs of a state machine's executions.

    >>> execution_arn_pattern("arn:aws:states:us-east-1:123456789012:stateMachine:sm")
    'arn:aws:states:us-east-1:123456789012:execution:sm:*'
    """
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":*"


def express_execution_arn_pattern(state_machine_arn: str) -> str:
    """The ARNs of an Express state machine's executions.

    >>> express_execution_arn_pattern("arn:aws:states:us-east-1:123456789012:stateMachine:sm")
    'arn:aws:states:us-east-1:123456789012:express:sm:*:*'
    """
    return state_machine_arn.replace(":stateMachine:", ":express:", 1) + ":*:*"


def map_run_arn_pattern(state_machine_arn: str) -> str:
    """The ARNs of a state machine's Map runs.

    >>> map_run_arn_pattern("arn:aws:states:us-east-1:123456789012:stateMachine:sm")
    'arn:aws:states:us-east-1:123456789012:mapRun:sm/*:*'
    """
    return state_machine_arn.replace(":stateMachine:", ":mapRun:", 1) + "/*:*"
