"""Queued intake (the stack's default) through a whole local stack of its own: single POSTs
share executions, every acknowledged event is delivered, each tracking id's record goes
RECEIVED -> DELIVERED and names the execution that carried it, and a lone event on a quiet
stack is delivered too (the pipe's batching window closes on it).

The stack runs in its own process (``bench.throughput``): this process's local stack is the
per-request one the other local tests follow execution by execution.
"""

from __future__ import annotations

import pytest

from bench.throughput import run_in_subprocess
from stack.spec import Intake

pytestmark = pytest.mark.local


def test_single_posts_are_batched_delivered_and_followed_per_tracking_id() -> None:
    result = run_in_subprocess(Intake.QUEUED, rate=20, seconds=3, clients=4, lone_event=True)

    assert result.acknowledged == result.posts == 60
    assert result.delivered == 60
    # A 1 s window at 20 POSTs/s: batches of several requests, far fewer executions than POSTs.
    assert result.executions < result.acknowledged / 2
    assert result.statuses_delivered == 60
    assert result.statuses_with_execution == 60
    # run_intake raises unless the lone event arrived (within a generous deadline).
    assert result.lone_event_seconds is not None
