"""The trivial Lambda the execution benchmark runs, so it measures the runtime, not the code."""

from typing import Any


def echo(event: Any, context: Any) -> Any:
    return event
