"""What a Lambda ships: its own code, the shared package, and the public Powertools layer.

Each deployment package holds ``functions/__init__.py``, ``functions/_shared/`` and
``functions/<code_dir>/`` only, so a function cannot import a sibling by accident (it would fail
on AWS exactly as it should) and a change to one function does not redeploy the others.

Third-party code comes from the Powertools for AWS Lambda (Python) v3 layer, published by AWS
in every commercial region. It bundles ``aws-lambda-powertools`` with all its extras, among them
``aws-xray-sdk`` (and a ``pydantic`` of its own choosing); ``boto3`` comes with the Lambda
runtime. The pins beyond it (``pydantic`` at the tests' release, ``isal``) ship in the project's
own layer, listed after Powertools' so that its files win, which ``make lambda-deps`` fills with
prebuilt arm64 wheels beforehand (see :mod:`infra.dependency_layer`). Nothing is built with pip
at deploy time, so ``pulumi up`` needs neither Docker nor an arm64 toolchain.

Which layer version: the layer's version number is a counter that says nothing about the
Powertools release inside, so by default the program asks the public SSM parameter that AWS
keeps for each release (``/aws/service/powertools/python/arm64/python3.13/<release>``) for the
release pinned in ``functions/requirements.txt``. The functions then run on AWS with exactly the
Powertools the tests ran with. Setting ``powertoolsLayerVersion`` in the stack config pins the
layer number instead (for a region or a release whose parameter is missing).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pulumi
import pulumi_aws as aws

from stack.spec import FunctionSpec

RUNTIME: Final = "python3.13"
ARCHITECTURE: Final = "arm64"

POWERTOOLS_LAYER_ACCOUNT: Final = "017000801446"
POWERTOOLS_LAYER_NAME: Final = "AWSLambdaPowertoolsPythonV3-python313-arm64"

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR: Final = "functions"
SHARED_DIR: Final = "_shared"

_SKIPPED_DIRS: Final = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES: Final = frozenset({".pyc", ".pyo"})
_POWERTOOLS_PIN = re.compile(
    r"^aws-lambda-powertools(?:\[[^\]]*\])?==(?P<version>[\w.]+)\s*$", re.M
)


def package_files(spec: FunctionSpec, root: Path = REPO_ROOT) -> dict[str, Path]:
    """The files of ``spec``'s deployment package, keyed by their path inside the archive.

    Example::

        >>> from stack.app import build_app
        >>> sorted(package_files(build_app().function("dedupe")))[:2]
        ['functions/__init__.py', 'functions/_shared/__init__.py']
    """
    functions = root / FUNCTIONS_DIR
    own = functions / spec.code_dir
    if spec.code_dir == SHARED_DIR or not own.is_dir():
        raise FileNotFoundError(
            f"function {spec.name!r}: handler {spec.handler!r} names {own}, which is not a "
            "function folder"
        )
    files = {f"{FUNCTIONS_DIR}/__init__.py": functions / "__init__.py"}
    for folder in (functions / SHARED_DIR, own):
        for path in _walk(folder):
            files[path.relative_to(root).as_posix()] = path
    return files


def function_archive(spec: FunctionSpec, root: Path = REPO_ROOT) -> pulumi.AssetArchive:
    """The deployment package of ``spec`` as a Pulumi archive (one ``FileAsset`` per file)."""
    return pulumi.AssetArchive(
        {name: pulumi.FileAsset(str(path)) for name, path in package_files(spec, root).items()}
    )


def pinned_powertools_version(root: Path = REPO_ROOT) -> str:
    """The Powertools release that ``functions/requirements.txt`` pins (what the tests run)."""
    requirements = root / FUNCTIONS_DIR / "requirements.txt"
    match = _POWERTOOLS_PIN.search(requirements.read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"{requirements} pins no aws-lambda-powertools release (name==version)")
    return match["version"]


def powertools_layer_arn(region: str, layer_version: int) -> str:
    """The ARN of one version of the public Powertools layer in ``region``.

    Example::

        >>> powertools_layer_arn("eu-west-1", 27)
        'arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27'
    """
    return (
        f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"{POWERTOOLS_LAYER_NAME}:{layer_version}"
    )


def powertools_layer_parameter(release: str) -> str:
    """The public SSM parameter whose value is the layer ARN of Powertools ``release``."""
    python = RUNTIME.removeprefix("python")
    return f"/aws/service/powertools/python/{ARCHITECTURE}/python{python}/{release}"


def powertools_layer(
    region: str, layer_version: int | None, opts: pulumi.InvokeOutputOptions | None = None
) -> pulumi.Input[str]:
    """The layer every function uses: a pinned layer version, or the pinned release's layer."""
    if layer_version is not None:
        return powertools_layer_arn(region, layer_version)
    parameter = aws.ssm.get_parameter_output(
        name=powertools_layer_parameter(pinned_powertools_version()), region=region, opts=opts
    )
    # A public String parameter, not a secret: the plain value keeps the layer readable in diffs.
    return parameter.insecure_value


def _walk(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in _SKIPPED_DIRS:
            continue
        if path.is_dir():
            yield from _walk(path)
        elif path.suffix not in _SKIPPED_SUFFIXES:
            yield path
