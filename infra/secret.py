"""The ``Secret`` component: one Secrets Manager secret from a ``SecretSpec``, without its value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from stack.spec import SecretSpec

TYPE: Final = "stepflow:secretsmanager:Secret"
# Secrets Manager's own default: a deleted secret can be restored for 30 days.
RECOVERY_WINDOW_DAYS: Final = 30


@dataclass(frozen=True)
class SecretArgs:
    """``force_delete`` deletes the secret at once on ``pulumi destroy`` (a dev stack), so the
    next ``pulumi up`` can create one of the same name; otherwise it stays restorable for
    ``RECOVERY_WINDOW_DAYS``."""

    spec: SecretSpec
    physical_name: str
    force_delete: bool = False


class Secret(pulumi.ComponentResource):
    """A secret whose value never passes through the stack.

    Only the secret itself is declared: no ``SecretVersion``, so the value is in neither the
    program, the stack config nor the Pulumi state. The operator sets it once after the first
    ``pulumi up``, and again to rotate it::

        aws secretsmanager put-secret-value \\
            --secret-id "$(pulumi stack output secretNames | jq -r .downstream)" \\
            --secret-string file://downstream-secret.json     # {"token": "..."}

    The functions receive the secret's *name* (never its value) and read the value at run time
    with ``secretsmanager:GetSecretValue``, granted on this secret's ARN only. It is encrypted
    with the AWS managed key ``aws/secretsmanager``.

    Example::

        secret = Secret("downstream", SecretArgs(spec, app.physical_name("downstream")))
        secret.arn, secret.name
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: SecretArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        secret = aws.secretsmanager.Secret(
            resource_name,
            aws.secretsmanager.SecretArgs(
                name=args.physical_name,
                description=args.spec.description,
                recovery_window_in_days=0 if args.force_delete else RECOVERY_WINDOW_DAYS,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = secret.arn
        self.name = secret.name
        self.register_outputs({"arn": self.arn, "name": self.name})
