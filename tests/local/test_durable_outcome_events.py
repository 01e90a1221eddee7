"""Execution outcome events survive a crash of the local runtime (no stack needed).

An outcome event is journaled until its target took it; a runtime killed in between delivers
it at the next start. An execution archived right before the kill, whose event may not have
been journaled yet, emits it again when the journal is restored.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from local import durability
from local.durability import executions
from local.durability.journal import Journal
from local.durability.outcome_events import OutcomeJournal
from local.event_rules import ExecutionStatusRules, ObservedArchive
from local.execution_archive import ArchivedExecution
from local.lambdas.pool import InvocationResult
from stack.app import build_app
from tests.local_lambdas.conftest import wait_until

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:stepflow-dev-ingest"
AT = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def aborted(name: str) -> ArchivedExecution:
    arn = f"arn:aws:states:us-east-1:123456789012:execution:stepflow-dev-ingest:{name}"
    return ArchivedExecution(
        arn, MACHINE, name, "ABORTED", AT, AT, json.dumps({"trackingId": name}), None, None, None
    )


class Target:
    """update_status as the rules invoke it: every payload it was given."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, function_name: str, payload: bytes) -> InvocationResult:
        with self._lock:
            self.payloads.append(json.loads(payload))
        return InvocationResult(
            payload=b"{}", function_error=None, duration_ms=1.0, request_id="r", cold_start=False
        )

    def execution_arns(self) -> list[str]:
        with self._lock:
            return [str(payload["detail"]["executionArn"]) for payload in self.payloads]


def rules(target: Target) -> ExecutionStatusRules:
    return ExecutionStatusRules(
        build_app(),
        state_machine_arn=lambda workflow: MACHINE.replace("ingest", workflow),
        invoke=target,
        send_dead_letter=lambda queue, body: None,
        retry_delay_seconds=0.0,
    )


def journal(state_dir: Path) -> Journal:
    return Journal(state_dir / durability.JOURNAL_FILE, schemas=durability.SCHEMAS)


def test_an_outcome_observed_but_not_delivered_before_a_crash_is_delivered_at_the_next_start(
    tmp_path: Path,
) -> None:
    before_crash = journal(tmp_path)
    crashed = rules(Target())  # never started: the runtime died before delivering
    crashed.attach(OutcomeJournal(before_crash))
    execution = aborted("trk-crash")
    crashed.observe(execution)
    before_crash.close()  # what was submitted is committed; nothing else happens

    after_restart = journal(tmp_path)
    target = Target()
    restarted = rules(target)
    restarted.attach(OutcomeJournal(after_restart))
    restarted.start()
    try:
        wait_until(lambda: target.execution_arns() == [execution.execution_arn], "the redelivery")
    finally:
        restarted.close()
    wait_until(lambda: OutcomeJournal(after_restart).pending() == [], "the event to be settled")
    after_restart.close()


def test_events_observed_before_the_journal_is_attached_are_journaled_on_attach(
    tmp_path: Path,
) -> None:
    state = journal(tmp_path)
    early = rules(Target())
    early.observe(aborted("trk-early"))  # the restore's, while the journal was being opened

    early.attach(OutcomeJournal(state))
    state.close()

    [(_, rule, event)] = OutcomeJournal(journal(tmp_path)).pending()
    assert rule == "execution-outcomes"
    assert json.loads(event)["detail"]["name"] == "trk-early"


def test_an_execution_archived_right_before_a_crash_emits_its_outcome_again_on_restore(
    tmp_path: Path,
) -> None:
    execution = aborted("trk-archived")
    archive = ObservedArchive(tmp_path / "executions.sqlite3")
    archive.put(execution, [])  # archived; the kill came before the journal forgot it
    state = journal(tmp_path)
    state.write(
        [
            (
                "INSERT INTO sfn_executions VALUES (?, ?, ?, ?, ?, ?)",
                (execution.execution_arn, MACHINE, execution.name, "{}", None, AT.timestamp()),
            )
        ]
    )
    observed: list[ArchivedExecution] = []
    archive.observer = observed.append

    assert executions.restore(state, archive) == 0  # not interrupted: it had ended

    assert [item.execution_arn for item in observed] == [execution.execution_arn]
    assert state.query("SELECT COUNT(*) FROM sfn_executions") == [(0,)]
    state.close()
