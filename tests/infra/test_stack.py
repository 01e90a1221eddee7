"""deploy(): the stack outputs and the program's entry point."""

from __future__ import annotations

import runpy
from typing import Any

import pulumi
import pytest

from infra.packaging import REPO_ROOT
from infra.stack import Deployment
from stack import outputs
from stack.spec import App
from tests.infra import harness
from tests.infra.fakes import SYNTHETIC_PREFIX, synthetic_bucket
from tests.infra.harness import (
    ACCOUNT,
    REGION,
    Run,
    default_app,
    run_program,
)


def test_outputs_are_the_shared_keys(app: App, run: Run[Deployment]) -> None:
    assert set(run.resolved) == outputs.output_keys(app)


def test_output_values(app: App, run: Run[Deployment]) -> None:
    arns = {
        spec.name: f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{app.physical_name(spec.name)}"
        for spec in app.workflows
    }
    assert run.resolved[outputs.STATE_MACHINE_ARNS] == arns
    assert set(arns) == {"ingest", "aggregate", "enrich", "redrive-parked"}
    for workflow, arn in arns.items():
        assert run.resolved[outputs.state_machine_arn_key(workflow)] == arn
    assert run.resolved[outputs.FUNCTION_NAMES] == {
        spec.name: app.physical_name(spec.name) for spec in app.functions
    }
    assert set(run.resolved[outputs.FUNCTION_NAMES]) == {
        "validate",
        "claim_check",
        "dedupe",
        "update_status",
        "enrich_batch",
        "bundle",
        "archive",
        "deliver",
        "api",
        "operations",
    }
    assert run.resolved[outputs.TABLE_NAMES] == {
        spec.name: app.physical_name(spec.name) for spec in app.tables
    }
    assert run.resolved[outputs.TABLE_NAMES]["enrichment-status"] == (
        f"{app.config.prefix}-enrichment-status"
    )
    assert set(run.resolved[outputs.TABLE_NAMES]) == {
        "dedupe",
        "status",
        "circuit",
        "enrichment-status",
        "products",
        "redrives",
        "idempotency",
    }
    assert run.resolved[outputs.REGION] == REGION
    assert run.resolved[outputs.PREFIX] == app.config.prefix
    queue_url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/"
    assert run.resolved[outputs.QUEUE_URLS] == {
        spec.name: queue_url + app.physical_name(spec.name) for spec in app.queues
    }
    assert run.resolved[outputs.DEAD_LETTER_QUEUE_URLS] == {
        spec.name: queue_url + app.physical_name(spec.name) + "-dlq"
        for spec in app.queues
        if spec.dead_letter_queue is not None
    }
    assert run.resolved[outputs.BUCKET_NAMES] == {
        spec.name: app.bucket_name(spec.name) for spec in app.buckets
    }
    assert run.resolved[outputs.SECRET_NAMES] == {
        spec.name: app.physical_name(spec.name) for spec in app.secrets
    }
    assert run.resolved[outputs.SECRET_NAMES] == {
        "downstream": f"{app.config.prefix}-downstream",
        "provider": f"{app.config.prefix}-provider",
    }
    api_id = harness.api_id(app.physical_name("api"))
    assert run.resolved[outputs.API_URL] == f"https://{api_id}.execute-api.{REGION}.amazonaws.com/"


def test_an_app_without_an_api_has_no_api_url(synthetic: App) -> None:
    assert synthetic.api is None
    assert outputs.API_URL not in outputs.output_keys(synthetic)
    assert outputs.API_URL in outputs.output_keys(default_app())


def test_the_output_keys_of_the_description(app: App) -> None:
    # Written out: what scripts read with `pulumi stack output <key>`.
    assert outputs.output_keys(app) == {
        "region",
        "prefix",
        "stateMachineArns",
        "functionNames",
        "tableNames",
        "queueUrls",
        "deadLetterQueueUrls",
        "bucketNames",
        "secretNames",
        "apiUrl",
        "userPoolId",
        "userPoolClientId",
        "accessPolicyArns",
        "ingestStateMachineArn",
        "aggregateStateMachineArn",
        "enrichStateMachineArn",
        "redriveParkedStateMachineArn",
    }


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
    # Only a queue that redrives has a dead-letter queue.
    assert synthetic_run.resolved[outputs.DEAD_LETTER_QUEUE_URLS] == {"inbox": f"{base}-inbox-dlq"}
    assert synthetic_run.resolved[outputs.BUCKET_NAMES] == {
        "archive": synthetic_bucket("archive"),
        "landing": synthetic_bucket("landing"),
    }


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
