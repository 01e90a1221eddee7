"""The Queue component: encryption, dead-letter queues, redrive, and who may send to a queue."""

from __future__ import annotations

import json
from typing import Any

from infra.stack import Deployment
from stack.spec import App
from tests.infra.fakes import SYNTHETIC_PREFIX, synthetic_bucket
from tests.infra.harness import (
    ACCOUNT,
    BUCKET_NOTIFICATION,
    QUEUE,
    QUEUE_POLICY,
    REGION,
    Run,
)

REDRIVE_ALLOW = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/"


def queue(run: Run[Deployment], name: str) -> dict[str, Any]:
    [found] = [r.inputs for r in run.mocks.of_type(QUEUE) if r.inputs["name"] == name]
    return found


def test_every_queue_redrives_to_its_own_dead_letter_queue(app: App, run: Run[Deployment]) -> None:
    # A dead-letter queue declared as a queue (the execution outcomes') has none of its own.
    for spec in (spec for spec in app.queues if spec.dead_letter_queue is not None):
        name = app.physical_name(spec.name)
        source, dlq = queue(run, name), queue(run, f"{name}-dlq")
        assert json.loads(source["redrivePolicy"]) == {
            "deadLetterTargetArn": f"{QUEUE_ARN}{name}-dlq",
            "maxReceiveCount": app.config.max_receive_count,
        }
        assert source["sqsManagedSseEnabled"] is dlq["sqsManagedSseEnabled"] is True
        assert source["visibilityTimeoutSeconds"] == spec.visibility_timeout_seconds
        assert dlq["messageRetentionSeconds"] == 1_209_600
        # The dead-letter queue takes dead letters from its source only.
        allow = run.mocks.named(REDRIVE_ALLOW, f"{name}-dlq-redrive-allow").inputs
        assert allow["queueUrl"] == f"{QUEUE_URL}{name}-dlq"
        assert json.loads(allow["redriveAllowPolicy"]) == {
            "redrivePermission": "byQueue",
            "sourceQueueArns": [f"{QUEUE_ARN}{name}"],
        }


def test_ingest_messages_are_capped_so_a_batch_fits_a_synchronous_invocation(
    app: App, run: Run[Deployment]
) -> None:
    ingest = queue(run, app.physical_name("ingest"))
    assert ingest["maxMessageSize"] == 262_144
    # 10 messages and their record fields stay under the enrichment's 6 MB invocation payload.
    assert app.pipes[0].batch_size * ingest["maxMessageSize"] < 6_000_000
    # SQS's own default (1 MiB) elsewhere: nothing sets it.
    assert "maxMessageSize" not in queue(run, app.physical_name("landing-notifications"))


def test_a_queue_without_redrive_has_no_dead_letter_queue(synthetic_run: Run[Deployment]) -> None:
    assert "redrivePolicy" not in queue(synthetic_run, f"{SYNTHETIC_PREFIX}-scratch")
    names = {r.inputs["name"] for r in synthetic_run.mocks.of_type(QUEUE)}
    assert names == {f"{SYNTHETIC_PREFIX}-inbox", f"{SYNTHETIC_PREFIX}-inbox-dlq"} | {
        f"{SYNTHETIC_PREFIX}-scratch"
    }
    assert json.loads(queue(synthetic_run, f"{SYNTHETIC_PREFIX}-inbox")["redrivePolicy"]) == {
        "deadLetterTargetArn": f"{QUEUE_ARN}{SYNTHETIC_PREFIX}-inbox-dlq",
        "maxReceiveCount": 3,
    }


def notification_policy(queue_name: str, *buckets: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowBucketNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": ["sqs:SendMessage"],
                "Resource": f"{QUEUE_ARN}{queue_name}",
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": [f"arn:aws:s3:::{b}" for b in buckets]},
                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                },
            }
        ],
    }


def test_s3_may_send_to_the_notified_queue_from_the_landing_bucket_only(
    app: App, run: Run[Deployment]
) -> None:
    name = app.physical_name("landing-notifications")
    [policy] = [p for p in run.mocks.of_type(QUEUE_POLICY) if p.name.startswith(name)]
    assert policy.name == f"{name}-policy"
    assert policy.inputs["queueUrl"] == f"{QUEUE_URL}{name}"
    assert json.loads(policy.inputs["policy"]) == notification_policy(
        name, app.bucket_name("landing")
    )


def test_a_queue_notified_by_two_buckets_allows_both(synthetic_run: Run[Deployment]) -> None:
    policies = {
        p.name: json.loads(p.inputs["policy"]) for p in synthetic_run.mocks.of_type(QUEUE_POLICY)
    }
    scratch, inbox = f"{SYNTHETIC_PREFIX}-scratch", f"{SYNTHETIC_PREFIX}-inbox"
    assert policies == {
        f"{scratch}-policy": notification_policy(
            scratch, synthetic_bucket("landing"), synthetic_bucket("archive")
        ),
        f"{inbox}-policy": notification_policy(inbox, synthetic_bucket("landing")),
    }


def test_landing_notifies_its_queue_of_every_new_object(app: App, run: Run[Deployment]) -> None:
    [notification] = run.mocks.of_type(BUCKET_NOTIFICATION)
    assert notification.inputs == {
        "bucket": app.bucket_name("landing"),
        "queues": [
            {
                "id": "landing-notifications-object-created",
                "queueArn": f"{QUEUE_ARN}{app.physical_name('landing-notifications')}",
                "events": ["s3:ObjectCreated:*"],
            }
        ],
    }


def test_one_configuration_per_bucket_with_every_queue_and_prefix(
    synthetic_run: Run[Deployment],
) -> None:
    configured = {
        n.inputs["bucket"]: n.inputs["queues"]
        for n in synthetic_run.mocks.of_type(BUCKET_NOTIFICATION)
    }
    assert configured == {
        synthetic_bucket("landing"): [
            {
                "id": "scratch-object-created",
                "queueArn": f"{QUEUE_ARN}{SYNTHETIC_PREFIX}-scratch",
                "events": ["s3:ObjectCreated:*"],
                "filterPrefix": "in/",
            },
            {
                "id": "inbox-object-created",
                "queueArn": f"{QUEUE_ARN}{SYNTHETIC_PREFIX}-inbox",
                "events": ["s3:ObjectCreated:*"],
            },
        ],
        synthetic_bucket("archive"): [
            {
                "id": "scratch-object-created",
                "queueArn": f"{QUEUE_ARN}{SYNTHETIC_PREFIX}-scratch",
                "events": ["s3:ObjectCreated:*"],
            }
        ],
    }


def test_the_notification_waits_for_the_queue_policy(app: App, run: Run[Deployment]) -> None:
    # S3 sends a test event when the configuration is saved and refuses it if SQS would not
    # accept the message.
    order = [(r.type, r.name) for r in run.mocks.resources]
    policy = (QUEUE_POLICY, f"{app.physical_name('landing-notifications')}-policy")
    notification = (BUCKET_NOTIFICATION, f"{app.physical_name('landing')}-notifications")
    assert order.index(policy) < order.index(notification)
