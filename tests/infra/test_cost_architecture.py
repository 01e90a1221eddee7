"""The cost meter prices Lambda GB-seconds at the architecture the functions are deployed with
(the local runtime never imports the Pulumi program, so the two are kept equal here)."""

from __future__ import annotations

from infra import packaging
from local.cost import DEPLOYED_ARCHITECTURE, PRICES


def test_the_meter_prices_the_deployed_architecture() -> None:
    assert DEPLOYED_ARCHITECTURE == packaging.ARCHITECTURE
    assert f"lambda_gb_second_{packaging.ARCHITECTURE}" in PRICES
