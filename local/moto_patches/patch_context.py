"""What every patch reaches for: the runtime's parts (set by ``install``) and moto's modules."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.clock import TimeScale
    from local.execution_archive import ExecutionArchive
    from local.moto_patches.lambda_invoke import LambdaService
    from local.moto_patches.lambda_tasks import LambdaDispatcher


@dataclass
class PatchContext:
    """What the patched code reaches for; set by :func:`local.moto_patches.install`, read at
    call time."""

    dispatcher: LambdaDispatcher | None = None
    time_scale: TimeScale | None = None
    archive: ExecutionArchive | None = None
    lambda_service: LambdaService | None = None
    # What the running stack reports of its Lambdas, pipes and API (served with the meter).
    usage: Callable[[], dict[str, Any]] | None = None


def moto_module(module: str) -> Any:
    """A moto module, untyped on purpose: patching internals is outside any published API."""
    return importlib.import_module(module)


_context = PatchContext()
# Guards every change to a state machine's list of live executions: moto's start appends to
# it, archiving and redriving replace it; unguarded, a replacement could drop an append.
executions_lock = threading.RLock()


def context() -> PatchContext:
    return _context
