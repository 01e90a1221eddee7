"""A cost report as text: per service, per workflow, and the cost per execution and per
million accepted events."""

from __future__ import annotations

from local.cost.bill import CostReport
from local.history_view import format_table


def _dollars(amount: float | None) -> str:
    return "n/a" if amount is None else f"${amount:,.6f}"


def _per_million(report: CostReport, dollars: float) -> str:
    per_million = report.per_million_events(dollars)
    return "n/a" if per_million is None else f"${per_million:,.2f}"


def format_report(report: CostReport) -> str:
    by_item = format_table(
        ("service", "item", "quantity", "unit price", "cost", "per 1M events"),
        [
            (
                line.service,
                line.item,
                f"{line.quantity:,.2f}".rstrip("0").rstrip("."),
                f"${line.price.per_million:,.4f}/M",
                _dollars(line.dollars),
                _per_million(report, line.dollars),
            )
            for line in report.lines
        ],
    )
    services: list[tuple[str, ...]] = [
        (service, _dollars(dollars), _per_million(report, dollars))
        for service, dollars in sorted(report.by_service().items(), key=lambda kv: -kv[1])
    ]
    services.append(("total", _dollars(report.total), _per_million(report, report.total)))
    by_service = format_table(("service", "cost", "per 1M events"), services)
    by_workflow = format_table(
        ("workflow", "executions", "transitions", "events", "cost", "per execution"),
        [
            (
                workflow.workflow,
                str(workflow.executions),
                str(workflow.transitions),
                str(workflow.events),
                _dollars(workflow.dollars),
                _dollars(workflow.per_execution),
            )
            for workflow in report.workflows
        ],
    )
    return "\n\n".join(
        [
            by_item,
            by_service,
            by_workflow + "\n(a workflow: its transitions and the Lambda invocations its "
            "histories show)",
            f"events accepted: {report.events:,}   executions: {report.executions:,}   "
            f"per execution: {_dollars(report.per_execution())}   "
            f"per million events: {_per_million(report, report.total)}",
        ]
    )
