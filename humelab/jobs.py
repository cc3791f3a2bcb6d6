"""Deprecated location: job handles moved to :mod:`humelab.client.jobs`.

Use ``humelab.Job``, ``humelab.JobGroup``, ``humelab.wait_all`` and ``humelab.run``.
"""

from __future__ import annotations

import warnings

from . import client as _client
from .client import jobs as _new
from .errors import HumelabDeprecationWarning

__all__: list[str] = []


def __getattr__(name: str):
    source = _client if name == "run" else _new
    if not hasattr(source, name):
        raise AttributeError(f"module 'humelab.jobs' has no attribute {name!r}")
    warnings.warn(
        f"`humelab.jobs.{name}` moved: use `humelab.{name}` (or "
        f"`humelab.client.{name}`); `humelab.jobs` goes away in the next release.",
        HumelabDeprecationWarning,
        stacklevel=2,
    )
    return getattr(source, name)
