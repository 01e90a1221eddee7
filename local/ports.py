"""A port the runtime is told to use must be free: say so at once, instead of hanging.

>>> ensure_free("127.0.0.1", 4566)  # doctest: +SKIP
"""

from __future__ import annotations

import socket

__all__ = ["PortInUseError", "ensure_free"]


class PortInUseError(OSError):
    """Something already listens on the port."""


def ensure_free(host: str, port: int) -> None:
    """Raise :class:`PortInUseError` if ``port`` on ``host`` cannot be bound (0 always can)."""
    if port == 0:
        return
    with socket.socket() as probe:
        # As the servers themselves bind: sockets a killed stack left in TIME_WAIT do not make
        # the port busy, only a listener does (Linux refuses the bind then, reuse or not).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUseError(
                f"port {port} on {host} is in use ({error.strerror}); stop what listens there"
                " or pass another --port"
            ) from None
