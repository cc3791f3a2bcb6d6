"""Analysis of tidy score frames: pure frame -> frame functions, and ``df.hume``.

Every function takes a long frame (one row per score, :mod:`humelab.schema`) as its
first argument and returns a new frame; the input is never modified and its
``attrs`` (``engine``, ``simulated``, ...) are carried over. Column roles are
keyword-only and default to the contract's names (``time="begin"``, ``end="end"``,
``value="score"``, ``hue="name"``), so the functions also work on a user's own long
frames. A *dimension* is one ``hue`` value (with its ``family`` when the frame has
that column) inside one ``by`` group, by default one (source, file, model, group).

Scores describe perceived expression, not felt emotion.

Importing this module registers the ``df.hume`` accessor (:class:`HumeAccessor`).
"""

from __future__ import annotations

import pandas as pd

from ._dask_analysis import on_dask
from ._summaries import dominant, summarize, top_emotions
from ._timeseries import align, normalize, resample, smooth

# A Dask frame (humelab.read_corpus) is computed partition by partition, one source
# of the corpus each (humelab._dask_analysis); a pandas frame goes straight through.
top_emotions = on_dask(top_emotions)
summarize = on_dask(summarize)
resample = on_dask(resample)

__all__ = [
    "top_emotions",
    "summarize",
    "resample",
    "align",
    "smooth",
    "normalize",
    "dominant",
    "HumeAccessor",
]


@pd.api.extensions.register_dataframe_accessor("hume")
class HumeAccessor:
    """``df.hume``: the functions of :mod:`humelab.analysis` as methods.

    ``df.hume.top(5)`` is ``top_emotions(df, 5)``, and ``df.hume.summarize()``,
    ``.resample(freq=...)``, ``.align(to=...)``, ``.smooth(window=...)``,
    ``.normalize()`` and ``.dominant()`` are the functions of the same name, with the
    same keywords and results. Nothing else lives here: no state, no subclass.
    """

    def __init__(self, pandas_obj: pd.DataFrame):
        self._obj = pandas_obj

    def top(self, k: int | None = 5, **kwargs) -> pd.DataFrame:
        """:func:`humelab.top_emotions` of this frame."""
        return top_emotions(self._obj, k, **kwargs)

    def summarize(self, **kwargs) -> pd.DataFrame:
        """:func:`humelab.summarize` of this frame."""
        return summarize(self._obj, **kwargs)

    def resample(self, **kwargs) -> pd.DataFrame:
        """:func:`humelab.resample` of this frame."""
        return resample(self._obj, **kwargs)

    def align(self, **kwargs) -> pd.DataFrame:
        """:func:`humelab.align` of this frame."""
        return align(self._obj, **kwargs)

    def smooth(self, **kwargs) -> pd.DataFrame:
        """:func:`humelab.smooth` of this frame."""
        return smooth(self._obj, **kwargs)

    def normalize(self, **kwargs) -> pd.DataFrame:
        """:func:`humelab.normalize` of this frame."""
        return normalize(self._obj, **kwargs)

    def dominant(self, **kwargs) -> pd.DataFrame:
        """:func:`humelab.dominant` of this frame."""
        return dominant(self._obj, **kwargs)
