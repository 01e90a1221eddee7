"""What the pool counts for the cost meter: each invocation's duration rounded up to the
millisecond, as Lambda bills it, every INIT phase, and the configured memory."""

from __future__ import annotations

import math

from .conftest import PoolFactory, config


def test_billed_milliseconds_are_the_invocations_durations_rounded_up(
    make_pool: PoolFactory,
) -> None:
    pool = make_pool(config("count", "behaviours.count", memory_mb=512))

    results = [pool.invoke("count", b"{}") for _ in range(3)]

    stats = pool.stats()["count"]
    assert stats["billed_ms"] == sum(math.ceil(result.duration_ms) for result in results)
    assert stats["billed_ms"] >= 3  # at least a millisecond each
    assert stats["init_ms"] >= 1  # the one cold start
    assert stats["memory_mb"] == 512


def test_a_started_pool_has_paid_one_init_per_function_and_billed_nothing(
    make_pool: PoolFactory,
) -> None:
    pool = make_pool(config("a", "behaviours.count"), config("b", "behaviours.count"))

    pool.start()

    stats = pool.stats()
    assert [stats[name]["init_ms"] > 0 for name in ("a", "b")] == [True, True]
    assert [stats[name]["billed_ms"] for name in ("a", "b")] == [0, 0]
