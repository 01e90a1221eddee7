"""``deploy(app)``: the whole description as AWS resources, and the stack outputs.

This is the AWS backend's only entry point. It declares nothing of its own: every table, queue,
bucket, function and state machine comes from the :class:`~stack.spec.App` it is given, one
component per record, named ``App.physical_name(<logical name>)`` exactly as the local runtime
names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pulumi_aws as aws

from infra import packaging
from infra.bucket import Bucket, BucketArgs
from infra.config import InfraSettings
from infra.function import Function, FunctionArgs
from infra.queue import DLQ_SUFFIX, Queue, QueueArgs
from infra.state_machine import StateMachine, StateMachineArgs
from infra.table import Table, TableArgs
from stack import outputs
from stack.spec import App

# What each service accepts as a name; checked up front so that a long prefix or an odd logical
# name fails the preview, naming the resource, instead of failing half way through `pulumi up`.
_NAME_RULES: Final = {
    "function": (re.compile(r"[A-Za-z0-9_-]{1,64}"), "1-64 letters, digits, '-' or '_'"),
    "table": (re.compile(r"[A-Za-z0-9_.-]{3,255}"), "3-255 letters, digits, '.', '-' or '_'"),
    "queue": (re.compile(r"[A-Za-z0-9_-]{1,80}"), "1-80 letters, digits, '-' or '_'"),
    "workflow": (re.compile(r"[A-Za-z0-9_-]{1,80}"), "1-80 letters, digits, '-' or '_'"),
    # S3 names are global and DNS labels: lowercase, no '_', and no '..'.
    "bucket": (
        re.compile(r"(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
        "3-63 lowercase letters, digits, '.' or '-'",
    ),
}


@dataclass(frozen=True)
class Deployment:
    """The components ``deploy`` created, by logical name, and the stack outputs."""

    tables: Mapping[str, Table]
    queues: Mapping[str, Queue]
    buckets: Mapping[str, Bucket]
    functions: Mapping[str, Function]
    state_machines: Mapping[str, StateMachine]
    outputs: Mapping[str, Any]


def deploy(app: App, settings: InfraSettings | None = None) -> Deployment:
    """Create every resource of ``app`` and return them with the outputs to export.

    Example (``__main__.py``)::

        deployment = deploy(build_app(config.stack), config.infra)
        for key, value in deployment.outputs.items():
            pulumi.export(key, value)
    """
    settings = settings or InfraSettings()
    check_names(app)
    name = app.physical_name

    tables = {
        spec.name: Table(
            name(spec.name), TableArgs(spec, name(spec.name), settings.deletion_protection)
        )
        for spec in app.tables
    }
    queues = {
        spec.name: Queue(name(spec.name), QueueArgs(spec, name(spec.name))) for spec in app.queues
    }
    buckets = {
        spec.name: Bucket(name(spec.name), BucketArgs(spec, name(spec.name)))
        for spec in app.buckets
    }

    layer = packaging.powertools_layer(app.config.region, settings.powertools_layer_version)
    table_arns = {logical: table.arn for logical, table in tables.items()}
    functions = {
        spec.name: Function(
            name(spec.name),
            FunctionArgs(
                spec=spec,
                physical_name=name(spec.name),
                environment=app.function_environment(spec),
                table_arns=table_arns,
                code=packaging.function_archive(spec),
                layers=[layer],
                log_level=app.config.log_level,
                log_retention_days=settings.log_retention_days,
            ),
        )
        for spec in app.functions
    }

    identity = aws.get_caller_identity_output()
    partition = aws.get_partition_output()
    function_arns = {logical: function.arn for logical, function in functions.items()}
    state_machines = {
        spec.name: StateMachine(
            name(spec.name),
            StateMachineArgs(
                spec=spec,
                physical_name=name(spec.name),
                function_arns=function_arns,
                account_id=identity.account_id,
                partition=partition.partition,
                region=app.config.region,
                log_level=settings.state_machine_log_level,
                include_execution_data=settings.log_execution_data,
                log_retention_days=settings.log_retention_days,
            ),
        )
        for spec in app.workflows
    }

    stack_outputs: dict[str, Any] = {
        outputs.REGION: app.config.region,
        outputs.PREFIX: app.config.prefix,
        outputs.STATE_MACHINE_ARNS: {key: machine.arn for key, machine in state_machines.items()},
        outputs.FUNCTION_NAMES: {key: function.name for key, function in functions.items()},
        outputs.TABLE_NAMES: {key: table.name for key, table in tables.items()},
        outputs.QUEUE_URLS: {key: queue.url for key, queue in queues.items()},
        outputs.BUCKET_NAMES: {key: bucket.name for key, bucket in buckets.items()},
    }
    for key, machine in state_machines.items():
        stack_outputs[outputs.state_machine_arn_key(key)] = machine.arn

    return Deployment(
        tables=tables,
        queues=queues,
        buckets=buckets,
        functions=functions,
        state_machines=state_machines,
        outputs=stack_outputs,
    )


def check_names(app: App) -> None:
    """Raise ``ValueError`` naming every physical name that its AWS service would refuse."""
    names = [("function", spec.name) for spec in app.functions]
    names += [("table", spec.name) for spec in app.tables]
    names += [("workflow", spec.name) for spec in app.workflows]
    names += [("bucket", spec.name) for spec in app.buckets]
    for queue in app.queues:
        names.append(("queue", queue.name))
        if queue.max_receive_count > 0:
            names.append(("queue", queue.name + DLQ_SUFFIX))
    problems = []
    for kind, logical in names:
        pattern, rule = _NAME_RULES[kind]
        physical = app.physical_name(logical)
        if not pattern.fullmatch(physical):
            problems.append(f"{kind} {logical!r}: {physical!r} is not {rule}")
    if problems:
        raise ValueError("names AWS would refuse: " + "; ".join(problems))
