"""The ``Function`` component: one Lambda with its own role, log group and permissions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from infra import packaging, policies
from stack.spec import FunctionSpec

TYPE: Final = "stepflow:lambda:Function"

# Powertools speaks Python's level names, Lambda's advanced logging controls their own.
_LAMBDA_LOG_LEVELS: Final = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "CRITICAL": "FATAL",
}
_POWERTOOLS_LOG_LEVEL: Final = "POWERTOOLS_LOG_LEVEL"


@dataclass(frozen=True)
class FunctionArgs:
    """What a ``Function`` needs beyond its spec.

    ``environment`` is the description's (``App.function_environment``); ``table_arns`` maps the
    logical name of every table the spec is granted to that table's ARN.
    """

    spec: FunctionSpec
    physical_name: str
    environment: Mapping[str, str]
    table_arns: Mapping[str, pulumi.Input[str]]
    code: pulumi.Archive
    layers: Sequence[pulumi.Input[str]] = ()
    log_level: str = "INFO"
    log_retention_days: int = 30


class Function(pulumi.ComponentResource):
    """A Python 3.13 arm64 Lambda that can touch only what its spec grants.

    Children: a log group ``/aws/lambda/<name>`` with a retention (so logs do not pile up
    forever), an execution role that only ``lambda.amazonaws.com`` may assume, an inline policy
    (its own log group, X-Ray, and per table grant exactly the DynamoDB actions of the access
    level on that table), and the function itself: active tracing, JSON logs to that log group,
    the description's environment plus the Powertools defaults.

    Example::

        args = FunctionArgs(spec, "stepflow-dev-dedupe", env, {"dedupe": table.arn}, code)
        fn = Function("stepflow-dev-dedupe", args)
        fn.arn, fn.name, fn.role_arn
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        missing = {grant.table for grant in spec.tables} - set(args.table_arns)
        if missing:
            raise KeyError(f"function {spec.name!r} is granted unknown tables {sorted(missing)}")

        log_group = aws.cloudwatch.LogGroup(
            f"{resource_name}-logs",
            aws.cloudwatch.LogGroupArgs(
                name=f"/aws/lambda/{args.physical_name}",
                retention_in_days=args.log_retention_days,
            ),
            opts=child,
        )
        role = aws.iam.Role(
            f"{resource_name}-role",
            aws.iam.RoleArgs(
                description=f"Execution role of the {args.physical_name} Lambda",
                assume_role_policy=pulumi.Output.json_dumps(
                    policies.assume_role_policy("lambda.amazonaws.com")
                ),
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{resource_name}-policy",
            aws.iam.RolePolicyArgs(
                role=role.id,
                policy=pulumi.Output.json_dumps(
                    policies.function_policy(
                        log_group.arn,
                        [
                            statement
                            for grant in spec.tables
                            for statement in policies.table_statements(
                                grant.table, grant.access, args.table_arns[grant.table]
                            )
                        ],
                    )
                ),
            ),
            opts=child,
        )

        environment = {
            "POWERTOOLS_SERVICE_NAME": spec.name,
            _POWERTOOLS_LOG_LEVEL: args.log_level,
            **args.environment,
        }
        log_level = environment[_POWERTOOLS_LOG_LEVEL].upper()
        if log_level not in _LAMBDA_LOG_LEVELS:
            raise ValueError(f"function {spec.name!r}: unknown log level {log_level!r}")
        function = aws.lambda_.Function(
            resource_name,
            aws.lambda_.FunctionArgs(
                name=args.physical_name,
                description=spec.description,
                role=role.arn,
                runtime=packaging.RUNTIME,
                architectures=[packaging.ARCHITECTURE],
                handler=spec.handler,
                code=args.code,
                layers=list(args.layers),
                memory_size=spec.memory_mb,
                timeout=spec.timeout_seconds,
                reserved_concurrent_executions=spec.reserved_concurrency,
                environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
                tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                    log_format="JSON",
                    log_group=log_group.name,
                    # Lambda drops JSON records below this level before Powertools' own filter
                    # sees them: keep both at the description's level.
                    application_log_level=_LAMBDA_LOG_LEVELS[log_level],
                    # INFO keeps the platform's START/END/REPORT records (duration, memory).
                    system_log_level="INFO",
                ),
            ),
            # The role's policy must be in place before the first invocation logs or reads.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, log_group]),
        )

        self.arn = function.arn
        self.name = function.name
        self.role_arn = role.arn
        self.log_group_name = log_group.name
        self.register_outputs(
            {
                "arn": self.arn,
                "name": self.name,
                "roleArn": self.role_arn,
                "logGroupName": self.log_group_name,
            }
        )
