"""The local Batch service: HTTP app, job store, runner, media, artifacts, engines."""

from __future__ import annotations

__all__: list[str] = []
