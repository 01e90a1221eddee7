"""Finding an execution, live or archived, as both the execution API and redrive need it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from local.moto_patches.patch_context import context, moto_module

if TYPE_CHECKING:
    from local.execution_archive import ArchivedExecution, ExecutionArchive

_Found = TypeVar("_Found")


def aws_error(code: str, message: str) -> Exception:
    exceptions = moto_module("moto.stepfunctions.exceptions")

    error: Exception = getattr(exceptions, code)(message)
    return error


def live_execution(backend: Any, execution_arn: str) -> Any | None:
    for machine in backend.state_machines:
        for execution in machine.executions:
            if execution.exec_arn == execution_arn:
                return execution
    return None


def status_text(status: Any) -> str:
    return str(getattr(status, "value", status))


def archived_history(execution_arn: str) -> list[dict[str, Any]]:
    archive = context().archive
    history = archive.history(execution_arn) if archive is not None else None
    return history or []


def archived_execution(execution_arn: str) -> ArchivedExecution:
    """The archived execution, or the service's ``ExecutionDoesNotExist``."""
    return _from_archive(execution_arn, lambda archive: archive.get(execution_arn))


def archived_events(execution_arn: str) -> list[dict[str, Any]]:
    """The archived execution's history, or the service's ``ExecutionDoesNotExist``."""
    return _from_archive(execution_arn, lambda archive: archive.history(execution_arn))


def _from_archive(execution_arn: str, read: Callable[[ExecutionArchive], _Found | None]) -> _Found:
    archive = context().archive
    found = read(archive) if archive is not None else None
    if found is None:
        raise aws_error("ExecutionDoesNotExist", f"Execution Does Not Exist: '{execution_arn}'")
    return found
