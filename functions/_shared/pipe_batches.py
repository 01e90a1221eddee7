"""The tracking id of a Pipes batch, which validate gives it and update_status finds it by.

A batch that is exactly one envelope message keeps the envelope's ``trackingId``; any other is
named after its messages, so a redelivered batch maps onto the same status record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

_TRACKING_ID_PREFIX: Final = "sqs-"
_TRACKING_HASH_LENGTH: Final = 16


def batch_tracking_id(message_ids: Sequence[str]) -> str:
    """The tracking id of a batch that is not a single envelope: the same ids, the same result.

    >>> batch_tracking_id(["b", "a"]) == batch_tracking_id(["a", "b"])
    True
    >>> batch_tracking_id(["a", "b"])
    'sqs-7e18f737311b2dc3'
    """
    digest = hashlib.sha256("\n".join(sorted(message_ids)).encode("utf-8")).hexdigest()
    return _TRACKING_ID_PREFIX + digest[:_TRACKING_HASH_LENGTH]
