"""Execution roles: an IAM role that one AWS service assumes, with its one inline policy.

``Function``, ``StateMachine`` and ``Pipe`` each run with a role of their own, built the same
way: ``<resource name>-role`` with the trust policy, ``<resource name>-policy`` with the
permissions (both documents from :mod:`infra.policies`, serialised with
``pulumi.Output.json_dumps``).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.policies import Document


def execution_role(
    resource_name: str,
    description: str,
    trust: Document,
    policy: Document,
    opts: pulumi.ResourceOptions,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """The role and its inline policy. A resource that acts with the role should depend on the
    policy (returned second), not only on the role: the role exists before it may do anything.

    Example::

        role, policy = execution_role(
            "stepflow-dev-dedupe", "Execution role of the stepflow-dev-dedupe Lambda",
            policies.assume_role_policy("lambda.amazonaws.com"), document, child,
        )
    """
    role = aws.iam.Role(
        f"{resource_name}-role",
        aws.iam.RoleArgs(
            description=description, assume_role_policy=pulumi.Output.json_dumps(trust)
        ),
        opts=opts,
    )
    role_policy = aws.iam.RolePolicy(
        f"{resource_name}-policy",
        aws.iam.RolePolicyArgs(role=role.id, policy=pulumi.Output.json_dumps(policy)),
        opts=opts,
    )
    return role, role_policy
