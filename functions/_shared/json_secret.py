"""One field of a Secrets Manager secret that holds a JSON object, through Powertools Parameters.

Powertools caches the value for ``max_age_seconds``, so warm invocations do not call Secrets
Manager; ``refresh`` skips the cache after the peer refused the cached value (a rotated secret).
Messages never include the secret's value.
"""

from __future__ import annotations

from typing import Any

from functions._shared.aws_errors import is_transient_failure
from functions._shared.errors import ConfigurationError, TransientDependencyError


def secret_field(
    secret_name: str, field: str, *, max_age_seconds: int, refresh: bool = False
) -> Any:
    """The value of ``field`` in the secret, unchecked (``None`` when the JSON lacks it or is
    not an object): the caller knows what the value must look like.

    Raises :class:`TransientDependencyError` when waiting can help (throttling, 5xx, no
    connection) and :class:`ConfigurationError` when it cannot (no such secret, no permission,
    not JSON).

    Example::

        token = secret_field("stepflow-dev-downstream", "token", max_age_seconds=300)
    """
    # Imports boto3: not at cold start.
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import (
        GetParameterError,
        TransformParameterError,
    )

    try:
        value: Any = parameters.get_secret(
            secret_name, transform="json", max_age=max_age_seconds, force_fetch=refresh
        )
    except TransformParameterError:
        raise ConfigurationError(
            f'secret {secret_name} is not JSON; expected {{"{field}": "..."}}'
        ) from None
    except GetParameterError as error:
        # Powertools raises its own error inside the handler of the SDK's; that one says
        # whether waiting can help.
        cause = error.__cause__ or error.__context__
        message = f"secret {secret_name} cannot be read: {cause or error}"
        if is_transient_failure(cause):
            raise TransientDependencyError(message) from error
        raise ConfigurationError(message) from error
    return value.get(field) if isinstance(value, dict) else None
