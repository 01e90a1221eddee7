"""What an execution history says about cost: the state transitions AWS bills, the Lambda
invocations it made, and the events it accepted.

AWS counts a transition each time a step of the workflow runs: every state entered (inside a
Map or Parallel too), and every retry of a Task. A retry shows in the history as a task
scheduled again right after its failure, so it is counted as such.

>>> billed_transitions([
...     {"id": 1, "type": "ExecutionStarted"},
...     {"id": 2, "type": "TaskStateEntered", "previousEventId": 1},
...     {"id": 3, "type": "TaskScheduled", "previousEventId": 2},
...     {"id": 4, "type": "TaskFailed", "previousEventId": 3},
...     {"id": 5, "type": "TaskScheduled", "previousEventId": 4},
...     {"id": 6, "type": "TaskSucceeded", "previousEventId": 5},
...     {"id": 7, "type": "TaskStateExited", "previousEventId": 6},
...     {"id": 8, "type": "SucceedStateEntered", "previousEventId": 7},
... ])
3
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final

_SCHEDULED: Final = frozenset({"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"})
_ATTEMPT_ENDED: Final = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskSubmitFailed",
        "TaskStartFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "ActivityFailed",
        "ActivityTimedOut",
    }
)


def billed_transitions(events: Iterable[Mapping[str, Any]]) -> int:
    """States entered plus task retries, as Step Functions Standard bills them."""
    events = list(events)
    type_of = {event["id"]: event["type"] for event in events}
    entered = sum(1 for event in events if str(event["type"]).endswith("StateEntered"))
    retries = sum(
        1
        for event in events
        if event["type"] in _SCHEDULED
        and type_of.get(event.get("previousEventId")) in _ATTEMPT_ENDED
    )
    return entered + retries


def lambda_invocations(events: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """How often the execution invoked each function (by name), retries included."""
    invoked: Counter[str] = Counter()
    for event in events:
        if event["type"] == "LambdaFunctionScheduled":
            resource = event["lambdaFunctionScheduledEventDetails"]["resource"]
        elif event["type"] == "TaskScheduled":
            details = event["taskScheduledEventDetails"]
            if details.get("resourceType") != "lambda":
                continue
            resource = str(json.loads(details.get("parameters") or "{}").get("FunctionName", ""))
        else:
            continue
        invoked[_function_name(resource)] += 1
    return invoked


def accepted_events(events: Iterable[Mapping[str, Any]]) -> int:
    """The events validate accepted (received less rejected): the first state that exits with
    ``counts.received`` is the validation; 0 when the execution never got that far."""
    for event in events:
        if event["type"] != "TaskStateExited":
            continue
        output = event.get("stateExitedEventDetails", {}).get("output")
        try:
            document = json.loads(output) if output else None
        except ValueError:
            continue
        counts = document.get("counts") if isinstance(document, dict) else None
        if isinstance(counts, dict) and "received" in counts:
            return int(counts["received"]) - int(counts.get("rejected", 0))
    return 0


def _function_name(reference: str) -> str:
    # A name, a partial ARN or a full ARN, with or without a qualifier.
    return reference.rsplit(":function:", 1)[-1].split(":", 1)[0]
