"""Plan an NDJSON catalog: validate it line by line and write it out as batch files.

The catalog is streamed (the adapter reads 64 KiB at a time) and each batch is written as soon
as it is full, so memory holds one batch and one line, whatever the catalog's size; the one
thing that grows is the duplicate check, a map of product id to line number.

Lines are judged as the API judges an inline catalog (:mod:`functions.enrich_batch.products`):
each must be a JSON object with exactly one valid identifier, never seen before. Blank lines
are skipped; a UTF-8 byte order mark and ``\\r\\n`` endings are accepted. Problems are
collected, up to :data:`MAX_LISTED_PROBLEMS`, each naming its line, and raised together as one
:class:`CatalogSourceError` (the workflow records the enrichment FAILED with that message);
after the first problem no more batch files are written, and reading stops at the limit.

The answer stays small because the state that carries it is limited to 262,144 bytes: a batch
is a pointer of ~150 bytes, so a 2,000-product catalog in batches of 20 is ~15 KB. A catalog
that would need more than :data:`MAX_BATCHES` batches, or more than :data:`MAX_PLAN_BYTES` of
pointers, is refused rather than planned into a workflow that cannot run it (each batch also
costs ~15 events of the execution's 25,000-event history).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from functions._shared.enrichment import batch_id
from functions._shared.errors import CatalogSourceError
from functions._shared.parsing import JsonTextError, loads_json
from functions.enrich_batch.core import batch_key
from functions.enrich_batch.products import InvalidProductError, identify

MAX_LINE_BYTES: Final = 64 * 1024
MAX_LISTED_PROBLEMS: Final = 20
MAX_BATCHES: Final = 1000
MAX_PLAN_BYTES: Final = 200_000

_BOM: Final = b"\xef\xbb\xbf"


class BatchWriter(Protocol):
    @property
    def bucket(self) -> str: ...

    def write_batch(self, key: str, products: list[Any]) -> None:
        """Store one batch as a JSON array (overwriting: a re-plan writes the same keys)."""
        ...


@dataclass(frozen=True)
class PlannedBatch:
    batch_id: str
    bucket: str
    key: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "batchId": self.batch_id,
            "pointer": {"bucket": self.bucket, "key": self.key},
            "count": self.count,
        }


@dataclass
class Plan:
    """The plan action's answer (:meth:`to_json`)."""

    total_products: int = 0
    batches: list[PlannedBatch] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``{"totalProducts", "totalBatches", "batches": [{"batchId", "pointer", "count"}]}``.

        >>> Plan(2, [PlannedBatch("enr-1#batch-00000", "staging", "k.json", 2)]).to_json()
        ... # doctest: +NORMALIZE_WHITESPACE
        {'totalProducts': 2, 'totalBatches': 1,
         'batches': [{'batchId': 'enr-1#batch-00000',
                      'pointer': {'bucket': 'staging', 'key': 'k.json'}, 'count': 2}]}
        """
        return {
            "totalProducts": self.total_products,
            "totalBatches": len(self.batches),
            "batches": [batch.to_json() for batch in self.batches],
        }


def ndjson_lines(
    chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, line)`` for each line of a byte stream; the line is ``None`` when it is
    longer than ``max_line_bytes`` (its bytes are skipped, never held).

    >>> list(ndjson_lines([b'{"a": 1}\\n{"b"', b': 2}\\n\\n', b"tail"]))
    [(1, b'{"a": 1}'), (2, b'{"b": 2}'), (3, b''), (4, b'tail')]
    >>> list(ndjson_lines([b"0123456789\\nok\\n"], max_line_bytes=5))
    [(1, None), (2, b'ok')]
    """
    number = 1
    pending = bytearray()
    too_long = False
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not too_long:
                pending += piece
                if len(pending) > max_line_bytes:
                    too_long = True
                    pending.clear()
            if end < 0:
                break
            yield number, None if too_long else bytes(pending)
            number += 1
            pending.clear()
            too_long = False
            start = end + 1
    if pending or too_long:
        yield number, None if too_long else bytes(pending)


def plan_catalog(
    chunks: Iterable[bytes],
    *,
    source: str,
    tracking_id: str,
    batch_size: int,
    writer: BatchWriter,
    max_batches: int = MAX_BATCHES,
    max_plan_bytes: int = MAX_PLAN_BYTES,
) -> Plan:
    """Validate the NDJSON catalog in ``chunks`` and write its batches; ``source`` (the
    catalog's ``s3://`` URI) names it in messages.

    Raises :class:`CatalogSourceError` listing the problems, for an empty catalog, or for one
    too large to plan.

    Example::

        plan = plan_catalog(store.chunks(pointer), source=pointer.uri, tracking_id="enr-1",
                            batch_size=20, writer=store)
        plan.to_json()  # {'totalProducts': 45, 'totalBatches': 3, 'batches': [...]}
    """
    planner = _Planner(
        source,
        tracking_id=tracking_id,
        batch_size=batch_size,
        writer=writer,
        max_batches=max_batches,
        max_plan_bytes=max_plan_bytes,
    )
    for number, line in ndjson_lines(chunks):
        planner.add_line(number, line)
        if planner.problems_full:
            break
    return planner.finish()


class _Planner:
    def __init__(
        self,
        source: str,
        *,
        tracking_id: str,
        batch_size: int,
        writer: BatchWriter,
        max_batches: int,
        max_plan_bytes: int,
    ) -> None:
        self.source = source
        self.tracking_id = tracking_id
        self.batch_size = batch_size
        self.writer = writer
        self.max_batches = max_batches
        self.max_plan_bytes = max_plan_bytes
        self.plan = Plan()
        self.pending: list[Any] = []
        self.first_line: dict[str, int] = {}
        self.problems: list[str] = []
        self.plan_bytes = 0

    @property
    def problems_full(self) -> bool:
        return len(self.problems) >= MAX_LISTED_PROBLEMS

    def add_line(self, number: int, line: bytes | None) -> None:
        judged = self._judge(number, line)
        if judged is None:
            return
        product, product_id = judged
        first = self.first_line.setdefault(product_id, number)
        if first != number:
            self.problems.append(f"line {number}: {product_id} repeats line {first}")
            return
        self.plan.total_products += 1
        if self.problems:
            return  # still checked, never written: the catalog fails anyway
        self.pending.append(product)
        if len(self.pending) >= self.batch_size:
            self._write_pending()

    def _judge(self, number: int, line: bytes | None) -> tuple[Any, str] | None:
        """The line's product and its id; ``None`` for a blank line or a problem (recorded)."""
        if line is None:
            self.problems.append(f"line {number} is longer than {MAX_LINE_BYTES} bytes")
            return None
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        line = line.removesuffix(b"\r")
        if not line.strip():
            return None
        try:
            product = loads_json(line.decode("utf-8"))
            return product, identify(product).product_id
        except UnicodeDecodeError:
            self.problems.append(f"line {number} is not UTF-8 text")
        except JsonTextError as error:
            self.problems.append(f"line {number} {error.reason}")
        except InvalidProductError as error:
            self.problems.append(f"line {number}: {error}")
        return None

    def finish(self) -> Plan:
        if not self.problems and self.pending:
            self._write_pending()
        if self.problems:
            listed = "; ".join(self.problems)
            more = " (stopped reading there)" if self.problems_full else ""
            raise CatalogSourceError(f"{self.source} is not a valid catalog: {listed}{more}")
        if self.plan.total_products == 0:
            raise CatalogSourceError(f"{self.source} holds no products")
        return self.plan

    def _write_pending(self) -> None:
        index = len(self.plan.batches)
        if index >= self.max_batches:
            raise self._too_large(f"more than {self.max_batches} batches")
        batch = PlannedBatch(
            batch_id=batch_id(self.tracking_id, index),
            bucket=self.writer.bucket,
            key=batch_key(self.tracking_id, index),
            count=len(self.pending),
        )
        self.plan_bytes += len(json.dumps(batch.to_json())) + 2
        if self.plan_bytes > self.max_plan_bytes:
            raise self._too_large(f"a plan over {self.max_plan_bytes} bytes")
        self.writer.write_batch(batch.key, self.pending)
        self.plan.batches.append(batch)
        self.pending = []

    def _too_large(self, what: str) -> CatalogSourceError:
        return CatalogSourceError(
            f"{self.source} is too large to enrich at once: it needs {what} of "
            f"{self.batch_size} products; split it into smaller catalogs"
        )
