"""moto's internals, reached untyped on purpose: hooking them is outside any published API."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["moto"]


def moto(module: str) -> Any:
    return importlib.import_module(module)
