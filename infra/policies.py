"""IAM policy documents, built as plain dicts whose ARNs may be Pulumi Outputs.

The components serialise them with ``pulumi.Output.json_dumps``, so no JSON is ever templated by
hand and no resource is created inside an ``apply``. Every data action is granted on the ARNs of
the resources the description grants, never on ``"*"``; the only ``"*"`` resources are for
actions that AWS does not let a policy scope (X-Ray writes, CloudWatch Logs vended delivery),
each marked where it is granted.

What each grant of a ``FunctionSpec`` becomes (one resource each):

=================  ==========================================================================
table              READ: Get/BatchGet/Query/ConditionCheck on the table and its indexes;
                   WRITE: Put/Update/Delete/BatchWrite on the table
bucket             READ: ``s3:GetObject`` on ``<bucket>/*`` and ``s3:ListBucket`` on the
                   bucket; WRITE: ``s3:PutObject`` and ``s3:AbortMultipartUpload`` on
                   ``<bucket>/*``
queue              READ: Receive/Delete/ChangeMessageVisibility/GetQueueAttributes;
                   WRITE: ``sqs:SendMessage``
secret             ``secretsmanager:GetSecretValue``
workflow           ``states:StartExecution`` on the state machine
=================  ==========================================================================

No ``kms:`` action anywhere: buckets, secrets and tables are encrypted with AWS managed keys,
whose key policies admit the account's principals through their own service (see
:class:`infra.bucket.Bucket`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import pulumi

from stack.spec import Access

VERSION: Final = "2012-10-17"

DYNAMODB_READ_ACTIONS: Final = (
    "dynamodb:BatchGetItem",
    # Reads the item a transaction's condition names and writes nothing; without it a function
    # that moves from conditional writes to TransactWriteItems fails only on AWS (moto does not
    # enforce IAM).
    "dynamodb:ConditionCheckItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
)
DYNAMODB_WRITE_ACTIONS: Final = (
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)

# X-Ray accepts segments for no resource ARN: "*" is the only valid Resource for these actions.
XRAY_WRITE_ACTIONS: Final = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
# Step Functions also samples on its own, so its role reads the sampling rules too.
XRAY_SAMPLING_ACTIONS: Final = ("xray:GetSamplingRules", "xray:GetSamplingTargets")

# What Step Functions needs to deliver execution logs ("vended logs") to a log group. AWS
# documents these with Resource "*" only: the delivery APIs have no resource-level permissions,
# and the service itself writes the log events, so this role never gets logs:PutLogEvents.
LOG_DELIVERY_ACTIONS: Final = (
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
)

LOG_WRITE_ACTIONS: Final = ("logs:CreateLogStream", "logs:PutLogEvents")

# Objects. Multipart uploads need no action of their own: CreateMultipartUpload, UploadPart and
# CompleteMultipartUpload are all authorised by s3:PutObject; only aborting one is separate.
S3_READ_OBJECT_ACTIONS: Final = ("s3:GetObject",)
S3_WRITE_OBJECT_ACTIONS: Final = ("s3:AbortMultipartUpload", "s3:PutObject")
# On the bucket itself: without it S3 answers a GET or HEAD of a missing key with 403
# AccessDenied instead of 404 NoSuchKey, and a function cannot tell "not there (yet)" from
# "not allowed" (archive's "already archived?" check, bundle's missing landed object).
S3_LIST_ACTIONS: Final = ("s3:ListBucket",)

SQS_SEND_ACTIONS: Final = ("sqs:SendMessage",)
SQS_CONSUME_ACTIONS: Final = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
# What an EventBridge Pipe polls an SQS source with (no visibility changes: it has none to make).
PIPE_SQS_SOURCE_ACTIONS: Final = (
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
SECRET_READ_ACTIONS: Final = ("secretsmanager:GetSecretValue",)
START_EXECUTION_ACTIONS: Final = ("states:StartExecution",)

Statement = dict[str, Any]
Document = dict[str, Any]


def document(statements: Iterable[Statement]) -> Document:
    return {"Version": VERSION, "Statement": list(statements)}


def assume_role_policy(service: str, conditions: Mapping[str, Any] | None = None) -> Document:
    """A trust policy that lets one AWS service (and only it) assume the role."""
    statement: Statement = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if conditions:
        statement["Condition"] = dict(conditions)
    return document([statement])


def scoped_assume_role_policy(
    service: str,
    account_id: pulumi.Input[str],
    source_arn: pulumi.Input[str],
    arn_operator: str = "ArnEquals",
) -> Document:
    """A trust policy with the confused-deputy guard AWS documents for service roles.

    ``service`` may assume the role only on behalf of ``source_arn`` (``ArnLike`` when it holds
    a wildcard) in account ``account_id``, never for another account's resource.
    """
    return assume_role_policy(
        service,
        {
            "StringEquals": {"aws:SourceAccount": account_id},
            arn_operator: {"aws:SourceArn": source_arn},
        },
    )


def arn(
    partition: pulumi.Input[str],
    service: str,
    region: pulumi.Input[str],
    account_id: pulumi.Input[str],
    resource: pulumi.Input[str],
) -> pulumi.Output[str]:
    """``arn:<partition>:<service>:<region>:<account>:<resource>``, before the resource exists.

    Example: ``arn(partition, "states", region, account_id, "stateMachine:*")``.
    """
    return pulumi.Output.concat(
        "arn:", partition, ":", service, ":", region, ":", account_id, ":", resource
    )


def table_statements(table: str, access: Access, table_arn: pulumi.Input[str]) -> list[Statement]:
    """The statements of one table grant: reads reach the table and its indexes, writes the table.

    Indexes are read-only in DynamoDB, so write actions never name them.
    """
    found: list[Statement] = []
    if access in (Access.READ, Access.READ_WRITE):
        found.append(
            {
                "Sid": f"Read{_pascal(table)}Table",
                "Effect": "Allow",
                "Action": list(DYNAMODB_READ_ACTIONS),
                "Resource": [table_arn, pulumi.Output.concat(table_arn, "/index/*")],
            }
        )
    if access in (Access.WRITE, Access.READ_WRITE):
        found.append(
            {
                "Sid": f"Write{_pascal(table)}Table",
                "Effect": "Allow",
                "Action": list(DYNAMODB_WRITE_ACTIONS),
                "Resource": [table_arn],
            }
        )
    return found


def bucket_statements(
    bucket: str, access: Access, bucket_arn: pulumi.Input[str]
) -> list[Statement]:
    """The statements of one bucket grant: object actions on ``<bucket>/*``, listing on the bucket.

    READ lists the bucket too (see ``S3_LIST_ACTIONS``); WRITE alone does not, since nothing
    that only writes needs to know what else is there.
    """
    read = access in (Access.READ, Access.READ_WRITE)
    write = access in (Access.WRITE, Access.READ_WRITE)
    objects = pulumi.Output.concat(bucket_arn, "/*")
    found: list[Statement] = []
    if read:
        found += [
            {
                "Sid": f"List{_pascal(bucket)}Bucket",
                "Effect": "Allow",
                "Action": list(S3_LIST_ACTIONS),
                "Resource": [bucket_arn],
            },
            {
                "Sid": f"Read{_pascal(bucket)}Objects",
                "Effect": "Allow",
                "Action": list(S3_READ_OBJECT_ACTIONS),
                "Resource": [objects],
            },
        ]
    if write:
        found.append(
            {
                "Sid": f"Write{_pascal(bucket)}Objects",
                "Effect": "Allow",
                "Action": list(S3_WRITE_OBJECT_ACTIONS),
                "Resource": [objects],
            }
        )
    return found


def queue_statements(queue: str, access: Access, queue_arn: pulumi.Input[str]) -> list[Statement]:
    """The statements of one queue grant: WRITE sends, READ receives and deletes."""
    found: list[Statement] = []
    if access in (Access.READ, Access.READ_WRITE):
        found.append(
            {
                "Sid": f"Consume{_pascal(queue)}Queue",
                "Effect": "Allow",
                "Action": list(SQS_CONSUME_ACTIONS),
                "Resource": [queue_arn],
            }
        )
    if access in (Access.WRITE, Access.READ_WRITE):
        found.append(
            {
                "Sid": f"SendTo{_pascal(queue)}Queue",
                "Effect": "Allow",
                "Action": list(SQS_SEND_ACTIONS),
                "Resource": [queue_arn],
            }
        )
    return found


def secret_statements(secret: str, secret_arn: pulumi.Input[str]) -> list[Statement]:
    """Read one secret's value. The secret is encrypted with the AWS managed key
    ``aws/secretsmanager``, whose key policy already lets Secrets Manager decrypt on behalf of
    any principal of the account that may read the secret: no KMS grant is needed."""
    return [
        {
            "Sid": f"Read{_pascal(secret)}Secret",
            "Effect": "Allow",
            "Action": list(SECRET_READ_ACTIONS),
            "Resource": [secret_arn],
        }
    ]


def workflow_statements(workflow: str, state_machine_arn: pulumi.Input[str]) -> list[Statement]:
    """Start executions of one state machine (nothing else: not stop, not describe)."""
    return [
        {
            "Sid": f"Start{_pascal(workflow)}Workflow",
            "Effect": "Allow",
            "Action": list(START_EXECUTION_ACTIONS),
            "Resource": [state_machine_arn],
        }
    ]


def pipe_policy(
    queue_arn: pulumi.Input[str],
    state_machine_arn: pulumi.Input[str],
    enrichment_function_arn: pulumi.Input[str] | None = None,
) -> Document:
    """An SQS-to-Step Functions pipe's permissions: poll its source, invoke its enrichment (when
    it has one), start its target."""
    enrichment: list[Statement] = []
    if enrichment_function_arn is not None:
        enrichment.append(
            {
                "Sid": "InvokeEnrichment",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [enrichment_function_arn],
            }
        )
    return document(
        [
            {
                "Sid": "PollSourceQueue",
                "Effect": "Allow",
                "Action": list(PIPE_SQS_SOURCE_ACTIONS),
                "Resource": [queue_arn],
            },
            *enrichment,
            {
                "Sid": "StartTargetWorkflow",
                "Effect": "Allow",
                "Action": list(START_EXECUTION_ACTIONS),
                "Resource": [state_machine_arn],
            },
        ]
    )


def s3_notification_queue_policy(
    queue_arn: pulumi.Input[str],
    bucket_arns: Sequence[pulumi.Input[str]],
    account_id: pulumi.Input[str],
) -> Document:
    """A queue policy that lets S3 send the notifications of ``bucket_arns``, and only those.

    ``aws:SourceArn`` names the buckets and ``aws:SourceAccount`` pins their owner (bucket names
    are global: a bucket of the same name in another account must not reach the queue).
    """
    return _service_may_send(
        "AllowBucketNotifications",
        "s3.amazonaws.com",
        queue_arn,
        {
            "ArnEquals": {"aws:SourceArn": list(bucket_arns)},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    )


def event_rule_dead_letter_policy(
    queue_arn: pulumi.Input[str], rule_arn: pulumi.Input[str]
) -> Document:
    """A queue policy that lets EventBridge keep the events of one rule it could not deliver."""
    return _service_may_send(
        "AllowUndeliveredRuleEvents",
        "events.amazonaws.com",
        queue_arn,
        {"ArnEquals": {"aws:SourceArn": rule_arn}},
    )


def _service_may_send(
    sid: str, service: str, queue_arn: pulumi.Input[str], condition: dict[str, Any]
) -> Document:
    """A queue policy letting an AWS service send to ``queue_arn`` under ``condition`` only."""
    return document(
        [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": list(SQS_SEND_ACTIONS),
                "Resource": queue_arn,
                "Condition": condition,
            }
        ]
    )


def function_policy(log_group_arn: pulumi.Input[str], grants: Sequence[Statement]) -> Document:
    """A Lambda's own permissions: its log group, traces, and the resources it was granted."""
    return document(
        [
            {
                "Sid": "WriteOwnLogGroup",
                "Effect": "Allow",
                "Action": list(LOG_WRITE_ACTIONS),
                # "<group ARN>:*" is the form the Lambda console generates: it covers creating
                # the group's streams and writing to them, and nothing outside the group.
                "Resource": [pulumi.Output.concat(log_group_arn, ":*")],
            },
            {
                "Sid": "WriteTraces",
                "Effect": "Allow",
                "Action": list(XRAY_WRITE_ACTIONS),
                "Resource": "*",
            },
            *grants,
        ]
    )


def state_machine_policy(function_arns: Sequence[pulumi.Input[str]]) -> Document:
    """A state machine's permissions: invoke its own functions, deliver logs, write traces."""
    statements: list[Statement] = []
    if function_arns:
        invoke: list[pulumi.Input[str]] = []
        for arn in function_arns:
            # The qualified form covers a version or alias, should a Task ever name one.
            invoke += [arn, pulumi.Output.concat(arn, ":*")]
        statements.append(
            {
                "Sid": "InvokeReferencedFunctions",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": invoke,
            }
        )
    statements += [
        {
            "Sid": "DeliverExecutionLogs",
            "Effect": "Allow",
            "Action": list(LOG_DELIVERY_ACTIONS),
            "Resource": "*",
        },
        {
            "Sid": "WriteTraces",
            "Effect": "Allow",
            "Action": [*XRAY_WRITE_ACTIONS, *XRAY_SAMPLING_ACTIONS],
            "Resource": "*",
        },
    ]
    return document(statements)


def deny_insecure_transport(bucket_arn: pulumi.Input[str]) -> Document:
    """A bucket policy that refuses every request made without TLS."""
    return document(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    )


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))
