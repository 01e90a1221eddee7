"""The project's own layer: the extras of functions/requirements.txt, for their importers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra import dependency_layer, packaging
from infra.stack import Deployment, deploy
from stack.spec import App, FunctionSpec
from tests.infra.harness import LAMBDA, LAYER_ARN, LAYER_VERSION, Run, run_program


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_extras_are_the_pins_beyond_powertools_pydantic_included() -> None:
    # The Powertools layer bundles a pydantic of its own choosing; AWS must run the tests' pin.
    assert [pin.line for pin in dependency_layer.extras()] == ["pydantic==2.14.3", "isal==1.9.1"]
    printed = subprocess.run(
        [sys.executable, "-m", "infra.dependency_layer"],
        cwd=packaging.REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert printed == "pydantic==2.14.3\nisal==1.9.1\n"


def test_an_unpinned_requirement_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"functions/requirements.txt": "# comment\npydantic==2.0\nisal>=1.9\n"})
    with pytest.raises(ValueError, match=r"'isal>=1\.9' is not pinned"):
        dependency_layer.extras(tmp_path)


def test_one_layer_for_python_313_on_arm64(app: App, run: Run[Deployment]) -> None:
    [layer] = run.mocks.of_type(LAYER_VERSION)
    assert layer.inputs["layerName"] == app.physical_name("lambda-deps")
    assert layer.inputs["compatibleRuntimes"] == ["python3.13"]
    assert layer.inputs["compatibleArchitectures"] == ["arm64"]
    assert "isal==1.9.1" in layer.inputs["description"]
    assert "pydantic==2.14.3" in layer.inputs["description"]
    # Lambda puts the archive's python/ folder on sys.path.
    code = layer.inputs["code"]
    assert list(code.assets) == ["python"]
    assert code.assets["python"].path == str(dependency_layer.BUILD_DIR / "python")


def test_the_importers_of_an_extra_get_the_layer_after_powertools(
    app: App, run: Run[Deployment]
) -> None:
    [layer] = run.mocks.of_type(LAYER_VERSION)
    own = f"arn:aws:lambda:eu-west-1:123456789012:layer:{layer.inputs['layerName']}:1"
    with_layer = set()
    for spec in app.functions:
        layers = run.mocks.named(LAMBDA, app.physical_name(spec.name)).inputs["layers"]
        assert layers in ([LAYER_ARN], [LAYER_ARN, own]), spec.name
        if own in layers:
            with_layer.add(spec.name)
        importer = dependency_layer.imports_any(spec, {"isal", "pydantic"})
        assert importer == (own in layers), f"{spec.name} imports an extra: {importer}"
    assert "bundle" in with_layer
    # pydantic comes with every function that validates: the tests' release, not the layer's.
    assert dependency_layer.imports_any(app.function("validate"), {"pydantic"})
    assert "validate" in with_layer


def test_a_missing_build_is_refused_naming_the_make_target(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dependency_layer, "BUILD_DIR", tmp_path / "lambda-deps")
    with pytest.raises(
        dependency_layer.DependencyLayerMissingError, match="Run `make lambda-deps`"
    ):
        run_program(lambda: deploy(app))


def test_a_stale_build_is_refused_naming_the_missing_pin(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path,
        {
            "python/isal/__init__.py": "",
            "python/isal-1.8.0.dist-info/RECORD": "",
            "python/pydantic-2.14.3.dist-info/RECORD": "",
        },
    )
    monkeypatch.setattr(dependency_layer, "BUILD_DIR", tmp_path)
    with pytest.raises(dependency_layer.DependencyLayerMissingError, match=r"lacks isal==1\.9\.1"):
        run_program(lambda: deploy(app))


def test_the_modules_of_a_build(tmp_path: Path) -> None:
    site = write(
        tmp_path,
        {
            "isal/__init__.py": "",
            "isal-1.9.1.dist-info/RECORD": "",
            "fast.cpython-313-aarch64-linux-gnu.so": "",
            "single.py": "",
            "bin/tool": "",
            "__pycache__/single.cpython-313.pyc": "",
            "notes.txt": "",
        },
    )
    assert dependency_layer.layer_modules(site) == {"isal", "fast", "single"}


def test_no_extras_no_layer(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "functions/requirements.txt": "aws-lambda-powertools[tracer]==3.37.0\n",
            "functions/__init__.py": "",
            "functions/_shared/__init__.py": "",
            "functions/mine/handler.py": "import isal\n",
        },
    )
    spec = FunctionSpec("mine", "functions.mine.handler.main", "Mine.")
    # No build needed either: nothing to build.
    found = dependency_layer.dependency_layer("x", [spec], tmp_path / "missing", tmp_path)
    assert (found.layer, found.users, found.layers_for(spec)) == (None, frozenset(), [])


def test_an_optional_import_counts(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "functions/__init__.py": "",
            "functions/_shared/__init__.py": "",
            "functions/mine/core.py": "try:\n    from isal import isal_zlib\nexcept ImportError:\n"
            "    isal_zlib = None\n",
            "functions/other/core.py": "import zlib\n",
        },
    )
    mine = FunctionSpec("mine", "functions.mine.core.main", "Mine.")
    other = FunctionSpec("other", "functions.other.core.main", "Other.")
    assert dependency_layer.imports_any(mine, {"isal"}, tmp_path)
    assert not dependency_layer.imports_any(other, {"isal"}, tmp_path)
