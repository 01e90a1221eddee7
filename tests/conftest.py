"""Two tiers: ``pytest -m "not local"`` is fast, ``pytest -m local`` brings the stack up.

A test belongs to the slow tier when it uses the running local stack, directly or through another
fixture, so the marker follows the fixture wherever a test lives and needs no decorator.
"""

from __future__ import annotations

import pytest

STACK_FIXTURE = "local_env"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if STACK_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.local)
