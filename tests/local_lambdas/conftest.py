"""Shared helpers: pools built on the fixture handlers, and process-level assertions."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from local.lambdas.pool import InvocationResult, LambdaPool, WorkerConfig

FIXTURES = Path(__file__).parent / "fixtures"
# Some fixture handlers fail to import on purpose; only their workers import them, never
# --doctest-modules.
collect_ignore_glob = ["fixtures/*.py"]
REPO_ROOT = Path(__file__).resolve().parents[2]

PoolFactory = Callable[..., LambdaPool]


def config(
    name: str,
    handler: str,
    *,
    timeout: float = 5.0,
    environment: Mapping[str, str] | None = None,
    memory_mb: int = 128,
    reserved: int | None = None,
) -> WorkerConfig:
    return WorkerConfig(
        function_name=name,
        handler=handler,
        environment=dict(environment or {}),
        timeout_seconds=timeout,
        memory_mb=memory_mb,
        reserved_concurrency=reserved,
    )


@pytest.fixture
def make_pool(tmp_path: Path) -> Iterator[PoolFactory]:
    """Build pools over the fixture handlers; every one is closed when the test ends."""
    pools: list[LambdaPool] = []

    def factory(*configs: WorkerConfig, **kwargs: Any) -> LambdaPool:
        kwargs.setdefault("code_root", FIXTURES)
        kwargs.setdefault("log_dir", tmp_path / "logs")
        pool = LambdaPool(configs, **kwargs)
        pools.append(pool)
        return pool

    yield factory
    for pool in pools:
        pool.close()


def body(result: InvocationResult) -> Any:
    return json.loads(result.payload)


def process_state(pid: int) -> str | None:
    """The state letter from /proc (R, S, Z...), or None once the process is gone entirely."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is parenthesised and may contain spaces; the state follows it.
    return stat.rsplit(")", 1)[1].split()[0]


def assert_reaped(pid: int) -> None:
    """The worker is neither running nor a zombie of this process."""
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert process_state(pid) is None


def wait_until(condition: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    # A generous bound only so a broken pool fails instead of hanging; never a speed assertion.
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.005)
