"""The ``BucketNotification`` component: a bucket's object-created notifications to SQS queues."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

TYPE: Final = "stepflow:s3:BucketNotification"
# Every way an object comes to exist: Put, Post, Copy, CompleteMultipartUpload.
OBJECT_CREATED_EVENTS: Final = ("s3:ObjectCreated:*",)


@dataclass(frozen=True)
class NotificationTarget:
    """One destination queue: its logical name (the configuration id), ARN and key prefix."""

    queue: str
    queue_arn: pulumi.Input[str]
    prefix: str = ""


@dataclass(frozen=True)
class BucketNotificationArgs:
    """All of one bucket's destinations (S3 holds one notification configuration per bucket,
    so every ``BucketNotificationSpec`` of a bucket goes into one component).

    ``queue_policies`` are the destination queues' policies that allow S3 to send: S3 sends a
    test event when the configuration is saved and refuses it if the queue would not accept.
    """

    bucket: str
    bucket_name: pulumi.Input[str]
    targets: Sequence[NotificationTarget]
    queue_policies: Sequence[pulumi.Resource] = ()


class BucketNotification(pulumi.ComponentResource):
    """Object-created notifications of one bucket, delivered to SQS queues.

    The queues must allow it first (``Queue`` with ``notifying_bucket_arns``). Each message is
    S3's event notification JSON (``{"Records": [...]}``), and S3's initial ``s3:TestEvent``
    arrives once, when the configuration is saved.

    Example::

        BucketNotification(
            "landing-notifications",
            BucketNotificationArgs(
                "landing", bucket.name, [NotificationTarget("landing-notifications", queue.arn)],
                [queue.policy],
            ),
        )
    """

    def __init__(
        self,
        resource_name: str,
        args: BucketNotificationArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        if not args.targets:
            raise ValueError(f"bucket {args.bucket!r}: a notification needs at least one queue")
        aws.s3.BucketNotification(
            resource_name,
            aws.s3.BucketNotificationArgs(
                bucket=args.bucket_name,
                queues=[
                    aws.s3.BucketNotificationQueueArgs(
                        id=f"{target.queue}-object-created",
                        queue_arn=target.queue_arn,
                        events=list(OBJECT_CREATED_EVENTS),
                        filter_prefix=target.prefix or None,
                    )
                    for target in args.targets
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.queue_policies)),
        )
        self.register_outputs({})
