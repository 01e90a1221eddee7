"""IAM policy documents, built as plain dicts whose ARNs may be Pulumi Outputs.

The components serialise them with ``pulumi.Output.json_dumps``, so no JSON is ever templated by
hand and no resource is created inside an ``apply``. Every data action is granted on the ARNs of
the resources the description grants, never on ``"*"``; the only ``"*"`` resources are for
actions that AWS does not let a policy scope (X-Ray writes, CloudWatch Logs vended delivery),
each marked where it is granted.
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

Statement = dict[str, Any]
Document = dict[str, Any]


def document(statements: Iterable[Statement]) -> Document:
    return {"Version": VERSION, "Statement": list(statements)}


def dynamodb_actions(access: Access) -> tuple[str, ...]:
    """Exactly the DynamoDB actions an access level allows."""
    read = access in (Access.READ, Access.READ_WRITE)
    write = access in (Access.WRITE, Access.READ_WRITE)
    return (DYNAMODB_READ_ACTIONS if read else ()) + (DYNAMODB_WRITE_ACTIONS if write else ())


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


def function_policy(log_group_arn: pulumi.Input[str], tables: Sequence[Statement]) -> Document:
    """A Lambda's own permissions: its log group, traces, and the tables it was granted."""
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
            *tables,
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
