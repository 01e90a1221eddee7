"""A small typed builder for Step Functions workflows, rendered to plain ASL dicts (JSONPath).

Shaped after AWS CDK's ``aws-stepfunctions``: states linked into chains, retriers and catchers as
values with named policies, errors named by their exception classes, and a whole definition
checked when it is rendered.

Example::

    from workflows.builder import Chain, LambdaInvoke, StateMachine, Succeed

    validate = LambdaInvoke("Validate events", function="validate")
    machine = StateMachine(start=Chain.start(validate).next(Succeed("Done")), timeout_seconds=300)
    asl = machine.render(lambda name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}")
"""

from workflows.builder.conditions import Condition
from workflows.builder.error_names import ErrorRef, LambdaError, StatesError, error_name
from workflows.builder.exceptions import DefinitionError, DuplicateStateNameError
from workflows.builder.graph import Chain, FunctionArn, NextableState, State
from workflows.builder.machine import StateMachine
from workflows.builder.nested import Map, Parallel
from workflows.builder.paths import DISCARD
from workflows.builder.retry import Catch, JitterStrategy, Retry
from workflows.builder.states import Choice, Fail, Pass, Succeed, Wait
from workflows.builder.tasks import (
    DEFAULT_TASK_TIMEOUT_SECONDS,
    LAMBDA_INVOKE_RESOURCE,
    LambdaInvoke,
)

__all__ = [
    "DEFAULT_TASK_TIMEOUT_SECONDS",
    "DISCARD",
    "LAMBDA_INVOKE_RESOURCE",
    "Catch",
    "Chain",
    "Choice",
    "Condition",
    "DefinitionError",
    "DuplicateStateNameError",
    "ErrorRef",
    "Fail",
    "FunctionArn",
    "JitterStrategy",
    "LambdaError",
    "LambdaInvoke",
    "Map",
    "NextableState",
    "Parallel",
    "Pass",
    "Retry",
    "State",
    "StateMachine",
    "StatesError",
    "Succeed",
    "Wait",
    "error_name",
]
