"""boto3 clients made on first use: importing a handler opens nothing (and requests that never
reach AWS do not even import boto3), and tests inject their own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, overload

STANDARD_RETRIES: Final[Mapping[str, Any]] = {"mode": "standard", "max_attempts": 4}


class LazyClient:
    """An adapter's ``client`` attribute: the client given to its constructor, else one made on
    first use and kept.

    ``config``: the client's ``botocore.config.Config`` arguments. The given client lives in
    the attribute of the same name with a leading underscore, which the constructor must set
    (``None`` for "make one").

    Example::

        class DynamoDbClaimStore:
            client = LazyClient("dynamodb", {"retries": STANDARD_RETRIES})

            def __init__(self, table_name: str, client: Any | None = None) -> None:
                self.table_name = table_name
                self._client = client
    """

    def __init__(self, service: str, config: Mapping[str, Any] | None = None) -> None:
        self.service = service
        self.config = dict(config or {})
        self._slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"

    @overload
    def __get__(self, instance: None, owner: type) -> LazyClient: ...

    @overload
    def __get__(self, instance: object, owner: type) -> Any: ...

    def __get__(self, instance: object | None, owner: type) -> Any:
        if instance is None:
            return self
        client = getattr(instance, self._slot)
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(self.service, config=Config(**self.config))
            setattr(instance, self._slot, client)
        return client
