"""The producer and operator policies: invoke only the system routes, operate only the stack's
executions, exported by ARN (parliament's verdict is in test_policies)."""

from __future__ import annotations

import json
from typing import Any

from infra.stack import Deployment
from stack.spec import App
from tests.infra.harness import ACCOUNT, MANAGED_POLICY, REGION, Run, api_id, statements


def policy(app: App, run: Run[Deployment], name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        run.mocks.named(MANAGED_POLICY, app.physical_name(name)).inputs["policy"]
    )
    return found


def test_a_producer_may_send_events_and_read_their_status_and_nothing_else(
    app: App, run: Run[Deployment]
) -> None:
    api = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id(app.physical_name('api'))}"
    assert statements(policy(app, run, "producer")) == [
        {
            "Sid": "InvokeRoutes",
            "Effect": "Allow",
            "Action": ["execute-api:Invoke"],
            "Resource": [
                f"{api}/*/POST/events",
                f"{api}/*/POST/events/bulk",
                f"{api}/*/GET/events/*",
            ],
        }
    ]


def test_an_operator_also_inspects_stops_and_redrives_the_stacks_executions_only(
    app: App, run: Run[Deployment]
) -> None:
    invoke, listing, operating = statements(policy(app, run, "operator"))
    assert invoke["Action"] == ["execute-api:Invoke"]
    machines = [
        f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{app.physical_name(name)}"
        for name in ("ingest", "aggregate", "enrich")
    ]
    assert listing["Resource"] == machines + [
        arn.replace(":stateMachine:", ":mapRun:") + "/*:*" for arn in machines
    ]
    assert operating["Action"] == [
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "states:RedriveExecution",
        "states:StopExecution",
    ]
    assert operating["Resource"] == [
        arn.replace(":stateMachine:", ":execution:") + ":*" for arn in machines
    ] + [arn.replace(":stateMachine:", ":express:") + ":*:*" for arn in machines]


def test_their_arns_are_stack_outputs(app: App, run: Run[Deployment]) -> None:
    assert run.resolved["accessPolicyArns"] == {
        name: f"arn:aws:iam::{ACCOUNT}:policy/{app.physical_name(name)}"
        for name in ("producer", "operator")
    }
