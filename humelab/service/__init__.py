"""The local Batch service: HTTP app, job store, runner, media, artifacts, engines.

Start it with :func:`serve` (or ``humelab serve`` on the command line); it implements
Hume's v0 Batch API contract, so the ``hume==0.13.13`` SDK and curl scripts work
against ``server.url`` unchanged.
"""

from __future__ import annotations

from .server import Server, default_data_dir, serve

__all__ = ["serve", "Server", "default_data_dir"]
