"""Lambdas of the console's showcase workflow: one the tests can make fail, then redrive."""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
