"""The Bucket component: private, SSE-KMS, TLS only, versioned and expiring as described."""

from __future__ import annotations

import json
from typing import Any

from infra.stack import Deployment
from stack.spec import App
from tests.infra.fakes import SYNTHETIC_PREFIX
from tests.infra.harness import BUCKET, BUCKET_POLICY, Run

PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
# prefix "" is every key, as AWS reads it; an empty filter is not the same request to every
# provider version.
EVERY_KEY = {"prefix": ""}


def child(run: Run[Deployment], type_: str, name: str) -> dict[str, Any]:
    return run.mocks.named(type_, name).inputs


def lifecycle_rules(run: Run[Deployment], name: str) -> dict[str, dict[str, Any]]:
    rules = child(run, LIFECYCLE, f"{name}-lifecycle")["rules"]
    return {rule.pop("id"): rule for rule in rules}


def test_every_bucket_is_private_owner_enforced_kms_encrypted_and_tls_only(
    app: App, run: Run[Deployment]
) -> None:
    assert {r.inputs["bucket"] for r in run.mocks.of_type(BUCKET)} == {
        app.bucket_name(spec.name) for spec in app.buckets
    }
    for spec in app.buckets:
        name = app.physical_name(spec.name)
        bucket = app.bucket_name(spec.name)
        block = child(run, PUBLIC_ACCESS, f"{name}-public-access")
        assert {key: value for key, value in block.items() if key != "bucket"} == {
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        }
        assert child(run, OWNERSHIP, f"{name}-ownership")["rule"] == {
            "objectOwnership": "BucketOwnerEnforced"
        }
        # SSE-KMS with the AWS managed key (no key id) and a Bucket Key.
        assert child(run, ENCRYPTION, f"{name}-encryption")["rules"] == [
            {
                "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"},
                "bucketKeyEnabled": True,
            }
        ]
        policy = json.loads(child(run, BUCKET_POLICY, f"{name}-policy")["policy"])
        assert policy["Statement"] == [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]


def test_lifecycle_rules_follow_the_description(app: App, run: Run[Deployment]) -> None:
    abort = {
        "status": "Enabled",
        "filter": EVERY_KEY,
        "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1},
    }
    assert lifecycle_rules(run, app.physical_name("landing")) == {"abort-incomplete-uploads": abort}
    assert lifecycle_rules(run, app.physical_name("staging")) == {
        "abort-incomplete-uploads": abort,
        "expire-objects": {"status": "Enabled", "filter": EVERY_KEY, "expiration": {"days": 7}},
    }
    assert lifecycle_rules(run, app.physical_name("archive")) == {
        "abort-incomplete-uploads": abort,
        "expire-noncurrent-versions": {
            "status": "Enabled",
            "filter": EVERY_KEY,
            "noncurrentVersionExpiration": {"noncurrentDays": 90},
        },
    }


def test_only_the_archive_is_versioned(app: App, run: Run[Deployment]) -> None:
    [versioning] = run.mocks.of_type(VERSIONING)
    assert versioning.name == f"{app.physical_name('archive')}-versioning"
    assert versioning.inputs == {
        "bucket": app.bucket_name("archive"),
        "versioningConfiguration": {"status": "Enabled"},
    }
    assert [spec.name for spec in app.buckets if spec.versioned] == ["archive"]


def test_buckets_survive_destroy_unless_the_stack_is_a_dev_stack(
    app: App, run: Run[Deployment], synthetic_run: Run[Deployment]
) -> None:
    for spec in app.buckets:
        assert child(run, BUCKET, app.physical_name(spec.name))["forceDestroy"] is False
    assert child(synthetic_run, BUCKET, f"{SYNTHETIC_PREFIX}-landing")["forceDestroy"] is True


def test_expiry_days_come_from_the_spec(synthetic_run: Run[Deployment]) -> None:
    rules = lifecycle_rules(synthetic_run, f"{SYNTHETIC_PREFIX}-archive")
    assert rules["expire-objects"]["expiration"] == {"days": 30}


def test_the_policy_waits_for_the_public_access_block(app: App, run: Run[Deployment]) -> None:
    # S3 refuses concurrent changes to one bucket's access settings.
    order = [(r.type, r.name) for r in run.mocks.resources]
    for spec in app.buckets:
        name = app.physical_name(spec.name)
        assert order.index((PUBLIC_ACCESS, f"{name}-public-access")) < order.index(
            (BUCKET_POLICY, f"{name}-policy")
        )
