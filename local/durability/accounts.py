"""Which account's state is durable, and in which journal.

moto's backends are process-wide and keyed by account; the runtime serves one account and
attaches its journal here once its state is restored. Writes to any other account (a test's
private backend, say) are not journaled, and a hook finds no journal until one is attached.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from local.durability.journal import Journal, Statement, Ticket

__all__ = ["attach", "detach", "journal_for", "submit"]

_journals: dict[str, Journal] = {}
_lock = threading.Lock()


def attach(account_id: str, journal: Journal) -> None:
    with _lock:
        if account_id in _journals and _journals[account_id] is not journal:
            raise RuntimeError(f"account {account_id} already journals to another file")
        _journals[account_id] = journal


def detach(account_id: str) -> None:
    with _lock:
        _journals.pop(account_id, None)


def journal_for(account_id: str) -> Journal | None:
    return _journals.get(account_id)


def submit(statements_by_account: Mapping[str, Sequence[Statement]]) -> list[Ticket]:
    """Submit each account's statements to its journal (none attached: nothing to keep)."""
    tickets = []
    for account, statements in statements_by_account.items():
        journal = journal_for(account)
        if journal is not None and statements:
            tickets.append(journal.submit(statements))
    return tickets
