"""Readers: v0 predictions JSON, artifacts zips and v1 responses into tidy frames.

Every reader returns the tidy long frame of :mod:`humelab.schema` (one row per
score), or on request the wide frame (one row per prediction).
"""

from __future__ import annotations

from ._artifacts import read_artifacts
from ._convert import to_long, to_wide
from ._predictions import read_errors, read_predictions
from ._v1 import read_v1

__all__ = [
    "read_predictions",
    "read_artifacts",
    "read_errors",
    "read_v1",
    "to_wide",
    "to_long",
]
