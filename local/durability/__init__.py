"""State that AWS would keep survives the local runtime: a crash, ``kill -9``, a restart.

moto keeps everything in memory. This package hooks moto's models (it patches them itself, as
:mod:`local.moto_patches` does for behaviour) so that every request that changes a table item,
a queue message or an object, and every execution start and history event, is committed to a
SQLite journal (:mod:`~local.durability.journal`) before moto answers; a failed write fails
the request and is logged. On start, :func:`open_state` restores the journal into the freshly
provisioned resources; executions that were running end FAILED with ``Local.RuntimeStopped``
and can be redriven. One module per concern: :mod:`~local.durability.dynamodb`,
:mod:`~local.durability.sqs`, :mod:`~local.durability.s3`,
:mod:`~local.durability.executions`, :mod:`~local.durability.restore`; the unit of work that
ties a request to its commit is :mod:`~local.durability.work`, and
:mod:`~local.durability.state_lock` keeps one runtime per state directory.

>>> durability.install()  # doctest: +SKIP
>>> state = durability.open_state(Path(".state"), "123456789012", archive)  # doctest: +SKIP
>>> state.close()  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from local.durability import accounts, dynamodb, executions, outcome_events, s3, sqs
from local.durability.journal import Journal, JournalError
from local.durability.outcome_events import OutcomeJournal
from local.durability.restore import Restored, restore
from local.durability.state_lock import StateInUseError, StateLock
from local.execution_archive import ExecutionArchive

__all__ = [
    "DurableState",
    "JournalError",
    "OutcomeJournal",
    "StateInUseError",
    "StateLock",
    "install",
    "open_state",
]

JOURNAL_FILE = "journal.sqlite3"
SCHEMAS = (dynamodb.SCHEMA, sqs.SCHEMA, s3.SCHEMA, executions.SCHEMA, outcome_events.SCHEMA)
_install_lock = threading.Lock()
_installed = False


def install() -> None:
    """Hook moto's models (once per process); they journal nothing until a state is open."""
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so are the hooks
    executions.thaw()  # a stack stopped earlier in this process froze them
    with _install_lock:
        if _installed:
            return
        dynamodb.install()
        sqs.install()
        s3.install()
        executions.install()
        _installed = True


class DurableState:
    """An account's journal, restored and attached; :meth:`close` detaches and closes it."""

    def __init__(self, journal: Journal, account_id: str, restored: Restored) -> None:
        self.journal = journal
        self.account_id = account_id
        self.restored = restored

    def close(self) -> None:
        executions.freeze()
        accounts.detach(self.account_id)
        self.journal.close()


def open_state(
    state_dir: Path,
    account_id: str,
    archive: ExecutionArchive,
    outcomes: Callable[[OutcomeJournal], None] | None = None,
) -> DurableState:
    """Open ``state_dir``'s journal, restore it into moto and journal from now on.

    ``outcomes`` is handed the journal of undelivered execution outcome events before the
    restore, whose interrupted executions emit theirs.
    """
    journal = Journal(state_dir / JOURNAL_FILE, schemas=SCHEMAS)
    try:
        if outcomes is not None:
            outcomes(OutcomeJournal(journal))
        restored = restore(journal, account_id, archive)
    except BaseException:
        journal.close()
        raise
    return DurableState(journal, account_id, restored)
