"""An EventBridge rule that tells a Lambda how executions ended (``ExecutionStatusRuleSpec``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from infra import policies
from stack.spec import ExecutionStatusRuleSpec

TYPE = "stepflow:events:ExecutionStatusRule"


# Lambda's own bounds for an asynchronous invocation that fails: at most 2 retries, and an
# event older than 6 hours is not tried again. Both at their maximum: update_status is
# idempotent (a status only moves forward), so a retry can only help; what still fails goes to
# the dead-letter queue with the event and the error.
ASYNC_RETRY_ATTEMPTS: Final = 2
ASYNC_EVENT_AGE_SECONDS: Final = 21_600


@dataclass(frozen=True)
class ExecutionStatusRuleArgs:
    """``state_machine_arns`` by workflow name (those of the rule at least); the target function's
    ARN and name; the dead-letter queue's ARN and URL (a ``Queue`` of the description)."""

    spec: ExecutionStatusRuleSpec
    physical_name: str
    state_machine_arns: Mapping[str, pulumi.Input[str]]
    function_arn: pulumi.Input[str]
    function_name: pulumi.Input[str]
    dead_letter_queue_arn: pulumi.Input[str]
    dead_letter_queue_url: pulumi.Input[str]


class ExecutionStatusRule(pulumi.ComponentResource):
    """The rule, its target (the Lambda, invoked asynchronously by EventBridge), the permission
    that lets EventBridge invoke it for this rule only, the dead-letter queue's policy, and the
    target's asynchronous invocation config.

    No outcome is dropped on either leg. A delivery EventBridge cannot make (the function
    throttled or unreachable) is retried (``retry_policy``: the spec's attempts and event age)
    and then kept in the dead-letter queue (``dead_letter_config``), whose policy lets only this
    rule send there. An invocation that Lambda accepted but the function failed is retried by
    Lambda (:data:`ASYNC_RETRY_ATTEMPTS`, :data:`ASYNC_EVENT_AGE_SECONDS`) and then sent to the
    same queue (the on-failure destination, with the function's role, which the description
    grants ``sqs:SendMessage`` there).

    Example::

        rule = ExecutionStatusRule("stepflow-dev-execution-outcomes", ExecutionStatusRuleArgs(
            spec, "stepflow-dev-execution-outcomes", arns, fn.arn, fn.name, dlq.arn, dlq.url))
        rule.arn
    """

    arn: pulumi.Output[str]

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
                queue_url=args.dead_letter_queue_url,
                policy=pulumi.Output.json_dumps(
                    policies.event_rule_dead_letter_policy(args.dead_letter_queue_arn, rule.arn)
                ),
            ),
            opts=child,
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{resource_name}-async",
            aws.lambda_.FunctionEventInvokeConfigArgs(
                function_name=args.function_name,
                maximum_retry_attempts=ASYNC_RETRY_ATTEMPTS,
                maximum_event_age_in_seconds=ASYNC_EVENT_AGE_SECONDS,
                destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                    on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                        destination=args.dead_letter_queue_arn
                    )
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
                    arn=args.dead_letter_queue_arn
                ),
            ),
            # Events matched before EventBridge may invoke, or keep, them would be lost.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission, queue_policy]),
        )
        self.arn = rule.arn
        self.register_outputs({"arn": self.arn})
