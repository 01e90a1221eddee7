"""JSONPath settings shared by the states that shape their input and output."""

from __future__ import annotations

from enum import Enum
from typing import Literal, TypeAlias

from workflows.builder.exceptions import DefinitionError


class _Discard(Enum):
    # An enum member (not a bare object) so the sentinel has its own type for mypy.
    RESULT = "discard"


DISCARD = _Discard.RESULT
"""``result_path=DISCARD`` renders ``"ResultPath": null``: the state's input passes on unchanged.

Example::

    LambdaInvoke("Record failure", function="update_status", result_path=DISCARD, output_path=None)
"""

ResultPath: TypeAlias = str | Literal[_Discard.RESULT] | None


def check_path(field: str, path: str | None) -> None:
    """Refuse a path that starts neither at the state's input (``$``) nor its context (``$$``)."""
    if path is not None and not path.startswith("$"):
        raise DefinitionError(f"{field} must be a JSONPath starting with '$', got {path!r}")


def render_result_path(result_path: ResultPath) -> dict[str, str | None]:
    """``{}`` for the default, ``{"ResultPath": null}`` for :data:`DISCARD`, else the path."""
    if result_path is None:
        return {}
    if result_path is DISCARD:
        return {"ResultPath": None}
    check_path("ResultPath", result_path)
    return {"ResultPath": result_path}
