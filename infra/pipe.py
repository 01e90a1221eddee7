"""The ``Pipe`` component: an EventBridge Pipe from an SQS queue to a state machine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from infra import policies, roles
from stack.spec import PipeSpec

TYPE: Final = "stepflow:pipes:Pipe"
INVOCATION_TYPE: Final = "FIRE_AND_FORGET"


@dataclass(frozen=True)
class PipeArgs:
    """What a ``Pipe`` needs beyond its spec: its source queue's and target state machine's
    ARNs, its enrichment function's ARN (exactly when the spec names one), and the account,
    partition and region that scope its trust policy."""

    spec: PipeSpec
    physical_name: str
    queue_arn: pulumi.Input[str]
    state_machine_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    region: str
    enrichment_function_arn: pulumi.Input[str] | None = None


class Pipe(pulumi.ComponentResource):
    """SQS batches in, one workflow execution per batch out (``FIRE_AND_FORGET``).

    The pipe polls the queue, waits up to ``batching_window_seconds`` for ``batch_size``
    messages, and starts the state machine with the batch (a JSON array of SQS records) as the
    execution input; with ``filter_patterns`` only matching messages are delivered, the others
    deleted unprocessed; messages are deleted once the execution has started, so what goes wrong
    inside the workflow is the workflow's to handle. A batch that cannot start (throttling, a
    missing permission) becomes visible again and, after the queue's ``maxReceiveCount``, lands
    in its dead-letter queue. With an ``enrichment_function`` the pipe invokes it synchronously
    with each batch and starts the target with its answer; a failed enrichment, too, leaves the
    batch on the queue.

    Its own role may be assumed only by EventBridge Pipes for this very pipe, and allows exactly
    polling the source queue, invoking the enrichment and starting the target state machine.

    Example::

        Pipe("ingest-pipe", PipeArgs(spec, "stepflow-dev-ingest", queue.arn, machine.arn, ...))
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: PipeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        spec = args.spec
        if (spec.enrichment_function is None) != (args.enrichment_function_arn is None):
            raise ValueError(
                f"pipe {spec.name!r}: an enrichment function ARN is given exactly when the spec "
                "names an enrichment function"
            )
        child = pulumi.ResourceOptions(parent=self)
        # Confused-deputy guard: only this account's pipe of this name may assume the role.
        role, policy = roles.execution_role(
            resource_name,
            f"Execution role of the {args.physical_name} pipe",
            policies.scoped_assume_role_policy(
                "pipes.amazonaws.com",
                args.account_id,
                policies.arn(
                    args.partition,
                    "pipes",
                    args.region,
                    args.account_id,
                    f"pipe/{args.physical_name}",
                ),
            ),
            policies.pipe_policy(
                args.queue_arn, args.state_machine_arn, args.enrichment_function_arn
            ),
            child,
        )
        pipe = aws.pipes.Pipe(
            resource_name,
            aws.pipes.PipeArgs(
                name=args.physical_name,
                description=(
                    f"Batches of {spec.source_queue} to the {spec.target_workflow} workflow"
                ),
                role_arn=role.arn,
                source=args.queue_arn,
                source_parameters=aws.pipes.PipeSourceParametersArgs(
                    sqs_queue_parameters=aws.pipes.PipeSourceParametersSqsQueueParametersArgs(
                        batch_size=spec.batch_size,
                        maximum_batching_window_in_seconds=spec.batching_window_seconds,
                    ),
                    # Messages matching no pattern are deleted without starting the target.
                    filter_criteria=(
                        aws.pipes.PipeSourceParametersFilterCriteriaArgs(
                            filters=[
                                aws.pipes.PipeSourceParametersFilterCriteriaFilterArgs(
                                    pattern=pattern
                                )
                                for pattern in spec.filter_patterns
                            ]
                        )
                        if spec.filter_patterns
                        else None
                    ),
                ),
                enrichment=args.enrichment_function_arn,
                target=args.state_machine_arn,
                target_parameters=aws.pipes.PipeTargetParametersArgs(
                    step_function_state_machine_parameters=aws.pipes.PipeTargetParametersStepFunctionStateMachineParametersArgs(
                        invocation_type=INVOCATION_TYPE
                    )
                ),
            ),
            # The pipe starts polling as soon as it exists: its permissions come first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.arn = pipe.arn
        self.name = pipe.name
        self.role_arn = role.arn
        self.register_outputs({"arn": self.arn, "name": self.name, "roleArn": self.role_arn})
