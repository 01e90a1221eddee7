"""The ``UserPool`` component: a Cognito user pool and its app client from a ``UserPoolSpec``.

The people who call JWT routes sign in here (``InitiateAuth`` with ``USER_PASSWORD_AUTH`` on
the app client); the API's JWT authorizer trusts the pool as issuer and the app client as
audience. The pool and client are made with the settings of :mod:`stack.identity`, which the
local runtime also provisions with, so a token behaves the same on both backends. The demo
user of the description is the local runtime's only: a deployed pool starts empty.

Example::

    pool = UserPool("stepflow-dev-users", UserPoolArgs(app.user_pool, "stepflow-dev-users",
                    region="us-east-1"))
    pool.id, pool.client_id, pool.issuer
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from stack.identity import EXPLICIT_AUTH_FLOWS, PASSWORD_POLICY, user_pool_issuer
from stack.spec import UserPoolSpec

TYPE: Final = "stepflow:cognito:UserPool"


@dataclass(frozen=True)
class UserPoolArgs:
    spec: UserPoolSpec
    physical_name: str
    region: str


class UserPool(pulumi.ComponentResource):
    """A user pool (username sign-in, the shared password policy, no self sign-up: users are
    created by an administrator) and one public app client (no secret)."""

    id: pulumi.Output[str]
    arn: pulumi.Output[str]
    client_id: pulumi.Output[str]
    issuer: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: UserPoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        policy = PASSWORD_POLICY
        pool = aws.cognito.UserPool(
            resource_name,
            aws.cognito.UserPoolArgs(
                name=args.physical_name,
                password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
                    minimum_length=policy.minimum_length,
                    require_uppercase=policy.require_uppercase,
                    require_lowercase=policy.require_lowercase,
                    require_numbers=policy.require_numbers,
                    require_symbols=policy.require_symbols,
                ),
                admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(
                    allow_admin_create_user_only=True
                ),
            ),
            opts=child,
        )
        client = aws.cognito.UserPoolClient(
            f"{resource_name}-{args.spec.client}",
            aws.cognito.UserPoolClientArgs(
                name=f"{args.physical_name}-{args.spec.client}",
                user_pool_id=pool.id,
                generate_secret=False,
                explicit_auth_flows=list(EXPLICIT_AUTH_FLOWS),
                # "User does not exist" and "wrong password" answer alike.
                prevent_user_existence_errors="ENABLED",
            ),
            opts=child,
        )
        self.id = pool.id
        self.arn = pool.arn
        self.client_id = client.id
        self.issuer = pool.id.apply(lambda pool_id: user_pool_issuer(args.region, pool_id))
        self.register_outputs(
            {"id": self.id, "arn": self.arn, "clientId": self.client_id, "issuer": self.issuer}
        )
