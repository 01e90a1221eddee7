"""One backend-neutral form of a workflow's ASL, for comparing what each backend runs.

Each backend renders a workflow with its own function ARNs (the Pulumi program with the ARNs of
the deployed Lambdas, the local runtime with local ones). Writing every function reference as
``function_ref(<logical name>)`` instead makes the two comparable, and comparable with what the
workflow itself renders: :func:`canonical_definition` is the expected side,
:func:`canonicalize` turns any backend's rendering into the same form.

Example (the local side, given the ARN the local runtime registered for each function)::

    assert canonicalize(local_asl, {arn: name for name, arn in local_arns.items()}) == (
        canonical_definition(app.workflow("ingest"))
    )
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stack.spec import WorkflowSpec


def function_ref(name: str) -> str:
    """The placeholder that stands for function ``name`` in a canonical definition."""
    return f"<function {name}>"


def canonical_definition(workflow: WorkflowSpec) -> dict[str, Any]:
    """``workflow``'s ASL as rendered with :func:`function_ref` for every function."""
    return workflow.definition.render(function_ref)


def canonicalize(definition: Any, names_by_arn: Mapping[str, str]) -> Any:
    """``definition`` with every function ARN (also inside a longer string) replaced by its ref.

    ``names_by_arn`` maps each function ARN of the backend to its logical name. Longer ARNs go
    first, so ``...:function:p-dedupe_v2`` is never mistaken for ``...:function:p-dedupe``.
    """
    ordered = sorted(names_by_arn.items(), key=lambda item: len(item[0]), reverse=True)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, str):
            for arn, name in ordered:
                value = value.replace(arn, function_ref(name))
            return value
        return value

    return walk(definition)
