"""``python -m local up --stack <name>`` reads ``Pulumi.<name>.yaml`` by the Pulumi program's
rules (infra/config.py), so one file configures both backends."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import local.runtime
from local.cli import CliError, build_parser, stack_config
from stack.app import build_app
from stack.spec import StackConfig

_STACK_FILE = """
config:
  aws:region: eu-west-1
  stepflow:circuitFailureThreshold: 7
  stepflow:ingestBatchSize: 25
  stepflow:ingestBatchingWindowSeconds: 2
  stepflow:downstreamUrl: https://receiver.example.org/ingest
"""


@pytest.fixture
def repo_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(local.runtime.REPO_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    monkeypatch.setattr(local.runtime, "REPO_ROOT", tmp_path)
    return tmp_path


def test_the_stack_file_shapes_the_local_description(repo_root: Path) -> None:
    (repo_root / "Pulumi.trial.yaml").write_text(_STACK_FILE, encoding="utf-8")
    config = stack_config("trial")
    assert config is not None
    assert config.prefix == "stepflow-trial"
    assert config.region == "eu-west-1"
    assert config.circuit_failure_threshold == 7
    assert config.ingest_batch_size == 25
    assert config.downstream_url == "https://receiver.example.org/ingest"
    # The local account stays whatever the file's region: moto serves that one account.
    assert config.account_id == StackConfig().account_id
    app = build_app(config)
    assert app.config is config


def test_a_missing_stack_file_means_the_defaults(repo_root: Path) -> None:
    assert stack_config("dev") == StackConfig()


def test_a_bad_value_is_refused_naming_its_key(repo_root: Path) -> None:
    (repo_root / "Pulumi.trial.yaml").write_text(
        "config:\n  stepflow:ingestBatchSize: 0\n", encoding="utf-8"
    )
    with pytest.raises(CliError, match=r"Pulumi\.trial\.yaml: ingestBatchSize is 0"):
        stack_config("trial")


def test_up_and_demo_take_the_option() -> None:
    parser = build_parser()
    assert parser.parse_args(["up", "--stack", "dev"]).stack == "dev"
    assert parser.parse_args(["demo", "--stack", "prod"]).stack == "prod"
    assert parser.parse_args(["up"]).stack is None
