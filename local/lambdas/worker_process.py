"""The pool's side of one worker process: its pipes, the wire framing, and killing it."""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from local.lambdas import worker as wire

_READ_CHUNK = 1 << 16
_EXIT_GRACE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class WorkerResponse:
    """One response frame: the status, the body, and what the invocation logged for the caller."""

    status: int
    body: bytes
    log_tail: bytes = b""
    metrics: bytes = b""


class WorkerExitedError(Exception):
    """The worker closed its end of the response pipe (it exited or was killed)."""


class WorkerTimedOutError(Exception):
    """No whole response frame came before the deadline."""


class WorkerProcess:
    """The parent's side of one worker process: its pipes and its process handle."""

    __slots__ = ("_buffer", "_closed", "_lock", "_poller", "proc", "request_fd", "response_fd")

    def __init__(self, proc: subprocess.Popen[bytes], request_fd: int, response_fd: int) -> None:
        self.proc = proc
        self.request_fd = request_fd
        self.response_fd = response_fd
        self._buffer = bytearray()
        self._poller = select.poll()
        self._poller.register(response_fd, select.POLLIN)
        self._lock = threading.Lock()
        self._closed = False

    def send(self, request_id: bytes, deadline_ms: int, payload: bytes, flags: int = 0) -> None:
        header = wire.REQUEST_HEADER.pack(len(request_id), deadline_ms, len(payload), flags)
        data = memoryview(header + request_id + payload)
        while data:
            written = os.write(self.request_fd, data)
            data = data[written:]

    def receive(self, deadline: float) -> WorkerResponse:
        """One response frame; raises WorkerTimedOutError at ``deadline`` (monotonic clock)."""
        buffer = self._buffer
        header_size = wire.RESPONSE_HEADER.size
        needed = header_size
        status = -1
        body_end = tail_end = 0
        while True:
            if len(buffer) >= needed:
                if status < 0:
                    status, body_length, tail_length, metrics_length = (
                        wire.RESPONSE_HEADER.unpack_from(buffer)
                    )
                    body_end = header_size + body_length
                    tail_end = body_end + tail_length
                    needed = tail_end + metrics_length
                    continue
                response = WorkerResponse(
                    status,
                    bytes(buffer[header_size:body_end]),
                    bytes(buffer[body_end:tail_end]),
                    bytes(buffer[tail_end:needed]),
                )
                del buffer[:needed]
                return response
            remaining_ms = math.ceil((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0 or not self._poller.poll(remaining_ms):
                raise WorkerTimedOutError
            chunk = os.read(self.response_fd, max(_READ_CHUNK, needed - len(buffer)))
            if not chunk:
                raise WorkerExitedError
            buffer += chunk

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker's process group (handlers' own children too) and reap it."""
        if self.proc.returncode is None:
            # The worker leads its own session, so its pgid is its pid; an unreaped (zombie)
            # worker still holds that id, so this cannot hit an unrelated group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def discard(self) -> None:
        """Kill, reap and close the pipes; only the thread that owns the worker may call this."""
        self.kill()
        with self._lock:
            if self._closed:
                return
            self._closed = True
        os.close(self.request_fd)
        os.close(self.response_fd)

    def exit_description(self) -> str:
        # Lambda reports its runtime's exit the way Go's os.ProcessState prints it.
        try:
            code = self.proc.wait(timeout=_EXIT_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            # It closed its end of the pipe but lives on: it is of no use any more.
            self.kill()
            code = self.proc.wait()
        if code < 0:
            return f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
        return f"exit status {code}"
