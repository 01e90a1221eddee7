"""One runtime per state directory: ``up`` holds an exclusive ``flock`` on ``<state>/lock``.

The lock dies with the process (even on ``kill -9``), so a stale file never blocks a start;
the file's text is the holder's pid, for the error message. ``clean`` takes the same lock
before removing the directory, so it cannot pull state from under a running stack.

>>> with held(Path(".state")):  # doctest: +SKIP
...     ...
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["StateInUseError", "StateLock", "held"]

_LOCK_FILE = "lock"


class StateInUseError(RuntimeError):
    """Another process holds the state directory."""


class StateLock:
    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor: int | None = descriptor

    @classmethod
    def acquire(cls, state_dir: Path) -> StateLock:
        """Hold ``state_dir`` for this process, or raise :class:`StateInUseError` at once."""
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / _LOCK_FILE
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise StateInUseError(
                f"the state directory {state_dir} is in use by a running stack (pid {holder});"
                " stop it first"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        return cls(path, descriptor)

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing drops the flock
            self._descriptor = None


@contextmanager
def held(state_dir: Path) -> Iterator[StateLock]:
    """``state_dir`` held for the block (see :meth:`StateLock.acquire`)."""
    lock = StateLock.acquire(state_dir)
    try:
        yield lock
    finally:
        lock.release()
