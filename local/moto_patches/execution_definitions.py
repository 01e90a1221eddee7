"""The definition each execution started with, so a redrive runs that version (as AWS does),
not whatever the state machine holds after an ``UpdateStateMachine``.

moto keeps a copy on a live execution only; once archived an execution has its ARN alone. The
text is shared with the machine (a reference, not a copy), so remembering it costs one dict
entry an execution; the oldest are forgotten past :data:`_REMEMBERED` (a redrive of one of those
falls back to the current definition, as does one after a restart).
"""

from __future__ import annotations

import threading

_REMEMBERED = 200_000
_definitions: dict[str, str] = {}
_lock = threading.Lock()


def remember_definition(execution_arn: str, definition: str) -> None:
    with _lock:
        _definitions[execution_arn] = definition
        while len(_definitions) > _REMEMBERED:
            _definitions.pop(next(iter(_definitions)))


def started_definition(execution_arn: str) -> str | None:
    """The definition ``execution_arn`` started with, if this process saw it start."""
    with _lock:
        return _definitions.get(execution_arn)
