"""The execution status rule: EventBridge may invoke update_status for this rule only, and what
it cannot deliver is retried, then kept in a queue only this rule may send to."""

from __future__ import annotations

import json

from infra.stack import Deployment
from stack.spec import App
from tests.infra.harness import (
    ACCOUNT,
    EVENT_INVOKE_CONFIG,
    EVENT_RULE,
    EVENT_TARGET,
    PERMISSION,
    QUEUE,
    QUEUE_POLICY,
    REGION,
    Run,
)

RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/"


def test_eventbridge_may_invoke_the_target_for_the_rule_only(
    app: App, run: Run[Deployment]
) -> None:
    [spec] = app.execution_status_rules
    rule_name = app.physical_name(spec.name)
    [permission] = [
        p for p in run.mocks.of_type(PERMISSION) if p.inputs["principal"] == "events.amazonaws.com"
    ]
    assert permission.inputs["action"] == "lambda:InvokeFunction"
    assert permission.inputs["sourceArn"] == RULE_ARN + rule_name
    assert permission.inputs["function"] == app.physical_name(spec.target_function)


def test_undelivered_events_are_retried_then_kept_in_an_encrypted_queue(
    app: App, run: Run[Deployment]
) -> None:
    [spec] = app.execution_status_rules
    [target] = run.mocks.of_type(EVENT_TARGET)
    dlq_name = app.physical_name(spec.dead_letter_queue)
    assert target.inputs["rule"] == app.physical_name(spec.name)
    assert target.inputs["retryPolicy"]["maximumRetryAttempts"] == spec.maximum_retry_attempts
    assert target.inputs["deadLetterConfig"]["arn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{dlq_name}"
    [queue] = [q for q in run.mocks.of_type(QUEUE) if q.inputs["name"] == dlq_name]
    assert queue.inputs["sqsManagedSseEnabled"] is True
    assert queue.inputs["messageRetentionSeconds"] == 1_209_600


def test_only_the_rule_may_send_to_its_dead_letter_queue(app: App, run: Run[Deployment]) -> None:
    [spec] = app.execution_status_rules
    dlq_name = app.physical_name(spec.dead_letter_queue)
    [policy] = [p for p in run.mocks.of_type(QUEUE_POLICY) if dlq_name in p.inputs["queueUrl"]]
    [statement] = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == ["sqs:SendMessage"]
    assert statement["Resource"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{dlq_name}"
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": RULE_ARN + app.physical_name(spec.name)}
    }


def test_the_rule_matches_unsuccessful_endings_of_the_stack_workflows(
    app: App, run: Run[Deployment]
) -> None:
    [rule] = run.mocks.of_type(EVENT_RULE)
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["status"] == ["FAILED", "TIMED_OUT", "ABORTED"]
    assert pattern["detail"]["stateMachineArn"] == [
        f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{app.physical_name(name)}"
        for name in ("ingest", "aggregate", "enrich")
    ]


def test_the_dead_letter_queue_is_a_queue_of_the_description(app: App) -> None:
    [spec] = app.execution_status_rules
    declared = app.queue(spec.dead_letter_queue)
    assert declared.dead_letter_queue is None  # a dead-letter queue has none of its own
    assert declared.message_retention_seconds == 1_209_600


def test_failed_asynchronous_invocations_of_the_target_go_to_the_dead_letter_queue(
    app: App, run: Run[Deployment]
) -> None:
    [spec] = app.execution_status_rules
    dlq_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{app.physical_name(spec.dead_letter_queue)}"
    [config] = run.mocks.of_type(EVENT_INVOKE_CONFIG)
    assert config.inputs["functionName"] == app.physical_name(spec.target_function)
    assert config.inputs["destinationConfig"] == {"onFailure": {"destination": dlq_arn}}
    # Bounded: Lambda's limits are 0-2 retries and 60 s-6 h of event age.
    assert 0 <= config.inputs["maximumRetryAttempts"] <= 2
    assert 60 <= config.inputs["maximumEventAgeInSeconds"] <= 21_600
    # The destination sends with the function's own role: tests/infra/test_grants.py.
