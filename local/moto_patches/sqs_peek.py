"""Not a patch but a look inside moto: what an idle pipe waits on.

:func:`visible_sqs_messages` reads a queue's visible count in-process, so idle pipe pollers wait
without requests (moto's server closes every connection: polling an empty queue over HTTP would
open and close a socket per poll).
"""

from __future__ import annotations

from local.moto_patches.patch_context import moto_module


def visible_sqs_messages(account_id: str, region: str, queue_name: str) -> int:
    """How many messages ``ReceiveMessage`` would see in the queue now (moto's own count)."""
    sqs_backends = moto_module("moto.sqs.models").sqs_backends
    queue = sqs_backends[account_id][region].get_queue(queue_name)
    return int(queue.approximate_number_of_messages)
