"""A handler's import loads what every request needs and nothing more: the X-Ray SDK only where
tracing is on, and boto3 only when a request first calls AWS (see ``bench/cold_start.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.cold_start import REPO_ROOT, environment_for, function_folders

_LOADED_TOP_LEVEL_MODULES = (
    "import json, sys, {module}\n"
    "print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}})))\n"
)


@pytest.mark.parametrize("function", function_folders())
def test_importing_a_handler_with_tracing_off_loads_neither_xray_nor_boto3(function: str) -> None:
    module = f"functions.{function}.handler"
    done = subprocess.run(
        [sys.executable, "-c", _LOADED_TOP_LEVEL_MODULES.format(module=module)],
        cwd=REPO_ROOT,
        env=environment_for(function),
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert module.split(".", maxsplit=1)[0] in loaded
    assert loaded.isdisjoint({"aws_xray_sdk", "boto3"})
