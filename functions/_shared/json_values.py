"""Whether a Python value is JSON every consumer downstream can read, and if not, where not.

``json.loads`` accepts more than JSON: ``NaN``, ``Infinity`` and ``1e400`` (read as ``inf``),
escapes that decode to lone surrogates (text no UTF-8 encoder can write), and integers that
``json.dumps`` later refuses to write (over Python's digit limit). A value holding any of them
would pass validation and then crash a later step, or reach the downstream as text that is not
JSON. :func:`json_value_problems` finds them without recursion, so nesting cannot exhaust the stack.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from typing import Final

MAX_JSON_DEPTH: Final = 64
"""How deeply arrays and objects may nest in JSON a producer sends (the event itself is 4)."""

# json.dumps refuses to write an int with more decimal digits than this (CPython's default).
_MAX_INT_DIGITS: Final = sys.get_int_max_str_digits() or 4300
_INT_LIMIT: Final = 10**_MAX_INT_DIGITS

ROOT: Final = "$"


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be written as UTF-8 (a lone surrogate), or ``None`` when it can.

    >>> text_problem("caf\u00e9") is None
    True
    >>> text_problem("a\\ud800")
    'is not valid Unicode: a lone surrogate U+D800 at character 1'
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        return f"is not valid Unicode: a lone surrogate U+{code:04X} at character {error.start}"
    return None


def number_problem(number: float) -> str | None:
    """Why ``number`` is not a JSON number (``NaN``, infinite, too many digits), else ``None``.

    >>> number_problem(float("inf"))
    'must be a finite number, got inf (JSON has no NaN or Infinity; 1e400 overflows to inf)'
    >>> number_problem(1.5) is None, number_problem(True) is None
    (True, True)
    """
    if isinstance(number, float) and not math.isfinite(number):
        return (
            f"must be a finite number, got {number} "
            "(JSON has no NaN or Infinity; 1e400 overflows to inf)"
        )
    if isinstance(number, int) and not isinstance(number, bool) and abs(number) >= _INT_LIMIT:
        return f"must have at most {_MAX_INT_DIGITS} digits"
    return None


def json_value_problems(
    value: object, max_depth: int = MAX_JSON_DEPTH, limit: int | None = None
) -> list[tuple[str, str]]:
    """Every ``(dotted path, reason)`` at which ``value`` is not plain, writable JSON.

    ``$`` names the value itself; paths are dotted like pydantic's (``entities.0.mileage``).
    At most ``limit`` problems are returned (all when ``None``).

    >>> [path for path, _ in json_value_problems({"a": [1, float("nan")], "b": "ok"})]
    ['a.1']
    >>> json_value_problems([[[]]], max_depth=2)
    [('0.0', 'is nested 3 levels deep; at most 2 levels are allowed')]
    """
    problems: list[tuple[str, str]] = []
    for path, reason in _walk(value, max_depth):
        problems.append((path or ROOT, reason))
        if limit is not None and len(problems) >= limit:
            break
    return problems


def _walk(value: object, max_depth: int) -> Iterator[tuple[str, str]]:
    # (value, path, depth of the containers around it); a stack, not recursion.
    pending: list[tuple[object, str, int]] = [(value, "", 0)]
    while pending:
        item, path, depth = pending.pop()
        if isinstance(item, dict | list | tuple):
            if depth + 1 > max_depth:
                yield (
                    path,
                    (f"is nested {depth + 1} levels deep; at most {max_depth} levels are allowed"),
                )
                continue
            children = item.items() if isinstance(item, dict) else enumerate(item)
            # Reversed so that problems come out in document order.
            for key, child in reversed(list(children)):
                if not isinstance(key, str | int):
                    yield path, f"has a key of type {type(key).__name__}; JSON keys are strings"
                    continue
                key_text = str(key)
                if isinstance(key, str) and (reason := text_problem(key)) is not None:
                    # The path must be writable itself, so the key is shown escaped.
                    shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
                    yield _join(path, shown), f"has a key that {reason}"
                    continue
                pending.append((child, _join(path, key_text), depth + 1))
        elif isinstance(item, str):
            if (reason := text_problem(item)) is not None:
                yield path, reason
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int | float):
            if (reason := number_problem(item)) is not None:
                yield path, reason
        else:
            yield path, f"is a {type(item).__name__}, which is not a JSON value"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
