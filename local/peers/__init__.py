"""Real network peers of the stack for local runs and tests (they are not AWS services).

:class:`~local.peers.downstream.DownstreamServer` is the downstream ingest endpoint the deliver
Lambda POSTs bundles to.
"""

from __future__ import annotations

from local.peers.downstream import DownstreamServer

__all__ = ["DownstreamServer"]
