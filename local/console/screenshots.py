"""``python -m local.console.screenshots``: the console's pages as PNGs under ``docs/``.

Brings the real stack up in a temporary state directory (time scale 1/1000), drives it the way
its users do (events POSTed to the API; then, with the downstream down, an event whose delivery
fails), and has headless chromium (Debian's ``/usr/bin/chromium``) capture each page at
1280x800: ``docs/console-workflows.png``, ``-executions``, ``-execution``, ``-failed-execution``
and ``-pipeline``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.console.server import execution_url
from local.environment import LocalEnvironment
from local.json_http import request_json
from local.runtime import REPO_ROOT, LocalSettings, LocalStack
from stack.app import build_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_WAIT_SECONDS = 120.0


def _post_event(api: str) -> str:
    event = json.loads((REPO_ROOT / "examples" / "event.json").read_text(encoding="utf-8"))
    event["eventHeader"]["uuid"] = str(uuid.uuid4())  # new each time: never a duplicate
    status, answer = request_json("POST", f"{api}/events", event)
    if status != 202:
        raise RuntimeError(f"POST /events answered {status}: {answer}")
    return str(answer["executionId"])


def _finished(stack: LocalStack, execution_arn: str) -> dict[str, Any]:
    return stack.wait_for_execution(execution_arn, timeout_seconds=_WAIT_SECONDS)


def drive(env: LocalEnvironment) -> dict[str, str]:
    """Executions worth a picture: one delivered, one failed with the downstream down."""
    stack = env.stack
    delivered = _post_event(stack.api_url)
    _finished(stack, delivered)
    env.downstream.set_down(True)
    failed = _post_event(stack.api_url)
    described = _finished(stack, failed)
    env.downstream.set_down(False)
    if described["status"] == "SUCCEEDED":
        raise RuntimeError("the execution meant to fail succeeded; the pictures would mislead")
    return {"execution": delivered, "failed-execution": failed}


def capture(console_url: str, executions: dict[str, str], out_dir: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    pages: dict[str, tuple[str, Callable[[Any], None]]] = {
        "workflows": (console_url, lambda page: page.wait_for_selector("section.workflow svg")),
        "executions": (
            f"{console_url}#/executions",
            lambda page: page.wait_for_selector("#executions tbody tr[data-execution]"),
        ),
        "pipeline": (
            f"{console_url}#/pipeline",
            lambda page: page.wait_for_selector("#rate svg, #rate .error"),
        ),
    }
    pages["execution"] = (
        execution_url(console_url, executions["execution"]),
        lambda page: page.locator("#execution-graph svg").scroll_into_view_if_needed(),
    )
    pages["failed-execution"] = (
        execution_url(console_url, executions["failed-execution"]),
        lambda page: page.wait_for_selector("#execution-error .cause"),
    )
    written: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            for name, (url, ready) in pages.items():
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(url)
                ready(page)
                page.wait_for_load_state("networkidle")
                path = out_dir / f"console-{name}.png"
                page.screenshot(path=str(path), full_page=False)
                written.append(path)
                page.close()
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.console.screenshots")
    parser.add_argument("--out", default=str(REPO_ROOT / "docs"), help="where the PNGs go")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="console-screenshots-") as state_dir:
        settings = LocalSettings(port=0, state_dir=Path(state_dir), time_scale=0.001)
        with LocalEnvironment(build_app(), settings) as env:
            executions = drive(env)
            for path in capture(env.stack.console_url, executions, Path(args.out)):
                print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
