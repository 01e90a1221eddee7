"""Lambdas of the console's showcase workflow: one the tests can make fail, then redrive."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

_HOLD_LIMIT_SECONDS = 25.0


class GateShutError(Exception):
    """The gate file exists: the step fails until the test removes it (then a redrive passes)."""


class RefusedError(Exception):
    """Always raised; the workflow catches it, so the graph shows a caught state."""


def gated(event: dict[str, Any], context: Any) -> dict[str, Any]:
    gate = Path(str(event["gate"]))
    if gate.exists():
        raise GateShutError(f"the gate {gate.name} is shut")
    return {**event, "passed": True}


def refuse(event: dict[str, Any], context: Any) -> None:
    raise RefusedError("the dependency refused the call")


def held(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Runs while the hold file exists (at most 25 s), so a test sees the execution running."""
    hold = Path(str(event["hold"]))
    deadline = time.monotonic() + _HOLD_LIMIT_SECONDS
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return {**event, "released": not hold.exists()}
