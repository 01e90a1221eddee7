"""deploy(): the stack outputs, name checks, queues and buckets, and the program's entry point."""

from __future__ import annotations

import json
import re
import runpy
from dataclasses import replace
from typing import Any

import pulumi
import pytest

from infra.packaging import REPO_ROOT
from infra.stack import Deployment, check_names
from stack import outputs
from stack.spec import App, BucketSpec
from tests.infra.fakes import SYNTHETIC_PREFIX
from tests.infra.harness import (
    ACCOUNT,
    BUCKET,
    QUEUE,
    REGION,
    Run,
    default_app,
    run_program,
)


def test_outputs_are_the_shared_keys(app: App, run: Run[Deployment]) -> None:
    assert set(run.resolved) == outputs.output_keys(app)


def test_output_values(app: App, run: Run[Deployment]) -> None:
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{app.physical_name('ingest')}"
    assert run.resolved[outputs.STATE_MACHINE_ARNS] == {"ingest": arn}
    assert run.resolved[outputs.state_machine_arn_key("ingest")] == arn
    assert run.resolved[outputs.FUNCTION_NAMES] == {
        spec.name: app.physical_name(spec.name) for spec in app.functions
    }
    assert run.resolved[outputs.TABLE_NAMES] == {
        spec.name: app.physical_name(spec.name) for spec in app.tables
    }
    assert run.resolved[outputs.REGION] == REGION
    assert run.resolved[outputs.PREFIX] == app.config.prefix
    assert run.resolved[outputs.QUEUE_URLS] == {}
    assert run.resolved[outputs.BUCKET_NAMES] == {}


def test_output_key_names() -> None:
    assert outputs.state_machine_arn_key("ingest") == "ingestStateMachineArn"
    assert outputs.state_machine_arn_key("enrich_batch") == "enrichBatchStateMachineArn"
    assert outputs.state_machine_arn_key("aggregate-s3") == "aggregateS3StateMachineArn"


def test_queue_urls_and_bucket_names_are_output(synthetic_run: Run[Deployment]) -> None:
    base = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{SYNTHETIC_PREFIX}"
    assert synthetic_run.resolved[outputs.QUEUE_URLS] == {
        "inbox": f"{base}-inbox",
        "scratch": f"{base}-scratch",
    }
    assert synthetic_run.resolved[outputs.BUCKET_NAMES] == {
        "archive": f"{SYNTHETIC_PREFIX}-archive",
        "landing": f"{SYNTHETIC_PREFIX}-landing",
    }


def queue(run: Run[Deployment], name: str) -> dict[str, Any]:
    [found] = [r.inputs for r in run.mocks.of_type(QUEUE) if r.inputs["name"] == name]
    return found


def test_a_redriving_queue_gets_its_dead_letter_queue(synthetic_run: Run[Deployment]) -> None:
    inbox = queue(synthetic_run, f"{SYNTHETIC_PREFIX}-inbox")
    dlq = queue(synthetic_run, f"{SYNTHETIC_PREFIX}-inbox-dlq")
    assert json.loads(inbox["redrivePolicy"]) == {
        "deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{SYNTHETIC_PREFIX}-inbox-dlq",
        "maxReceiveCount": 3,
    }
    assert inbox["sqsManagedSseEnabled"] is True
    assert (inbox["visibilityTimeoutSeconds"], inbox["messageRetentionSeconds"]) == (60, 1_209_600)
    assert dlq["sqsManagedSseEnabled"] is True
    assert dlq["messageRetentionSeconds"] == 1_209_600


def test_a_queue_without_redrive_has_no_dead_letter_queue(synthetic_run: Run[Deployment]) -> None:
    assert "redrivePolicy" not in queue(synthetic_run, f"{SYNTHETIC_PREFIX}-scratch")
    names = {r.inputs["name"] for r in synthetic_run.mocks.of_type(QUEUE)}
    assert f"{SYNTHETIC_PREFIX}-scratch-dlq" not in names


def test_buckets_are_private_encrypted_and_expire_as_described(
    synthetic_run: Run[Deployment],
) -> None:
    mocks = synthetic_run.mocks
    name = f"{SYNTHETIC_PREFIX}-archive"
    assert {r.inputs["bucket"] for r in mocks.of_type(BUCKET)} == {
        name,
        f"{SYNTHETIC_PREFIX}-landing",
    }
    block = mocks.named(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{name}-public-access"
    )
    assert {key: value for key, value in block.inputs.items() if key != "bucket"} == {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    encryption = mocks.named(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        f"{name}-encryption",
    )
    assert encryption.inputs["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ]
    lifecycle = mocks.named(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", f"{name}-lifecycle"
    )
    rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}
    assert rules["expire-objects"]["expiration"] == {"days": 30}
    assert rules["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"] == {
        "daysAfterInitiation": 7
    }
    landing = mocks.named(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        f"{SYNTHETIC_PREFIX}-landing-lifecycle",
    )
    assert [rule["id"] for rule in landing.inputs["rules"]] == ["abort-incomplete-uploads"]


def test_names_aws_would_refuse_fail_before_anything_is_created() -> None:
    app = default_app()
    long_prefix = replace(app, config=replace(app.config, prefix="p" * 60))
    with pytest.raises(ValueError, match="function 'update_status'"):
        check_names(long_prefix)
    check_names(app)


@pytest.mark.parametrize("bucket", ["Archive", "raw_events", "a..b"])
def test_bucket_names_follow_s3_rules(synthetic: App, bucket: str) -> None:
    app = replace(synthetic, buckets=(BucketSpec(bucket),))
    with pytest.raises(ValueError, match=f"bucket '{re.escape(bucket)}'"):
        check_names(app)


def test_main_exports_the_shared_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", exported.__setitem__)
    run = run_program(
        lambda: runpy.run_path(str(REPO_ROOT / "__main__.py")),
        lambda _: exported,
        config={"stepflow:prefix": "main-test"},
    )
    app = default_app()
    assert set(run.resolved) == outputs.output_keys(app)
    assert run.resolved[outputs.PREFIX] == "main-test"
    assert run.resolved[outputs.FUNCTION_NAMES]["dedupe"] == "main-test-dedupe"
