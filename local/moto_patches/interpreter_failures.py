"""A ``States.*`` failure raised from inside moto's interpreter, as its own states raise them."""

from __future__ import annotations

from typing import Any

from local.moto_patches.patch_context import moto_module


def states_failure(env: Any, error: str, event_type: str, details: dict[str, Any]) -> Any:
    """moto's ``FailureEventException`` for the ``States.*`` error named ``error``, recorded as
    an ``event_type`` event (``TaskFailed``, ``EvaluationFailed``) carrying ``details``."""
    error_names = "moto.stepfunctions.parser.asl.component.common.error_name"
    failure_event = moto_module(f"{error_names}.failure_event")
    StatesErrorName = moto_module(f"{error_names}.states_error_name").StatesErrorName
    HistoryEventType = moto_module("moto.stepfunctions.parser.api").HistoryEventType
    EventDetails = moto_module("moto.stepfunctions.parser.asl.eval.event.event_detail").EventDetails

    kind = HistoryEventType(event_type)
    details_field = event_type[0].lower() + event_type[1:] + "EventDetails"
    return failure_event.FailureEventException(
        failure_event=failure_event.FailureEvent(
            env=env,
            error_name=StatesErrorName.from_name(error),
            event_type=kind,
            event_details=EventDetails(**{details_field: {"error": error, **details}}),
        )
    )
