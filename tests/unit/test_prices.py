"""The list prices: one place, each with its source and the date it was read."""

from __future__ import annotations

import re

import pytest

from local.cost.prices import PRICES


@pytest.mark.parametrize("name", sorted(PRICES))
def test_every_price_names_its_source_and_when_it_was_read(name: str) -> None:
    price = PRICES[name]

    assert price.source.startswith("https://aws.amazon.com/")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", price.read)
    assert price.via
    assert price.dollars >= 0
    assert price.unit


def test_the_prices_the_design_rests_on() -> None:
    assert PRICES["sfn_standard_transition"].per_million == 25.0
    assert PRICES["lambda_request"].per_million == 0.20
    assert PRICES["dynamodb_write_unit"].per_million == 0.625
    assert PRICES["dynamodb_read_unit"].per_million == 0.125
    assert PRICES["sqs_request"].per_million == PRICES["pipes_request"].per_million == 0.40
    assert PRICES["http_api_request"].per_million == 1.00
    # arm64 is 20% cheaper per GB-second than x86.
    arm, x86 = PRICES["lambda_gb_second_arm64"], PRICES["lambda_gb_second_x86_64"]
    assert arm.dollars == pytest.approx(x86.dollars * 0.8, rel=1e-4)
    assert PRICES["sfn_express_gb_second"].dollars * 3600 == pytest.approx(0.06)
