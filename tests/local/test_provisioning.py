"""Provisioning: everything the description holds exists on the local endpoint, as infra/ declares.

Queues with their DLQ and redrive policy, buckets with their settings and notifications,
secrets with a value, the references a backend fills into the functions' environment, and the
outputs under the keys the Pulumi program exports.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from functions._shared import names
from local.environment import LocalEnvironment
from local.provisioning import DLQ_RETENTION_SECONDS
from local.runtime import LocalSettings, LocalStack, worker_environment
from stack import outputs


def test_every_queue_has_its_settings_and_dead_letter_queue(local_stack: LocalStack) -> None:
    sqs = local_stack.client("sqs")
    app = local_stack.app
    for spec in app.queues:
        url = local_stack.queue_url(spec.name)
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["QueueArn"].endswith(f":{app.physical_name(spec.name)}")
        assert attributes["VisibilityTimeout"] == str(spec.visibility_timeout_seconds)
        assert attributes["MessageRetentionPeriod"] == str(spec.message_retention_seconds)
        assert attributes["SqsManagedSseEnabled"] == "true"
        if spec.dead_letter_queue is None:  # a dead-letter queue itself (the outcome rule's)
            assert "RedrivePolicy" not in attributes
            continue
        dlq_url = local_stack.dead_letter_queue_url(spec.name)
        dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
        assert dlq["QueueArn"].endswith(f":{app.physical_name(spec.dead_letter_queue)}")
        assert dlq["MessageRetentionPeriod"] == str(DLQ_RETENTION_SECONDS)
        assert json.loads(attributes["RedrivePolicy"]) == {
            "deadLetterTargetArn": dlq["QueueArn"],
            "maxReceiveCount": spec.max_receive_count,
        }


def test_every_bucket_has_its_settings(local_stack: LocalStack) -> None:
    s3 = local_stack.client("s3")
    app = local_stack.app
    for spec in app.buckets:
        name = app.bucket_name(spec.name)
        encryption = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
        assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "AES256"
        }
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert all(block.values())
        versioning = s3.get_bucket_versioning(Bucket=name)
        assert (versioning.get("Status") == "Enabled") == spec.versioned
        rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
        expiry = [rule["Expiration"]["Days"] for rule in rules if "Expiration" in rule]
        assert expiry == ([spec.expire_after_days] if spec.expire_after_days else [])
        assert any("AbortIncompleteMultipartUpload" in rule for rule in rules)


def test_bucket_notifications_target_their_queues(local_stack: LocalStack) -> None:
    s3 = local_stack.client("s3")
    sqs = local_stack.client("sqs")
    app = local_stack.app
    assert app.notifications
    for spec in app.notifications:
        configuration = s3.get_bucket_notification_configuration(
            Bucket=app.bucket_name(spec.bucket)
        )
        queue_arn = sqs.get_queue_attributes(
            QueueUrl=local_stack.queue_url(spec.queue), AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        [target] = [c for c in configuration["QueueConfigurations"] if c["QueueArn"] == queue_arn]
        assert target["Events"] == ["s3:ObjectCreated:*"]
        policy = json.loads(
            sqs.get_queue_attributes(
                QueueUrl=local_stack.queue_url(spec.queue), AttributeNames=["Policy"]
            )["Attributes"]["Policy"]
        )
        assert policy["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}


def test_an_object_landing_starts_the_aggregate_workflow(local_stack: LocalStack) -> None:
    """S3 -> notification -> queue -> pipe -> StartExecution, all as described."""
    app = local_stack.app
    [notification] = [n for n in app.notifications if n.bucket == "landing"]
    [pipe] = [p for p in app.pipes if p.source_queue == notification.queue]
    key = f"incoming/{uuid.uuid4().hex} report.json"
    local_stack.client("s3").put_object(
        Bucket=app.bucket_name("landing"), Key=key, Body=b'{"n": 1}'
    )
    sfn = local_stack.client("stepfunctions")
    machine = local_stack.state_machine_arn(pipe.target_workflow)
    encoded = key.replace(" ", "+")

    def started() -> bool:
        for item in sfn.list_executions(stateMachineArn=machine, maxResults=1000)["executions"]:
            batch = json.loads(sfn.describe_execution(executionArn=item["executionArn"])["input"])
            for record in batch if isinstance(batch, list) else []:
                body = json.loads(record["body"])
                for s3_record in body.get("Records", []):
                    if s3_record["s3"]["object"]["key"] == encoded:
                        assert s3_record["eventName"] == "ObjectCreated:Put"
                        assert record["eventSource"] == "aws:sqs"
                        return True
        return False

    deadline = time.monotonic() + 60
    while not started():
        assert time.monotonic() < deadline, "no aggregate execution for the landed object"
        time.sleep(0.1)


def test_secrets_hold_the_credentials_of_the_local_peers(local_env: LocalEnvironment) -> None:
    stack = local_env.stack
    app = stack.app
    secretsmanager = stack.client("secretsmanager")
    for spec in app.secrets:
        described = secretsmanager.describe_secret(SecretId=app.physical_name(spec.name))
        assert described["Description"] == spec.description
    assert json.loads(stack.secret_value("downstream")) == {"token": local_env.downstream.token}
    assert json.loads(stack.secret_value("provider")) == {"apiKey": local_env.provider.api_key}


def test_functions_get_the_references_a_backend_fills_in(local_stack: LocalStack) -> None:
    app = local_stack.app
    resources = local_stack.resources
    settings = local_stack.settings
    checked = 0
    for function in app.functions:
        env = worker_environment(app, function, resources, settings)
        for env_var, (kind, logical) in app.backend_references(function).items():
            expected = (
                local_stack.queue_url(logical)
                if kind == "queue_url"
                else local_stack.state_machine_arn(logical)
            )
            assert env[env_var] == expected
            checked += 1
    assert checked  # the api function is granted the ingest workflow
    api = app.function("api")
    assert worker_environment(app, api, resources, settings)[
        names.INGEST_STATE_MACHINE_ENV
    ] == local_stack.state_machine_arn("ingest")


PEER_URL_SETTINGS = (
    LocalSettings(downstream_url="http://127.0.0.1:8999/peer"),
    LocalSettings(provider_url="http://127.0.0.1:8999/peer"),
)


@pytest.mark.parametrize(
    ("local", "variable", "function_name", "described_url"),
    [
        (PEER_URL_SETTINGS[0], names.DOWNSTREAM_URL_ENV, "deliver", "downstream_url"),
        (PEER_URL_SETTINGS[1], names.PROVIDER_URL_ENV, "enrich_batch", "provider_url"),
    ],
)
def test_a_local_peer_url_replaces_the_described_one(
    local_stack: LocalStack,
    local: LocalSettings,
    variable: str,
    function_name: str,
    described_url: str,
) -> None:
    app = local_stack.app
    caller = app.function(function_name)
    described = worker_environment(app, caller, local_stack.resources, LocalSettings())
    assert described[variable] == getattr(app.config, described_url)
    overridden = worker_environment(app, caller, local_stack.resources, local)
    assert overridden[variable] == "http://127.0.0.1:8999/peer"
    others = [f for f in app.functions if variable not in f.environment]
    assert others
    for function in others:
        env = worker_environment(app, function, local_stack.resources, local)
        assert variable not in env


def test_environment_overrides_replace_only_variables_a_function_has(
    local_stack: LocalStack,
) -> None:
    app = local_stack.app
    local = LocalSettings(environment_overrides={names.MAX_BULK_EVENTS_ENV: "7"})
    for function in app.functions:
        env = worker_environment(app, function, local_stack.resources, local)
        if names.MAX_BULK_EVENTS_ENV in function.environment:
            assert env[names.MAX_BULK_EVENTS_ENV] == "7"
        else:
            assert names.MAX_BULK_EVENTS_ENV not in env


def test_outputs_have_the_keys_pulumi_exports(local_stack: LocalStack) -> None:
    printed: dict[str, Any] = local_stack.outputs()
    app = local_stack.app
    assert set(printed) == outputs.output_keys(app)
    assert printed[outputs.QUEUE_URLS] == {
        q.name: local_stack.queue_url(q.name) for q in app.queues
    }
    assert printed[outputs.DEAD_LETTER_QUEUE_URLS] == {
        q.name: local_stack.dead_letter_queue_url(q.name)
        for q in app.queues
        if q.max_receive_count > 0
    }
    assert printed[outputs.BUCKET_NAMES] == {b.name: app.bucket_name(b.name) for b in app.buckets}
    assert printed[outputs.SECRET_NAMES] == {s.name: app.physical_name(s.name) for s in app.secrets}
    assert printed[outputs.API_URL] == local_stack.api_url
    for url in printed[outputs.QUEUE_URLS].values():
        assert url.startswith(local_stack.endpoint_url)
