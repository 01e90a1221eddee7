"""The ``Queue`` component: one SQS queue and, when it redrives, its dead-letter queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from stack.spec import QueueSpec

TYPE: Final = "stepflow:sqs:Queue"
DLQ_SUFFIX: Final = "-dlq"
# The longest SQS allows, so a message parked in the DLQ outlives any investigation.
DLQ_RETENTION_SECONDS: Final = 1_209_600


@dataclass(frozen=True)
class QueueArgs:
    spec: QueueSpec
    physical_name: str


class Queue(pulumi.ComponentResource):
    """An SQS queue encrypted with SQS-managed keys, with a DLQ named ``<name>-dlq``.

    ``max_receive_count`` > 0 gives the queue a redrive policy to its dead-letter queue, which is
    how a message that keeps failing leaves the queue without being lost (and how the operator
    finds it to redrive). The dead-letter queue keeps messages for the longest SQS allows.

    Example::

        queue = Queue("ingest", QueueArgs(app.queues[0], app.physical_name("ingest")))
        queue.url, queue.arn, queue.dlq_url
    """

    arn: pulumi.Output[str]
    url: pulumi.Output[str]
    name: pulumi.Output[str]
    dlq_arn: pulumi.Output[str] | None
    dlq_url: pulumi.Output[str] | None

    def __init__(
        self, resource_name: str, args: QueueArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        redrive_policy: pulumi.Output[str] | None = None
        dlq: aws.sqs.Queue | None = None
        if spec.max_receive_count > 0:
            dlq = aws.sqs.Queue(
                f"{resource_name}{DLQ_SUFFIX}",
                aws.sqs.QueueArgs(
                    name=f"{args.physical_name}{DLQ_SUFFIX}",
                    message_retention_seconds=DLQ_RETENTION_SECONDS,
                    sqs_managed_sse_enabled=True,
                ),
                opts=child,
            )
            redrive_policy = pulumi.Output.json_dumps(
                {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": spec.max_receive_count}
            )
        queue = aws.sqs.Queue(
            resource_name,
            aws.sqs.QueueArgs(
                name=args.physical_name,
                visibility_timeout_seconds=spec.visibility_timeout_seconds,
                message_retention_seconds=spec.message_retention_seconds,
                sqs_managed_sse_enabled=True,
                redrive_policy=redrive_policy,
            ),
            opts=child,
        )
        self.arn = queue.arn
        self.url = queue.url
        self.name = queue.name
        self.dlq_arn = dlq.arn if dlq else None
        self.dlq_url = dlq.url if dlq else None
        self.register_outputs(
            {"arn": self.arn, "url": self.url, "dlqArn": self.dlq_arn, "dlqUrl": self.dlq_url}
        )
