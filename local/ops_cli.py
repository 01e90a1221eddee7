"""``python -m local ops ...``: the operations API from the command line.

A client of the HTTP API (``--api``, ``STEPFLOW_API``, default ``http://127.0.0.1:4567``), so it
works against a local stack and, given the deployed API URL, against AWS alike. Every command
prints the API's JSON answer; the exit code is 0 for a 2xx, 1 otherwise.

Example::

    python -m local ops queues
    python -m local ops redrive-dlq stepflow-dev-ingest --rate 10
    python -m local ops executions --status PARKED
    python -m local ops redrive --workflow ingest --status PARKED --reason "downstream fixed"
    python -m local ops breaker close --reason "downstream fixed"
    python -m local ops replay bundles/ab/ab12....ndjson.gz
    python -m local ops health
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from typing import Any, Final

from local.json_http import request_json

API_ENV: Final = "STEPFLOW_API"
DEFAULT_API: Final = "http://127.0.0.1:4567"


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> int:
    code, answer = request_json(method, args.api.rstrip("/") + path, body)
    print(json.dumps(answer, indent=2, default=str))
    if not 200 <= code < 300:
        print(f"error: HTTP {code}", file=sys.stderr)
        return 1
    return 0


def _queues(args: argparse.Namespace) -> int:
    return _call(args, "GET", "/ops/queues")


def _redrive_dlq(args: argparse.Namespace) -> int:
    path = f"/ops/queues/{urllib.parse.quote(args.queue, safe='')}/redrive"
    if args.list:
        return _call(args, "GET", path)
    if args.cancel:
        return _call(args, "POST", f"{path}/cancel", {"taskHandle": args.cancel})
    body = {} if args.rate is None else {"maxMessagesPerSecond": args.rate}
    return _call(args, "POST", path, body)


def _executions(args: argparse.Namespace) -> int:
    query = {"status": args.status, "workflow": args.workflow}
    filtered = urllib.parse.urlencode({k: v for k, v in query.items() if v})
    return _call(args, "GET", "/ops/executions" + (f"?{filtered}" if filtered else ""))


def _redrive(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"maxConcurrency": args.max_concurrency}
    for key, value in (
        ("workflow", args.workflow),
        ("status", args.status),
        ("reason", args.reason),
        ("executionArns", args.execution or None),
    ):
        if value:
            body[key] = value
    return _call(args, "POST", "/ops/executions/redrive", body)


def _breaker(args: argparse.Namespace) -> int:
    if args.action == "show":
        return _call(args, "GET", "/ops/breaker")
    if not args.reason:
        print("error: opening or closing the breaker needs --reason", file=sys.stderr)
        return 2
    state = "open" if args.action == "open" else "closed"
    return _call(args, "POST", "/ops/breaker", {"state": state, "reason": args.reason})


def _replay(args: argparse.Namespace) -> int:
    return _call(args, "POST", "/ops/replay", {"archiveKey": args.archive_key})


def _health(args: argparse.Namespace) -> int:
    return _call(args, "GET", "/ops/health")


def add_ops_command(commands: Any) -> None:
    """``ops`` and its subcommands, on ``python -m local``'s parser."""
    ops = commands.add_parser("ops", help="the operations API: queues, redrives, breaker, ...")
    ops.add_argument(
        "--api",
        default=os.environ.get(API_ENV, DEFAULT_API),
        help=f"the HTTP API's base URL ({API_ENV}, else {DEFAULT_API})",
    )
    actions = ops.add_subparsers(dest="ops_command", required=True, metavar="ACTION")

    actions.add_parser("queues", help="queues and dead-letter queues").set_defaults(handler=_queues)

    dlq = actions.add_parser("redrive-dlq", help="move a queue's dead letters back to it")
    dlq.add_argument("queue", help="the queue's physical name (e.g. stepflow-dev-ingest)")
    dlq.add_argument("--rate", type=int, help="messages per second (1-500)")
    dlq.add_argument("--list", action="store_true", help="list the redrives instead")
    dlq.add_argument("--cancel", metavar="TASK_HANDLE", help="cancel a running redrive")
    dlq.set_defaults(handler=_redrive_dlq)

    executions = actions.add_parser("executions", help="failed and parked executions")
    executions.add_argument("--status", choices=("FAILED", "PARKED"))
    executions.add_argument("--workflow")
    executions.set_defaults(handler=_executions)

    redrive = actions.add_parser("redrive", help="redrive failed or parked executions")
    redrive.add_argument("execution", nargs="*", help="execution ARNs (default: all matching)")
    redrive.add_argument("--workflow")
    redrive.add_argument("--status", choices=("FAILED", "PARKED"))
    redrive.add_argument("--reason", help="why (logged with the report)")
    redrive.add_argument("--max-concurrency", type=int, default=4)
    redrive.set_defaults(handler=_redrive)

    breaker = actions.add_parser("breaker", help="show, open or close the circuit breaker")
    breaker.add_argument("action", nargs="?", choices=("show", "open", "close"), default="show")
    breaker.add_argument("--reason")
    breaker.set_defaults(handler=_breaker)

    replay = actions.add_parser("replay", help="re-deliver an archived bundle")
    replay.add_argument("archive_key", help="bundles/ab/<sha256>.ndjson.gz")
    replay.set_defaults(handler=_replay)

    actions.add_parser("health", help="what the pipeline depends on").set_defaults(handler=_health)
