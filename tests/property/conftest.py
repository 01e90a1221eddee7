"""One hypothesis profile for every property test: enough examples to find the edge cases, no
deadline (a loaded CI machine must not turn a slow example into a failure), and a count of the
examples each test ran, printed at the end, so a run shows how much each source was exercised."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

EXAMPLES_PER_TEST = 200

settings.register_profile(
    "stepflow",
    max_examples=EXAMPLES_PER_TEST,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("stepflow")

EXAMPLES_RUN: Counter[str] = Counter()
"""Examples run per source, counted by the tests themselves (see :func:`count_example`)."""


def count_example(source: str) -> None:
    EXAMPLES_RUN[source] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if EXAMPLES_RUN:
        terminalreporter.section("property examples run per source")
        for source, count in sorted(EXAMPLES_RUN.items()):
            terminalreporter.write_line(f"{source}: {count}")
