"""The ``Function`` component: one Lambda with its own role, log group and permissions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import pulumi
import pulumi_aws as aws

from infra import packaging, policies, roles
from stack.spec import POWERTOOLS_LOG_LEVEL_ENV, FunctionSpec

TYPE: Final = "stepflow:lambda:Function"

# Powertools speaks Python's level names, Lambda's advanced logging controls their own.
_LAMBDA_LOG_LEVELS: Final = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "CRITICAL": "FATAL",
}


@dataclass(frozen=True)
class FunctionArgs:
    """What a ``Function`` needs beyond its spec.

    ``environment`` is the description's (``App.function_environment``, Powertools' settings
    included: its ``POWERTOOLS_LOG_LEVEL`` also sets Lambda's own level); ``references`` are the
    variables only the backend can fill in (``App.backend_references`` resolved to queue URLs
    and state machine ARNs). ``table_arns``, ``bucket_arns``, ``queue_arns``, ``secret_arns``
    and ``state_machine_arns`` map the logical name of every resource the spec is granted to
    its ARN (more may be passed; only the granted ones reach the policy).
    """

    spec: FunctionSpec
    physical_name: str
    environment: Mapping[str, str]
    table_arns: Mapping[str, pulumi.Input[str]]
    code: pulumi.Archive
    layers: Sequence[pulumi.Input[str]] = ()
    log_retention_days: int = 30
    references: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    bucket_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    queue_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    secret_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    state_machine_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


def grant_statements(spec: FunctionSpec, args: FunctionArgs) -> list[policies.Statement]:
    """Every statement ``spec``'s grants add to its policy, in the order the spec lists them.

    Raises ``KeyError`` naming the grants whose resource ``args`` lacks.
    """
    missing = [
        f"{kind} {sorted(names)}"
        for kind, names in (
            ("tables", {g.table for g in spec.tables} - set(args.table_arns)),
            ("buckets", {g.bucket for g in spec.buckets} - set(args.bucket_arns)),
            ("queues", {g.queue for g in spec.queues} - set(args.queue_arns)),
            ("secrets", {g.secret for g in spec.secrets} - set(args.secret_arns)),
            ("workflows", {g.workflow for g in spec.workflows} - set(args.state_machine_arns)),
        )
        if names
    ]
    if missing:
        raise KeyError(f"function {spec.name!r} is granted unknown " + ", ".join(missing))
    found: list[policies.Statement] = []
    for table in spec.tables:
        found += policies.table_statements(table.table, table.access, args.table_arns[table.table])
    for bucket in spec.buckets:
        found += policies.bucket_statements(
            bucket.bucket, bucket.access, args.bucket_arns[bucket.bucket]
        )
    for queue in spec.queues:
        found += policies.queue_statements(queue.queue, queue.access, args.queue_arns[queue.queue])
    for secret in spec.secrets:
        found += policies.secret_statements(secret.secret, args.secret_arns[secret.secret])
    for workflow in spec.workflows:
        found += policies.workflow_statements(
            workflow.workflow, args.state_machine_arns[workflow.workflow]
        )
    sids = [statement["Sid"] for statement in found]
    duplicated = sorted({sid for sid in sids if sids.count(sid) > 1})
    if duplicated:
        # IAM refuses a policy with two statements of one Sid: one grant per resource.
        raise ValueError(f"function {spec.name!r} is granted a resource twice: {duplicated}")
    return found


class Function(pulumi.ComponentResource):
    """A Python 3.13 arm64 Lambda that can touch only what its spec grants.

    Children: a log group ``/aws/lambda/<name>`` with a retention (so logs do not pile up
    forever), an execution role that only ``lambda.amazonaws.com`` may assume, an inline policy
    (its own log group, X-Ray, and per grant exactly the actions of its access level on that one
    resource: DynamoDB on the table, S3 on the bucket's objects, SQS on the queue,
    ``GetSecretValue`` on the secret, ``StartExecution`` on the state machine; see
    :mod:`infra.policies`), and the function itself: active tracing, JSON logs to that log
    group, the description's environment (secret *names*, never values) and the references.

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
        grants = grant_statements(spec, args)
        clash = sorted(set(args.environment) & set(args.references))
        if clash:
            raise ValueError(f"function {spec.name!r}: variables set twice: {clash}")
        environment: dict[str, pulumi.Input[str]] = {**args.environment, **args.references}
        if POWERTOOLS_LOG_LEVEL_ENV not in args.environment:
            raise ValueError(
                f"function {spec.name!r}: the environment has no {POWERTOOLS_LOG_LEVEL_ENV} "
                "(App.function_environment sets it)"
            )
        log_level = args.environment[POWERTOOLS_LOG_LEVEL_ENV].upper()
        if log_level not in _LAMBDA_LOG_LEVELS:
            raise ValueError(f"function {spec.name!r}: unknown log level {log_level!r}")

        log_group = aws.cloudwatch.LogGroup(
            f"{resource_name}-logs",
            aws.cloudwatch.LogGroupArgs(
                name=f"/aws/lambda/{args.physical_name}",
                retention_in_days=args.log_retention_days,
            ),
            opts=child,
        )
        role, policy = roles.execution_role(
            resource_name,
            f"Execution role of the {args.physical_name} Lambda",
            policies.assume_role_policy("lambda.amazonaws.com"),
            policies.function_policy(log_group.arn, grants),
            child,
        )
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
