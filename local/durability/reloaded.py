"""A tally of what one concern's restore put back, and what it had to leave in the journal."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Reloaded"]

_log = logging.getLogger(__name__)


@dataclass
class Reloaded:
    """``count`` rows restored; ``missing`` counts rows whose resource left the description.

    Those rows stay in the journal (a description put back brings them back) and are reported.

    >>> tally = Reloaded("table", "items")
    >>> tally.missing["gone"] += 1
    >>> tally.report()  # logs: table gone is no longer in the stack: 1 items were not restored
    0
    """

    resource: str
    rows: str
    count: int = 0
    missing: Counter[str] = field(default_factory=Counter)

    def report(self) -> int:
        for name, count in self.missing.items():
            _log.warning(
                "%s %s is no longer in the stack: %d journaled %s were not restored",
                self.resource,
                name,
                count,
                self.rows,
            )
        return self.count
