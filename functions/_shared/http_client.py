"""urllib3 as the functions use it to call peers: one small pool per Lambda instance, bodies read
up to a cap, and errors described by their inner reason."""

from __future__ import annotations

import urllib3


def lambda_pool() -> urllib3.PoolManager:
    """A pool to keep at module level, without retries (the caller owns the retry policy).

    A Lambda instance runs one invocation at a time and makes one request at a time, so a few
    connections suffice; they live as long as the instance, which saves a TCP and TLS handshake
    per warm invocation.
    """
    return urllib3.PoolManager(num_pools=4, maxsize=4, retries=False)


def read_capped(
    response: urllib3.BaseHTTPResponse, limit: int, *, decode_content: bool | None = None
) -> bytes:
    """At most ``limit + 1`` bytes of the body: one more than ``limit`` says it was longer.

    The connection goes back to the pool only when the body was read to its end; a longer body
    or a failed read (re-raised) closes it, so no later request reads this one's leftovers.
    """
    try:
        data = response.read(limit + 1, decode_content=decode_content)
    except (urllib3.exceptions.HTTPError, OSError):
        response.close()
        raise
    if len(data) > limit:
        response.close()
    else:
        response.drain_conn()
        response.release_conn()
    return data


def describe_error(error: BaseException) -> str:
    """What went wrong in a request, for operators.

    >>> describe_error(urllib3.exceptions.ProtocolError(
    ...     "Connection aborted.", ConnectionResetError(104, "reset")))
    'ProtocolError: Connection aborted. ConnectionResetError: [Errno 104] reset'
    """
    # urllib3 wraps the socket error ("Connection aborted.", ConnectionResetError(...)); the
    # inner reason is what an operator needs.
    reason = getattr(error, "reason", None)
    if reason is not None:
        return f"{type(error).__name__}: {reason}"
    args = error.args
    if len(args) == 2 and isinstance(args[1], BaseException):
        return f"{type(error).__name__}: {args[0]} {type(args[1]).__name__}: {args[1]}"
    return f"{type(error).__name__}: {error}"
