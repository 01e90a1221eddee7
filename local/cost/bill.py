"""Usage priced: a line per service and item, a row per workflow, the cost per execution and
per million accepted events.

A workflow's cost is its transitions (or Express requests and duration) plus the Lambda
invocations its histories show, each at its function's measured mean cost per invocation; the
rest (the API's own Lambda, DynamoDB, S3, SQS, Pipes, the API) is priced per service only.

>>> report = price(usage)  # doctest: +SKIP
>>> report.per_million_events()  # doctest: +SKIP
4.12
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from local.cost.prices import PRICES, Price
from local.cost.usage import LambdaUsage, Usage, WorkflowUsage

# The architecture every function is deployed with (infra.packaging.ARCHITECTURE; a test keeps
# them equal, local never imports infra).
DEPLOYED_ARCHITECTURE: Final = "arm64"
_S3_TIER1_METHODS: Final = frozenset({"PUT", "POST"})
_EXPRESS_MEMORY_GB: Final = 64 / 1024  # the smallest memory unit Express bills
_EXPRESS_DURATION_UNIT_MS: Final = 100


@dataclass(frozen=True)
class CostLine:
    service: str
    item: str
    quantity: float
    price: Price

    @property
    def dollars(self) -> float:
        return self.quantity * self.price.dollars


@dataclass(frozen=True)
class WorkflowCost:
    workflow: str
    executions: int
    transitions: int
    events: int
    dollars: float

    @property
    def per_execution(self) -> float | None:
        return self.dollars / self.executions if self.executions else None


@dataclass(frozen=True)
class CostReport:
    lines: tuple[CostLine, ...]
    workflows: tuple[WorkflowCost, ...]
    events: int
    executions: int

    @property
    def total(self) -> float:
        return sum(line.dollars for line in self.lines)

    def by_service(self) -> dict[str, float]:
        services: dict[str, float] = {}
        for line in self.lines:
            services[line.service] = services.get(line.service, 0.0) + line.dollars
        return services

    def per_million_events(self, dollars: float | None = None) -> float | None:
        """``dollars`` (the total by default) per million accepted events."""
        spent = self.total if dollars is None else dollars
        return spent / self.events * 1_000_000 if self.events else None

    def per_execution(self) -> float | None:
        return self.total / self.executions if self.executions else None


def price(usage: Usage, *, architecture: str = DEPLOYED_ARCHITECTURE) -> CostReport:
    """What ``usage`` costs at list prices (:data:`~local.cost.prices.PRICES`)."""
    gb_second = PRICES[f"lambda_gb_second_{architecture}"]
    lines = [
        *_step_functions(usage.workflows),
        *_lambda(usage.lambdas, gb_second, architecture),
        CostLine(
            "DynamoDB",
            "write request units",
            usage.dynamodb_write_units,
            PRICES["dynamodb_write_unit"],
        ),
        CostLine(
            "DynamoDB",
            "read request units",
            usage.dynamodb_read_units,
            PRICES["dynamodb_read_unit"],
        ),
        *_requests(usage),
        CostLine("EventBridge Pipes", "requests", usage.pipe_requests, PRICES["pipes_request"]),
        CostLine(
            "API Gateway", "HTTP API requests", usage.api_requests, PRICES["http_api_request"]
        ),
    ]
    per_invocation = {
        function.function: _lambda_dollars(function, gb_second) / function.requests
        for function in usage.lambdas
        if function.requests
    }
    workflows = tuple(
        WorkflowCost(
            workflow=workflow.workflow,
            executions=workflow.executions,
            transitions=workflow.transitions,
            events=workflow.events,
            dollars=sum(line.dollars for line in _step_functions([workflow]))
            + sum(
                count * per_invocation.get(function, 0.0)
                for function, count in workflow.invocations.items()
            ),
        )
        for workflow in usage.workflows
    )
    return CostReport(
        lines=tuple(line for line in lines if line.quantity),
        workflows=workflows,
        events=usage.events,
        executions=usage.executions,
    )


def _step_functions(workflows: list[WorkflowUsage] | tuple[WorkflowUsage, ...]) -> list[CostLine]:
    standard = [workflow for workflow in workflows if workflow.type != "EXPRESS"]
    express = [workflow for workflow in workflows if workflow.type == "EXPRESS"]
    express_gb_seconds = sum(
        math.ceil(workflow.duration_ms / _EXPRESS_DURATION_UNIT_MS)
        * _EXPRESS_DURATION_UNIT_MS
        / 1000
        * _EXPRESS_MEMORY_GB
        for workflow in express
    )
    return [
        CostLine(
            "Step Functions",
            "Standard state transitions",
            sum(workflow.transitions for workflow in standard),
            PRICES["sfn_standard_transition"],
        ),
        CostLine(
            "Step Functions",
            "Express requests",
            sum(workflow.executions for workflow in express),
            PRICES["sfn_express_request"],
        ),
        CostLine(
            "Step Functions",
            "Express GB-seconds",
            express_gb_seconds,
            PRICES["sfn_express_gb_second"],
        ),
    ]


def _gb_seconds(milliseconds: int, function: LambdaUsage) -> float:
    return milliseconds / 1000 * function.memory_mb / 1024


def _lambda_dollars(function: LambdaUsage, gb_second: Price) -> float:
    milliseconds = function.billed_ms + function.init_ms
    return function.requests * PRICES["lambda_request"].dollars + (
        _gb_seconds(milliseconds, function) * gb_second.dollars
    )


def _lambda(
    functions: tuple[LambdaUsage, ...], gb_second: Price, architecture: str
) -> list[CostLine]:
    return [
        CostLine(
            "Lambda", "requests", sum(f.requests for f in functions), PRICES["lambda_request"]
        ),
        CostLine(
            "Lambda",
            f"GB-seconds of invocations ({architecture})",
            sum(_gb_seconds(f.billed_ms, f) for f in functions),
            gb_second,
        ),
        # Billed since 2025-08-01; locally every worker's INIT, the pool's first ones included.
        CostLine(
            "Lambda",
            f"GB-seconds of INIT ({architecture})",
            sum(_gb_seconds(f.init_ms, f) for f in functions),
            gb_second,
        ),
    ]


def _requests(usage: Usage) -> list[CostLine]:
    def chunks(service: str) -> int:
        return sum(row.chunks for row in usage.requests if row.service == service)

    def s3(tier1: bool) -> int:
        return sum(
            row.requests
            for row in usage.requests
            if row.service == "s3"
            and row.operation.split(" ")[0] != "DELETE"
            and (row.operation.split(" ")[0] in _S3_TIER1_METHODS or row.operation == "GET bucket")
            == tier1
        )

    secrets = sum(row.requests for row in usage.requests if row.service == "secretsmanager")
    return [
        CostLine("S3", "PUT, COPY, POST, LIST requests", s3(True), PRICES["s3_tier1_request"]),
        CostLine("S3", "GET and other requests", s3(False), PRICES["s3_tier2_request"]),
        CostLine("SQS", "requests (64 KiB chunks)", chunks("sqs"), PRICES["sqs_request"]),
        CostLine("Secrets Manager", "API calls", secrets, PRICES["secrets_manager_call"]),
    ]
