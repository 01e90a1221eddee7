"""The port check: a listener makes a port busy, a killed stack's closed sockets do not."""

from __future__ import annotations

import socket

import pytest

from local.ports import PortInUseError, ensure_free

_HOST = "127.0.0.1"


def _listener() -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((_HOST, 0))
    server.listen()
    return server


def test_a_port_someone_listens_on_is_refused_naming_it() -> None:
    with _listener() as server:
        port = server.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} on {_HOST} is in use"):
            ensure_free(_HOST, port)


def test_a_port_left_in_time_wait_by_a_closed_server_is_free() -> None:
    # What kill -9 of `local up` leaves behind: the server closed its side of a connection first,
    # so that connection waits in TIME_WAIT on the port; a restart on the same port must work.
    server = _listener()
    port = server.getsockname()[1]
    client = socket.create_connection((_HOST, port))
    accepted, _ = server.accept()
    accepted.close()
    client.close()
    server.close()

    ensure_free(_HOST, port)
