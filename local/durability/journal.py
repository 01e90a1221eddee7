"""The write-ahead store behind every durable write: one SQLite file, committed in groups.

Each hook hands the journal the statements that record what a request changed and waits for
their commit before moto answers. One writer thread commits whatever is queued in one
transaction (group commit), so concurrent requests share a commit instead of queueing for one
each; statements commit in the order they were submitted.

``synchronous=NORMAL`` in WAL mode: a committed transaction is in the WAL file before the
caller is answered, so it survives ``kill -9`` of the runtime (what this file promises); only
an operating-system crash or power loss can take the last commits with it. ``FULL`` adds an
fsync per commit (about 5 ms on a typical VM disk, against 0.2 ms); pass ``synchronous="FULL"``
to trade that throughput for power-loss durability.

>>> journal = Journal(Path(".state/journal.sqlite3"), schemas=["CREATE TABLE IF NOT EXISTS t (k)"])
>>> journal.write([("INSERT INTO t VALUES (?)", (1,))])  # returns once committed
>>> journal.close()
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

__all__ = ["Journal", "JournalError", "Statement", "Ticket"]

Statement = tuple[str, Sequence[Any]]
_log = logging.getLogger(__name__)


class JournalError(RuntimeError):
    """A durable write did not commit: the request that made it must fail."""


class Ticket:
    """A submitted group of statements; :meth:`wait` returns once it is committed."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._error: BaseException | None = None

    def settle(self, error: BaseException | None) -> None:
        self._error = error
        self._done.set()

    def failed(self) -> bool:
        """Committed, or still queued: False. The commit failed: True (without waiting)."""
        return self._done.is_set() and self._error is not None

    def wait(self) -> None:
        self._done.wait()
        if self._error is not None:
            raise JournalError(f"the durable write failed: {self._error}") from self._error


class Journal:
    """A thread-safe SQLite journal; statements commit in submission order, in groups."""

    def __init__(
        self,
        path: Path,
        *,
        schemas: Iterable[str],
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        for schema in schemas:
            self._db.executescript(schema)
        self._pending: deque[tuple[list[Statement], Ticket]] = deque()
        self._wakeup = threading.Condition()
        self._closing = False
        self._writer = threading.Thread(target=self._write_loop, name="journal", daemon=True)
        self._writer.start()

    def submit(self, statements: Sequence[Statement]) -> Ticket:
        """Queue ``statements`` for the next commit; the ticket tells when it happened."""
        ticket = Ticket()
        with self._wakeup:
            if self._closing:
                raise JournalError(f"the journal {self.path} is closed")
            self._pending.append((list(statements), ticket))
            self._wakeup.notify()
        return ticket

    def write(self, statements: Sequence[Statement]) -> None:
        """Commit ``statements`` (one transaction with whatever else is queued); raise if not."""
        self.submit(statements).wait()

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read, on a connection of its own (WAL lets it run beside the writer)."""
        reader = sqlite3.connect(self.path)
        try:
            return reader.execute(sql, parameters).fetchall()
        finally:
            reader.close()

    def close(self) -> None:
        """Commit what is queued, then stop; further writes raise :class:`JournalError`."""
        with self._wakeup:
            self._closing = True
            self._wakeup.notify()
        self._writer.join()
        self._db.close()

    def _write_loop(self) -> None:
        while True:
            with self._wakeup:
                while not self._pending and not self._closing:
                    self._wakeup.wait()
                if not self._pending:
                    return
                group = list(self._pending)
                self._pending.clear()
            self._commit(group)

    def _commit(self, group: list[tuple[list[Statement], Ticket]]) -> None:
        error: BaseException | None = None
        try:
            self._db.execute("BEGIN")
            for statements, _ in group:
                for sql, parameters in statements:
                    self._db.execute(sql, parameters)
            self._db.execute("COMMIT")
        except Exception as failure:  # every waiting request fails with it, none silently
            error = failure
            _log.error("journal commit failed in %s: %s", self.path, failure, exc_info=True)
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        for _, ticket in group:
            ticket.settle(error)
