"""The description's resources, created on the local AWS endpoint through the AWS APIs.

Each function here creates one kind of resource the way the Pulumi components under ``infra/``
declare it: the same physical names, and the same settings wherever the local endpoint has them
(queues with their dead-letter queue and redrive policy, SSE, bucket versioning, encryption and
lifecycle, object-created notifications, secrets, state machines). What only IAM or the network
enforces on AWS (bucket policies, KMS keys) is not modelled: moto would store it and enforce
nothing, which would only look like a guarantee.

:func:`provision` runs them in dependency order and returns :class:`Resources`, the references
the rest of the runtime needs (queue URLs for the Lambdas' environment and the pipes, state
machine ARNs, secret ARNs).

>>> from stack.app import build_app
>>> function_arn(build_app(), "validate")
'arn:aws:lambda:us-east-1:123456789012:function:stepflow-dev-validate'
"""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from local.api_gateway.events import default_api_id
from local.credentials import DEMO_PASSWORD
from stack.access import access_policy_document, route_resource_suffix
from stack.identity import EXPLICIT_AUTH_FLOWS, PASSWORD_POLICY, user_pool_issuer
from stack.spec import (
    LOCAL_ACCOUNT_ID,
    App,
    BucketSpec,
    FunctionSpec,
    QueueSpec,
    TableSpec,
    UserPoolSpec,
    WorkflowSpec,
)

LOCAL_ACCOUNT: Final = LOCAL_ACCOUNT_ID
# As infra/queue.py: the longest SQS allows, so a dead letter outlives any investigation.
DLQ_RETENTION_SECONDS: Final = 1_209_600
# As infra/bucket.py.
ABORT_INCOMPLETE_UPLOADS_DAYS: Final = 1
# As infra/notification.py: every way an object comes to exist.
OBJECT_CREATED_EVENTS: Final = ("s3:ObjectCreated:*",)

ClientFactory = Callable[[str], Any]


def function_arn(app: App, function_name: str) -> str:
    """The ARN a function has on the local runtime (same shape as on AWS)."""
    physical = app.physical_name(function_name)
    return f"arn:aws:lambda:{app.config.region}:{LOCAL_ACCOUNT}:function:{physical}"


def state_machine_arn(app: App, workflow_name: str) -> str:
    physical = app.physical_name(workflow_name)
    return f"arn:aws:states:{app.config.region}:{LOCAL_ACCOUNT}:stateMachine:{physical}"


def queue_arn(app: App, physical_name: str) -> str:
    return f"arn:aws:sqs:{app.config.region}:{LOCAL_ACCOUNT}:{physical_name}"


def rendered_definition(app: App, workflow: WorkflowSpec) -> dict[str, Any]:
    """The exact ASL the local runtime creates for ``workflow``."""
    return workflow.definition.render(lambda name: function_arn(app, name))


def generated_secret_value() -> str:
    """A fresh value in the shape the stack's secrets hold (docs/contracts.md)."""
    return json.dumps({"token": secrets.token_urlsafe(32)})


@dataclass(frozen=True)
class QueueRef:
    """A provisioned queue and, when it redrives, its dead-letter queue."""

    name: str
    url: str
    arn: str
    dlq_url: str | None = None
    dlq_arn: str | None = None


@dataclass(frozen=True)
class UserPoolRef:
    """A provisioned user pool: its id, its app client's id, and the issuer of its tokens."""

    id: str
    client_id: str
    issuer: str
    demo_username: str | None = None


@dataclass(frozen=True)
class Resources:
    """What :func:`provision` created, keyed by logical name."""

    queues: Mapping[str, QueueRef]
    buckets: Mapping[str, str]
    secrets: Mapping[str, str]
    state_machines: Mapping[str, str]
    tables: Mapping[str, str]
    user_pool: UserPoolRef | None = None
    access_policies: Mapping[str, str] = field(default_factory=dict)

    def reference(self, kind: str, logical_name: str) -> str:
        """The value of a backend reference (:meth:`stack.spec.App.backend_references`)."""
        if kind == "queue_url":
            return self.queues[logical_name].url
        if kind == "state_machine_arn":
            return self.state_machines[logical_name]
        raise ValueError(f"unknown backend reference kind {kind!r}")

    def function_environment(self, app: App, function: FunctionSpec) -> dict[str, str]:
        """The function's whole environment: the description's, plus what the backend fills in."""
        env = app.function_environment(function)
        for env_var, (kind, logical_name) in app.backend_references(function).items():
            env[env_var] = self.reference(kind, logical_name)
        return env


def provision(
    app: App, client: ClientFactory, *, secret_values: Mapping[str, str] | None = None
) -> Resources:
    """Create every resource of ``app``; ``secret_values`` overrides generated secret values.

    Order matters only where AWS's does: queues before the notifications that target them.
    """
    dynamodb = client("dynamodb")
    tables = {table.name: create_table(dynamodb, app, table) for table in app.tables}
    sqs = client("sqs")
    queues = {queue.name: create_queue(sqs, app, queue) for queue in app.queues}
    s3 = client("s3")
    buckets = {bucket.name: create_bucket(s3, app, bucket) for bucket in app.buckets}
    configure_notifications(s3, sqs, app, queues)
    secretsmanager = client("secretsmanager")
    values = dict(secret_values or {})
    secret_arns = {
        spec.name: create_secret(
            secretsmanager,
            app.physical_name(spec.name),
            spec.description,
            values.get(spec.name) or generated_secret_value(),
        )
        for spec in app.secrets
    }
    sfn = client("stepfunctions")
    machines = {
        workflow.name: create_state_machine(sfn, app, workflow) for workflow in app.workflows
    }
    user_pool = None
    if app.user_pool is not None:
        user_pool = create_user_pool(client("cognito-idp"), app, app.user_pool)
    access_policies = {}
    if app.api is not None and app.access_policies:
        access_policies = create_access_policies(client("iam"), app, machines)
    return Resources(
        queues=queues,
        buckets=buckets,
        secrets=secret_arns,
        state_machines=machines,
        tables=tables,
        user_pool=user_pool,
        access_policies=access_policies,
    )


# --- one function per kind ------------------------------------------------------------------


def create_table(dynamodb: Any, app: App, table: TableSpec) -> str:
    """A table with string keys, billed on demand, with its TTL; returns its physical name."""
    name = app.physical_name(table.name)
    keys = [{"AttributeName": table.partition_key, "KeyType": "HASH"}]
    attributes = {table.partition_key}
    if table.sort_key:
        keys.append({"AttributeName": table.sort_key, "KeyType": "RANGE"})
        attributes.add(table.sort_key)
    indexes = []
    for index in table.indexes:
        index_keys = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
        attributes.add(index.partition_key)
        if index.sort_key:
            index_keys.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
            attributes.add(index.sort_key)
        indexes.append(
            {
                "IndexName": index.name,
                "KeySchema": index_keys,
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": keys,
        "AttributeDefinitions": [
            {"AttributeName": attr, "AttributeType": "S"} for attr in sorted(attributes)
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        request["GlobalSecondaryIndexes"] = indexes
    dynamodb.create_table(**request)
    if table.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )
    return name


def create_queue(sqs: Any, app: App, queue: QueueSpec) -> QueueRef:
    """The queue, SSE with SQS-managed keys, and its DLQ when ``max_receive_count`` > 0."""
    name = app.physical_name(queue.name)
    attributes = {
        "VisibilityTimeout": str(queue.visibility_timeout_seconds),
        "MessageRetentionPeriod": str(queue.message_retention_seconds),
        "SqsManagedSseEnabled": "true",
    }
    if queue.max_message_bytes is not None:
        attributes["MaximumMessageSize"] = str(queue.max_message_bytes)
    dlq_url: str | None = None
    dlq_arn: str | None = None
    if queue.dead_letter_queue is not None:
        dlq_name = app.physical_name(queue.dead_letter_queue)
        dlq_url = str(
            sqs.create_queue(
                QueueName=dlq_name,
                Attributes={
                    "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
                    "SqsManagedSseEnabled": "true",
                },
            )["QueueUrl"]
        )
        dlq_arn = queue_arn(app, dlq_name)
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}
        )
    url = str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    return QueueRef(name, url, queue_arn(app, name), dlq_url, dlq_arn)


def create_bucket(s3: Any, app: App, bucket: BucketSpec) -> str:
    """A private bucket with SSE-S3, versioning when asked, and infra's lifecycle rules."""
    name = app.bucket_name(bucket.name)
    request: dict[str, Any] = {"Bucket": name}
    if app.config.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": app.config.region}
    s3.create_bucket(**request)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    if bucket.versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    rules: list[dict[str, Any]] = [
        {
            "ID": "abort-incomplete-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {
                "DaysAfterInitiation": ABORT_INCOMPLETE_UPLOADS_DAYS
            },
        }
    ]
    if bucket.expire_after_days is not None:
        rules.append(
            {
                "ID": "expire-objects",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "Expiration": {"Days": bucket.expire_after_days},
            }
        )
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    return name


def configure_notifications(s3: Any, sqs: Any, app: App, queues: Mapping[str, QueueRef]) -> None:
    """Each bucket's object-created notifications, one configuration per bucket (as S3 holds).

    Each target queue first gets the policy that lets S3 send to it, as infra declares; S3 then
    sends its ``s3:TestEvent`` to the queue, as it does on AWS when the configuration is saved.
    """
    by_bucket: dict[str, list[dict[str, Any]]] = {}
    for spec in app.notifications:
        target = queues[spec.queue]
        bucket_name = app.bucket_name(spec.bucket)
        sqs.set_queue_attributes(
            QueueUrl=target.url,
            Attributes={"Policy": json.dumps(_s3_send_policy(target.arn, bucket_name))},
        )
        configuration: dict[str, Any] = {
            "Id": f"{spec.queue}-object-created",
            "QueueArn": target.arn,
            "Events": list(OBJECT_CREATED_EVENTS),
        }
        if spec.prefix:
            configuration["Filter"] = {
                "Key": {"FilterRules": [{"Name": "prefix", "Value": spec.prefix}]}
            }
        by_bucket.setdefault(bucket_name, []).append(configuration)
    for bucket_name, configurations in by_bucket.items():
        s3.put_bucket_notification_configuration(
            Bucket=bucket_name,
            NotificationConfiguration={"QueueConfigurations": configurations},
        )


def _s3_send_policy(queue_arn_value: str, bucket_name: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowS3Notifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn_value,
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{bucket_name}"},
                    "StringEquals": {"aws:SourceAccount": LOCAL_ACCOUNT},
                },
            }
        ],
    }


def create_secret(secretsmanager: Any, name: str, description: str, value: str) -> str:
    """The secret with its value (on AWS the operator sets it; locally the runtime does)."""
    created = secretsmanager.create_secret(Name=name, Description=description, SecretString=value)
    return str(created["ARN"])


def register_functions(
    app: App, client: ClientFactory, environments: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    """Every function in the Lambda API as infra/function.py deploys it; returns name -> ARN.

    ``environments`` (by physical name) is each function's whole environment as its workers get
    it. Each function gets its own execution role (``<function>-role``), the package
    ``pulumi up`` would ship (so ``CodeSha256`` and ``CodeSize`` are real), its runtime and
    architecture, handler, memory, timeout, reserved concurrency and active tracing. The
    functions run in the runtime's worker pool; this only makes the Lambda API describe them.
    """
    # The very values the Pulumi program uses (imported here: they bring pulumi with them).
    from infra.packaging import ARCHITECTURE, RUNTIME
    from infra.policies import assume_role_policy

    iam = client("iam")
    lambda_api = client("lambda")
    arns: dict[str, str] = {}
    for spec in app.functions:
        physical = app.physical_name(spec.name)
        role = iam.create_role(
            RoleName=f"{physical}-role",
            Description=f"Execution role of the {physical} Lambda",
            AssumeRolePolicyDocument=json.dumps(assume_role_policy("lambda.amazonaws.com")),
        )
        created = lambda_api.create_function(
            FunctionName=physical,
            Description=spec.description,
            Runtime=RUNTIME,
            Architectures=[ARCHITECTURE],
            Role=role["Role"]["Arn"],
            Handler=spec.handler,
            Code={"ZipFile": function_package(spec)},
            MemorySize=spec.memory_mb,
            Timeout=spec.timeout_seconds,
            Environment={"Variables": dict(environments[physical])},
            TracingConfig={"Mode": "Active"},
        )
        if spec.reserved_concurrency is not None:
            lambda_api.put_function_concurrency(
                FunctionName=physical, ReservedConcurrentExecutions=spec.reserved_concurrency
            )
        arns[spec.name] = str(created["FunctionArn"])
    return arns


def function_package(spec: FunctionSpec) -> bytes:
    """The zip ``pulumi up`` ships for ``spec``, byte for byte the same on every run; empty for
    a handler outside ``functions/`` (the tests' fixtures), which has no deployment package."""
    from infra.packaging import package_files

    try:
        files = package_files(spec)
    except FileNotFoundError:
        files = {}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(files.items()):
            archive.writestr(
                zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), path.read_bytes()
            )
    return buffer.getvalue()


def create_state_machine(sfn: Any, app: App, workflow: WorkflowSpec) -> str:
    role_arn = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{app.physical_name('states')}"
    created = sfn.create_state_machine(
        name=app.physical_name(workflow.name),
        definition=json.dumps(rendered_definition(app, workflow)),
        roleArn=role_arn,
        type=workflow.type.value,
    )
    return str(created["stateMachineArn"])


def create_user_pool(cognito: Any, app: App, pool: UserPoolSpec) -> UserPoolRef:
    """The pool and app client as infra/cognito.py declares them, and the local demo user
    (its password is :data:`local.credentials.DEMO_PASSWORD`)."""
    created = cognito.create_user_pool(
        PoolName=app.physical_name(pool.name),
        Policies={"PasswordPolicy": PASSWORD_POLICY.as_cognito()},
        AutoVerifiedAttributes=[],
    )["UserPool"]
    client = cognito.create_user_pool_client(
        UserPoolId=created["Id"],
        ClientName=app.physical_name(f"{pool.name}-{pool.client}"),
        GenerateSecret=False,
        ExplicitAuthFlows=list(EXPLICIT_AUTH_FLOWS),
    )["UserPoolClient"]
    if pool.demo_username is not None:
        cognito.admin_create_user(
            UserPoolId=created["Id"], Username=pool.demo_username, MessageAction="SUPPRESS"
        )
        cognito.admin_set_user_password(
            UserPoolId=created["Id"],
            Username=pool.demo_username,
            Password=DEMO_PASSWORD,
            Permanent=True,
        )
    return UserPoolRef(
        id=created["Id"],
        client_id=client["ClientId"],
        issuer=user_pool_issuer(app.config.region, created["Id"]),
        demo_username=pool.demo_username,
    )


def create_access_policies(
    iam: Any, app: App, state_machine_arns: Mapping[str, str]
) -> dict[str, str]:
    """The access policies as infra/access_policy.py creates them, on the local API's ARNs."""
    assert app.api is not None
    api_id = default_api_id(app.api.name, LOCAL_ACCOUNT)
    execution_arn = f"arn:aws:execute-api:{app.config.region}:{LOCAL_ACCOUNT}:{api_id}"
    arns = {}
    for spec in app.access_policies:
        document = access_policy_document(
            app,
            spec,
            route_arn=lambda route: execution_arn + route_resource_suffix(route),
            state_machine_arns=state_machine_arns,
            derive=lambda arn, pattern: pattern(arn),
        )
        created = iam.create_policy(
            PolicyName=app.physical_name(spec.name),
            Description=spec.description,
            PolicyDocument=json.dumps(document),
        )
        arns[spec.name] = str(created["Policy"]["Arn"])
    return arns
