"""The Pipe component: SQS source, batching, the workflow target, and a role for exactly that."""

from __future__ import annotations

import json

from infra.stack import Deployment
from stack.spec import App
from tests.infra.fakes import SYNTHETIC_PREFIX
from tests.infra.harness import ACCOUNT, PIPE, REGION, ROLE, ROLE_POLICY, Run

QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"


def test_each_pipe_starts_its_workflow_with_batches_of_its_queue(
    app: App, run: Run[Deployment]
) -> None:
    assert {spec.name: (spec.source_queue, spec.target_workflow) for spec in app.pipes} == {
        "ingest": ("ingest", "ingest"),
        "aggregate": ("landing-notifications", "aggregate"),
    }
    for spec in app.pipes:
        name = app.physical_name(spec.name)
        pipe = run.mocks.named(PIPE, f"{name}-pipe").inputs
        role = run.mocks.named(ROLE, f"{name}-pipe-role")
        assert pipe["name"] == name
        assert pipe["roleArn"] == role.state["arn"]
        assert pipe["source"] == QUEUE_ARN + app.physical_name(spec.source_queue)
        assert pipe["target"] == MACHINE_ARN + app.physical_name(spec.target_workflow)
        assert pipe["sourceParameters"]["sqsQueueParameters"] == {
            "batchSize": app.config.ingest_batch_size,
            "maximumBatchingWindowInSeconds": app.config.ingest_batching_window_seconds,
        }
        assert pipe["targetParameters"] == {
            "stepFunctionStateMachineParameters": {"invocationType": "FIRE_AND_FORGET"}
        }
        # The claim check: a batch too big to start the workflow is stored and passed by pointer.
        assert spec.enrichment_function == "claim_check"
        assert pipe["enrichment"] == FUNCTION_ARN + app.physical_name("claim_check")


def test_the_aggregate_pipe_filters_out_the_s3_test_event_and_ingest_filters_nothing(
    app: App, run: Run[Deployment]
) -> None:
    def source_parameters(pipe_name: str) -> dict[str, object]:
        name = app.physical_name(pipe_name)
        parameters: dict[str, object] = run.mocks.named(PIPE, f"{name}-pipe").inputs[
            "sourceParameters"
        ]
        return parameters

    aggregate = source_parameters("aggregate")
    assert aggregate["filterCriteria"] == {
        "filters": [{"pattern": '{"body": {"Event": [{"exists": false}]}}'}]
    }
    assert set(source_parameters("ingest")) == {"sqsQueueParameters"}


def test_batch_size_and_window_come_from_the_spec(synthetic_run: Run[Deployment]) -> None:
    pipe = synthetic_run.mocks.named(PIPE, f"{SYNTHETIC_PREFIX}-drain-pipe").inputs
    assert pipe["sourceParameters"]["sqsQueueParameters"] == {
        "batchSize": 50,
        "maximumBatchingWindowInSeconds": 5,
    }
    assert "enrichment" not in pipe


def test_a_pipe_without_enrichment_may_not_invoke_any_function(
    synthetic_run: Run[Deployment],
) -> None:
    policy = json.loads(
        synthetic_run.mocks.named(ROLE_POLICY, f"{SYNTHETIC_PREFIX}-drain-pipe-policy").inputs[
            "policy"
        ]
    )
    assert [statement["Sid"] for statement in policy["Statement"]] == [
        "PollSourceQueue",
        "StartTargetWorkflow",
    ]


def test_the_pipe_role_polls_its_queue_invokes_its_enrichment_and_starts_its_workflow_only(
    app: App, run: Run[Deployment]
) -> None:
    for spec in app.pipes:
        name = app.physical_name(spec.name)
        policy = json.loads(run.mocks.named(ROLE_POLICY, f"{name}-pipe-policy").inputs["policy"])
        assert policy == {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PollSourceQueue",
                    "Effect": "Allow",
                    "Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                    "Resource": [QUEUE_ARN + app.physical_name(spec.source_queue)],
                },
                {
                    "Sid": "InvokeEnrichment",
                    "Effect": "Allow",
                    "Action": ["lambda:InvokeFunction"],
                    "Resource": [FUNCTION_ARN + app.physical_name("claim_check")],
                },
                {
                    "Sid": "StartTargetWorkflow",
                    "Effect": "Allow",
                    "Action": ["states:StartExecution"],
                    "Resource": [MACHINE_ARN + app.physical_name(spec.target_workflow)],
                },
            ],
        }


def test_only_this_pipe_may_assume_its_role(app: App, run: Run[Deployment]) -> None:
    for spec in app.pipes:
        name = app.physical_name(spec.name)
        role = run.mocks.named(ROLE, f"{name}-pipe-role").inputs
        assert json.loads(role["assumeRolePolicy"])["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pipes.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                    "ArnEquals": {"aws:SourceArn": f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/{name}"},
                },
            }
        ]


def test_the_pipe_waits_for_its_permissions(app: App, run: Run[Deployment]) -> None:
    order = [(r.type, r.name) for r in run.mocks.resources]
    for spec in app.pipes:
        name = app.physical_name(spec.name)
        assert order.index((ROLE_POLICY, f"{name}-pipe-policy")) < order.index(
            (PIPE, f"{name}-pipe")
        )
