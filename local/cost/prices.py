"""AWS list prices for us-east-1, in one place, each with where it was read and when.

Prices are in US dollars per unit (a request, a GB-second, a capacity unit); free tiers are left
out, as a design must hold at volume. ``via`` says where the figure was taken from on the date
``read``: ``FACTS.md`` is the project's checked list of facts (``/work/shared/FACTS.md``),
which quotes the pricing page; the others were read off the pricing page named in ``source``.
Re-check a price at its source before quoting it.

>>> PRICES["sfn_standard_transition"].per_million
25.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

REGION: Final = "us-east-1"
_READ: Final = "2026-12-04"


@dataclass(frozen=True)
class Price:
    """``dollars`` for one ``unit``, as published at ``source``."""

    dollars: float
    unit: str
    source: str
    via: str = "FACTS.md"
    read: str = _READ

    @property
    def per_million(self) -> float:
        return round(self.dollars * 1_000_000, 6)


_SFN = "https://aws.amazon.com/step-functions/pricing/"
_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_DYNAMODB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_S3 = "https://aws.amazon.com/s3/pricing/"
_SQS = "https://aws.amazon.com/sqs/pricing/"
_EVENTBRIDGE = "https://aws.amazon.com/eventbridge/pricing/"
_API_GATEWAY = "https://aws.amazon.com/api-gateway/pricing/"
_SECRETS = "https://aws.amazon.com/secrets-manager/pricing/"
_PAGE = "pricing page"

PRICES: Final[dict[str, Price]] = {
    # Retries count as transitions.
    "sfn_standard_transition": Price(0.025 / 1_000, "state transition", _SFN),
    "sfn_express_request": Price(1.00 / 1_000_000, "request", _SFN),
    # $0.06 per GB-hour (first 1,000 GB-hours), billed in 64 MB and 100 ms units.
    "sfn_express_gb_second": Price(0.06 / 3_600, "GB-second", _SFN),
    "lambda_request": Price(0.20 / 1_000_000, "request", _LAMBDA),
    "lambda_gb_second_x86_64": Price(0.0000166667, "GB-second", _LAMBDA),
    "lambda_gb_second_arm64": Price(0.0000133334, "GB-second", _LAMBDA, via=_PAGE),
    "dynamodb_write_unit": Price(0.625 / 1_000_000, "write request unit", _DYNAMODB),
    "dynamodb_read_unit": Price(0.125 / 1_000_000, "read request unit", _DYNAMODB),
    # S3 Standard: PUT, COPY, POST, LIST; GET, SELECT and the rest; DELETE is free.
    "s3_tier1_request": Price(0.005 / 1_000, "PUT/COPY/POST/LIST request", _S3, via=_PAGE),
    "s3_tier2_request": Price(0.0004 / 1_000, "GET and other request", _S3, via=_PAGE),
    "sqs_request": Price(0.40 / 1_000_000, "request (64 KiB chunk)", _SQS),
    "pipes_request": Price(0.40 / 1_000_000, "request (64 KiB chunk)", _EVENTBRIDGE),
    "http_api_request": Price(1.00 / 1_000_000, "request (512 KiB unit)", _API_GATEWAY),
    # Events AWS services emit (Step Functions status changes) are free on the default bus.
    "eventbridge_service_event": Price(0.0, "AWS service event", _EVENTBRIDGE, via=_PAGE),
    "secrets_manager_call": Price(0.05 / 10_000, "API call", _SECRETS, via=_PAGE),
}
