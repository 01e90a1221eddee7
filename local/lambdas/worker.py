"""One Lambda execution environment: imports a handler once, then serves invocations over pipes.

Run by :class:`local.lambdas.pool.LambdaPool` as
``python -P worker.py <request_fd> <response_fd> <function_arn>``, with the function's
configuration in the environment (``_HANDLER``, ``AWS_LAMBDA_*``) as on AWS. It plays the part of
``awslambdaric``'s bootstrap: the INIT phase, the event loop, the context object, the error shapes
and the START/END/REPORT log lines.

This module must import nothing but the standard library: it runs as a script beside the
function's code (``-P`` keeps its own directory off ``sys.path``), so the handler sees only its
code root and site-packages, as on AWS. The pool imports the wire constants from here so the two
sides cannot drift apart.

Wire format (stdout and stderr are the function's log, so the protocol has its own pipes):

- request: ``REQUEST_HEADER`` (request id length, deadline in epoch ms, payload length, flags), the
  request id, then the payload bytes exactly as the caller passed them; ``FLAG_LOG_TAIL`` asks for
  the invocation's log tail (``LogType: Tail``);
- response: ``RESPONSE_HEADER`` (status, body length, log tail length, metrics length), then the
  body: the JSON the caller gets back (``STATUS_OK``/``STATUS_ERROR``), nothing (``STATUS_READY``)
  or the init error (``STATUS_INIT_ERROR``, after which the worker exits like Lambda's runtime
  does); then the last ``LOG_TAIL_BYTES`` of the invocation's log when asked for, and the embedded
  metric format documents (CloudWatch EMF) the invocation printed, one per line.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import os
import resource
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

REQUEST_HEADER = struct.Struct(">HQIB")
RESPONSE_HEADER = struct.Struct(">BIII")
FLAG_LOG_TAIL = 1
# What Lambda returns in X-Amz-Log-Result.
LOG_TAIL_BYTES = 4096

STATUS_OK = 0
STATUS_ERROR = 1
STATUS_READY = 2
STATUS_INIT_ERROR = 3

_READ_CHUNK = 1 << 16
_THIS_FILE = os.path.abspath(__file__)

Handler = Callable[[Any, "LambdaContext"], Any]


class _FaultError(Exception):
    """An error the runtime itself reports (``Runtime.*``), as opposed to one the handler raised."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self) -> None:
        self.cognito_identity_id: str | None = None
        self.cognito_identity_pool_id: str | None = None


class LambdaContext:
    """The context object, attribute for attribute as ``awslambdaric`` builds it.

    ``memory_limit_in_mb`` is a string because that is what AWS passes (it is read from the
    environment there too); code that does arithmetic on it must convert, on AWS as here.
    """

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id: str | None = None
        self.client_context: Any = None
        self.identity = CognitoIdentity()
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


def _encode_default(obj: object) -> object:
    # Lambda's marshaller (simplejson) writes Decimal as a JSON number; DynamoDB items are full of
    # them, so a handler returning one must not fail here when it would not on AWS.
    if isinstance(obj, decimal.Decimal):
        if obj.is_nan():
            return float("nan")
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(default=_encode_default)


def make_json(obj: object) -> bytes:
    """JSON as Lambda's marshaller writes it: ", " and ": " separators, ASCII, Decimal as number."""
    return _ENCODER.encode(obj).encode()


def make_error(
    message: str, error_type: str, trace: list[str] | None, request_id: str | None
) -> dict[str, Any]:
    """The error object of ``awslambdaric``'s ``make_error``, key for key."""
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": trace or [],
    }


def _user_trace(tb: Any) -> list[str]:
    # As the runtime does: drop the leading frames that belong to the runtime, and format plain
    # (file, line, name, text) tuples, which leaves out 3.11's column carets as AWS's traces do.
    frames = [
        (frame.filename, frame.lineno or 0, frame.name, frame.line)
        for frame in traceback.extract_tb(tb)
    ]
    for index, (filename, *_) in enumerate(frames):
        if os.path.abspath(filename) != _THIS_FILE:
            return traceback.format_list(frames[index:])
    return traceback.format_list(frames)


def _exception_error(exc: BaseException, request_id: str | None) -> dict[str, Any]:
    return make_error(str(exc), type(exc).__name__, _user_trace(exc.__traceback__), request_id)


def load_handler(spec: str) -> Handler:
    """Import ``module.function`` with the runtime's error types for each way it can fail."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise _FaultError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {exc}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise _FaultError(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise _FaultError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise _FaultError(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc}",
            trace,
        ) from None
    handler = getattr(module, function_name, None)
    if handler is None:
        raise _FaultError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return handler  # type: ignore[no-any-return]


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _setup_logging() -> _RequestIdFilter:
    # The Python runtime attaches this handler to the root logger before importing the function;
    # code that logs through `logging` (not Powertools) prints the same lines here as on AWS.
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    request_filter = _RequestIdFilter()
    handler.addFilter(request_filter)
    root = logging.getLogger()
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)
    return request_filter


def _log_error(error: dict[str, Any]) -> None:
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    if error["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in error["stackTrace"])
    sys.stdout.write("\n".join(lines) + "\n")


class _Channel:
    """Both pipe ends of the worker; reads greedily so a small request costs one read syscall."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._buffer = bytearray()

    def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
            chunk = os.read(self._read_fd, max(_READ_CHUNK, size - len(self._buffer)))
            if not chunk:
                return False
            self._buffer += chunk
        return True

    def receive(self) -> tuple[str, int, bytes, int] | None:
        """The next request (id, deadline, payload, flags), or None when the pool has closed its
        end."""
        header_size = REQUEST_HEADER.size
        if not self._fill(header_size):
            return None
        id_length, deadline_ms, payload_length, flags = REQUEST_HEADER.unpack_from(self._buffer)
        end = header_size + id_length + payload_length
        if not self._fill(end):
            return None
        request_id = self._buffer[header_size : header_size + id_length].decode()
        payload = bytes(self._buffer[header_size + id_length : end])
        del self._buffer[:end]
        return request_id, deadline_ms, payload, flags

    def send(self, status: int, body: bytes, log_tail: bytes = b"", metrics: bytes = b"") -> None:
        header = RESPONSE_HEADER.pack(status, len(body), len(log_tail), len(metrics))
        data = memoryview(header + body + log_tail + metrics)
        while data:
            written = os.write(self._write_fd, data)
            data = data[written:]


# Every EMF document opens with its metadata object (json.dumps with either separators).
_EMF_PREFIX = '{"_aws":'


class _InvocationLog:
    """What one invocation writes to stdout and stderr, as far as the caller needs it back: the
    tail Lambda returns for ``LogType: Tail``, and the EMF documents CloudWatch would extract."""

    __slots__ = ("_chunks", "_size", "active", "keep_tail", "metrics")

    def __init__(self) -> None:
        self._chunks: list[str] = []
        self._size = 0
        self.active = False
        self.keep_tail = False
        self.metrics: list[str] = []

    def start(self, keep_tail: bool) -> None:
        self._chunks.clear()
        self._size = 0
        self.metrics.clear()
        self.keep_tail = keep_tail
        self.active = True

    def record(self, text: str) -> None:
        if not self.active:
            return
        # Powertools Metrics (and any EMF writer) prints one whole JSON document per write.
        if text.startswith(_EMF_PREFIX):
            self.metrics.append(text.strip())
        if self.keep_tail:
            self._chunks.append(text)
            self._size += len(text)
            if self._size > 2 * LOG_TAIL_BYTES:  # bounded, however much the handler prints
                kept = "".join(self._chunks)[-LOG_TAIL_BYTES:]
                self._chunks[:] = [kept]
                self._size = len(kept)

    def finish(self) -> tuple[bytes, bytes]:
        """The log tail (empty unless asked for) and the EMF documents, one per line."""
        self.active = False
        tail = "".join(self._chunks).encode(errors="replace")[-LOG_TAIL_BYTES:]
        return (tail if self.keep_tail else b""), "\n".join(self.metrics).encode()


class _TeeStream:
    """A text stream that also hands every write to the invocation log."""

    def __init__(self, stream: Any, log: _InvocationLog) -> None:
        self._stream = stream
        self._log = log

    def write(self, text: str) -> int:
        self._log.record(text)
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _trace_header() -> str:
    # Lambda sets a fresh X-Ray header per invocation. Sampled=0 keeps the X-Ray SDK (and
    # Powertools Tracer, which is enabled because LAMBDA_TASK_ROOT is set) quiet without a daemon.
    epoch = f"{int(time.time()):08x}"
    return f"Root=1-{epoch}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"


def _invoke(
    handler: Handler, request_id: str, deadline_ms: int, payload: bytes, arn: str
) -> tuple[int, bytes]:
    try:
        try:
            event = json.loads(payload) if payload else {}
        except ValueError as exc:
            raise _FaultError(
                "Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}"
            ) from None
        result = handler(event, LambdaContext(request_id, deadline_ms, arn))
        if isinstance(result, bytes):
            return STATUS_OK, result
        try:
            return STATUS_OK, make_json(result)
        except Exception as exc:
            raise _FaultError(
                "Runtime.MarshalError", f"Unable to marshal response: {exc}"
            ) from None
    except _FaultError as fault:
        error = make_error(fault.message, fault.error_type, fault.trace, request_id)
    except Exception as exc:
        error = _exception_error(exc, request_id)
    _log_error(error)
    return STATUS_ERROR, make_json(error)


def serve(channel: _Channel, arn: str) -> int:
    """INIT, then the invocation loop; returns the exit status."""
    init_started = time.perf_counter()
    # Installed before logging and the handler's imports, so every stream they keep is the tee.
    invocation_log = _InvocationLog()
    sys.stdout = _TeeStream(sys.stdout, invocation_log)
    sys.stderr = _TeeStream(sys.stderr, invocation_log)
    request_filter = _setup_logging()
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    error: dict[str, Any] | None = None
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except _FaultError as fault:
        error = make_error(fault.message, fault.error_type, fault.trace, None)
    except Exception as exc:
        error = _exception_error(exc, None)
    init_ms = (time.perf_counter() - init_started) * 1000
    if error is not None:
        _log_error(error)
        sys.stdout.write(
            f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\t"
            f"Error Type: {error['errorType']}\n"
        )
        sys.stdout.flush()
        channel.send(STATUS_INIT_ERROR, make_json(error))
        return 1
    channel.send(STATUS_READY, b"")

    env = os.environ
    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    init_note = f"\tInit Duration: {init_ms:.2f} ms"
    write = sys.stdout.write
    while True:
        request = channel.receive()
        if request is None:
            return 0
        request_id, deadline_ms, payload, flags = request
        invocation_log.start(keep_tail=bool(flags & FLAG_LOG_TAIL))
        request_filter.request_id = request_id
        env["_X_AMZN_TRACE_ID"] = _trace_header()
        write(f"START RequestId: {request_id} Version: {version}\n")
        started = time.perf_counter()
        status, body = _invoke(handler, request_id, deadline_ms, payload, arn)
        duration = (time.perf_counter() - started) * 1000
        max_memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        write(
            f"END RequestId: {request_id}\nREPORT RequestId: {request_id}\t"
            f"Duration: {duration:.2f} ms\tBilled Duration: {max(1, int(duration + 0.999))} ms\t"
            f"Memory Size: {memory} MB\tMax Memory Used: {max_memory} MB{init_note}\n"
        )
        init_note = ""
        # Flushed before answering so the log is complete by the time the caller sees the result.
        sys.stdout.flush()
        sys.stderr.flush()
        log_tail, metrics = invocation_log.finish()
        channel.send(status, body, log_tail, metrics)


def main(argv: list[str]) -> int:
    # Line-buffered like the runtime's unbuffered wrapper: a worker killed on timeout keeps the
    # lines it printed before.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    request_fd, response_fd, arn = int(argv[1]), int(argv[2]), argv[3]
    return serve(_Channel(request_fd, response_fd), arn)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
