"""What each Lambda's cold start costs in imports, and how big its deployment package is.

For every function folder under ``functions/``: the median wall time of a fresh interpreter
that imports the handler module (its environment set as the stack sets it, names filled with
dummies, tracing off) against a bare ``python -c pass``, the import time measured inside that
interpreter, and the zip of exactly what ``infra.packaging`` ships (``functions/__init__.py``,
``functions/_shared/`` and the function's folder; the Powertools layer and boto3 are not in it).
A handler that does not import yet is reported and skipped. The target: at most
:data:`TARGET_OVER_BARE_MS` over a bare interpreter for every handler.

    python -m bench.cold_start [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
_NOT_FUNCTIONS = frozenset({"_shared", "__pycache__"})
TARGET_OVER_BARE_MS = 300
_IMPORT_AND_TIME = (
    "import time\n"
    "start = time.perf_counter()\n"
    "import {module}\n"
    "print(time.perf_counter() - start)\n"
)


def function_folders() -> list[str]:
    return sorted(
        path.name
        for path in FUNCTIONS_DIR.iterdir()
        if path.is_dir() and path.name not in _NOT_FUNCTIONS and not path.name.startswith(".")
    )


def environment_for(name: str) -> dict[str, str]:
    """The variables the stack gives ``name``, with dummies for backend-made values."""
    from stack.app import build_app

    app = build_app()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_"))
    }
    env.update(
        {
            "AWS_DEFAULT_REGION": app.config.region,
            "AWS_REGION": app.config.region,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Bench",
        }
    )
    spec = next((spec for spec in app.functions if spec.code_dir == name), None)
    if spec is not None:
        env.update(app.function_environment(spec))
        region, name_of = app.config.region, app.physical_name
        for variable, (kind, logical) in app.backend_references(spec).items():
            # Shaped like the real values: settings may check the form of an ARN or URL.
            env[variable] = (
                f"arn:aws:states:{region}:123456789012:stateMachine:{name_of(logical)}"
                if kind == "state_machine_arn"
                else f"https://sqs.{region}.amazonaws.com/123456789012/{name_of(logical)}"
            )
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(code: str, env: dict[str, str]) -> tuple[float, str, float]:
    """Wall seconds, output, and CPU seconds (which a loaded machine inflates far less)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(last)
    return elapsed, done.stdout.strip(), _children_cpu() - cpu


def package_size(name: str) -> tuple[int, int, int] | None:
    """``(files, bytes unzipped, bytes zipped)`` of the package ``infra.packaging`` builds."""
    from infra import packaging
    from stack.app import build_app

    spec = next((spec for spec in build_app().functions if spec.code_dir == name), None)
    if spec is None:
        return None
    files = packaging.package_files(spec)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for archived_name, path in files.items():
            archive.write(path, archived_name)
    unzipped = sum(path.stat().st_size for path in files.values())
    return len(files), unzipped, len(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per measurement")
    args = parser.parse_args()

    base_env = environment_for("")
    _run("pass", base_env)  # warm the page cache
    bare_runs = [_run("pass", base_env) for _ in range(args.runs)]
    bare = statistics.median(elapsed for elapsed, _, _ in bare_runs)
    bare_cpu = statistics.median(cpu for _, _, cpu in bare_runs)
    print(f"python {sys.version.split()[0]}, median of {args.runs} fresh interpreters each")
    print(f"bare `python -c pass`: {bare * 1000:.0f} ms")
    print()
    header = (
        f"{'function':<14} {'process ms':>10} {'x bare':>7} {'- bare ms':>10} {'import ms':>10}"
        f" {'cpu - bare':>10}"
        f" {'files':>6} {'unzipped KB':>12} {'zip KB':>8}"
    )
    print(header)
    print("-" * len(header))
    over_target: list[str] = []
    for name in function_folders():
        env = environment_for(name)
        module = f"functions.{name}.handler"
        code = _IMPORT_AND_TIME.format(module=module)
        try:
            _run(code, env)  # compiles the .pyc files, as a deployed package would have them
        except RuntimeError as error:
            print(f"{name:<14} skipped: {module} does not import ({error})")
            continue
        runs = [_run(code, env) for _ in range(args.runs)]
        process = statistics.median(elapsed for elapsed, _, _ in runs)
        inside = statistics.median(float(output.splitlines()[-1]) for _, output, _ in runs)
        cpu = statistics.median(cpu for _, _, cpu in runs)
        size = package_size(name)
        files, unzipped, zipped = size if size else (0, 0, 0)
        if (process - bare) * 1000 > TARGET_OVER_BARE_MS:
            over_target.append(name)
        print(
            f"{name:<14} {process * 1000:>10.0f} {process / bare:>6.1f}x"
            f" {(process - bare) * 1000:>10.0f} {inside * 1000:>10.0f}"
            f" {(cpu - bare_cpu) * 1000:>10.0f} {files:>6}"
            f" {unzipped / 1024:>12.1f} {zipped / 1024:>8.1f}"
        )
    print()
    print(
        f"target: every handler <= +{TARGET_OVER_BARE_MS} ms over bare: "
        + (f"NOT met by {', '.join(over_target)}" if over_target else "met")
    )
    print(
        "process = fresh interpreter importing the handler; - bare = minus `python -c pass`; "
        "import = measured inside the interpreter; cpu - bare = its CPU time (user + system) "
        "minus the bare interpreter's. The Powertools layer and boto3 are not in the "
        "package sizes (layer and runtime provide them)."
    )


if __name__ == "__main__":
    main()
