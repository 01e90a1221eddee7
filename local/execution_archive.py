"""Finished executions, kept in SQLite so the local stack's memory stays flat.

Stock moto keeps every execution (and its whole history) in memory forever. The local runtime
moves each execution here the moment it ends and answers ``DescribeExecution``,
``ListExecutions`` and ``GetExecutionHistory`` from this file for finished ones, so they stay
inspectable across a long-running stack (and after a restart with the same state directory).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    execution_arn     TEXT PRIMARY KEY,
    state_machine_arn TEXT NOT NULL,
    name              TEXT NOT NULL,
    status            TEXT NOT NULL,
    start_date        REAL NOT NULL,
    stop_date         REAL,
    input             TEXT,
    output            TEXT,
    error             TEXT,
    cause             TEXT,
    history           BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_machine
    ON executions (state_machine_arn, start_date DESC);
CREATE UNIQUE INDEX IF NOT EXISTS executions_by_name
    ON executions (state_machine_arn, name);
"""


@dataclass(frozen=True)
class ArchivedExecution:
    execution_arn: str
    state_machine_arn: str
    name: str
    status: str
    start_date: dt.datetime
    stop_date: dt.datetime | None
    input: str | None
    output: str | None
    error: str | None
    cause: str | None

    def describe(self) -> dict[str, Any]:
        """The ``DescribeExecution`` answer, in the service's field names."""
        answer: dict[str, Any] = {
            "executionArn": self.execution_arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start_date,
            "input": self.input,
            "inputDetails": {"included": True},
        }
        if self.stop_date is not None:
            answer["stopDate"] = self.stop_date
        if self.output is not None:
            answer["output"] = self.output
            answer["outputDetails"] = {"included": True}
        if self.error is not None:
            answer["error"] = self.error
        if self.cause is not None:
            answer["cause"] = self.cause
        return answer

    def list_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "executionArn": self.execution_arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start_date,
        }
        if self.stop_date is not None:
            item["stopDate"] = self.stop_date
        return item


def _to_epoch(value: dt.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _from_epoch(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, tz=dt.UTC)


def _encode_history(events: list[dict[str, Any]]) -> bytes:
    def default(value: object) -> object:
        if isinstance(value, dt.datetime):
            return {"$ts": value.timestamp()}
        raise TypeError(f"cannot archive {type(value).__name__} in a history event")

    return zlib.compress(json.dumps(events, default=default).encode(), level=1)


def _decode_history(blob: bytes) -> list[dict[str, Any]]:
    def hook(obj: dict[str, Any]) -> object:
        if obj.keys() == {"$ts"}:
            return dt.datetime.fromtimestamp(obj["$ts"], tz=dt.UTC)
        return obj

    events: list[dict[str, Any]] = json.loads(zlib.decompress(blob), object_hook=hook)
    return events


class ExecutionArchive:
    """A thread-safe SQLite file of finished executions and their histories."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            yield self._db.cursor()

    def put(self, execution: ArchivedExecution, history: list[dict[str, Any]]) -> None:
        with self._cursor() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO executions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    execution.execution_arn,
                    execution.state_machine_arn,
                    execution.name,
                    execution.status,
                    _to_epoch(execution.start_date),
                    _to_epoch(execution.stop_date),
                    execution.input,
                    execution.output,
                    execution.error,
                    execution.cause,
                    _encode_history(history),
                ),
            )

    def get(self, execution_arn: str) -> ArchivedExecution | None:
        with self._cursor() as cur:
            row = cur.execute(
                "SELECT execution_arn, state_machine_arn, name, status, start_date, stop_date,"
                " input, output, error, cause FROM executions WHERE execution_arn = ?",
                (execution_arn,),
            ).fetchone()
        return None if row is None else _row_to_execution(row)

    def find_by_name(self, state_machine_arn: str, name: str) -> ArchivedExecution | None:
        with self._cursor() as cur:
            row = cur.execute(
                "SELECT execution_arn, state_machine_arn, name, status, start_date, stop_date,"
                " input, output, error, cause FROM executions"
                " WHERE state_machine_arn = ? AND name = ?",
                (state_machine_arn, name),
            ).fetchone()
        return None if row is None else _row_to_execution(row)

    def history(self, execution_arn: str) -> list[dict[str, Any]] | None:
        with self._cursor() as cur:
            row = cur.execute(
                "SELECT history FROM executions WHERE execution_arn = ?", (execution_arn,)
            ).fetchone()
        return None if row is None else _decode_history(row[0])

    def list(self, state_machine_arn: str, status: str | None = None) -> list[ArchivedExecution]:
        query = (
            "SELECT execution_arn, state_machine_arn, name, status, start_date, stop_date,"
            " input, output, error, cause FROM executions WHERE state_machine_arn = ?"
        )
        params: tuple[str, ...] = (state_machine_arn,)
        if status is not None:
            query += " AND status = ?"
            params = (state_machine_arn, status)
        query += " ORDER BY start_date DESC"
        with self._cursor() as cur:
            rows = cur.execute(query, params).fetchall()
        return [_row_to_execution(row) for row in rows]

    def count(self) -> int:
        with self._cursor() as cur:
            (total,) = cur.execute("SELECT COUNT(*) FROM executions").fetchone()
        return int(total)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _row_to_execution(row: tuple[Any, ...]) -> ArchivedExecution:
    start = _from_epoch(row[4])
    assert start is not None
    return ArchivedExecution(
        execution_arn=row[0],
        state_machine_arn=row[1],
        name=row[2],
        status=row[3],
        start_date=start,
        stop_date=_from_epoch(row[5]),
        input=row[6],
        output=row[7],
        error=row[8],
        cause=row[9],
    )
