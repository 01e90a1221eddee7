"""The ``StateMachine`` component: one Step Functions state machine from a ``WorkflowSpec``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_aws as aws

from infra import policies, roles
from stack.spec import WorkflowSpec

TYPE: Final = "stepflow:stepfunctions:StateMachine"

# The only service integration the role grants (lambda:InvokeFunction on the referenced
# functions, see policies.state_machine_policy): a Task calling any other would be denied.
_LAMBDA_INVOKE: Final = re.compile(r"arn:[\w-]+:states:::lambda:invoke(\.waitForTaskToken)?")
# A Map runs its iterations inside the execution with no IAM of its own only in INLINE mode (the
# default); DISTRIBUTED starts child executions and reads or writes S3 itself.
_INLINE: Final = "INLINE"


class DefinitionError(ValueError):
    """A definition that would deploy but fail at run time (or not name its functions)."""


def ungranted_states(definition: Mapping[str, Any]) -> list[str]:
    """The states of a rendered definition that need permissions the role does not hold.

    Walks nested states (Map item processors, Parallel branches). A Task whose ``Resource`` is
    not a string is a function ARN (the older direct form), which the role does allow.

    Example::

        >>> ungranted_states({"States": {"Put": {
        ...     "Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "End": True}}})
        ["'Put' calls arn:aws:states:::dynamodb:putItem"]
    """
    problems: list[str] = []

    def visit(states: Mapping[str, Any]) -> None:
        for name, state in states.items():
            kind = state.get("Type")
            if kind == "Task":
                resource = state.get("Resource")
                if isinstance(resource, str) and not _LAMBDA_INVOKE.fullmatch(resource):
                    problems.append(f"{name!r} calls {resource}")
            elif kind == "Map":
                processor = state.get("ItemProcessor") or state.get("Iterator") or {}
                mode = processor.get("ProcessorConfig", {}).get("Mode", _INLINE)
                if mode != _INLINE:
                    problems.append(f"{name!r} is a {mode} Map")
                for field in ("ItemReader", "ResultWriter"):
                    if field in state:
                        problems.append(f"{name!r} has an {field}")
                visit(processor.get("States", {}))
            elif kind == "Parallel":
                for branch in state.get("Branches", []):
                    visit(branch.get("States", {}))

    visit(definition.get("States", {}))
    return problems


@dataclass(frozen=True)
class StateMachineArgs:
    """What a ``StateMachine`` needs beyond its spec.

    ``function_arns`` maps logical function names to ARNs (every function of the stack may be
    passed; the role is scoped to those the definition references). ``account_id``,
    ``partition`` and ``region`` scope the trust policy to state machines of this account.
    """

    spec: WorkflowSpec
    physical_name: str
    function_arns: Mapping[str, pulumi.Input[str]]
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    region: str
    log_level: str = "ERROR"
    include_execution_data: bool = False
    log_retention_days: int = 30


class StateMachine(pulumi.ComponentResource):
    """A state machine whose role may invoke only the functions its definition references.

    The definition is the workflow's own ``render``, given each function's ARN as a Pulumi
    Output and serialised with ``Output.json_dumps``: the ASL on AWS is the one the local runtime
    runs, with ARNs in place of local names. Execution logs go to
    ``/aws/vendedlogs/states/<name>`` (the ``/aws/vendedlogs/`` prefix keeps the account's log
    resource policy from growing with every state machine) and X-Ray tracing is on.

    Invoking those functions is all the role may do: a definition that needs more (a Task
    calling another service, a DISTRIBUTED Map) is refused with :class:`DefinitionError`, see
    :func:`ungranted_states`. INLINE Maps, like the enrich workflow's, need nothing more.

    Example::

        machine = StateMachine("ingest", StateMachineArgs(spec, "stepflow-dev-ingest", arns, ...))
        machine.arn
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: StateMachineArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        referenced = spec.definition.referenced_functions()
        unknown = referenced - set(args.function_arns)
        if unknown:
            raise DefinitionError(
                f"workflow {spec.name!r} references functions the stack does not have: "
                f"{sorted(unknown)}"
            )

        def function_arn(name: str) -> pulumi.Input[str]:
            # The role is derived from referenced_functions(); a Task it omits would be
            # denied on AWS and still run locally, so refuse it here.
            if name not in referenced:
                raise DefinitionError(
                    f"workflow {spec.name!r} renders function {name!r}, which its "
                    "referenced_functions() omits"
                )
            return args.function_arns[name]

        definition = spec.definition.render(function_arn)
        ungranted = ungranted_states(definition)
        if ungranted:
            raise DefinitionError(
                f"workflow {spec.name!r} needs permissions its role does not grant (it may only "
                "invoke the referenced Lambdas, from INLINE Maps): " + "; ".join(ungranted)
            )

        log_group = aws.cloudwatch.LogGroup(
            f"{resource_name}-logs",
            aws.cloudwatch.LogGroupArgs(
                name=f"/aws/vendedlogs/states/{args.physical_name}",
                retention_in_days=args.log_retention_days,
            ),
            opts=child,
        )
        role, policy = roles.execution_role(
            resource_name,
            f"Execution role of the {args.physical_name} state machine",
            # Confused-deputy guard, as AWS documents it for Step Functions: only state machines
            # of this account may assume the role.
            policies.scoped_assume_role_policy(
                "states.amazonaws.com",
                args.account_id,
                policies.arn(
                    args.partition, "states", args.region, args.account_id, "stateMachine:*"
                ),
                arn_operator="ArnLike",
            ),
            policies.state_machine_policy(
                [args.function_arns[name] for name in sorted(referenced)]
            ),
            child,
        )
        machine = aws.sfn.StateMachine(
            resource_name,
            aws.sfn.StateMachineArgs(
                name=args.physical_name,
                type=spec.type.value,
                role_arn=role.arn,
                definition=pulumi.Output.json_dumps(definition),
                logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                    level=args.log_level,
                    include_execution_data=args.include_execution_data,
                    # Step Functions wants the ARN of the group's streams, not of the group.
                    log_destination=pulumi.Output.concat(log_group.arn, ":*"),
                ),
                tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=True),
            ),
            # CreateStateMachine checks that the role may deliver logs: the policy comes first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

        self.arn = machine.arn
        self.name = machine.name
        self.role_arn = role.arn
        self.log_group_name = log_group.name
        self.register_outputs(
            {
                "arn": self.arn,
                "name": self.name,
                "roleArn": self.role_arn,
                "logGroupName": self.log_group_name,
            }
        )
