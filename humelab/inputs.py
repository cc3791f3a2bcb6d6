"""Deprecated location: input collection moved to :mod:`humelab.client.inputs`."""

from __future__ import annotations

import warnings

from .client import inputs as _new
from .errors import HumelabDeprecationWarning

__all__: list[str] = []


def __getattr__(name: str):
    if not hasattr(_new, name):
        raise AttributeError(f"module 'humelab.inputs' has no attribute {name!r}")
    warnings.warn(
        f"`humelab.inputs.{name}` moved to `humelab.client.inputs.{name}`; "
        "`humelab.inputs` goes away in the next release.",
        HumelabDeprecationWarning,
        stacklevel=2,
    )
    return getattr(_new, name)
