"""``python -m local``: run the stack locally and operate it.

``up`` serves the stack until Ctrl-C; ``downstream`` serves a downstream receiver on its own (to
outlive the stack: ``up --downstream-url`` delivers to it); ``demo`` brings the stack up, drives
the sample events through the ingest workflow and prints results and histories. Every other
command is a client of the local AWS endpoint (the same calls the AWS CLI makes with
``--endpoint-url``), so it works against any running stack.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from local.credentials import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY
from local.history_view import format_history, format_table
from local.rejected_cli import add_rejected_command
from stack.spec import Intake, StackConfig

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
ENDPOINT_ENV = "STEPFLOW_ENDPOINT"
DOWNSTREAM_TOKEN_ENV = "STEPFLOW_DOWNSTREAM_TOKEN"
MAX_INPUT_BYTES = 262_144
_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")


class CliError(Exception):
    """A user mistake, reported on one line with a non-zero exit."""


def _client(endpoint: str, service: str = "stepfunctions") -> Any:
    import boto3

    from stack.app import build_app

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=build_app().config.region,
        aws_access_key_id=LOCAL_ACCESS_KEY_ID,
        aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY,
    )


def _state_machines(sfn: Any) -> dict[str, str]:
    """Workflow name (and physical name) -> state machine ARN, as the endpoint reports them."""
    from stack.app import build_app

    app = build_app()
    by_name: dict[str, str] = {}
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            by_name[machine["name"]] = machine["stateMachineArn"]
            prefix = app.config.prefix + "-"
            if machine["name"].startswith(prefix):
                by_name[machine["name"][len(prefix) :]] = machine["stateMachineArn"]
    return by_name


def _resolve_workflow(sfn: Any, workflow: str) -> str:
    if workflow.startswith("arn:"):
        return workflow
    machines = _state_machines(sfn)
    if workflow not in machines:
        known = ", ".join(sorted(n for n in machines if ":" not in n)) or "none"
        raise CliError(f"unknown workflow {workflow!r} (known: {known})")
    return machines[workflow]


def _resolve_execution(sfn: Any, ref: str, workflow: str | None) -> str:
    if ref.startswith("arn:"):
        return ref
    machines = _state_machines(sfn)
    candidates = [machines[workflow]] if workflow else sorted(set(machines.values()))
    for machine_arn in candidates:
        execution_arn = machine_arn.replace(":stateMachine:", ":execution:") + f":{ref}"
        try:
            sfn.describe_execution(executionArn=execution_arn)
        except sfn.exceptions.ExecutionDoesNotExist:
            continue
        return execution_arn
    raise CliError(f"no execution named {ref!r}")


def read_input(inline: str | None, path: str | None) -> str:
    """The execution input as compact JSON, checked the way StartExecution would check it."""
    if inline is not None and path is not None:
        raise CliError("give --input or --input-file, not both")
    if path is not None:
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise CliError(f"cannot read input file {path}: {error.strerror}") from error
        except UnicodeDecodeError as error:
            raise CliError(f"input file {path} is not UTF-8: {error.reason}") from error
        source = path
    else:
        raw = inline if inline is not None else "{}"
        source = "--input"
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as error:
        raise CliError(
            f"{source} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    size = len(compact.encode("utf-8"))
    if size > MAX_INPUT_BYTES:
        raise CliError(
            f"{source} is {size:,} bytes; Step Functions accepts at most {MAX_INPUT_BYTES:,} "
            "bytes of input (pass an S3 pointer for larger payloads)"
        )
    return compact


# --- commands -------------------------------------------------------------------------------


def cmd_start(args: argparse.Namespace) -> int:
    payload = read_input(args.input, args.input_file)
    sfn = _client(args.endpoint)
    machine_arn = _resolve_workflow(sfn, args.workflow)
    request: dict[str, Any] = {"stateMachineArn": machine_arn, "input": payload}
    if args.name:
        request["name"] = args.name
    try:
        started = sfn.start_execution(**request)
    except sfn.exceptions.ExecutionAlreadyExists as error:
        raise CliError(str(error.response["Error"]["Message"])) from error
    except sfn.exceptions.InvalidName as error:
        raise CliError(
            f"invalid execution name {args.name!r}: 1-80 characters, no whitespace or "
            'any of < > { } [ ] ? * " # % \\ ^ | ~ ` $ & , ; : /'
        ) from error
    execution_arn = started["executionArn"]
    if not args.wait:
        print(execution_arn)
        return 0
    described = _wait(sfn, execution_arn, args.timeout)
    print(json.dumps(_describe_view(described), indent=2, default=str))
    return 0 if described["status"] == "SUCCEEDED" else 1


def _wait(sfn: Any, execution_arn: str, timeout: float) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


def _describe_view(described: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in described.items() if k != "ResponseMetadata"}
    for key in ("input", "output"):
        if isinstance(view.get(key), str):
            with contextlib.suppress(json.JSONDecodeError):
                view[key] = json.loads(view[key])
    return view


def cmd_list(args: argparse.Namespace) -> int:
    sfn = _client(args.endpoint)
    machines = (
        [_resolve_workflow(sfn, args.workflow)]
        if args.workflow
        else sorted(set(_state_machines(sfn).values()))
    )
    rows: list[tuple[str, ...]] = []
    for machine_arn in machines:
        request: dict[str, Any] = {"stateMachineArn": machine_arn}
        if args.status:
            request["statusFilter"] = args.status
        for page in sfn.get_paginator("list_executions").paginate(**request):
            for execution in page["executions"]:
                stop = execution.get("stopDate")
                rows.append(
                    (
                        execution["name"],
                        machine_arn.rsplit(":", 1)[-1],
                        execution["status"],
                        execution["startDate"].isoformat(timespec="milliseconds"),
                        stop.isoformat(timespec="milliseconds") if stop else "",
                    )
                )
    if args.json:
        print(
            json.dumps(
                [
                    dict(zip(("name", "stateMachine", "status", "start", "stop"), r, strict=True))
                    for r in rows
                ],
                indent=2,
            )
        )
    else:
        print(format_table(("name", "state machine", "status", "started", "stopped"), rows))
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    sfn = _client(args.endpoint)
    execution_arn = _resolve_execution(sfn, args.execution, args.workflow)
    described = sfn.describe_execution(executionArn=execution_arn)
    print(json.dumps(_describe_view(described), indent=2, default=str))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    sfn = _client(args.endpoint)
    execution_arn = _resolve_execution(sfn, args.execution, args.workflow)
    events: list[dict[str, Any]] = []
    paginator = sfn.get_paginator("get_execution_history")
    for page in paginator.paginate(executionArn=execution_arn, reverseOrder=args.reverse):
        events.extend(page["events"])
    if args.json:
        print(json.dumps(events, indent=2, default=str))
    else:
        print(format_history(events))
    return 0


def stack_config(stack: str | None) -> StackConfig | None:
    """The description's settings from ``Pulumi.<stack>.yaml``, read by the Pulumi program's
    own rules (:func:`infra.config.read_stack_file`); ``None``: the defaults."""
    if stack is None:
        return None
    from infra.config import ConfigError, read_stack_file
    from local.runtime import REPO_ROOT

    defaults = StackConfig()
    try:
        deploy = read_stack_file(
            REPO_ROOT, stack, account_id=defaults.account_id, default_region=defaults.region
        )
    except ConfigError as error:
        raise CliError(f"Pulumi.{stack}.yaml: {error}") from None
    # The local account stays: bucket names carry it, and moto serves this one account.
    return replace(deploy.stack, account_id=defaults.account_id)


def _configured_downstream(config: StackConfig | None) -> str | None:
    """The stack file's downstream, when it names a real one (not the example's placeholder)."""
    if config is None or config.downstream_url == StackConfig().downstream_url:
        return None
    return config.downstream_url


def cmd_up(args: argparse.Namespace) -> int:
    from local.access_help import access_instructions
    from local.durability import StateInUseError
    from local.environment import LocalEnvironment
    from local.ports import PortInUseError
    from local.runtime import LocalSettings
    from stack.app import build_app
    from stack.checks import check_app

    config = stack_config(args.stack)
    if args.intake is not None:
        config = replace(config or StackConfig(), intake=Intake(args.intake))
    app = build_app(config)
    check_app(app)  # before the peers start, not only before the runtime does
    downstream_url = args.downstream_url or _configured_downstream(config)
    settings = LocalSettings(
        port=args.port,
        api_port=args.api_port,
        console_port=args.console_port,
        state_dir=Path(args.state_dir),
        time_scale=args.time_scale,
        downstream_url=downstream_url,
        secret_values=_downstream_secret(downstream_url),
    )
    env = LocalEnvironment(app, settings)
    try:
        outputs = env.start()
    except (StateInUseError, PortInUseError) as error:
        raise CliError(str(error)) from None
    stack = env.stack
    print("The stack is up on the local runtime. Outputs (as `pulumi up` exports them):")
    print(json.dumps(outputs, indent=2))
    print(
        f"\nAWS endpoint: {stack.endpoint_url}   API: {stack.api_url}\n"
        f"Console: {stack.console_url}\n"
        f"{access_instructions(stack)}\n"
        f"  python -m local start ingest --input-file examples/envelope.json --wait\n"
        f"  aws --endpoint-url {stack.endpoint_url} stepfunctions list-state-machines\n"
        f"Downstream: {downstream_url or env.downstream.url + '/_received'}   "
        f"Logs: {settings.state_dir / 'logs'}   Ctrl-C stops the stack."
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping…", file=sys.stderr)
        env.stop()
    return 0


def cmd_downstream(args: argparse.Namespace) -> int:
    import secrets

    from local.peers.downstream import CONTROL_PATH, RECEIVED_PATH, DownstreamServer

    # A receiver of its own process outlives a crash of the stack, so a crash test counts what
    # arrived at an endpoint that did not crash with it.
    token = args.token or os.environ.get(DOWNSTREAM_TOKEN_ENV) or secrets.token_urlsafe(24)
    server = DownstreamServer(token, args.host, args.port, seed=args.seed)
    server.set_fail_rate(args.fail_rate)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with server:
        print(f"downstream listening on {server.ingest_url}", flush=True)
        print(
            f"  control: POST {server.url}{CONTROL_PATH}"
            f"   received: GET {server.url}{RECEIVED_PATH}\n"
            f"  deliver here: {DOWNSTREAM_TOKEN_ENV}={token} python -m local up "
            f"--downstream-url {server.ingest_url}\n  Ctrl-C stops it.",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
    return 0


def _downstream_secret(downstream_url: str | None) -> dict[str, str]:
    """The downstream secret for a downstream of one's own (its token from the environment)."""
    if downstream_url is None:
        return {}
    token = os.environ.get(DOWNSTREAM_TOKEN_ENV)
    if not token:
        raise CliError(f"--downstream-url needs the downstream's token in {DOWNSTREAM_TOKEN_ENV}")
    return {"downstream": json.dumps({"token": token})}


def cmd_clean(args: argparse.Namespace) -> int:
    import shutil

    from local.durability.state_lock import StateInUseError, held

    state_dir = Path(args.state_dir)
    if not state_dir.exists():
        return 0
    try:
        with held(state_dir):
            shutil.rmtree(state_dir)
    except StateInUseError as error:
        raise CliError(f"{error}; nothing was removed") from None
    print(f"removed {state_dir}")
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    sfn = _client(args.endpoint)
    execution_arn = _resolve_execution(sfn, args.execution, args.workflow)
    try:
        sfn.redrive_execution(executionArn=execution_arn)
    except sfn.exceptions.ExecutionNotRedrivable as error:
        raise CliError(str(error.response["Error"]["Message"])) from error
    if not args.wait:
        print(execution_arn)
        return 0
    described = _wait(sfn, execution_arn, args.timeout)
    print(json.dumps(_describe_view(described), indent=2, default=str))
    return 0 if described["status"] == "SUCCEEDED" else 1


def cmd_cost(args: argparse.Namespace) -> int:
    from local.cost import format_report, report
    from stack.app import build_app

    try:
        priced = report(args.endpoint, region=build_app().config.region)
    except (OSError, RuntimeError) as error:
        raise CliError(f"cannot read the usage of {args.endpoint}: {error}") from None
    print(format_report(priced))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from local.demo import run_demo

    return run_demo(
        port=args.port,
        state_dir=Path(args.state_dir),
        time_scale=args.time_scale,
        config=stack_config(args.stack),
    )


def _add_downstream_command(commands: Any) -> None:
    downstream = commands.add_parser(
        "downstream", help="serve a downstream receiver on its own until Ctrl-C"
    )
    downstream.add_argument("--host", default="127.0.0.1")
    downstream.add_argument("--port", type=int, default=0, help="0 = any free port")
    downstream.add_argument(
        "--token", help=f"bearer token to require ({DOWNSTREAM_TOKEN_ENV}, else a new one)"
    )
    downstream.add_argument("--fail-rate", type=float, default=0.0, help="share answered 503")
    downstream.add_argument("--seed", type=int, default=0, help="seed of the fail-rate draws")
    downstream.set_defaults(handler=cmd_downstream)


def _add_clean_command(commands: Any) -> None:
    clean = commands.add_parser("clean", help="forget all local state (refused while it runs)")
    clean.add_argument("--state-dir", default=".state", help="the state directory to remove")
    clean.set_defaults(handler=cmd_clean)


def _add_runtime_options(sub: argparse.ArgumentParser, port: int) -> None:
    sub.add_argument("--port", type=int, default=port, help=f"endpoint port ({port}; 0 = any free)")
    sub.add_argument("--state-dir", default=".state", help="where tables, histories and logs live")
    sub.add_argument(
        "--time-scale", type=float, default=1.0, help="multiplies Wait and Retry intervals"
    )
    sub.add_argument(
        "--stack",
        default=None,
        help="read the settings of Pulumi.<STACK>.yaml, as `pulumi up` does (default: none)",
    )


def _add_up_command(commands: Any) -> None:
    up = commands.add_parser("up", help="serve the stack until Ctrl-C")
    _add_runtime_options(up, 4566)
    up.add_argument("--api-port", type=int, default=None, help="HTTP API port (AWS port + 1)")
    up.add_argument(
        "--console-port", type=int, default=None, help="web console port (AWS port + 2)"
    )
    up.add_argument(
        "--intake",
        choices=[intake.value for intake in Intake],
        help="how the API hands events to the ingest workflow (default: the stack's, queued)",
    )
    up.add_argument(
        "--downstream-url",
        help=f"deliver to this downstream, not a built-in one (token: {DOWNSTREAM_TOKEN_ENV})",
    )
    up.set_defaults(handler=cmd_up)


def _add_standalone_commands(commands: Any) -> None:
    """The commands that need neither the AWS endpoint option nor the runtime's."""
    from local.ops_cli import add_ops_command

    _add_downstream_command(commands)
    _add_clean_command(commands)
    add_ops_command(commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    endpoint = os.environ.get(ENDPOINT_ENV, DEFAULT_ENDPOINT)

    def client_command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--endpoint", default=endpoint, help=f"local AWS endpoint ({endpoint})")
        return sub

    _add_up_command(commands)

    _add_standalone_commands(commands)

    demo = commands.add_parser(
        "demo", help="bring the stack up, run the sample events, show results"
    )
    _add_runtime_options(demo, 0)
    demo.set_defaults(handler=cmd_demo)

    start = client_command("start", "start an execution of a workflow")
    start.add_argument("workflow", help="workflow name (e.g. ingest) or state machine ARN")
    start.add_argument("--input", help="inline JSON input")
    start.add_argument("--input-file", help="path to a JSON input file")
    start.add_argument(
        "--name", help="execution name (idempotent: same name + input while running)"
    )
    start.add_argument("--wait", action="store_true", help="wait and print the result")
    start.add_argument("--timeout", type=float, default=120.0, help="seconds to --wait")
    start.set_defaults(handler=cmd_start)

    listing = client_command("list", "list executions")
    listing.add_argument("workflow", nargs="?", help="only this workflow")
    listing.add_argument("--status", choices=_STATUSES, help="only executions with this status")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list)

    describe = client_command("describe", "describe one execution")
    describe.add_argument("execution", help="execution ARN or name")
    describe.add_argument("--workflow", help="workflow the named execution belongs to")
    describe.set_defaults(handler=cmd_describe)

    redrive = client_command("redrive", "re-run a failed execution from the step that failed")
    redrive.add_argument("execution", help="execution ARN or name")
    redrive.add_argument("--workflow", help="workflow the named execution belongs to")
    redrive.add_argument("--wait", action="store_true", help="wait and print the result")
    redrive.add_argument("--timeout", type=float, default=120.0, help="seconds to --wait")
    redrive.set_defaults(handler=cmd_redrive)

    client_command("cost", "price what the running stack did, at AWS list prices").set_defaults(
        handler=cmd_cost
    )

    history = client_command("history", "print an execution's history")
    history.add_argument("execution", help="execution ARN or name")
    history.add_argument("--workflow", help="workflow the named execution belongs to")
    history.add_argument("--reverse", action="store_true", help="newest event first")
    history.add_argument("--json", action="store_true", help="raw events as JSON")
    history.set_defaults(handler=cmd_history)

    add_rejected_command(commands, client_command, _client)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from stack.checks import DescriptionError

    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DescriptionError as error:
        print(f"error: the stack description is invalid: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # connection refused and friends: one line, not a traceback
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(error, ClientError | BotoCoreError):
            print(f"error: {error}", file=sys.stderr)
            return 1
        raise
    return code
