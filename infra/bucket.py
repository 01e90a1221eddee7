"""The ``Bucket`` component: one private, encrypted S3 bucket from a ``BucketSpec``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from infra import policies
from stack.spec import BucketSpec

TYPE: Final = "stepflow:s3:Bucket"
# Parts of a multipart upload that never completed are billed and invisible: drop them.
_ABORT_INCOMPLETE_UPLOADS_DAYS: Final = 7


@dataclass(frozen=True)
class BucketArgs:
    spec: BucketSpec
    physical_name: str


class Bucket(pulumi.ComponentResource):
    """A private S3 bucket: public access blocked, owner-enforced, SSE-S3, TLS only.

    Objects expire after ``expire_after_days`` when the spec sets it; incomplete multipart
    uploads are always cleaned up.

    Example::

        bucket = Bucket("archive", BucketArgs(app.buckets[0], app.physical_name("archive")))
        bucket.name, bucket.arn
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: BucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            resource_name, aws.s3.BucketArgs(bucket=args.physical_name), opts=child
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{resource_name}-public-access",
            aws.s3.BucketPublicAccessBlockArgs(
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
            ),
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{resource_name}-ownership",
            aws.s3.BucketOwnershipControlsArgs(
                bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            ),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{resource_name}-encryption",
            aws.s3.BucketServerSideEncryptionConfigurationInitArgs(
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256"
                        )
                    )
                ],
            ),
            opts=child,
        )
        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="abort-incomplete-uploads",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=_ABORT_INCOMPLETE_UPLOADS_DAYS
                ),
            )
        ]
        if spec.expire_after_days is not None:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-objects",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=spec.expire_after_days
                    ),
                )
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{resource_name}-lifecycle",
            aws.s3.BucketLifecycleConfigurationArgs(bucket=bucket.id, rules=rules),
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{resource_name}-policy",
            aws.s3.BucketPolicyArgs(
                bucket=bucket.id,
                policy=pulumi.Output.json_dumps(policies.deny_insecure_transport(bucket.arn)),
            ),
            # S3 refuses concurrent changes to one bucket's access settings (OperationAborted).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        self.arn = bucket.arn
        self.name = bucket.bucket
        self.register_outputs({"arn": self.arn, "name": self.name})
