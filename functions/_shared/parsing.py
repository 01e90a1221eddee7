"""Lambda input parsed with Powertools Parser; an unusable envelope is a permanent failure.

Also the one JSON decoder for text from outside (request bodies, queue message bodies):
:func:`loads_json` bounds nesting before parsing, so hostile input cannot exhaust the stack.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from functions._shared.errors import InvalidEnvelopeError
from functions._shared.json_values import MAX_JSON_DEPTH, number_problem
from functions._shared.validation import field_errors

EnvelopeT = TypeVar("EnvelopeT", bound=BaseModel)

# An envelope with thousands of wrong fields still gets a readable, bounded error message.
_MAX_PROBLEMS_IN_MESSAGE = 20


def parse_envelope(event: Any, model: type[EnvelopeT]) -> EnvelopeT:
    """Parse a Lambda's input into ``model`` with Powertools Parser, or fail permanently.

    Raises :class:`InvalidEnvelopeError` naming every wrong field, so the workflow fails with a
    message an operator can act on and does not retry an input that cannot get better.

    Example::

        envelope = parse_envelope({"trackingId": "trk-1", "events": []}, IngestEnvelope)
    """
    # Not at cold start (~35 ms).
    from aws_lambda_powertools.utilities.parser import parse

    try:
        return parse(event=event, model=model)
    except ValidationError as error:
        problems = "; ".join(
            f"{problem.field}: {problem.reason}"
            for problem in field_errors(error, limit=_MAX_PROBLEMS_IN_MESSAGE)
        )
        raise InvalidEnvelopeError(f"malformed {model.__name__}: {problems}") from None


__all__ = [
    "MAX_JSON_DEPTH",
    "JsonTextError",
    "json_nesting_depth",
    "loads_json",
    "loads_shallow_json",
    "parse_envelope",
]

# A JSON string, escapes included; the unrolled form matches in linear time.
_JSON_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonTextError(ValueError):
    """Text that is not the JSON this project accepts; ``reason`` says why, for a producer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def json_nesting_depth(text: str) -> int:
    """How deeply ``[``/``{`` nest in ``text``, brackets inside strings not counted; no parsing.

    Linear and without recursion, so it can run before ``json.loads`` on hostile input.

    >>> json_nesting_depth('{"a": [1, {"b": "[[["}]}'), json_nesting_depth("42")
    (3, 0)
    """
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def loads_json(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for untrusted text: bounded nesting, only finite numbers, never a crash.

    ``NaN``, ``Infinity`` and numbers that overflow a double (``1e400``) are refused: they are
    not JSON numbers, and Python would write them downstream as ``Infinity``. Raises
    :class:`JsonTextError` with a reason a producer can act on; nothing else.

    >>> loads_json('{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> loads_json('{"a": 1e400}')
    Traceback (most recent call last):
    ...
    functions._shared.parsing.JsonTextError: is not valid JSON: 1e400 is not a finite number
    >>> loads_json("[[[1]]]", max_depth=2)
    Traceback (most recent call last):
    ...
    functions._shared.parsing.JsonTextError: is nested 3 levels deep; at most 2 levels are allowed
    """
    depth = json_nesting_depth(text)
    if depth > max_depth:
        raise JsonTextError(
            f"is nested {depth} levels deep; at most {max_depth} levels are allowed"
        )
    return loads_shallow_json(text)


def loads_shallow_json(text: str) -> Any:
    """:func:`loads_json` without the nesting check, for text known to nest less than the limit
    (fewer brackets than :data:`MAX_JSON_DEPTH`): the check is two passes over the text.

    >>> loads_shallow_json("[NaN]")
    Traceback (most recent call last):
    ...
    functions._shared.parsing.JsonTextError: is not valid JSON: NaN is not a JSON number
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise JsonTextError(
            f"is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except JsonTextError:
        raise
    except (ValueError, RecursionError) as error:
        # Integers longer than Python's digit limit, and nesting the pre-check missed.
        raise JsonTextError(f"is not valid JSON: {error}") from None


def _refuse_constant(name: str) -> Any:
    raise JsonTextError(f"is not valid JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if number_problem(number) is not None:
        shown = text if len(text) <= 40 else f"{text[:37]}..."
        raise JsonTextError(f"is not valid JSON: {shown} is not a finite number")
    return number
