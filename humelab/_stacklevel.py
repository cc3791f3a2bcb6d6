"""Where humelab's warnings point: the first caller outside the package."""

from __future__ import annotations

import inspect
import os

__all__: list[str] = []

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def stack_level() -> int:
    """The ``stacklevel`` for :func:`warnings.warn` that names the user's line.

    Counted from the caller of this function: every frame whose code lives in the
    humelab package is skipped (so a warning raised through ``Job.frame`` still
    points at the notebook cell).
    """
    frame = inspect.currentframe()
    n = 0
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _PACKAGE
    ):
        frame = frame.f_back
        n += 1
    return n
