"""``python -m local rejected list|show|resubmit``: the quarantine of a running local stack.

A thin client of :mod:`functions.operations.quarantine` against the local AWS endpoint (the same
calls work against AWS with real clients).

    python -m local rejected list [--source queue|api|landing] [--json]
    python -m local rejected show quarantine/queue/2024/03/09/m-1 [--body-only]
    python -m local rejected resubmit quarantine/queue/2024/03/09/m-1 [--body-file fixed.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from functions._shared.quarantine import QuarantineSource
from functions.operations.quarantine import (
    Doors,
    QuarantineError,
    RejectedItem,
    list_rejected,
    resubmit,
    show_rejected,
)

Client = Callable[[str, str], Any]
"""``(endpoint, service)`` -> a boto3 client of the local endpoint."""


def add_rejected_command(
    commands: Any, client_command: Callable[[str, str], argparse.ArgumentParser], client: Client
) -> None:
    """Add ``rejected`` to the CLI's subcommands (``client_command`` adds ``--endpoint``)."""
    rejected = client_command("rejected", "list, show and resubmit rejected inputs")
    actions = rejected.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="the rejected inputs kept, with their reasons")
    listing.add_argument("--source", choices=[source.value for source in QuarantineSource])
    listing.add_argument("--json", action="store_true")

    show = actions.add_parser("show", help="one rejected input: its reason and bytes")
    show.add_argument("key", help="its quarantine key (quarantine/<source>/...)")
    show.add_argument("--body-only", action="store_true", help="only the bytes, verbatim")

    again = actions.add_parser("resubmit", help="send one back through its door, once")
    again.add_argument("key", help="its quarantine key (quarantine/<source>/...)")
    again.add_argument("--body-file", help="send these corrected bytes instead of the kept ones")
    for sub in (listing, show, again):
        sub.add_argument("--endpoint", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    rejected.set_defaults(handler=lambda args: run(args, client))


def run(args: argparse.Namespace, client: Client) -> int:
    from local.cli import CliError
    from stack.app import build_app

    app = build_app()
    s3 = client(args.endpoint, "s3")
    bucket = app.bucket_name("quarantine")
    try:
        if args.action == "list":
            return _list(list_rejected(s3, bucket, source=args.source), as_json=args.json)
        if args.action == "show":
            item, body = show_rejected(s3, bucket, args.key)
            if args.body_only:
                sys.stdout.buffer.write(body)
                return 0
            print(json.dumps(item.to_json(), indent=2))
            print(body.decode("utf-8", "backslashreplace"))
            return 0
        sqs = client(args.endpoint, "sqs")
        ingest = sqs.get_queue_url(QueueName=app.physical_name("ingest"))["QueueUrl"]
        doors = Doors(ingest_queue_url=ingest, landing_bucket=app.bucket_name("landing"))
        corrected = Path(args.body_file).read_bytes() if args.body_file else None
        done = resubmit(s3, sqs, bucket, args.key, doors, body=corrected)
    except QuarantineError as error:
        raise CliError(str(error)) from None
    print(f"resubmitted {done.key} -> {done.reference}")
    return 0


def _list(items: list[RejectedItem], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps([item.to_json() for item in items], indent=2))
        return 0
    for item in items:
        state = "resubmitted" if item.resubmitted is not None else "kept"
        print(f"{item.kept_at:%Y-%m-%d %H:%M:%S}  {state:<11}  {item.key}")
        print(f"    {item.tracking_id}: {item.reason}")
    print(f"{len(items)} rejected inputs")
    return 0
