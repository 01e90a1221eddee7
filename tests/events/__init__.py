"""Canonical sample events, one JSON file each, shared by the unit and functional tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).parent
EXAMPLES_DIR = EVENTS_DIR.parents[1] / "examples"


def load_event(name: str) -> Any:
    """The parsed JSON of ``tests/events/<name>``."""
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def load_example(name: str) -> Any:
    """The parsed JSON of ``examples/<name>``, the samples users run."""
    return json.loads((EXAMPLES_DIR / name).read_text(encoding="utf-8"))
