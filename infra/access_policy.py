"""The ``AccessPolicies`` component: the IAM managed policies system callers attach.

One ``aws.iam.Policy`` per ``AccessPolicySpec`` (a producer's, an operator's), its document
built by :func:`stack.access.access_policy_document` on the API's route ARNs and the stack's
state machines. The stack exports their ARNs (``accessPolicyArns``); a producer account
attaches the producer policy to the role its service runs as, and signs requests with SigV4.

Example::

    policies = AccessPolicies("stepflow-dev-access", AccessPoliciesArgs(app, name, api, arns))
    policies.arns["producer"]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from stack.access import access_policy_document, route_resource_suffix
from stack.spec import App, RouteSpec

TYPE: Final = "stepflow:iam:AccessPolicies"


@dataclass(frozen=True)
class AccessPoliciesArgs:
    """``physical_name`` makes a policy's name from its logical one."""

    app: App
    physical_name: Callable[[str], str]
    api_execution_arn: pulumi.Output[str]
    state_machine_arns: Mapping[str, pulumi.Output[str]]


class AccessPolicies(pulumi.ComponentResource):
    """The description's access policies; ``arns`` by logical name."""

    arns: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        resource_name: str,
        args: AccessPoliciesArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)

        def route_arn(route: RouteSpec) -> pulumi.Output[str]:
            return pulumi.Output.concat(args.api_execution_arn, route_resource_suffix(route))

        def derive(arn: pulumi.Output[str], pattern: Callable[[str], str]) -> pulumi.Output[str]:
            return arn.apply(pattern)

        self.arns = {}
        for spec in args.app.access_policies:
            document = access_policy_document(
                args.app,
                spec,
                route_arn=route_arn,
                state_machine_arns=args.state_machine_arns,
                derive=derive,
            )
            policy = aws.iam.Policy(
                args.physical_name(spec.name),
                aws.iam.PolicyArgs(
                    name=args.physical_name(spec.name),
                    description=spec.description,
                    policy=pulumi.Output.json_dumps(document),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.arns[spec.name] = policy.arn
        self.register_outputs({"arns": self.arns})
