"""Real network peers of the stack for local runs and tests (they are not AWS services).

:class:`~local.peers.downstream.DownstreamServer` is the downstream ingest endpoint the deliver
Lambda POSTs bundles to; :class:`~local.peers.provider.ProviderServer` is the enrichment provider
enrich_batch looks products up at.
"""

from __future__ import annotations

from local.peers.downstream import DownstreamServer
from local.peers.provider import ProviderServer

__all__ = ["DownstreamServer", "ProviderServer"]
