"""Shared helpers for the workflow tests: a fixed ARN scheme and the stack's workflows."""

from __future__ import annotations

from stack.app import build_app
from stack.spec import WorkflowSpec

ACCOUNT_ARN_PREFIX = "arn:aws:lambda:us-east-1:123456789012:function:"


def function_arn(name: str) -> str:
    """The ARN every workflow test renders with, so snapshots do not depend on a deployment."""
    return f"{ACCOUNT_ARN_PREFIX}{name}"


# Read from the composition root so a workflow added to the stack is snapshotted and linted
# without touching these tests.
WORKFLOWS: tuple[WorkflowSpec, ...] = build_app().workflows
