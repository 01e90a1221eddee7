"""CloudWatch alarms for what users expect to be told about, and the optional SNS topic.

One rule per concern (see ``stack_alarm_rules`` in :mod:`infra.stack` for the list):

- a dead-letter queue holds a message (``ApproximateNumberOfMessagesVisible`` > 0): something
  failed for good and waits for a redrive;
- a source queue's oldest message is older than the threshold (``ApproximateAgeOfOldestMessage``):
  its pipe is stuck, stopped or too slow;
- the downstream circuit breaker is open (``CircuitBreakerOpen`` >= 1, the custom metric the
  deliver Lambda emits through Powertools Metrics, in the stack's own namespace);
- a function that no workflow invokes (the API's) fails (``Errors`` > 0) or is throttled
  (``Throttles`` > 0): its caller gets the error. A workflow's functions raise on purpose to be
  retried and are throttled when executions overlap; what survives the retries fails the
  execution, which the next rule reports;
- a workflow execution fails (``ExecutionsFailed`` > 0), which includes a parked delivery that
  gave up and waits for ``RedriveExecution``;
- the operations' own custom metrics (seed 002): a dead-lettered message set aside because it
  keeps coming back (``MessagesSetAside``), redrives that failed (``RedriveErrors``), and a
  closing breaker that could not start the redrive of parked work
  (``ParkedRedriveTriggerFailed``).

Every metric is the stack's own: the AWS metrics by the dimension of a resource named after the
stack's prefix, the custom one by the stack's namespace (``App.metrics_namespace``), so two
stacks in one account and region never fire each other's alarms.

Every alarm treats missing data as OK (an idle queue or function publishes nothing) and fires
on the first breaching minute: each of these conditions needs a person, not a trend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import pulumi
import pulumi_aws as aws

TYPE: Final = "stepflow:cloudwatch:Alarms"

SQS_NAMESPACE: Final = "AWS/SQS"
LAMBDA_NAMESPACE: Final = "AWS/Lambda"
STATES_NAMESPACE: Final = "AWS/States"
# Powertools Metrics adds a ``service`` dimension (POWERTOOLS_SERVICE_NAME) to every metric.
POWERTOOLS_SERVICE_DIMENSION: Final = "service"
CIRCUIT_OPEN_METRIC: Final = "CircuitBreakerOpen"
DEFAULT_PERIOD_SECONDS: Final = 60


class Comparison(StrEnum):
    ABOVE = "GreaterThanThreshold"
    AT_LEAST = "GreaterThanOrEqualToThreshold"


@dataclass(frozen=True)
class AlarmRule:
    """One metric alarm: which metric (namespace, name, dimensions) and when it fires."""

    name: str
    description: str
    namespace: str
    metric: str
    dimensions: Mapping[str, pulumi.Input[str]]
    statistic: str
    comparison: Comparison
    threshold: float
    period_seconds: int = DEFAULT_PERIOD_SECONDS
    evaluation_periods: int = 1


def dead_letter_queue_rule(
    queue: str, physical_name: str, dlq_name: pulumi.Input[str]
) -> AlarmRule:
    """``physical_name`` names the alarm, ``dlq_name`` (the created queue's) is the dimension."""
    return AlarmRule(
        name=f"{physical_name}-not-empty",
        description=(
            f"Messages that the consumer of the {queue} queue could not process wait in "
            f"{physical_name}: inspect them, then redrive them (StartMessageMoveTask)."
        ),
        namespace=SQS_NAMESPACE,
        metric="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": dlq_name},
        statistic="Maximum",
        comparison=Comparison.ABOVE,
        threshold=0,
    )


def queue_age_rule(
    queue: str, physical_name: str, queue_name: pulumi.Input[str], max_age_seconds: int
) -> AlarmRule:
    return AlarmRule(
        name=f"{physical_name}-oldest-message-age",
        description=(
            f"The oldest message of the {queue} queue is older than {max_age_seconds} s: its "
            "consumer (pipe) is stopped, failing or too slow."
        ),
        namespace=SQS_NAMESPACE,
        metric="ApproximateAgeOfOldestMessage",
        dimensions={"QueueName": queue_name},
        statistic="Maximum",
        comparison=Comparison.ABOVE,
        threshold=max_age_seconds,
    )


def function_rules(
    function: str, physical_name: str, function_name: pulumi.Input[str]
) -> list[AlarmRule]:
    """``Errors`` > 0 and ``Throttles`` > 0 of one Lambda."""
    return [
        AlarmRule(
            name=f"{physical_name}-{kind.lower()}",
            description=f"The {function} Lambda {what}.",
            namespace=LAMBDA_NAMESPACE,
            metric=kind,
            dimensions={"FunctionName": function_name},
            statistic="Sum",
            comparison=Comparison.ABOVE,
            threshold=0,
        )
        for kind, what in (
            ("Errors", "raised errors (see its log group)"),
            ("Throttles", "was throttled (concurrency limit reached)"),
        )
    ]


def state_machine_rule(
    workflow: str, physical_name: str, state_machine_arn: pulumi.Input[str]
) -> AlarmRule:
    return AlarmRule(
        name=f"{physical_name}-executions-failed",
        description=(
            f"An execution of the {workflow} workflow failed: read its history, fix the cause, "
            "then RedriveExecution (a parked delivery ends here too)."
        ),
        namespace=STATES_NAMESPACE,
        metric="ExecutionsFailed",
        dimensions={"StateMachineArn": state_machine_arn},
        statistic="Sum",
        comparison=Comparison.ABOVE,
        threshold=0,
    )


def circuit_open_rule(prefix: str, namespace: str, service: str) -> AlarmRule:
    """The breaker's custom metric, as Powertools publishes it: ``namespace``, ``service``."""
    return AlarmRule(
        name=f"{prefix}-circuit-open",
        description=(
            "The downstream circuit breaker is open: deliveries are parked until a probe "
            "succeeds. Check the downstream endpoint and its credentials."
        ),
        namespace=namespace,
        metric=CIRCUIT_OPEN_METRIC,
        dimensions={POWERTOOLS_SERVICE_DIMENSION: service},
        statistic="Maximum",
        comparison=Comparison.AT_LEAST,
        threshold=1,
    )


@dataclass(frozen=True)
class CustomMetric:
    """A count one of the stack's functions publishes, worth a page at its first datapoint."""

    function: str
    metric: str
    description: str


OPERATIONS_METRICS: Final = (
    CustomMetric(
        "operations",
        "MessagesSetAside",
        "A dead-lettered message came back more often than maxDlqRedrives and was set aside "
        "in the redrives table: read its body and history, fix it, resubmit it.",
    ),
    CustomMetric(
        "operations",
        "RedriveErrors",
        "Redriving executions failed for some of them: see the operations log and redrive "
        "them by hand (POST /ops/executions/redrive).",
    ),
    CustomMetric(
        "deliver",
        "ParkedRedriveTriggerFailed",
        "The breaker closed, but the redrive of parked work could not be started: redrive "
        "the parked executions by hand (POST /ops/executions/redrive).",
    ),
)


def custom_metric_rule(
    prefix: str, custom: CustomMetric, namespace: str, service: str
) -> AlarmRule:
    """``custom.metric`` >= 1, as Powertools publishes it (``namespace``, ``service``)."""
    kebab = "".join(f"-{c.lower()}" if c.isupper() else c for c in custom.metric).lstrip("-")
    return AlarmRule(
        name=f"{prefix}-{kebab}",
        description=custom.description,
        namespace=namespace,
        metric=custom.metric,
        dimensions={POWERTOOLS_SERVICE_DIMENSION: service},
        statistic="Sum",
        comparison=Comparison.AT_LEAST,
        threshold=1,
    )


@dataclass(frozen=True)
class AlarmsArgs:
    """The rules, and where to send their state changes.

    ``email`` subscribes an address to a topic ``topic_name`` created for the alarms (AWS sends
    a confirmation mail first); without it the alarms only show in the CloudWatch console.
    """

    rules: Sequence[AlarmRule]
    topic_name: str
    email: str | None = None


class Alarms(pulumi.ComponentResource):
    """One ``MetricAlarm`` per rule, notifying an SNS topic when ``email`` is set.

    The topic carries alarm state changes only (names, thresholds, timestamps), never event
    data, and is left without KMS encryption on purpose: CloudWatch cannot publish to a topic
    encrypted with the AWS managed ``aws/sns`` key, and a customer managed key for alarm
    metadata would cost more than it protects.

    Example::

        Alarms("stepflow-dev-alarms", AlarmsArgs(rules, "stepflow-dev-alarms", "ops@example.com"))
    """

    alarm_names: list[pulumi.Output[str]]
    topic_arn: pulumi.Output[str] | None

    def __init__(
        self, resource_name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        names = [rule.name for rule in args.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"alarm names must be unique: {sorted(names)}")

        actions: list[pulumi.Input[str]] = []
        self.topic_arn = None
        if args.email:
            topic = aws.sns.Topic(
                f"{resource_name}-topic", aws.sns.TopicArgs(name=args.topic_name), opts=child
            )
            aws.sns.TopicSubscription(
                f"{resource_name}-email",
                aws.sns.TopicSubscriptionArgs(
                    topic=topic.arn, protocol="email", endpoint=args.email
                ),
                opts=child,
            )
            self.topic_arn = topic.arn
            actions = [topic.arn]

        self.alarm_names = [
            aws.cloudwatch.MetricAlarm(
                rule.name,
                aws.cloudwatch.MetricAlarmArgs(
                    name=rule.name,
                    alarm_description=rule.description,
                    namespace=rule.namespace,
                    metric_name=rule.metric,
                    dimensions=dict(rule.dimensions),
                    statistic=rule.statistic,
                    comparison_operator=rule.comparison.value,
                    threshold=rule.threshold,
                    period=rule.period_seconds,
                    evaluation_periods=rule.evaluation_periods,
                    treat_missing_data="notBreaching",
                    alarm_actions=actions,
                    ok_actions=actions,
                ),
                opts=child,
            ).name
            for rule in args.rules
        ]
        self.register_outputs({"alarmNames": self.alarm_names, "topicArn": self.topic_arn})
