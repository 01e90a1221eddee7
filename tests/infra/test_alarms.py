"""Alarms: dead letters, stuck queues, the open breaker, failing functions and workflows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from infra.alarms import AlarmRule, Alarms, AlarmsArgs, Comparison
from infra.stack import Deployment, deploy
from stack.app import build_app
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
        if queue.dead_letter_queue is not None:
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
    # Only the API's Lambda: the workflows retry their functions' errors and throttles, and what
    # survives the retries fails the execution (the next alarm).
    for function in [app.function("api")]:
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
    # As Powertools Metrics publishes it: the stack's namespace, the `service` dimension.
    expected[f"{app.config.prefix}-circuit-open"] = (
        f"Stepflow/{app.config.prefix}",
        "CircuitBreakerOpen",
        {"service": "deliver"},
        "Maximum",
        "GreaterThanOrEqualToThreshold",
        1,
    )
    for service, metric_name, kebab in (
        ("operations", "MessagesSetAside", "messages-set-aside"),
        ("operations", "RedriveErrors", "redrive-errors"),
        ("deliver", "ParkedRedriveTriggerFailed", "parked-redrive-trigger-failed"),
    ):
        expected[f"{app.config.prefix}-{kebab}"] = (
            f"Stepflow/{app.config.prefix}",
            metric_name,
            {"service": service},
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1,
        )
    found = alarms(run)
    assert {key: metric(alarm) for key, alarm in found.items()} == expected
    # The free tier's 10 alarms and 5 more (README, "Deploy to a fresh account"): the outcome
    # rule's dead-letter queue has an age alarm, and the operations metrics three.
    redriving = [queue for queue in app.queues if queue.dead_letter_queue is not None]
    assert len(found) == len(app.queues) + len(redriving) + 2 + len(app.workflows) + 1 + 3 == 15


def test_the_alarms_of_the_description(app: App, run: Run[Deployment]) -> None:
    # Written out, so a function, workflow or queue missing from the alarms fails here.
    prefix = app.config.prefix
    expected = {f"{prefix}-api-{kind}" for kind in ("errors", "throttles")}
    expected |= {
        f"{prefix}-{w}-executions-failed"
        for w in ("ingest", "aggregate", "enrich", "redrive-parked")
    }
    expected |= {
        f"{prefix}-{name}"
        for name in ("messages-set-aside", "redrive-errors", "parked-redrive-trigger-failed")
    }
    for queue in ("ingest", "landing-notifications"):
        expected |= {f"{prefix}-{queue}-dlq-not-empty", f"{prefix}-{queue}-oldest-message-age"}
    # The outcome rule's dead-letter queue is a queue of the description: an outcome left there
    # for the age threshold alarms.
    expected.add(f"{prefix}-execution-outcomes-dlq-oldest-message-age")
    expected.add(f"{prefix}-circuit-open")
    assert set(alarms(run)) == expected


def test_no_alarm_on_what_the_workflows_retry(app: App, run: Run[Deployment]) -> None:
    # deliver raises TransientDeliveryError and CircuitOpenError on purpose to be retried, and
    # enrich_batch is throttled whenever two enrichments overlap: neither needs a person.
    watched = {
        alarm["dimensions"].get("FunctionName")
        for alarm in alarms(run).values()
        if alarm["namespace"] == "AWS/Lambda"
    }
    for workflow in app.workflows:
        for function in workflow.definition.referenced_functions():
            assert app.physical_name(function) not in watched, function
    assert app.physical_name("api") in watched


def test_two_stacks_never_watch_the_same_metric(app: App, run: Run[Deployment]) -> None:
    # Two stacks of one account and region differ by prefix; each alarm's metric (namespace,
    # name, dimensions) must belong to its own stack, or each fires on the other's trouble.
    other_app = build_app(replace(app.config, prefix="stepflow-other"))
    other = run_program(lambda: deploy(other_app))

    def watched(found: Run[Deployment]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
        return {
            (alarm["namespace"], alarm["metricName"], tuple(sorted(alarm["dimensions"].items())))
            for alarm in alarms(found).values()
        }

    assert len(watched(run)) == len(alarms(run))
    assert watched(run).isdisjoint(watched(other))


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
    assert breaker["namespace"] == f"Stepflow/{SYNTHETIC_PREFIX}"
