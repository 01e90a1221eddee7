"""The program runs against the same fake ``make lambda-deps`` build as tests/infra."""

from tests.infra.conftest import lambda_deps

__all__ = ["lambda_deps"]
