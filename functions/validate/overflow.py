"""Which queue messages a batch's output has no room for; no I/O.

Every message of a Pipes batch may be under the per-message limit and the batch's accepted
events still be over what a workflow's state holds. validate keeps the accepted events inline,
message by message in batch order, while their serialised size fits a budget, and sends the
rest of the messages back to the queue whole: a later execution judges them again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

# ", " between array items, as json.dumps writes them.
_SEPARATOR_BYTES = 2


def serialised_size(event: Any) -> int:
    """Bytes of ``event`` as JSON, as large as any encoding a Lambda's output may take.

    ASCII-escaped text is never shorter than its UTF-8 form, nor are the default separators
    shorter than compact ones, so the budget holds however the runtime serialises the output.

    >>> serialised_size({"a": "é"})
    15
    """
    return len(json.dumps(event))


def messages_over_budget(accepted: Sequence[tuple[str, Any]], budget: int) -> list[str]:
    """The message ids, in batch order, of the accepted events that do not fit ``budget``.

    ``accepted`` is each accepted event with the id of the message it came in, in batch order.
    A message is kept or sent back whole; the first message is always kept, so that every
    execution makes progress however large its first message. Once one message does not fit,
    neither do the ones after it, so the events kept are a prefix of the batch.

    >>> messages_over_budget([("m1", "x" * 10), ("m2", "y" * 10), ("m3", "z")], budget=20)
    ['m2', 'm3']
    >>> messages_over_budget([("m1", "x" * 50)], budget=20)
    []
    """
    sizes: dict[str, int] = {}
    for message_id, event in accepted:
        sizes[message_id] = sizes.get(message_id, 0) + serialised_size(event) + _SEPARATOR_BYTES
    used = 0
    for position, size in enumerate(sizes.values()):
        if position > 0 and used + size > budget:
            return list(sizes)[position:]
        used += size
    return []
