"""Execution histories as a table a person can read in a terminal.

One row per history event: time since the execution started, event id and type, the state it
belongs to, how long the state took (on its ``...StateExited`` row), and any error with its cause.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

_COLUMNS = ("time", "id", "event", "state", "duration", "error / cause")
_CAUSE_WIDTH = 70


def _details(event: Mapping[str, Any]) -> Mapping[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return value
    return {}


def _error_text(event: Mapping[str, Any]) -> str:
    details = _details(event)
    error = details.get("error")
    if not error:
        return ""
    cause = str(details.get("cause") or "")
    with_message = _cause_message(cause)
    text = f"{error}: {with_message}" if with_message else str(error)
    return text if len(text) <= _CAUSE_WIDTH else text[: _CAUSE_WIDTH - 1] + "…"


def _cause_message(cause: str) -> str:
    # Lambda errors carry a JSON cause; its errorMessage is what a person wants to read.
    try:
        parsed = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        return cause
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])
    return cause


def _timestamp(event: Mapping[str, Any]) -> dt.datetime:
    value = event["timestamp"]
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def history_rows(events: Iterable[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """Rows of :data:`_COLUMNS` for ``events`` (in the order given)."""
    ordered = list(events)
    if not ordered:
        return []
    start = min(_timestamp(event) for event in ordered)
    entered: dict[str, dt.datetime] = {}
    rows: list[tuple[str, ...]] = []
    for event in sorted(ordered, key=lambda e: int(e["id"])):
        kind = str(event["type"])
        details = _details(event)
        state = str(details.get("name", ""))
        when = _timestamp(event)
        duration = ""
        if kind.endswith("StateEntered"):
            entered[state] = when
        elif kind.endswith("StateExited") and state in entered:
            duration = f"{(when - entered[state]).total_seconds() * 1000:.0f} ms"
        elapsed = (when - start).total_seconds() * 1000
        rows.append(
            (f"+{elapsed:.0f} ms", str(event["id"]), kind, state, duration, _error_text(event))
        )
    if [int(e["id"]) for e in ordered] != sorted(int(e["id"]) for e in ordered):
        rows.reverse()
    return rows


def format_history(events: Iterable[Mapping[str, Any]]) -> str:
    rows = history_rows(events)
    return format_table(_COLUMNS, rows)


def format_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(columns), rule, *(line(row) for row in rows)])
