"""The project's own Lambda layer: the wheels functions import beyond the Powertools layer.

``functions/requirements.txt`` stays the one list of what Lambda code needs. Every pin in it that
the public Powertools layer does not provide (:data:`POWERTOOLS_PROVIDED`) is an *extra*; today
that is ``pydantic`` (the release the tests ran, not the layer's) and ``isal``, bundle's fast
deflate. ``make lambda-deps`` asks this module for the extras
(``python -m infra.dependency_layer``) and has pip install their Linux arm64 CPython 3.13 wheels
into ``build/lambda-deps/python/`` (Lambda puts a layer's ``python/`` on ``sys.path``). The
Pulumi program never runs pip: it turns that folder into one ``LayerVersion`` and refuses to run
when the folder is missing or holds other releases than the pins, so a function never ships
without its extras by accident (bundle would fall back to zlib, slowly and silently).

Which functions get the layer: those whose packaged code imports a module the layer holds
(optional imports included), found the same way for every function, so a new import of an extra
brings the layer along and the others are not redeployed when the layer changes.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pulumi
import pulumi_aws as aws

from infra import packaging
from stack.spec import FunctionSpec

# Resolved at call time (not bound as a default) so tests can point it at a fake build.
BUILD_DIR: Path = packaging.REPO_ROOT / "build" / "lambda-deps"
SITE_DIR: Final = "python"
LOGICAL_NAME: Final = "lambda-deps"
BUILD_COMMAND: Final = "make lambda-deps"

# Distributions the Powertools layer ships that the functions take from it; boto3 comes with the
# runtime. The layer bundles pydantic too, but whichever release it was built with: pydantic is
# pinned in the project's layer (listed after Powertools', so its files win) so that AWS runs the
# pydantic the tests ran.
POWERTOOLS_PROVIDED: Final = frozenset({"aws-lambda-powertools"})

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;#]+)")
_NOT_MODULES: Final = frozenset({"bin", "__pycache__"})
_METADATA_SUFFIXES: Final = (".dist-info", ".data", ".egg-info")


class DependencyLayerMissingError(FileNotFoundError):
    """The layer's folder is missing or stale: run ``make lambda-deps``."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    line: str

    @property
    def dist_info(self) -> str:
        """The folder pip installs the metadata in, e.g. ``isal-1.9.1.dist-info``."""
        return f"{_normalize(self.name).replace('-', '_')}-{self.version}.dist-info"


def pins(root: Path = packaging.REPO_ROOT) -> list[Pin]:
    """Every ``name==version`` line of ``functions/requirements.txt``; anything else is refused."""
    requirements = root / packaging.FUNCTIONS_DIR / "requirements.txt"
    found = []
    for raw in requirements.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        if match is None:
            raise ValueError(f"{requirements}: {line!r} is not pinned as name==version")
        found.append(Pin(match["name"], match["version"], line))
    return found


def extras(root: Path = packaging.REPO_ROOT) -> list[Pin]:
    """The pins the Powertools layer does not provide: what the project's layer holds.

    Example::

        >>> [f"{pin.name}=={pin.version}" for pin in extras()]
        ['pydantic==2.14.3', 'isal==1.9.1']
    """
    return [pin for pin in pins(root) if _normalize(pin.name) not in POWERTOOLS_PROVIDED]


def checked_site(build_dir: Path | None = None, root: Path = packaging.REPO_ROOT) -> Path:
    """``<build_dir>/python`` once it holds the pinned release of every extra.

    Raises :class:`DependencyLayerMissingError` (telling to run ``make lambda-deps``) otherwise.
    """
    build_dir = build_dir or BUILD_DIR
    site = build_dir / SITE_DIR
    if not site.is_dir():
        raise DependencyLayerMissingError(
            f"{site} is missing: the Lambda dependency layer is not built. "
            f"Run `{BUILD_COMMAND}` before `pulumi preview` or `pulumi up`."
        )
    installed = {path.name.lower() for path in site.glob("*.dist-info")}
    stale = [
        f"{pin.name}=={pin.version}"
        for pin in extras(root)
        if pin.dist_info.lower() not in installed
    ]
    if stale:
        raise DependencyLayerMissingError(
            f"{site} lacks {', '.join(stale)} (functions/requirements.txt changed since the "
            f"last build). Run `{BUILD_COMMAND}` before `pulumi preview` or `pulumi up`."
        )
    return site


def layer_modules(site: Path) -> frozenset[str]:
    """The top-level modules the layer makes importable (``isal`` for ``isal/``)."""
    modules = set()
    for path in site.iterdir():
        if (
            path.name in _NOT_MODULES
            or path.name.startswith(".")
            or path.name.endswith(_METADATA_SUFFIXES)
        ):
            continue  # scripts, caches, metadata
        if path.is_dir() or path.suffix in {".py", ".so"}:
            # isal_zlib.cpython-313-aarch64-linux-gnu.so is the module isal_zlib.
            modules.add(path.name.split(".", 1)[0])
    return frozenset(modules)


def imports_any(
    spec: FunctionSpec, modules: Iterable[str], root: Path = packaging.REPO_ROOT
) -> bool:
    """Whether ``spec``'s packaged code imports (even optionally) one of ``modules``."""
    wanted = set(modules)
    for name, path in packaging.package_files(spec, root).items():
        if name.endswith(".py") and _top_level_imports(path) & wanted:
            return True
    return False


@dataclass(frozen=True)
class DependencyLayer:
    """The project's layer (``None`` when no function needs one) and the functions using it."""

    layer: aws.lambda_.LayerVersion | None
    users: frozenset[str]

    def layers_for(self, spec: FunctionSpec) -> list[pulumi.Input[str]]:
        return [self.layer.arn] if self.layer is not None and spec.name in self.users else []


def dependency_layer(
    physical_name: str,
    functions: Sequence[FunctionSpec],
    build_dir: Path | None = None,
    root: Path = packaging.REPO_ROOT,
) -> DependencyLayer:
    """One ``LayerVersion`` from the built folder, for the functions that import from it."""
    pinned = extras(root)
    if not pinned:
        return DependencyLayer(None, frozenset())
    site = checked_site(build_dir, root)
    modules = layer_modules(site)
    users = frozenset(spec.name for spec in functions if imports_any(spec, modules, root))
    if not users:
        return DependencyLayer(None, users)
    layer = aws.lambda_.LayerVersion(
        physical_name,
        aws.lambda_.LayerVersionArgs(
            layer_name=physical_name,
            description="Wheels the functions need beyond the Powertools layer: "
            + ", ".join(f"{pin.name}=={pin.version}" for pin in pinned),
            compatible_runtimes=[packaging.RUNTIME],
            compatible_architectures=[packaging.ARCHITECTURE],
            # The archive's root holds python/, as Lambda expects of a Python layer.
            code=pulumi.AssetArchive({SITE_DIR: pulumi.FileArchive(str(site))}),
        ),
    )
    return DependencyLayer(layer, users)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _top_level_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def main() -> None:
    """Print the extras as a pip requirements file (what ``make lambda-deps`` installs)."""
    sys.stdout.write("".join(f"{pin.line}\n" for pin in extras()))


if __name__ == "__main__":
    main()
