"""The ``Bucket`` component: one private, encrypted S3 bucket from a ``BucketSpec``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from infra import policies
from stack.spec import BucketSpec

TYPE: Final = "stepflow:s3:Bucket"
# Parts of a multipart upload that never completed are billed and invisible. A bundle upload
# lives as long as one Lambda invocation (15 minutes at most), so a day-old one is dead.
ABORT_INCOMPLETE_UPLOADS_DAYS: Final = 1
# How long a versioned bucket keeps an overwritten or deleted object's previous version: the
# window in which an accidental overwrite or delete can be undone.
NONCURRENT_VERSION_DAYS: Final = 90
# SSE-KMS with the AWS managed key: see the class docstring.
SSE_ALGORITHM: Final = "aws:kms"


@dataclass(frozen=True)
class BucketArgs:
    """``force_destroy`` lets ``pulumi destroy`` empty the bucket first (dev stacks only)."""

    spec: BucketSpec
    physical_name: str
    force_destroy: bool = False


class Bucket(pulumi.ComponentResource):
    """A private S3 bucket: public access blocked, owner-enforced, SSE-KMS, TLS only.

    Encryption at rest is SSE-KMS with the AWS managed key ``aws/s3`` and an S3 Bucket Key.
    Every use of the key is in CloudTrail (as for the tables' ``aws/dynamodb``); the Bucket Key
    cuts the KMS requests (and their cost) to one per bucket and time window rather than one per
    object; and the key policy of an AWS managed key already lets any principal of the account
    use it through S3, so the functions' roles need no ``kms:`` grant at all: their S3 grants
    decide. A customer managed key would add a per-stack key policy and ``kms:Decrypt`` /
    ``kms:GenerateDataKey`` to every role, for control (cross-account use, key deletion) that
    this stack has no use for.

    Objects expire after ``expire_after_days`` when the spec sets it; a versioned bucket keeps
    previous versions for ``NONCURRENT_VERSION_DAYS``; incomplete multipart uploads are always
    cleaned up.

    Example::

        bucket = Bucket("archive", BucketArgs(app.bucket("archive"), app.physical_name("archive")))
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
            resource_name,
            aws.s3.BucketArgs(bucket=args.physical_name, force_destroy=args.force_destroy),
            opts=child,
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
                        # No key id: S3 uses the account's AWS managed key, aws/s3.
                        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm=SSE_ALGORITHM
                        ),
                        bucket_key_enabled=True,
                    )
                ],
            ),
            opts=child,
        )
        if spec.versioned:
            aws.s3.BucketVersioning(
                f"{resource_name}-versioning",
                aws.s3.BucketVersioningInitArgs(
                    bucket=bucket.id,
                    versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                        status="Enabled"
                    ),
                ),
                opts=child,
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{resource_name}-lifecycle",
            aws.s3.BucketLifecycleConfigurationArgs(bucket=bucket.id, rules=_lifecycle_rules(spec)),
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


def _lifecycle_rules(spec: BucketSpec) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    # An empty prefix matches every key; an empty filter block is what the provider warns about
    # (and AWS may read as a rule with no filter at all, depending on the provider version).
    every_object = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
    rules = [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-uploads",
            status="Enabled",
            filter=every_object,
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS
            ),
        )
    ]
    if spec.expire_after_days is not None:
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-objects",
                status="Enabled",
                filter=every_object,
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                    days=spec.expire_after_days
                ),
            )
        )
    if spec.versioned:
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=every_object,
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=NONCURRENT_VERSION_DAYS
                ),
            )
        )
    return rules
