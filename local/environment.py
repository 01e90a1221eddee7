"""The local stack together with the peers it talks to: what ``make run``, ``make up`` and the
tests bring up.

The deliver function posts to a real downstream HTTP server and enrich_batch calls a real
provider HTTP server, both on loopback and both started here first, so that their URLs and
credentials can be handed to the stack exactly as a deployment hands over configuration: the URL
as the function's environment, the credentials as the value of the stack's secret.

>>> with LocalEnvironment(build_app(), LocalSettings(port=0)) as env:  # doctest: +SKIP
...     env.downstream.set_down(True)
"""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from typing import Any

from local.lifecycle import Service
from local.peers.downstream import DownstreamServer
from local.peers.provider import ProviderServer
from local.runtime import LocalSettings, LocalStack
from stack.spec import App


class LocalEnvironment(Service):
    """A :class:`LocalStack` wired to a downstream server and an enrichment provider."""

    def __init__(self, app: App, settings: LocalSettings | None = None, *, seed: int = 0) -> None:
        self.app = app
        self._settings = settings or LocalSettings()
        self.downstream = DownstreamServer(secrets.token_urlsafe(24), seed=seed)
        self.provider = ProviderServer(secrets.token_urlsafe(24), seed=seed)
        self._stack: LocalStack | None = None

    @property
    def stack(self) -> LocalStack:
        if self._stack is None:
            raise RuntimeError("the local environment is not running")
        return self._stack

    def start(self) -> dict[str, Any]:
        self.downstream.start()
        self.provider.start()
        secret_values = {
            "downstream": json.dumps({"token": self.downstream.token}),
            "provider": json.dumps({"apiKey": self.provider.api_key}),
        }
        settings = replace(
            self._settings,
            downstream_url=self._settings.downstream_url or self.downstream.ingest_url,
            provider_url=self._settings.provider_url or self.provider.url,
            secret_values={**secret_values, **self._settings.secret_values},
        )
        self._stack = LocalStack(self.app, settings)
        try:
            outputs = self._stack.start()
        except BaseException:
            self._stop_peers()
            raise
        return outputs | self.peer_urls()

    def peer_urls(self) -> dict[str, str]:
        """The URLs the functions call, under the keys of the config that sets them on AWS:
        ``downstreamUrl`` is where deliver posts, ``providerUrl`` the provider's base URL."""
        settings = self.stack.settings
        return {
            "downstreamUrl": settings.downstream_url or self.app.config.downstream_url,
            "providerUrl": settings.provider_url or self.app.config.provider_url,
        }

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.stop()
            self._stack = None
        self._stop_peers()

    def _stop_peers(self) -> None:
        self.downstream.stop()
        self.provider.stop()
