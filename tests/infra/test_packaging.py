"""Each function ships alone: its folder, the shared package, and nothing else."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

import pytest

from infra import packaging
from infra.stack import Deployment
from stack.spec import App, FunctionSpec
from tests.infra.harness import LAMBDA, Run

# What the Lambda runtime (boto3 and its dependencies) and the Powertools layer provide.
PROVIDED = {
    "boto3",
    "botocore",
    # botocore's HTTP client, installed with it in every Python runtime.
    "urllib3",
    "aws_lambda_powertools",
    "pydantic",
    "pydantic_core",
    "aws_xray_sdk",
}


def allowed(name: str, spec: FunctionSpec) -> bool:
    return name == "functions/__init__.py" or name.startswith(
        ("functions/_shared/", f"functions/{spec.code_dir}/")
    )


def test_packages_hold_only_the_function_and_the_shared_code(app: App) -> None:
    for spec in app.functions:
        files = packaging.package_files(spec)
        assert "functions/__init__.py" in files
        assert [name for name in files if not allowed(name, spec)] == []
        assert not [name for name in files if "__pycache__" in name or name.endswith(".pyc")]
        module = spec.handler.rsplit(".", 1)[0]
        assert module.replace(".", "/") + ".py" in files, "the handler module must ship"


def test_package_files_are_the_repository_files(app: App) -> None:
    for spec in app.functions:
        for name, path in packaging.package_files(spec).items():
            assert path == packaging.REPO_ROOT / name


def test_packaging_skips_caches_hidden_files_and_siblings(tmp_path: Path) -> None:
    tree = {
        "functions/__init__.py": "",
        "functions/requirements.txt": "",
        "functions/_shared/__init__.py": "",
        "functions/_shared/sub/models.py": "",
        "functions/_shared/__pycache__/models.cpython-311.pyc": "",
        "functions/mine/handler.py": "",
        "functions/mine/schema.json": "{}",
        "functions/mine/stale.pyc": "",
        "functions/mine/.hidden": "",
        "functions/other/handler.py": "",
    }
    for name, text in tree.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    spec = FunctionSpec("mine", "functions.mine.handler.lambda_handler", "Mine.")
    assert sorted(packaging.package_files(spec, tmp_path)) == [
        "functions/__init__.py",
        "functions/_shared/__init__.py",
        "functions/_shared/sub/models.py",
        "functions/mine/handler.py",
        "functions/mine/schema.json",
    ]


def test_a_handler_outside_a_function_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "functions/_shared").mkdir(parents=True)
    for handler in ("functions.missing.handler.main", "functions._shared.handler.main"):
        with pytest.raises(FileNotFoundError, match="not a function folder"):
            packaging.package_files(FunctionSpec("x", handler, "X."), tmp_path)


def test_the_lambda_receives_that_archive(app: App, run: Run[Deployment]) -> None:
    for spec in app.functions:
        code = run.mocks.named(LAMBDA, app.physical_name(spec.name)).inputs["code"]
        assert sorted(code.assets) == sorted(packaging.package_files(spec))
        assert {asset.path for asset in code.assets.values()} == {
            str(path) for path in packaging.package_files(spec).values()
        }


_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError"})


def _optional_imports(tree: ast.AST) -> set[int]:
    """Ids of the import nodes inside ``try: ... except ImportError``: the code has a fallback
    for them (e.g. an accelerator that may be missing on AWS), so they need not ship."""
    optional: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = {
            name.id
            for handler in node.handlers
            if handler.type is not None
            for name in ast.walk(handler.type)
            if isinstance(name, ast.Name)
        }
        if caught & _IMPORT_ERRORS:
            optional.update(
                id(inner)
                for statement in node.body
                for inner in ast.walk(statement)
                if isinstance(inner, ast.Import | ast.ImportFrom)
            )
    return optional


def _imports(path: Path) -> set[str]:
    """Modules ``path`` imports, absolute; ``from a import b`` yields ``a`` and ``a.b``.

    Relative imports stay inside their own package, which ships whole; optional imports (see
    ``_optional_imports``) are left out.
    """
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    optional = _optional_imports(tree)
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _is_repo_module(module: str) -> bool:
    path = packaging.REPO_ROOT / module.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").is_file()


def test_packaged_code_imports_only_itself_the_runtime_and_the_layer(app: App) -> None:
    # A function importing a sibling, stack/ or a library the layer lacks works in the repo
    # and fails only on AWS.
    for spec in app.functions:
        files = packaging.package_files(spec)
        shipped = {
            name.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for name in files
        }
        for name, path in files.items():
            if not name.endswith(".py"):
                continue
            for module in _imports(path):
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in PROVIDED or top == "__future__":
                    continue
                assert top == "functions", f"{name} imports {module}, which does not ship"
                if _is_repo_module(module):
                    assert module in shipped, (
                        f"{name} imports {module}, not in {spec.name}'s package"
                    )


def test_an_import_with_a_fallback_is_optional(tmp_path: Path) -> None:
    module = tmp_path / "core.py"
    module.write_text(
        "import json\n"
        "try:\n    from isal import isal_zlib\nexcept ImportError:\n    isal_zlib = None\n"
        "try:\n    import orjson\nexcept ValueError:\n    pass\n"
    )
    assert _imports(module) == {"json", "orjson"}


def test_the_layer_release_is_the_one_the_tests_run() -> None:
    release = packaging.pinned_powertools_version()
    assert release == importlib.metadata.version("aws-lambda-powertools")
    assert packaging.powertools_layer_parameter(release) == (
        f"/aws/service/powertools/python/arm64/python3.13/{release}"
    )


def test_layer_arn_of_a_pinned_version() -> None:
    assert packaging.powertools_layer_arn("us-east-2", 31) == (
        "arn:aws:lambda:us-east-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:31"
    )
