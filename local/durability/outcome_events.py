"""Execution status-change events not yet delivered to their rule's target, journaled.

The local runtime emits an event when an execution ends (:mod:`local.event_rules`); until the
target took it (or it was kept in the rule's dead-letter queue) it is a row here, so ``kill -9``
between the end of an execution and the delivery of its outcome loses nothing: the next start
delivers what is left. Rows are submitted, not waited for: the journal commits in submission
order, so an event is durable no later than the forgetting of its execution, which is
submitted after it (:mod:`local.durability.executions`).

>>> outcomes = OutcomeJournal(journal)  # doctest: +SKIP
>>> outcomes.add("event-id", "execution-outcomes", '{"detail": ...}')  # doctest: +SKIP
>>> outcomes.pending()  # doctest: +SKIP
[('event-id', 'execution-outcomes', '{"detail": ...}')]
"""

from __future__ import annotations

from local.durability.journal import Journal

__all__ = ["SCHEMA", "OutcomeJournal"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS outcome_events (
    event_id TEXT PRIMARY KEY,
    rule     TEXT NOT NULL,
    event    TEXT NOT NULL
);
"""


class OutcomeJournal:
    """The undelivered outcome events of one journal."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def add(self, event_id: str, rule: str, event: str) -> None:
        self._journal.submit(
            [("INSERT OR REPLACE INTO outcome_events VALUES (?, ?, ?)", (event_id, rule, event))]
        )

    def settle(self, event_id: str) -> None:
        """The event reached its target or its dead-letter queue."""
        self._journal.submit([("DELETE FROM outcome_events WHERE event_id = ?", (event_id,))])

    def pending(self) -> list[tuple[str, str, str]]:
        """``(event id, rule name, event JSON)`` of every event still undelivered."""
        rows = self._journal.query(
            "SELECT event_id, rule, event FROM outcome_events ORDER BY rowid"
        )
        return [(str(event_id), str(rule), str(event)) for event_id, rule, event in rows]
