"""The ``Queue`` component: one SQS queue and, when it redrives, its dead-letter queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from infra import policies
from stack.spec import QueueSpec

TYPE: Final = "stepflow:sqs:Queue"
# The longest SQS allows, so a message parked in the DLQ outlives any investigation.
DLQ_RETENTION_SECONDS: Final = 1_209_600


@dataclass(frozen=True)
class QueueArgs:
    """``dead_letter_physical_name``: the name of the spec's dead-letter queue, when it has one
    (``App.physical_name(spec.dead_letter_queue)``). ``notifying_bucket_arns``: buckets whose S3
    notifications the queue accepts (from ``account_id`` only); without any, the queue has no
    resource policy at all."""

    spec: QueueSpec
    physical_name: str
    dead_letter_physical_name: str | None = None
    notifying_bucket_arns: Sequence[pulumi.Input[str]] = ()
    account_id: pulumi.Input[str] | None = None


class Queue(pulumi.ComponentResource):
    """An SQS queue encrypted with SQS-managed keys, with its dead-letter queue.

    ``max_receive_count`` > 0 gives the queue a redrive policy to its dead-letter queue, which is
    how a message that keeps failing leaves the queue without being lost (and how the operator
    finds it to redrive). The dead-letter queue keeps messages for the longest SQS allows and
    accepts dead letters from this queue only (its redrive allow policy), so a redrive
    (``StartMessageMoveTask``) can only send them back where they came from.

    Buckets in ``notifying_bucket_arns`` may send their notifications here (``policy``, which a
    ``BucketNotification`` must wait for: S3 tests the destination when it is configured).

    Example::

        spec = app.queue("ingest")
        dlq = app.physical_name(spec.dead_letter_queue)
        queue = Queue("ingest", QueueArgs(spec, app.physical_name("ingest"), dlq))
        queue.url, queue.arn, queue.dlq_url
    """

    arn: pulumi.Output[str]
    url: pulumi.Output[str]
    name: pulumi.Output[str]
    dlq_arn: pulumi.Output[str] | None
    dlq_url: pulumi.Output[str] | None
    dlq_name: pulumi.Output[str] | None
    policy: aws.sqs.QueuePolicy | None

    def __init__(
        self, resource_name: str, args: QueueArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        redrive_policy: pulumi.Output[str] | None = None
        dlq: aws.sqs.Queue | None = None
        if (spec.dead_letter_queue is None) != (args.dead_letter_physical_name is None):
            raise ValueError(
                f"queue {spec.name!r}: a dead-letter queue name is given exactly when it redrives"
            )
        dlq_name = args.dead_letter_physical_name
        if dlq_name is not None:
            dlq = aws.sqs.Queue(
                dlq_name,
                aws.sqs.QueueArgs(
                    name=dlq_name,
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
                max_message_size=spec.max_message_bytes,
                sqs_managed_sse_enabled=True,
                redrive_policy=redrive_policy,
            ),
            opts=child,
        )
        if dlq is not None:
            aws.sqs.RedriveAllowPolicy(
                f"{dlq_name}-redrive-allow",
                aws.sqs.RedriveAllowPolicyArgs(
                    queue_url=dlq.url,
                    redrive_allow_policy=pulumi.Output.json_dumps(
                        {"redrivePermission": "byQueue", "sourceQueueArns": [queue.arn]}
                    ),
                ),
                opts=child,
            )
        self.policy = None
        if args.notifying_bucket_arns:
            if args.account_id is None:
                raise ValueError(f"queue {spec.name!r}: bucket notifications need the account id")
            self.policy = aws.sqs.QueuePolicy(
                f"{resource_name}-policy",
                aws.sqs.QueuePolicyArgs(
                    queue_url=queue.url,
                    policy=pulumi.Output.json_dumps(
                        policies.s3_notification_queue_policy(
                            queue.arn, args.notifying_bucket_arns, args.account_id
                        )
                    ),
                ),
                opts=child,
            )
        self.arn = queue.arn
        self.url = queue.url
        self.name = queue.name
        self.dlq_arn = dlq.arn if dlq else None
        self.dlq_url = dlq.url if dlq else None
        self.dlq_name = dlq.name if dlq else None
        self.register_outputs(
            {"arn": self.arn, "url": self.url, "dlqArn": self.dlq_arn, "dlqUrl": self.dlq_url}
        )
