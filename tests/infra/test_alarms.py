"""Alarms: dead letters, stuck queues, the open breaker, failing functions and workflows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from infra.alarms import AlarmRule, Alarms, AlarmsArgs, Comparison
from infra.stack import Deployment, deploy
from stack.spec import App, CircuitBreakerSpec
from tests.infra.fakes import SYNTHETIC_PREFIX
from tests.infra.harness import (
    ACCOUNT,
    ALARM,
    REGION,
    SUBSCRIPTION,
    TOPIC,
    Run,
    run_program,
)


def alarms(run: Run[Deployment]) -> dict[str, dict[str, Any]]:
    return {alarm.inputs["name"]: alarm.inputs for alarm in run.mocks.of_type(ALARM)}


def metric(alarm: dict[str, Any]) -> tuple[Any, ...]:
    return (
        alarm["namespace"],
        alarm["metricName"],
        alarm["dimensions"],
        alarm["statistic"],
        alarm["comparisonOperator"],
        alarm["threshold"],
    )


def test_the_stack_alarms_on_each_queue_function_and_workflow_and_the_breaker(
    app: App, run: Run[Deployment]
) -> None:
    name = app.physical_name
    expected: dict[str, tuple[Any, ...]] = {}
    for queue in app.queues:
        assert queue.dead_letter_queue is not None
        dlq = name(queue.dead_letter_queue)
        expected[f"{dlq}-not-empty"] = (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": dlq},
            "Maximum",
            "GreaterThanThreshold",
            0,
        )
        expected[f"{name(queue.name)}-oldest-message-age"] = (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": name(queue.name)},
            "Maximum",
            "GreaterThanThreshold",
            300,
        )
    for function in app.functions:
        for kind in ("Errors", "Throttles"):
            expected[f"{name(function.name)}-{kind.lower()}"] = (
                "AWS/Lambda",
                kind,
                {"FunctionName": name(function.name)},
                "Sum",
                "GreaterThanThreshold",
                0,
            )
    for workflow in app.workflows:
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name(workflow.name)}"
        expected[f"{name(workflow.name)}-executions-failed"] = (
            "AWS/States",
            "ExecutionsFailed",
            {"StateMachineArn": arn},
            "Sum",
            "GreaterThanThreshold",
            0,
        )
    # As Powertools Metrics publishes it: the project's namespace, the `service` dimension.
    expected[f"{app.config.prefix}-circuit-open"] = (
        "Stepflow",
        "CircuitBreakerOpen",
        {"service": "deliver"},
        "Maximum",
        "GreaterThanOrEqualToThreshold",
        1,
    )
    found = alarms(run)
    assert {key: metric(alarm) for key, alarm in found.items()} == expected
    assert len(found) == 2 * len(app.queues) + 2 * len(app.functions) + len(app.workflows) + 1


def test_the_alarms_of_the_description(app: App, run: Run[Deployment]) -> None:
    # Written out, so a function, workflow or queue missing from the alarms fails here.
    prefix = app.config.prefix
    functions = [
        "validate",
        "dedupe",
        "update_status",
        "enrich_batch",
        "bundle",
        "archive",
        "deliver",
        "api",
    ]
    expected = {f"{prefix}-{f}-{kind}" for f in functions for kind in ("errors", "throttles")}
    expected |= {f"{prefix}-{w}-executions-failed" for w in ("ingest", "aggregate", "enrich")}
    for queue in ("ingest", "landing-notifications"):
        expected |= {f"{prefix}-{queue}-dlq-not-empty", f"{prefix}-{queue}-oldest-message-age"}
    expected.add(f"{prefix}-circuit-open")
    assert set(alarms(run)) == expected
    # enrich_batch is throttled whenever enrichments together want more than its reserved
    # concurrency: the workflow retries, and the alarm says the provider's share is saturated.
    throttles = alarms(run)[f"{prefix}-enrich_batch-throttles"]
    assert throttles["dimensions"] == {"FunctionName": f"{prefix}-enrich_batch"}


def test_every_alarm_fires_on_the_first_bad_minute_and_ignores_silence(
    run: Run[Deployment],
) -> None:
    for name, alarm in alarms(run).items():
        assert (alarm["period"], alarm["evaluationPeriods"]) == (60, 1), name
        assert alarm["treatMissingData"] == "notBreaching", name
        assert alarm["alarmDescription"], name


def test_without_an_email_there_is_no_topic(run: Run[Deployment]) -> None:
    assert run.mocks.of_type(TOPIC) == []
    for alarm in alarms(run).values():
        assert alarm.get("alarmActions", []) == []


def test_an_email_gets_every_alarm_through_a_topic(synthetic_run: Run[Deployment]) -> None:
    [topic] = synthetic_run.mocks.of_type(TOPIC)
    [subscription] = synthetic_run.mocks.of_type(SUBSCRIPTION)
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{SYNTHETIC_PREFIX}-alarms"
    assert topic.inputs == {"name": f"{SYNTHETIC_PREFIX}-alarms"}
    assert subscription.inputs == {
        "topic": topic_arn,
        "protocol": "email",
        "endpoint": "ops@example.com",
    }
    found = alarms(synthetic_run)
    assert found
    for alarm in found.values():
        assert alarm["alarmActions"] == alarm["okActions"] == [topic_arn]


def test_the_age_threshold_and_the_queues_without_dlq_follow_the_settings(
    synthetic_run: Run[Deployment],
) -> None:
    found = alarms(synthetic_run)
    assert found[f"{SYNTHETIC_PREFIX}-inbox-oldest-message-age"]["threshold"] == 120
    assert f"{SYNTHETIC_PREFIX}-inbox-dlq-not-empty" in found
    # scratch has no dead-letter queue, so nothing to alarm on; and no deliver, no breaker.
    assert not [name for name in found if "scratch-dlq" in name or "circuit" in name]


def test_alarm_names_must_be_unique() -> None:
    rule = AlarmRule("twice", "d", "ns", "m", {}, "Sum", Comparison.ABOVE, 0)
    with pytest.raises(ValueError, match="unique"):
        run_program(lambda: Alarms("alarms", AlarmsArgs([rule, rule], "topic")))


def test_the_breaker_alarm_follows_the_described_breaker(synthetic: App) -> None:
    # Whichever function the description names publishes the metric, under its own service.
    with_breaker = replace(synthetic, circuit_breaker=CircuitBreakerSpec("writer", "items"))
    run = run_program(lambda: deploy(with_breaker))
    breaker = alarms(run)[f"{SYNTHETIC_PREFIX}-circuit-open"]
    assert breaker["metricName"] == "CircuitBreakerOpen"
    assert breaker["dimensions"] == {"service": "writer"}
    assert breaker["namespace"] == "Stepflow"
