"""The examples in the core modules' docstrings are run, so they cannot drift from the code."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES_WITH_EXAMPLES = [
    "functions._shared.models",
    "functions._shared.http_client",
    "functions._shared.status",
    "functions.validate.core",
    "functions.dedupe.core",
    "functions.update_status.core",
    "local.peers.http_peer",
]


@pytest.mark.parametrize("module_name", MODULES_WITH_EXAMPLES)
def test_docstring_examples_hold(module_name: str) -> None:
    module = importlib.import_module(module_name)

    failed, attempted = doctest.testmod(module, raise_on_error=False, verbose=False)

    assert attempted > 0
    assert failed == 0
