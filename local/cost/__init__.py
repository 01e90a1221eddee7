"""The cost meter: what the local runtime actually did, priced at AWS list prices.

Measured, not estimated: state transitions from the execution histories (as AWS bills them,
retries included), Lambda requests and billed duration (INIT included) at each function's
configured memory, DynamoDB capacity units from the items moto read and wrote, S3, SQS and
Secrets Manager requests as the endpoint served them, Pipes requests after filtering and the
HTTP API's requests. One module a concern: :mod:`.prices` (the list prices, with sources),
:mod:`.histories` (what a history bills), :mod:`.usage` (reading a running stack),
:mod:`.bill` (pricing), :mod:`.table` (the text report).

>>> print(format_report(report("http://127.0.0.1:4566")))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from local.cost.bill import DEPLOYED_ARCHITECTURE, CostLine, CostReport, WorkflowCost, price
from local.cost.prices import PRICES, Price
from local.cost.table import format_report
from local.cost.usage import Baseline, Usage, baseline, read_usage

if TYPE_CHECKING:
    from local.runtime import LocalStack

__all__ = [
    "DEPLOYED_ARCHITECTURE",
    "PRICES",
    "Baseline",
    "CostLine",
    "CostReport",
    "Price",
    "Usage",
    "WorkflowCost",
    "baseline",
    "format_report",
    "price",
    "read_usage",
    "report",
]


def report(
    source: str | LocalStack, *, region: str = "us-east-1", since: Baseline | None = None
) -> CostReport:
    """What the stack running at ``source`` (its AWS endpoint URL, or the stack itself) did
    since it started, or ``since`` a :func:`baseline` of it, priced."""
    if isinstance(source, str):
        return price(read_usage(source, region=region, since=since))
    return price(read_usage(source.endpoint_url, region=source.app.config.region, since=since))
