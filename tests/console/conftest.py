"""The console's browser tests: the showcase stack in a process of its own, and Debian's chromium.

The stack runs as ``python -m tests.console.showcase`` (moto is process-wide, and the other
local tests' stack may already run in this process). A missing browser fails the tests: they
never skip (``make test`` installs chromium first).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.console.screenshots import CHROMIUM_ARGS
from local.runtime import REPO_ROOT

CHROMIUM = Path(os.environ.get("STEPFLOW_CHROMIUM", "/usr/bin/chromium"))
_STARTUP_SECONDS = 180.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the web console in headless chromium")


@pytest.fixture(scope="session")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The URLs of a running showcase stack: console, endpoint, api, showcase (its ARN)."""
    state_dir = tmp_path_factory.mktemp("console-stack")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.console.showcase", str(state_dir)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(state_dir / "stderr.log").open("w"),
        text=True,
    )
    stdin, stdout = process.stdin, process.stdout
    assert stdin is not None
    assert stdout is not None
    first_line: list[str] = []
    reader = threading.Thread(target=lambda: first_line.append(stdout.readline()))
    reader.start()
    reader.join(_STARTUP_SECONDS)
    if not first_line or not first_line[0].strip():
        process.kill()
        log = (state_dir / "stderr.log").read_text()
        pytest.fail(f"the showcase stack did not start:\n{log[-3000:]}")
    try:
        yield json.loads(first_line[0])
    finally:
        stdin.close()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    opened.set_default_timeout(60_000)
    yield opened
    context.close()
