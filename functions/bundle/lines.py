"""The lines of a landed object judged one by one: bad lines are left out with their reason.

A landed NDJSON object is bundled line by line, and every line the downstream could not read (not
UTF-8, not JSON, not a JSON object, ``NaN``/``1e400``, too long) is left out alone and reported,
so one bad line costs only itself. An object that is not text at all (binary: a NUL byte or
a first line that is not UTF-8) is refused whole by :func:`binary_problem`: reporting
each of its "lines" would be noise. Blank lines are dropped silently: they hold no record, and
NDJSON readers (the downstream among them) refuse them.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Final

from functions._shared.json_values import json_value_problems
from functions._shared.models import json_type_name
from functions._shared.parsing import (
    MAX_JSON_DEPTH,
    JsonTextError,
    loads_json,
    loads_shallow_json,
)

MAX_LINE_BYTES: Final = 1_048_576
"""The longest line kept: the API's largest body; a longer one is refused, not buffered."""

SNIFF_BYTES: Final = 8192
"""How much of an object's start decides whether it is text (the same window git uses)."""

MAX_LISTED_LINES: Final = 50
"""Bad lines reported one by one per object; the rest are counted."""

_NEWLINE: Final = b"\n"


def binary_problem(head: bytes, *, complete: bool) -> str | None:
    """Why an object starting with ``head`` is not UTF-8 text, or ``None`` if it may be.

    Binary means a NUL byte anywhere in ``head`` (as git decides), or a first line that is not
    UTF-8.

    ``complete`` says ``head`` is the whole object; otherwise a multi-byte character cut at its
    end is not held against it.

    >>> binary_problem(b'{"a": 1}\\n', complete=True) is None
    True
    >>> binary_problem(b"\\x89PNG\\r\\n\\x1a\\n", complete=False)
    'is not UTF-8 NDJSON: byte 0x89 at offset 0 is not UTF-8 (a binary object?)'
    """
    nul = head.find(b"\x00")
    if nul >= 0:
        return f"is not UTF-8 NDJSON: a NUL byte at offset {nul} (a binary object?)"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError as error:
        first_newline = head.find(_NEWLINE)
        if 0 <= first_newline < error.start:
            # Text whose first line reads: a later line that is not UTF-8 costs only itself.
            return None
        return (
            f"is not UTF-8 NDJSON: byte 0x{head[error.start]:02x} at offset {error.start} "
            "is not UTF-8 (a binary object?)"
        )
    return None


def line_problem(line: bytes) -> str | None:
    """Why one line (without its newline) cannot be bundled, or ``None`` when it can.

    >>> line_problem(b'{"reading": 1}') is None
    True
    >>> line_problem(b"[1, 2]")
    'must be a JSON object, got array'
    >>> line_problem(b'{"reading": 1e400}')
    'is not valid JSON: 1e400 is not a finite number'
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"is not valid UTF-8 (byte 0x{line[error.start]:02x} at offset {error.start})"
    try:
        # The exact nesting check costs two regex passes; a line with fewer brackets than the
        # limit cannot exceed it.
        if line.count(b"[") + line.count(b"{") > MAX_JSON_DEPTH:
            value = loads_json(text)
        else:
            value = loads_shallow_json(text)
    except JsonTextError as error:
        return error.reason
    if not isinstance(value, dict):
        return f"must be a JSON object, got {json_type_name(value)}"
    # Lone surrogates can only come from \u escapes; most lines have none, so skip the walk.
    if "\\u" in text and (problems := json_value_problems(value, limit=1)):
        path, reason = problems[0]
        return f"{path} {reason}"
    return None


@dataclass
class BadLines:
    """The lines of one object that were left out: how many, and the first few with reasons."""

    count: int = 0
    listed: list[tuple[int, str]] = field(default_factory=list)
    """``(line number from 1, reason)``, at most :data:`MAX_LISTED_LINES`."""

    def add(self, number: int, reason: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED_LINES:
            self.listed.append((number, reason))

    def errors(self) -> list[dict[str, str]]:
        """The bad lines as an envelope's ``errors`` (``lines.N``), the unlisted ones counted.

        >>> bad = BadLines()
        >>> bad.add(3, "is not valid JSON")
        >>> bad.errors()
        [{'field': 'lines.3', 'reason': 'is not valid JSON'}]
        """
        errors = [{"field": f"lines.{number}", "reason": reason} for number, reason in self.listed]
        if self.count > len(self.listed):
            more = self.count - len(self.listed)
            errors.append({"field": "lines", "reason": f"{more} more lines left out, not listed"})
        return errors


class LineScreen:
    """Split a stream of bytes into lines, keep the good ones, record the bad ones.

    Memory stays bounded: at most one line of :data:`MAX_LINE_BYTES` is buffered.

    >>> screen = LineScreen()
    >>> screen.feed(b'{"a":1}\\nnot json\\n{"b"') + screen.feed(b":2}") + screen.finish()
    b'{"a":1}\\n{"b":2}\\n'
    >>> screen.kept, screen.bad.listed
    (2, [(2, 'is not valid JSON: Expecting value at line 1 column 1')])
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max_line_bytes = max_line_bytes
        self._partial: list[bytes] = []
        self._partial_size = 0
        self._overlong = False
        self._number = 0
        self.kept = 0
        self.bad = BadLines()

    def feed(self, chunk: bytes) -> bytes:
        """The good lines completed by ``chunk``, each ending with a newline."""
        *complete, rest = chunk.split(_NEWLINE)
        kept: list[bytes] = []
        for piece in complete:
            line = piece
            if self._partial:
                self._partial.append(piece)
                line = b"".join(self._partial)
                self._partial.clear()
                self._partial_size = 0
            self._judge(line, kept)
        self._hold(rest)
        return b"".join(kept)

    def finish(self) -> bytes:
        """The last line when the object does not end with a newline (a newline is added)."""
        if not self._partial and not self._overlong:
            return b""
        line = b"".join(self._partial)
        self._partial.clear()
        self._partial_size = 0
        kept: list[bytes] = []
        self._judge(line, kept)
        return b"".join(kept)

    def _hold(self, rest: bytes) -> None:
        if self._overlong or not rest:
            return
        self._partial.append(rest)
        self._partial_size += len(rest)
        if self._partial_size > self._max_line_bytes:
            # The line is refused whatever follows: drop what is held, remember the verdict.
            self._partial.clear()
            self._partial_size = 0
            self._overlong = True

    def _judge(self, line: bytes, kept: list[bytes]) -> None:
        self._number += 1
        if self._overlong or len(line) > self._max_line_bytes:
            self._overlong = False
            self.bad.add(self._number, f"is longer than {self._max_line_bytes} bytes")
            return
        if not line.strip():
            return
        reason = line_problem(line)
        if reason is not None:
            self.bad.add(self._number, reason)
            return
        kept.append(line + _NEWLINE)
        self.kept += 1
