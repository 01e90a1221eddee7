"""The local runtime refuses a description ``pulumi up`` would refuse, before it starts anything."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

import local.runtime
import stack.app
from local import cli
from local.runtime import LocalSettings, LocalStack
from stack.app import build_app
from stack.checks import DescriptionError
from stack.spec import App, StackConfig, WorkflowGrant


def _dangling(config: StackConfig | None = None) -> App:
    app = build_app(config)
    api = app.function("api")
    broken = replace(api, workflows=(*api.workflows, WorkflowGrant("reports", "REPORTS_ARN")))
    return replace(app, functions=tuple(broken if f.name == "api" else f for f in app.functions))


def test_a_dangling_reference_is_refused_before_anything_starts(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    moto_port = os.environ.get("MOTO_PORT")
    runtime = LocalStack(_dangling(), LocalSettings(port=0, state_dir=state_dir))
    with pytest.raises(DescriptionError, match="function 'api' names workflow 'reports'"):
        runtime.start()
    # No state directory, no endpoint, no workers, and the process may still start a stack.
    assert not state_dir.exists()
    assert os.environ.get("MOTO_PORT") == moto_port
    with pytest.raises(RuntimeError, match="not running"):
        _ = runtime.pool
    assert local.runtime._running is not runtime


def test_up_refuses_a_dangling_reference_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stack.app, "build_app", _dangling)
    code = cli.main(["up", "--port", "0", "--state-dir", str(tmp_path / "state")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the stack description is invalid: ")
    assert "function 'api' names workflow 'reports'" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "state").exists()
