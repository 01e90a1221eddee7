"""Patch 10: hot paths that moto recomputes on every call are memoised.

The list of moto's service modules costs an ``os.listdir`` per HTTP request; jsonpath-ng builds
a new yacc parser per ``parse`` (parsed expressions are immutable, so sharing them is safe).
"""

from __future__ import annotations

import functools

from local.moto_patches.patch_context import moto_module


def patch_hot_paths() -> None:
    backends = moto_module("moto.backends")
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    for module in (
        "moto.stepfunctions.parser.asl.utils.json_path",
        "moto.stepfunctions.parser.asl.component.common.path.result_path",
    ):
        with_parse = moto_module(module)
        with_parse.parse = functools.lru_cache(maxsize=4096)(with_parse.parse)
