"""The SQS side of validate: sending messages its output has no room for back to the queue."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from functions._shared.aws_errors import error_code
from functions._shared.clients import STANDARD_RETRIES, LazyClient
from functions._shared.errors import TransientDependencyError

# SendMessageBatch takes at most 10 entries of at most 262,144 bytes together.
_MAX_ENTRIES: Final = 10
_MAX_BATCH_BYTES: Final = 262_144


class QueueRequeuer:
    """Sends message bodies to one queue, as new messages, in as few requests as fit.

    ``client`` is a boto3 SQS client; by default one is made on first use. Any failure to send
    is a :class:`TransientDependencyError`: the workflow retries validate, which sends them again.

    Example::

        QueueRequeuer("https://sqs.us-east-1.amazonaws.com/123456789012/stepflow-dev-ingest")
        .send([body_of_m2, body_of_m3])
    """

    client = LazyClient("sqs", {"retries": STANDARD_RETRIES})

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    def send(self, bodies: Sequence[str]) -> None:
        for group in _groups(bodies):
            entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(group)]
            try:
                answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except ClientError as error:
                raise TransientDependencyError(
                    f"requeue to {self.queue_url}: {error_code(error) or error}"
                ) from error
            except BotoCoreError as error:
                raise TransientDependencyError(f"requeue to {self.queue_url}: {error}") from error
            failed = answer.get("Failed", [])
            if failed:
                codes = sorted({str(entry.get("Code", "")) for entry in failed})
                raise TransientDependencyError(
                    f"requeue to {self.queue_url}: {len(failed)} of {len(entries)} messages "
                    f"not sent ({', '.join(codes)})"
                )


def _groups(bodies: Sequence[str]) -> Iterator[list[str]]:
    """``bodies`` in order, split into requests SendMessageBatch accepts.

    >>> [len(group) for group in _groups(["x" * 150_000, "y" * 150_000, "z"])]
    [1, 2]
    """
    group: list[str] = []
    size = 0
    for body in bodies:
        body_size = len(body.encode("utf-8", "surrogatepass"))
        if group and (len(group) == _MAX_ENTRIES or size + body_size > _MAX_BATCH_BYTES):
            yield group
            group, size = [], 0
        group.append(body)
        size += body_size
    if group:
        yield group
