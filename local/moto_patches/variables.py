"""Patch 15: workflow variables (``Assign``, ``$name``) as AWS scopes and records them.

- New values take effect when the assigning state exits: every expression of a state, its
  ``Output`` as much as its ``Assign``, reads the values the variables had when it was entered
  (so ``"Assign": {"x": "{% $y %}", "y": "{% $x %}"}`` swaps them). moto wrote each value at
  once, so ``Output`` saw the new ones.
- A Map iteration or Parallel branch reads the variables of the scopes around it; what it
  assigns stays inside (moto already keeps the scopes). A Distributed Map's child workflow runs
  apart and reads none of them (moto let it read them all). Assigning a variable of an outer scope
  from inside fails the state with ``States.Runtime``; moto raised a bare exception there, which
  its Map turned into an unrelated error about custom error names.
- The values a state assigned are recorded on its ``...StateExited`` event as JSON text
  (``assignedVariables``); moto quoted strings without escaping them.

(https://docs.aws.amazon.com/step-functions/latest/dg/workflow-variables.html)
"""

from __future__ import annotations

import json
from typing import Any

from local.moto_patches.interpreter_failures import states_failure
from local.moto_patches.patch_context import moto_module


def _pending(store: Any) -> dict[str, Any]:
    pending: dict[str, Any] | None = getattr(store, "local_pending", None)
    if pending is None:
        pending = store.local_pending = {}
    return pending


def patch_variables() -> None:
    variable_store = moto_module("moto.stepfunctions.parser.asl.eval.variable_store")
    VariableStore = variable_store.VariableStore
    AssignDecl = moto_module(
        "moto.stepfunctions.parser.asl.component.common.assign.assign_decl"
    ).AssignDecl
    original_assign = AssignDecl._eval_body

    def stage(self: Any, variable_identifier: str, variable_value: Any) -> None:
        if variable_identifier in self._outer_scope:
            raise variable_store.IllegalOuterScopeWrite(
                variable_identifier=variable_identifier, variable_value=variable_value
            )
        self._declaration_tracing.add(variable_identifier)
        _pending(self)[variable_identifier] = variable_value

    def assigned_variables(self: Any) -> dict[str, str]:
        # Called once, as the state exits: the staged values take effect here.
        pending = _pending(self)
        if pending:
            self._inner_scope.update(pending)
            pending.clear()
            self._variable_declarations_cache = None
        return {
            name: json.dumps(self.get(name), separators=(",", ":"), ensure_ascii=False)
            for name in self._declaration_tracing
        }

    def assign(self: Any, env: Any) -> None:
        try:
            original_assign(self, env)
        except variable_store.IllegalOuterScopeWrite as error:
            raise states_failure(
                env, "States.Runtime", "TaskFailed", {"cause": error.message}
            ) from error

    distributed = moto_module(
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor"
        ".distributed_item_processor_worker"
    ).DistributedItemProcessorWorker
    original_distributed_job = distributed._eval_job

    def distributed_job(self: Any, env: Any, job: Any) -> None:
        # The job's store was made for it alone (a copy of the outer values): empty it.
        env.variable_store._outer_scope.clear()
        original_distributed_job(self, env, job)

    distributed._eval_job = distributed_job
    VariableStore.set = stage
    VariableStore.get_assigned_variables = assigned_variables
    AssignDecl._eval_body = assign
