"""Bring the journaled state back into a freshly provisioned moto, then start journaling.

Restore writes straight into moto's models, outside any request, so nothing it puts back is
journaled again and no S3 notification fires for an object that is merely reloaded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from local.durability import accounts, dynamodb, executions, s3, sqs
from local.durability.journal import Journal
from local.execution_archive import ExecutionArchive

__all__ = ["Restored", "restore"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Restored:
    items: int
    messages: int
    objects: int
    interrupted_executions: int
    seconds: float

    def summary(self) -> str:
        return (
            f"restored {self.items} items, {self.messages} messages, {self.objects} object keys;"
            f" {self.interrupted_executions} interrupted executions marked FAILED"
            f" ({self.seconds:.2f} s)"
        )


def restore(journal: Journal, account_id: str, archive: ExecutionArchive) -> Restored:
    """Restore ``account_id``'s state from ``journal``, then attach the journal to it."""
    started = time.perf_counter()
    restored = Restored(
        items=dynamodb.restore(journal, account_id),
        messages=sqs.restore(journal, account_id),
        objects=s3.restore(journal, account_id),
        interrupted_executions=executions.restore(journal, archive),
        seconds=0.0,
    )
    accounts.attach(account_id, journal)
    restored = Restored(**{**restored.__dict__, "seconds": time.perf_counter() - started})
    _log.info("%s", restored.summary())
    return restored
