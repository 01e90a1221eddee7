"""EventBridge Pipes filter criteria for an SQS source: the event-pattern subset we use.

A pipe with filters starts its target only with the records matching at least one of them; the
others are deleted from the queue without invoking anything. An SQS record is matched in the
shape Pipes deliver it (``messageId``, ``body``, ``attributes``...), its ``body`` parsed when it
is a JSON object and matched as the plain string otherwise, as the Pipes documentation says.

Supported, as EventBridge defines them:

- nested objects (a pattern key whose value is an object matches into the event's object; a
  field under a missing or non-object value is missing) and, in the event, arrays (a value
  matches when any of its elements does);
- arrays of conditions, matching when any does: literals (string, number, ``true``/``false``,
  ``null``; numbers compare by value, booleans never equal numbers), ``{"exists": bool}`` (leaf
  fields only: an object is not a leaf), ``{"prefix": "..."}`` (strings only),
  ``{"anything-but": literal-or-list}`` (a value that equals none of them) and
  ``{"numeric": [op, n, ...]}`` with ``=``, ``<``, ``<=``, ``>``, ``>=`` (numbers only).

Anything else (``suffix``, ``wildcard``, ``cidr``, ``equals-ignore-case``, ``$or``,
``anything-but`` with an operator...) is refused by :func:`compile_filters` with a
``ValueError`` rather than matched wrongly.

>>> matches = compile_filters(['{"body": {"Event": [{"exists": false}]}}'])
>>> matches({"body": '{"Event": "s3:TestEvent"}'}), matches({"body": '{"Records": []}'})
(False, True)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any, Final

MAX_FILTERS: Final = 5  # FilterCriteria.Filters of a pipe: up to 5 patterns
_NUMERIC_OPERATORS: Final[dict[str, Callable[[float, float], bool]]] = {
    "=": lambda value, bound: value == bound,
    "<": lambda value, bound: value < bound,
    "<=": lambda value, bound: value <= bound,
    ">": lambda value, bound: value > bound,
    ">=": lambda value, bound: value >= bound,
}
_MISSING: Final = object()

Record = dict[str, Any]


class Pattern:
    """One compiled event pattern; ``matches(document)`` on an already-parsed document."""

    def __init__(self, source: str) -> None:
        try:
            pattern = json.loads(source)
        except json.JSONDecodeError as error:
            raise ValueError(f"filter pattern is not JSON: {source!r}: {error}") from None
        self.source = source
        self._pattern: dict[str, Any] = _checked_object(pattern, "")

    def matches(self, document: Any) -> bool:
        return _match_object(self._pattern, document)


def compile_filters(patterns: Sequence[str]) -> Callable[[Record], bool]:
    """A predicate on Pipes SQS records: True when any pattern matches, or there is none.

    Raises ``ValueError`` for a malformed pattern, an unsupported operator or too many filters.
    """
    if len(patterns) > MAX_FILTERS:
        raise ValueError(f"a pipe takes at most {MAX_FILTERS} filter patterns, not {len(patterns)}")
    compiled = [Pattern(source) for source in patterns]
    if not compiled:
        return lambda record: True

    def matches(record: Record) -> bool:
        document = filterable(record)
        return any(pattern.matches(document) for pattern in compiled)

    return matches


def filterable(record: Record) -> Record:
    """The record as filters see it: ``body`` parsed when it is a JSON object."""
    body = record.get("body")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return record
        if isinstance(parsed, dict):
            return {**record, "body": parsed}
    return record


# -- validation --


def _checked_object(pattern: Any, path: str) -> dict[str, Any]:
    if not isinstance(pattern, dict) or not pattern:
        raise ValueError(f"filter pattern{_at(path)} must be a non-empty JSON object")
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if key.startswith("$"):
            raise ValueError(f"filter pattern at {where}: unsupported operator {key!r}")
        if isinstance(value, dict):
            _checked_object(value, where)
        elif isinstance(value, list) and value:
            for condition in value:
                _check_condition(condition, where)
        else:
            raise ValueError(
                f"filter pattern at {where}: a value must be an object or a non-empty array "
                f"of conditions, not {json.dumps(value)}"
            )
    return pattern


def _check_condition(condition: Any, path: str) -> None:
    if _is_literal(condition):
        return
    if not isinstance(condition, dict) or len(condition) != 1:
        raise ValueError(f"filter pattern at {path}: unsupported condition {json.dumps(condition)}")
    ((operator, operand),) = condition.items()
    valid = {
        "exists": lambda: isinstance(operand, bool),
        "prefix": lambda: isinstance(operand, str),
        "anything-but": lambda: (
            _is_literal(operand)
            or (isinstance(operand, list) and bool(operand) and all(map(_is_literal, operand)))
        ),
        "numeric": lambda: _valid_numeric(operand),
    }
    if operator not in valid:
        raise ValueError(
            f"filter pattern at {path}: unsupported operator {operator!r} "
            f"(supported: {', '.join(sorted(valid))})"
        )
    if not valid[operator]():
        raise ValueError(
            f"filter pattern at {path}: invalid {operator!r} operand {json.dumps(operand)}"
        )


def _valid_numeric(operand: Any) -> bool:
    if not isinstance(operand, list) or not operand or len(operand) % 2:
        return False
    pairs = zip(operand[::2], operand[1::2], strict=True)
    return all(op in _NUMERIC_OPERATORS and _is_number(bound) for op, bound in pairs)


def _is_literal(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or _is_number(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _at(path: str) -> str:
    return f" at {path}" if path else ""


# -- matching --


def _match_object(pattern: dict[str, Any], document: Any) -> bool:
    if isinstance(document, list):
        # An array of objects: the pattern matches when one of them does.
        return any(_match_object(pattern, item) for item in document if isinstance(item, dict))
    fields = document if isinstance(document, dict) else {}
    for key, expected in pattern.items():
        value = fields.get(key, _MISSING)
        if isinstance(expected, dict):
            if not _match_object(expected, None if value is _MISSING else value):
                return False
        elif not any(_match_condition(condition, value) for condition in expected):
            return False
    return True


def _match_condition(condition: Any, value: Any) -> bool:
    if isinstance(condition, dict):
        ((operator, operand),) = condition.items()
        if operator == "exists":
            present = value is not _MISSING and not isinstance(value, dict)
            return present is operand
        if value is _MISSING:
            return False
        if operator == "anything-but":
            excluded = operand if isinstance(operand, list) else [operand]
            return any(_leaf_values(value, lambda leaf: not _equal(excluded, leaf)))
        test = _operator_test(operator, operand)
        return any(_leaf_values(value, test))
    if value is _MISSING:
        return False
    return any(_leaf_values(value, lambda leaf: _equal([condition], leaf)))


def _operator_test(operator: str, operand: Any) -> Callable[[Any], bool]:
    if operator == "prefix":
        return lambda leaf: isinstance(leaf, str) and leaf.startswith(operand)
    pairs = list(zip(operand[::2], operand[1::2], strict=True))
    return lambda leaf: (
        _is_number(leaf) and all(_NUMERIC_OPERATORS[op](leaf, bound) for op, bound in pairs)
    )


def _leaf_values(value: Any, test: Callable[[Any], bool]) -> list[bool]:
    leaves = value if isinstance(value, list) else [value]
    return [test(leaf) for leaf in leaves if not isinstance(leaf, dict | list)]


def _equal(literals: list[Any], leaf: Any) -> bool:
    for literal in literals:
        if isinstance(literal, bool) or isinstance(leaf, bool) or literal is None or leaf is None:
            if type(literal) is type(leaf) and literal == leaf:
                return True
        elif _is_number(literal) and _is_number(leaf):
            if literal == leaf:
                return True
        elif isinstance(literal, str) and isinstance(leaf, str) and literal == leaf:
            return True
    return False
