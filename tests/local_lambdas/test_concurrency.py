"""Concurrency limits, many calling threads, and shutting the pool down without zombies."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from local.lambdas.pool import (
    InvocationResult,
    LambdaPool,
    PoolClosedError,
    TooManyRequestsError,
)

from .conftest import FIXTURES, PoolFactory, assert_reaped, body, config, wait_until


class Caller(threading.Thread):
    """One invocation on its own thread, keeping whatever it ended with."""

    def __init__(self, pool: LambdaPool, name: str, event: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.pool = pool
        self.name_ = name
        self.payload = json.dumps(event).encode()
        self.result: InvocationResult | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.pool.invoke(self.name_, self.payload)
        except BaseException as exc:
            self.error = exc

    def outcome(self) -> InvocationResult:
        self.join(timeout=30)
        assert self.error is None, self.error
        assert self.result is not None
        return self.result


def entered(gate: Path) -> list[Path]:
    return list(gate.glob("entered-*"))


def max_overlap(gate: Path) -> int:
    """The most invocations whose [start, end] intervals (monotonic clock) overlapped at once."""
    events: list[tuple[int, int]] = []
    for path in gate.glob("interval-*"):
        started, finished = map(int, path.read_text().split())
        events += [(started, 1), (finished, -1)]
    running = peak = 0
    for _, delta in sorted(events, key=lambda event: (event[0], event[1])):
        running += delta
        peak = max(peak, running)
    return peak


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    directory = tmp_path / "gate"
    directory.mkdir()
    return directory


@pytest.mark.parametrize(
    ("reserved", "max_workers"), [(2, 4), (None, 2)], ids=["reserved", "unreserved-cap"]
)
def test_invocation_beyond_the_limit_is_throttled_when_not_waiting(
    make_pool: PoolFactory, gate: Path, reserved: int | None, max_workers: int
) -> None:
    pool = make_pool(
        config("gate", "behaviours.gate", reserved=reserved, timeout=30),
        max_workers_per_function=max_workers,
    )
    callers = [Caller(pool, "gate", {"dir": str(gate)}) for _ in range(2)]
    for caller in callers:
        caller.start()
    wait_until(lambda: len(entered(gate)) == 2, "both invocations to be running")

    with pytest.raises(TooManyRequestsError):
        pool.invoke("gate", json.dumps({"dir": str(gate)}).encode(), wait_for_capacity=False)

    (gate / "release").touch()
    assert all(caller.outcome().function_error is None for caller in callers)
    stats = pool.stats()["gate"]
    assert (stats["throttles"], stats["invocations"], stats["workers"]) == (1, 2, 2)


def test_waiting_invocations_all_run_but_never_more_than_reserved_at_once(
    make_pool: PoolFactory, gate: Path
) -> None:
    pool = make_pool(config("gate", "behaviours.gate", reserved=2, timeout=30))
    callers = [Caller(pool, "gate", {"dir": str(gate), "hold": 0.02}) for _ in range(6)]
    for caller in callers:
        caller.start()
    wait_until(lambda: len(entered(gate)) == 2, "two invocations to be running")
    stats = pool.stats()["gate"]
    assert (stats["busy"], stats["workers"]) == (2, 2)

    (gate / "release").touch()
    results = [caller.outcome() for caller in callers]

    assert all(result.function_error is None for result in results)
    assert len(entered(gate)) == 6
    assert max_overlap(gate) == 2
    assert len({body(result)["pid"] for result in results}) == 2
    assert pool.stats()["gate"]["throttles"] == 0


def test_reserved_concurrency_of_zero_always_throttles(make_pool: PoolFactory) -> None:
    pool = make_pool(config("off", "echo.quiet", reserved=0))

    for wait in (False, True):
        with pytest.raises(TooManyRequestsError):
            pool.invoke("off", b"{}", wait_for_capacity=wait)


def test_many_threads_get_their_own_results(make_pool: PoolFactory) -> None:
    pool = make_pool(config("echo", "echo.quiet"), max_workers_per_function=3)
    mismatches: list[tuple[bytes, bytes]] = []

    def call_many(thread: int) -> None:
        for index in range(40):
            payload = json.dumps({"thread": thread, "index": index}).encode()
            result = pool.invoke("echo", payload)
            if result.payload != payload:
                mismatches.append((payload, result.payload))

    threads = [threading.Thread(target=call_many, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert mismatches == []
    stats = pool.stats()["echo"]
    assert stats["invocations"] == 320
    assert stats["busy"] == 0
    assert 1 <= stats["workers"] <= 3
    assert stats["cold_starts"] == stats["workers"]


def test_close_reaps_every_worker(make_pool: PoolFactory, gate: Path) -> None:
    pool = make_pool(config("gate", "behaviours.gate", timeout=30), config("pid", "behaviours.pid"))
    pool.start()
    callers = [Caller(pool, "gate", {"dir": str(gate)}) for _ in range(3)]
    for caller in callers:
        caller.start()
    wait_until(lambda: len(entered(gate)) == 3, "three gate workers")
    (gate / "release").touch()
    for caller in callers:
        caller.outcome()
    pids = {body(pool.invoke("pid", b"{}"))["pid"]}
    pids |= {int(path.read_text()) for path in entered(gate)}
    assert len(pids) == 4

    pool.close()

    for pid in pids:
        assert_reaped(pid)
    assert pool.stats()["gate"]["workers"] == 0
    with pytest.raises(PoolClosedError):
        pool.invoke("pid", b"{}")


def test_close_during_an_invocation_fails_it_and_reaps_the_worker(
    make_pool: PoolFactory, gate: Path
) -> None:
    pool = make_pool(config("gate", "behaviours.gate", timeout=30))
    caller = Caller(pool, "gate", {"dir": str(gate)})
    caller.start()
    wait_until(lambda: len(entered(gate)) == 1, "the invocation to be running")
    pid = int(entered(gate)[0].read_text())

    pool.close()
    caller.join(timeout=30)

    assert isinstance(caller.error, PoolClosedError)
    assert_reaped(pid)


def test_context_manager_closes_the_pool(tmp_path: Path) -> None:
    with LambdaPool(
        [config("pid", "behaviours.pid")], code_root=FIXTURES, log_dir=tmp_path
    ) as pool:
        pid = body(pool.invoke("pid", b"{}"))["pid"]

    assert_reaped(pid)


def test_crashes_timeouts_and_close_leak_no_file_descriptors(make_pool: PoolFactory) -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    pool = make_pool(
        config("exit", "behaviours.exit_process"),
        config("slow", "behaviours.sleep", timeout=0.5),
        config("broken", "broken_import.handler"),
    )
    pool.start()
    pool.invoke("exit", b'{"exit": 1}')
    pool.invoke("exit", b"{}")
    pool.invoke("slow", b'{"seconds": 30}')
    pool.invoke("slow", b'{"seconds": 0}')
    pool.invoke("broken", b"{}")

    pool.close()

    assert open_fds() == before
