"""The local side of conformance: the local runtime runs exactly the description.

tests/conformance checks the Pulumi side against the same canonical forms, so together they prove
the two backends cannot drift.
"""

from __future__ import annotations

import json

from local.runtime import LocalStack, function_arn
from stack.app import build_app
from tests.conformance.canonical import canonical_definition, canonicalize


def test_every_state_machine_runs_the_canonical_definition(local_stack: LocalStack) -> None:
    app = build_app()
    sfn = local_stack.client("stepfunctions")
    names_by_arn = {function_arn(app, f.name): f.name for f in app.functions}
    for workflow in app.workflows:
        described = sfn.describe_state_machine(
            stateMachineArn=local_stack.state_machine_arn(workflow.name)
        )
        running = canonicalize(json.loads(described["definition"]), names_by_arn)
        assert running == canonical_definition(workflow), workflow.name
        assert described["type"] == workflow.type.value


def test_the_local_resources_are_the_description_one_to_one(local_stack: LocalStack) -> None:
    # local_stack runs the real app plus behaviour fixtures (tests/local/conftest.py); other
    # tests add "patch-test-*" machines and "race-*" tables of their own.
    described = local_stack.app
    sfn = local_stack.client("stepfunctions")
    machines = {
        m["name"]
        for m in sfn.list_state_machines()["stateMachines"]
        if not m["name"].startswith("patch-test-")
    }
    assert machines == {described.physical_name(w.name) for w in described.workflows}

    tables = {
        name
        for name in local_stack.client("dynamodb").list_tables()["TableNames"]
        if not name.startswith("race-")
    }
    assert tables == {described.physical_name(t.name) for t in described.tables}
    assert set(local_stack.pool.function_names()) == {
        described.physical_name(f.name) for f in described.functions
    }
