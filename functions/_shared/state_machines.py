"""State machine ARNs from names, for functions that must not be handed the ARN.

A function granted a workflow gets its ARN from the backend; one that the workflow itself
invokes cannot (the function would need the state machine, the state machine the function).
Such a function gets the name, and the ARN follows from its own: same partition, region and
account.
"""

from __future__ import annotations


def state_machine_arn(function_arn: str, name: str) -> str:
    """The ARN of state machine ``name`` in the partition, region and account of a function.

    >>> state_machine_arn("arn:aws:lambda:eu-west-1:111122223333:function:f", "sm")
    'arn:aws:states:eu-west-1:111122223333:stateMachine:sm'
    """
    _, partition, _, region, account = function_arn.split(":")[:5]
    return f"arn:{partition}:states:{region}:{account}:stateMachine:{name}"
