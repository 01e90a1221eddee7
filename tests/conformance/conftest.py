"""The program runs against the same fake ``make lambda-deps`` build as tests/infra, and the
conformance tests inspect the same run of the real description (``app``, ``run``)."""

from tests.infra.conftest import app, lambda_deps, run

__all__ = ["app", "lambda_deps", "run"]
