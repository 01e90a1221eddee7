"""An EventBridge rule that tells a Lambda how executions ended (``ExecutionStatusRuleSpec``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.queue import DLQ_RETENTION_SECONDS
from stack.spec import ExecutionStatusRuleSpec

TYPE = "stepflow:events:ExecutionStatusRule"


@dataclass(frozen=True)
class ExecutionStatusRuleArgs:
    """``state_machine_arns`` by workflow name (those of the rule at least); the target function's
    ARN and name; the dead-letter queue's physical name."""

    spec: ExecutionStatusRuleSpec
    physical_name: str
    state_machine_arns: Mapping[str, pulumi.Input[str]]
    function_arn: pulumi.Input[str]
    function_name: pulumi.Input[str]
    dead_letter_queue_name: str


class ExecutionStatusRule(pulumi.ComponentResource):
    """The rule, its target (the Lambda, invoked asynchronously by EventBridge), the permission
    that lets EventBridge invoke it for this rule only, and the dead-letter queue with its policy.

    A delivery EventBridge cannot make (the function throttled or unreachable) is retried
    (``retry_policy``: the spec's attempts and event age) and then kept in the dead-letter queue
    (``dead_letter_config``), whose policy lets only this rule send there.

    Example::

        rule = ExecutionStatusRule("stepflow-dev-execution-outcomes", ExecutionStatusRuleArgs(
            spec, "stepflow-dev-execution-outcomes", arns, fn.arn, fn.name, dlq.arn, dlq.url))
        rule.arn, rule.dead_letter_queue_url
    """

    arn: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: ExecutionStatusRuleArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        pattern = spec.pattern(lambda workflow: args.state_machine_arns[workflow])
        rule = aws.cloudwatch.EventRule(
            resource_name,
            aws.cloudwatch.EventRuleArgs(
                name=args.physical_name,
                description=(
                    f"{', '.join(spec.statuses)} executions of {', '.join(spec.workflows)}"
                    f" -> {spec.target_function}"
                ),
                event_pattern=pulumi.Output.json_dumps(pattern),
            ),
            opts=child,
        )
        dead_letters = aws.sqs.Queue(
            args.dead_letter_queue_name,
            aws.sqs.QueueArgs(
                name=args.dead_letter_queue_name,
                message_retention_seconds=DLQ_RETENTION_SECONDS,
                sqs_managed_sse_enabled=True,
            ),
            opts=child,
        )
        permission = aws.lambda_.Permission(
            f"{resource_name}-invoke",
            aws.lambda_.PermissionArgs(
                action="lambda:InvokeFunction",
                function=args.function_name,
                principal="events.amazonaws.com",
                source_arn=rule.arn,
            ),
            opts=child,
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{resource_name}-dlq-policy",
            aws.sqs.QueuePolicyArgs(
                queue_url=dead_letters.url,
                policy=pulumi.Output.json_dumps(
                    policies.event_rule_dead_letter_policy(dead_letters.arn, rule.arn)
                ),
            ),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{resource_name}-target",
            aws.cloudwatch.EventTargetArgs(
                rule=rule.name,
                arn=args.function_arn,
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_retry_attempts=spec.maximum_retry_attempts,
                    maximum_event_age_in_seconds=spec.maximum_event_age_seconds,
                ),
                dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(
                    arn=dead_letters.arn
                ),
            ),
            # Events matched before EventBridge may invoke, or keep, them would be lost.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission, queue_policy]),
        )
        self.arn = rule.arn
        self.dead_letter_queue_url = dead_letters.url
        self.register_outputs({"arn": self.arn, "deadLetterQueueUrl": dead_letters.url})
