"""Executions per second through the local runtime, against stock moto measured in the same run.

The workflow: 5 states, 3 of them Lambda tasks (``Task, Task, Pass, Task, Succeed``). The local
runtime runs each task in a real Lambda worker process; the baseline is stock moto 5.2.5 (its
interpreter, a boto3 client per task, executions kept in memory) with an in-process stand-in for
the Lambdas, because stock moto cannot run Lambda code without Docker. Each side runs in its own
fresh interpreter (moto's patches are process-wide), and the ratio is printed at the end.

    python -m bench.executions [--executions 600] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
_FUNCTION = "bench.handlers.echo"


def _definition(function_arn: Any) -> dict[str, Any]:
    from workflows.builder import Chain, LambdaInvoke, Pass, StateMachine, Succeed

    chain = (
        Chain.start(LambdaInvoke("Validate the order", function="first"))
        .next(LambdaInvoke("Price the order", function="second"))
        .next(Pass("Note the price"))
        .next(LambdaInvoke("Confirm the order", function="third"))
        .next(Succeed("Done"))
    )
    return StateMachine(start=chain, timeout_seconds=300).render(function_arn)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _running(sfn: Any, machine_arn: str) -> int:
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=machine_arn, statusFilter="RUNNING"
    )
    return sum(len(page["executions"]) for page in pages)


def _drive(sfn: Any, machine_arn: str, count: int, in_flight: int, tag: str) -> float:
    """Run ``count`` executions, at most ``in_flight`` at once; return the wall time in seconds.

    One monitor polls ``ListExecutions`` instead of every execution polling ``DescribeExecution``,
    so the measure is the engine's throughput, not the cost of thousands of status requests.
    """
    started_at = time.perf_counter()
    launched = 0
    while True:
        running = _running(sfn, machine_arn)
        if launched == count and running == 0:
            break
        room = min(in_flight - running, count - launched)
        for _ in range(max(0, room)):
            sfn.start_execution(
                stateMachineArn=machine_arn,
                name=f"{tag}-{launched}",
                input=json.dumps({"order": launched}),
            )
            launched += 1
        time.sleep(0.02)
    elapsed = time.perf_counter() - started_at
    succeeded = sum(
        1
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine_arn, statusFilter="SUCCEEDED"
        )
        for execution in page["executions"]
        if execution["name"].startswith(f"{tag}-")
    )
    if succeeded != count:
        raise SystemExit(f"only {succeeded} of {count} {tag} executions succeeded")
    return elapsed


def _client(endpoint: str, service: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=64, retries={"max_attempts": 0}),
    )


def run_local(count: int, concurrency: int) -> dict[str, float]:
    from local.runtime import LocalSettings, LocalStack
    from stack.spec import App, FunctionSpec, StackConfig, WorkflowSpec

    class _Definition:
        def render(self, function_arn: Any) -> dict[str, Any]:
            return _definition(function_arn)

        def referenced_functions(self) -> frozenset[str]:
            return frozenset({"first", "second", "third"})

    app = App(
        config=StackConfig(prefix="bench"),
        functions=tuple(FunctionSpec(n, _FUNCTION, n) for n in ("first", "second", "third")),
        tables=(),
        queues=(),
        buckets=(),
        workflows=(WorkflowSpec("orders", "bench", _Definition()),),
    )
    with tempfile.TemporaryDirectory() as state_dir:
        settings = LocalSettings(port=0, state_dir=Path(state_dir), max_workers_per_function=4)
        with LocalStack(app, settings) as stack:
            sfn = _client(stack.endpoint_url, "stepfunctions")
            machine = stack.state_machine_arn("orders")
            return _measure(sfn, machine, count, concurrency)


def run_stock(count: int, concurrency: int) -> dict[str, float]:
    import importlib
    import logging
    import socket

    from moto.core.config import default_user_config
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    lambda_eval_utils: Any = importlib.import_module(
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
    )

    from bench.handlers import echo

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ["MOTO_PORT"] = str(port)
    default_user_config["stepfunctions"]["execute_state_machine"] = True

    original_client = lambda_eval_utils.boto_client_for

    def stand_in(parameters: dict[str, Any], region: str, state_credentials: Any) -> Any:
        # Stock moto builds a boto3 client per task; keep that cost, skip only Docker.
        original_client(region=region, service="lambda", state_credentials=state_credentials)
        payload = json.loads(parameters.get("Payload") or b"{}")
        return {"StatusCode": 200, "Payload": echo(payload, None)}

    lambda_eval_utils._invoke_lambda_function = stand_in
    logging.getLogger("werkzeug").disabled = True
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        sfn = _client(endpoint, "stepfunctions")
        machine = sfn.create_state_machine(
            name="orders",
            definition=json.dumps(
                _definition(lambda n: f"arn:aws:lambda:us-east-1:123456789012:function:{n}")
            ),
            roleArn="arn:aws:iam::123456789012:role/bench",
        )["stateMachineArn"]
        return _measure(sfn, machine, count, concurrency)
    finally:
        server.stop()


def _measure(sfn: Any, machine: str, count: int, concurrency: int) -> dict[str, float]:
    warmup = max(50, count // 10)
    _drive(sfn, machine, warmup, concurrency, "warmup")
    rss_before = _rss_mb()
    elapsed = _drive(sfn, machine, count, concurrency, "measured")
    rss_after = _rss_mb()
    return {
        "executions": count,
        "seconds": round(elapsed, 3),
        "executions_per_second": round(count / elapsed, 1),
        "rss_growth_mb_per_1000": round((rss_after - rss_before) * 1000 / count, 1),
        "threads_alive": threading.active_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=32, help="executions in flight")
    parser.add_argument("--mode", choices=("local", "stock"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        runner = run_local if args.mode == "local" else run_stock
        print(json.dumps(runner(args.executions, args.concurrency)))
        return

    results: dict[str, dict[str, float]] = {}
    for mode in ("stock", "local"):
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.executions",
                "--mode",
                mode,
                "--executions",
                str(args.executions),
                "--concurrency",
                str(args.concurrency),
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise SystemExit(f"{mode} run failed:\n{completed.stderr[-3000:]}")
        results[mode] = json.loads(completed.stdout.strip().splitlines()[-1])
        print(f"{mode:>5}: {json.dumps(results[mode])}")
    ratio = results["local"]["executions_per_second"] / results["stock"]["executions_per_second"]
    print(
        f"\nlocal runtime / stock moto throughput: {ratio:.2f}x "
        f"({results['local']['executions_per_second']} vs "
        f"{results['stock']['executions_per_second']} executions/s, "
        f"{args.executions} executions of a 5-state, 3-Lambda workflow, "
        f"concurrency {args.concurrency})"
    )
    print(
        f"memory growth per 1,000 executions: local {results['local']['rss_growth_mb_per_1000']} MB"
        f", stock {results['stock']['rss_growth_mb_per_1000']} MB"
    )


if __name__ == "__main__":
    main()
