"""Patch 16: a ``States.*`` error inside a Map iteration or a Parallel branch reaches the Map or
Parallel as itself.

moto wraps an iteration's or branch's error name in its ``CustomErrorName``, which refuses names
starting with ``States.``: a ``States.QueryEvaluationError``, ``States.Runtime`` or
``States.TaskFailed`` inside failed the Map or Parallel with an unrelated ``ValueError`` about
custom error names instead of the error itself, so ``Catch``/``Retry`` on it never matched.
Once it passes, its cause already names the inner state that failed; moto prefixed it a second
time with the Map's or Parallel's (``...the state 'None'...``), which is left out.
"""

from __future__ import annotations

from typing import Any

from local.moto_patches.patch_context import moto_module

_STATES_PREFIX = "States."
_CAUSE_PREFIX = "An error occurred while executing the state '"


def patch_iteration_errors() -> None:
    exec_states = "moto.stepfunctions.parser.asl.component.state.exec"
    iteration_worker = moto_module(f"{exec_states}.state_map.iteration.iteration_worker")
    branches_decl = moto_module(f"{exec_states}.state_parallel.branches_decl")
    error_names = "moto.stepfunctions.parser.asl.component.common.error_name"
    CustomErrorName = moto_module(f"{error_names}.custom_error_name").CustomErrorName
    ErrorName = moto_module(f"{error_names}.error_name").ErrorName
    StatesErrorName = moto_module(f"{error_names}.states_error_name").StatesErrorName

    def error_name_of(error_name: str | None) -> Any:
        if error_name is None or not error_name.startswith(_STATES_PREFIX):
            return CustomErrorName(error_name=error_name)
        try:
            return StatesErrorName.from_name(error_name)
        except ValueError:
            # A States.* name the interpreter has no type for still names the error as raised.
            named = CustomErrorName.__new__(CustomErrorName)
            ErrorName.__init__(named, error_name=error_name)
            return named

    iteration_worker.CustomErrorName = error_name_of
    branches_decl.CustomErrorName = error_name_of

    FailureEventException = moto_module(f"{error_names}.failure_event").FailureEventException
    original_details = FailureEventException.get_execution_failed_event_details

    def execution_failed_details(self: Any) -> Any:
        details = original_details(self)
        cause = (details or {}).get("cause") or ""
        inner = cause.find(_CAUSE_PREFIX, len(_CAUSE_PREFIX))
        if cause.startswith(_CAUSE_PREFIX) and inner > 0:
            details["cause"] = cause[inner:]
        return details

    FailureEventException.get_execution_failed_event_details = execution_failed_details
