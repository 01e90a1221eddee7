"""``deploy(app)``: the whole description as AWS resources, and the stack outputs.

This is the AWS backend's only entry point. It declares nothing of its own: every table, bucket,
secret, queue, function, state machine, pipe, notification and route comes from the
:class:`~stack.spec.App` it is given, one component per record, named
``App.physical_name(<logical name>)`` exactly as the local runtime names it. The alarms are
derived from what was created (see :mod:`infra.alarms`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import alarms as alarm_rules
from infra import dependency_layer, packaging
from infra.access_policy import AccessPolicies, AccessPoliciesArgs
from infra.alarms import AlarmRule, Alarms, AlarmsArgs
from infra.api import HttpApi, HttpApiArgs
from infra.bucket import Bucket, BucketArgs
from infra.cognito import UserPool, UserPoolArgs
from infra.config import InfraSettings
from infra.execution_status_rule import ExecutionStatusRule, ExecutionStatusRuleArgs
from infra.function import Function, FunctionArgs
from infra.notification import BucketNotification, BucketNotificationArgs, NotificationTarget
from infra.pipe import Pipe, PipeArgs
from infra.queue import Queue, QueueArgs
from infra.secret import Secret, SecretArgs
from infra.state_machine import StateMachine, StateMachineArgs
from infra.table import Table, TableArgs
from stack import outputs
from stack.checks import check_app, creation_order
from stack.spec import (
    POWERTOOLS_METRICS_NAMESPACE_ENV,
    POWERTOOLS_SERVICE_NAME_ENV,
    App,
    FunctionSpec,
)

__all__ = ["Deployment", "deploy"]


@dataclass(frozen=True)
class Deployment:
    """The components ``deploy`` created, by logical name, and the stack outputs."""

    tables: Mapping[str, Table]
    queues: Mapping[str, Queue]
    buckets: Mapping[str, Bucket]
    functions: Mapping[str, Function]
    state_machines: Mapping[str, StateMachine]
    outputs: Mapping[str, Any]
    secrets: Mapping[str, Secret]
    pipes: Mapping[str, Pipe]
    notifications: Mapping[str, BucketNotification]
    api: HttpApi | None
    alarms: Alarms


def deploy(app: App, settings: InfraSettings | None = None) -> Deployment:
    """Create every resource of ``app`` and return them with the outputs to export.

    The description is checked first (:func:`stack.checks.check_app`), as the local runtime
    checks it. Functions and state machines are created in
    :func:`~stack.checks.creation_order`: a state
    machine after the functions it invokes, a function that starts a workflow after that
    workflow's state machine.

    Example (``__main__.py``)::

        deployment = deploy(build_app(config.stack), config.infra)
        for key, value in deployment.outputs.items():
            pulumi.export(key, value)
    """
    settings = settings or InfraSettings()
    check_app(app)
    order = creation_order(app)
    name = app.physical_name
    # The project's own layer (isal...), for the functions importing from it; built beforehand
    # by `make lambda-deps`, and refused first, before any resource, when missing or stale.
    deps = dependency_layer.dependency_layer(name(dependency_layer.LOGICAL_NAME), app.functions)
    dev = not settings.deletion_protection
    identity = aws.get_caller_identity_output()
    partition = aws.get_partition_output()

    tables = {
        spec.name: Table(
            name(spec.name), TableArgs(spec, name(spec.name), settings.deletion_protection)
        )
        for spec in app.tables
    }
    # S3 names are global: a bucket's carries the account and region (App.bucket_name), and the
    # account must be the one deploying, or the name would be unique to someone else's.
    identity.account_id.apply(lambda account: _check_account(app, account))
    buckets = {
        spec.name: Bucket(
            name(spec.name), BucketArgs(spec, app.bucket_name(spec.name), force_destroy=dev)
        )
        for spec in app.buckets
    }
    secrets = {
        spec.name: Secret(name(spec.name), SecretArgs(spec, name(spec.name), force_delete=dev))
        for spec in app.secrets
    }
    queues = {
        spec.name: Queue(
            name(spec.name),
            QueueArgs(
                spec,
                name(spec.name),
                dead_letter_physical_name=(
                    None if spec.dead_letter_queue is None else name(spec.dead_letter_queue)
                ),
                notifying_bucket_arns=[
                    buckets[bucket].arn
                    for bucket in dict.fromkeys(
                        n.bucket for n in app.notifications if n.queue == spec.name
                    )
                ],
                account_id=identity.account_id,
            ),
        )
        for spec in app.queues
    }
    notifications = _notifications(app, buckets, queues)

    layer = packaging.powertools_layer(app.config.region, settings.powertools_layer_version)
    functions: dict[str, Function] = {}
    state_machines: dict[str, StateMachine] = {}
    for kind, logical in order:
        if kind == "workflow":
            spec = app.workflow(logical)
            state_machines[logical] = StateMachine(
                name(logical),
                StateMachineArgs(
                    spec=spec,
                    physical_name=name(logical),
                    function_arns={key: function.arn for key, function in functions.items()},
                    account_id=identity.account_id,
                    partition=partition.partition,
                    region=app.config.region,
                    log_level=settings.state_machine_log_level,
                    include_execution_data=settings.log_execution_data,
                    log_retention_days=settings.log_retention_days,
                ),
            )
            continue
        function_spec = app.function(logical)
        functions[logical] = Function(
            name(logical),
            FunctionArgs(
                spec=function_spec,
                physical_name=name(logical),
                environment=app.function_environment(function_spec),
                references=_references(app, function_spec, queues, state_machines),
                table_arns={key: table.arn for key, table in tables.items()},
                bucket_arns={key: bucket.arn for key, bucket in buckets.items()},
                queue_arns={key: queue.arn for key, queue in queues.items()},
                secret_arns={key: secret.arn for key, secret in secrets.items()},
                state_machine_arns={key: machine.arn for key, machine in state_machines.items()},
                code=packaging.function_archive(function_spec),
                layers=[layer, *deps.layers_for(function_spec)],
                log_retention_days=settings.log_retention_days,
            ),
        )
    # Back in description order, whatever order they were created in.
    functions = {spec.name: functions[spec.name] for spec in app.functions}
    state_machines = {spec.name: state_machines[spec.name] for spec in app.workflows}

    pipes = {
        spec.name: Pipe(
            f"{name(spec.name)}-pipe",
            PipeArgs(
                spec=spec,
                physical_name=name(spec.name),
                queue_arn=queues[spec.source_queue].arn,
                state_machine_arn=state_machines[spec.target_workflow].arn,
                enrichment_function_arn=(
                    functions[spec.enrichment_function].arn if spec.enrichment_function else None
                ),
                account_id=identity.account_id,
                partition=partition.partition,
                region=app.config.region,
            ),
        )
        for spec in app.pipes
    }
    user_pool = None
    if app.user_pool is not None:
        user_pool = UserPool(
            name(app.user_pool.name),
            UserPoolArgs(app.user_pool, name(app.user_pool.name), region=app.config.region),
        )
    api = None
    if app.api is not None:
        api = HttpApi(
            name(app.api.name),
            HttpApiArgs(
                spec=app.api,
                physical_name=name(app.api.name),
                function_arns={
                    route.function: functions[route.function].arn for route in app.api.routes
                },
                log_retention_days=settings.log_retention_days,
                user_pool_issuer=None if user_pool is None else user_pool.issuer,
                user_pool_client_id=None if user_pool is None else user_pool.client_id,
            ),
        )
    access_policy_arns: dict[str, pulumi.Output[str]] = {}
    if api is not None and app.access_policies:
        access_policy_arns = AccessPolicies(
            name("access"),
            AccessPoliciesArgs(
                app=app,
                physical_name=name,
                api_execution_arn=api.execution_arn,
                state_machine_arns={key: machine.arn for key, machine in state_machines.items()},
            ),
        ).arns
    for rule in app.execution_status_rules:
        ExecutionStatusRule(
            name(rule.name),
            ExecutionStatusRuleArgs(
                spec=rule,
                physical_name=name(rule.name),
                state_machine_arns={key: machine.arn for key, machine in state_machines.items()},
                function_arn=functions[rule.target_function].arn,
                function_name=functions[rule.target_function].name,
                dead_letter_queue_arn=queues[rule.dead_letter_queue].arn,
                dead_letter_queue_url=queues[rule.dead_letter_queue].url,
            ),
        )
    alarms = Alarms(
        name("alarms"),
        AlarmsArgs(
            rules=stack_alarm_rules(app, settings, queues, functions, state_machines),
            topic_name=name("alarms"),
            email=settings.alarm_email,
        ),
    )

    stack_outputs = outputs.stack_outputs(
        app,
        state_machine_arns={key: machine.arn for key, machine in state_machines.items()},
        function_names={key: function.name for key, function in functions.items()},
        table_names={key: table.name for key, table in tables.items()},
        queue_urls={key: queue.url for key, queue in queues.items()},
        dead_letter_queue_urls={
            key: queue.dlq_url for key, queue in queues.items() if queue.dlq_url is not None
        },
        bucket_names={key: bucket.name for key, bucket in buckets.items()},
        secret_names={key: secret.name for key, secret in secrets.items()},
        api_url=None if api is None else api.url,
        user_pool_id=None if user_pool is None else user_pool.id,
        user_pool_client_id=None if user_pool is None else user_pool.client_id,
        access_policy_arns=access_policy_arns,
    )

    return Deployment(
        tables=tables,
        queues=queues,
        buckets=buckets,
        functions=functions,
        state_machines=state_machines,
        outputs=stack_outputs,
        secrets=secrets,
        pipes=pipes,
        notifications=notifications,
        api=api,
        alarms=alarms,
    )


def stack_alarm_rules(
    app: App,
    settings: InfraSettings,
    queues: Mapping[str, Queue],
    functions: Mapping[str, Function],
    state_machines: Mapping[str, StateMachine],
) -> list[AlarmRule]:
    """Every alarm of the stack: per dead-letter queue, per queue (age of its oldest message),
    the circuit breaker, per state machine (failures), and errors and throttles of the functions
    that neither a workflow nor a pipe invokes.

    A workflow retries its functions' errors and throttles (deliver raises on purpose to be
    retried; enrich_batch is throttled whenever enrichments overlap), so what matters there is
    what is left after the retries: a failed execution, which its state machine's alarm reports.
    """
    name = app.physical_name
    retried_by_workflows = frozenset[str]().union(
        *(workflow.definition.referenced_functions() for workflow in app.workflows)
    )
    # A pipe's failed enrichment leaves its batch for redelivery; the dead-letter queue's alarm
    # reports what the redeliveries do not get through.
    retried_by_workflows |= {
        pipe.enrichment_function for pipe in app.pipes if pipe.enrichment_function
    }
    rules: list[AlarmRule] = []
    for spec in app.queues:
        queue = queues[spec.name]
        if spec.dead_letter_queue is not None and queue.dlq_name is not None:
            rules.append(
                alarm_rules.dead_letter_queue_rule(
                    spec.name, name(spec.dead_letter_queue), queue.dlq_name
                )
            )
        rules.append(
            alarm_rules.queue_age_rule(
                spec.name, name(spec.name), queue.name, settings.queue_age_alarm_seconds
            )
        )
    if app.circuit_breaker is not None:
        # As the breaker's function publishes the metric: its Powertools namespace and service.
        environment = app.function_environment(app.function(app.circuit_breaker.function))
        rules.append(
            alarm_rules.circuit_open_rule(
                app.config.prefix,
                namespace=environment[POWERTOOLS_METRICS_NAMESPACE_ENV],
                service=environment[POWERTOOLS_SERVICE_NAME_ENV],
            )
        )
    for function_spec in app.functions:
        if function_spec.name in retried_by_workflows:
            continue
        rules += alarm_rules.function_rules(
            function_spec.name, name(function_spec.name), functions[function_spec.name].name
        )
    defined = {function_spec.name for function_spec in app.functions}
    for custom in alarm_rules.OPERATIONS_METRICS:
        if custom.function in defined:
            environment = app.function_environment(app.function(custom.function))
            rules.append(
                alarm_rules.custom_metric_rule(
                    app.config.prefix,
                    custom,
                    namespace=environment[POWERTOOLS_METRICS_NAMESPACE_ENV],
                    service=environment[POWERTOOLS_SERVICE_NAME_ENV],
                )
            )
    for workflow in app.workflows:
        rules.append(
            alarm_rules.state_machine_rule(
                workflow.name, name(workflow.name), state_machines[workflow.name].arn
            )
        )
    return rules


def _check_account(app: App, account_id: str) -> None:
    if account_id != app.config.account_id:
        raise ValueError(
            f"the description is for account {app.config.account_id}, but the credentials "
            f"deploy to {account_id}: build it from read_config(), which asks AWS"
        )


def _references(
    app: App,
    spec: FunctionSpec,
    queues: Mapping[str, Queue],
    state_machines: Mapping[str, StateMachine],
) -> dict[str, pulumi.Input[str]]:
    """``App.backend_references`` filled in with this backend's queue URLs and ARNs."""
    resolved: dict[str, pulumi.Input[str]] = {}
    for env_var, (kind, logical) in app.backend_references(spec).items():
        if kind == "queue_url":
            resolved[env_var] = queues[logical].url
        elif kind == "state_machine_arn":
            resolved[env_var] = state_machines[logical].arn
        else:
            raise ValueError(f"function {spec.name!r}: {env_var} is a {kind!r}, unknown to AWS")
    return resolved


def _notifications(
    app: App, buckets: Mapping[str, Bucket], queues: Mapping[str, Queue]
) -> dict[str, BucketNotification]:
    """One component per notifying bucket (S3 keeps one configuration per bucket)."""
    created = {}
    for bucket in dict.fromkeys(n.bucket for n in app.notifications):
        specs = [n for n in app.notifications if n.bucket == bucket]
        policies = [queues[n.queue].policy for n in specs]
        created[bucket] = BucketNotification(
            f"{app.physical_name(bucket)}-notifications",
            BucketNotificationArgs(
                bucket=bucket,
                bucket_name=buckets[bucket].name,
                targets=[NotificationTarget(n.queue, queues[n.queue].arn, n.prefix) for n in specs],
                queue_policies=[policy for policy in policies if policy is not None],
            ),
        )
    return created
