"""Summaries of tidy score frames: top dimensions, descriptive statistics, winners.

Private machinery behind :func:`humelab.top_emotions`, :func:`humelab.summarize` and
:func:`humelab.dominant` (documented there and re-exported by
:mod:`humelab.analysis`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._roles import (
    DEFAULT_BY,
    check_frame,
    dimension_keys,
    keep_attrs,
    need,
    resolve_by,
    series_ids,
)
from ._stats import t_quantile
from .errors import InputError

__all__ = ["top_emotions", "summarize", "dominant"]


def _scored(data, func, value):
    """Positional copy of the rows that have a value (NaN scores are left out)."""
    d = data.reset_index(drop=True)
    ok = d[value].notna().to_numpy()
    d = d if ok.all() else d.loc[ok].reset_index(drop=True)
    d[value] = d[value].astype(np.float64)  # a copy: `data` is never modified
    return d


def _by_family(data, family):
    if family is None or "family" not in data.columns:
        return data
    return data.loc[(data["family"] == family).to_numpy()]


def _argmax_per_group(v, gid, n):
    """Position of the first maximum of ``v`` in each group ``0..n-1``."""
    if not n:
        return np.zeros(0, np.int64)
    return pd.Series(v).groupby(gid, sort=True).idxmax().to_numpy(np.int64)


def _per_dimension(d, keys, v):
    """Key columns (one row per dimension, first appearance), grouped values, ids.

    Grouping on one integer id (from the key columns' codes) is much faster than a
    groupby on several categorical columns.
    """
    sid, n = series_ids(d, keys)
    first = pd.Series(sid).drop_duplicates().index.to_numpy()
    out = d[keys].iloc[first].reset_index(drop=True)
    return out, pd.Series(v).groupby(sid, sort=True), sid


def _time_of_max(d, g, time):
    """``time`` of the first row holding each group's maximum (NaN without time)."""
    if not time or not len(d):
        return np.nan
    return d[time].to_numpy(np.float64, na_value=np.nan)[g.idxmax().to_numpy()]


def top_emotions(
    data: pd.DataFrame,
    k: int | None = 5,
    *,
    by=DEFAULT_BY,
    family: str | None = "emotions",
    time: str | None = "begin",
    value: str = "score",
    hue: str = "name",
) -> pd.DataFrame:
    """The ``k`` dimensions with the highest mean score in each ``by`` group.

    Means are true means over the rows (predictions) of each dimension, never sums,
    so files and groups of different lengths compare fairly.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score.
    k : int or None
        How many dimensions to keep per group; ``None`` keeps all, ranked.
    by : str or sequence of str
        Columns that define a group. The default (``source``, ``file``, ``model``,
        ``group``) keeps those of them that the frame has; ``None`` ranks over the
        whole frame.
    family : str or None
        Keep only this score family (``emotions``; ``facs``, ``descriptions``,
        ``sentiment`` and ``toxicity`` are not emotions). ``None`` keeps every
        family and ranks within each. Ignored when the frame has no ``family``.
    time : str or None
        Column with the time of each row (for ``peak_time``); ``None`` if there is
        none.
    value : str
        Column with the scores.
    hue : str
        Column with the dimension names.

    Returns
    -------
    pandas.DataFrame
        One row per (group, dimension), ``k`` per group, best first: the ``by``
        columns, ``family`` (when present), ``hue``, then ``rank`` (1 = highest mean),
        ``mean``, ``n`` (rows averaged), ``peak`` (the highest score) and
        ``peak_time`` (``time`` of the first row with that score; NaN without time).

    Raises
    ------
    SchemaError
        ``data`` is not a long frame (a wide frame or a Job: the message says how to
        convert it), or a role names a missing column.
    InputError
        ``k`` is not a positive integer.

    See Also
    --------
    summarize : n, sd, confidence intervals and time-weighted means per dimension.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("talking")  # simulated scores
    >>> top = humelab.top_emotions(df, 2)  # or df.hume.top(2)
    >>> list(top.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['source', 'file', 'model', 'group', 'family', 'name',
     'rank', 'mean', 'n', 'peak', 'peak_time']
    >>> top["rank"].tolist()
    [1, 2, 1, 2, 1, 2]
    """
    func = "top_emotions"
    check_frame(data, func)
    by = resolve_by(data, func, by)
    need(data, func, numeric=("time", "value"), time=time, value=value, hue=hue)
    if k is not None and (
        isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1
    ):
        raise InputError(f"`{func}`: `k={k!r}` must be a positive integer or None.")
    keys = dimension_keys(data, by, hue)
    cols = list(dict.fromkeys(keys + [value] + ([time] if time else [])))
    d = _scored(_by_family(data[cols], family), func, value)
    out, g, _ = _per_dimension(d, keys, d[value].to_numpy(np.float64))
    stats = g.agg(["mean", "count", "max"])
    out["mean"] = stats["mean"].to_numpy(np.float64)
    out["n"] = stats["count"].to_numpy(np.int64)
    out["peak"] = stats["max"].to_numpy(np.float64)
    out["peak_time"] = _time_of_max(d, g, time)
    rank_keys = keys[:-1]
    gid, _ = series_ids(out, rank_keys)
    order = np.lexsort((-out["mean"].to_numpy(), gid))
    out = out.iloc[order].reset_index(drop=True)
    rank = out.groupby(gid[order], sort=False).cumcount().to_numpy() + 1
    out.insert(len(keys), "rank", rank.astype(np.int64))
    if k is not None:
        out = out.loc[rank <= k].reset_index(drop=True)
    out = out[keys + ["rank", "mean", "n", "peak", "peak_time"]]
    return keep_attrs(out, data)


def summarize(
    data: pd.DataFrame,
    *,
    by=DEFAULT_BY,
    family: str | None = None,
    confidence: float = 0.95,
    time: str | None = "begin",
    end: str | None = "end",
    value: str = "score",
    hue: str = "name",
) -> pd.DataFrame:
    """Descriptive statistics per dimension and ``by`` group.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score.
    by : str or sequence of str
        Columns that define a group (default: those of ``source``, ``file``,
        ``model``, ``group`` the frame has); ``None`` for the whole frame.
    family : str or None
        Keep only this score family; ``None`` (default) keeps all.
    confidence : float
        Level of the confidence interval of the mean, in (0, 1).
    time : str or None
        Column with each row's start time (for ``max_time`` and the weights);
        ``None`` if there is none.
    end : str or None
        Column with each row's end time; ``None`` if there is none.
    value : str
        Column with the scores.
    hue : str
        Column with the dimension names.

    Returns
    -------
    pandas.DataFrame
        One row per (group, dimension) in order of first appearance: the ``by``
        columns, ``family`` (when present), ``hue``, then

        * ``n``: rows with a score;
        * ``mean``, ``sd`` (sample standard deviation, ``ddof=1``), ``sem``
          (``sd / sqrt(n)``);
        * ``ci_low``, ``ci_high``: ``mean -/+ t * sem`` with ``t`` the
          ``(1 + confidence) / 2`` quantile of Student's t with ``n - 1`` degrees of
          freedom (NaN when ``n < 2``);
        * ``max`` and ``max_time`` (``time`` of the first row with that score);
        * ``weighted_mean``: the time-weighted mean, each row weighted by its
          interval length ``end - time``. Face frames are instants (length 0), so
          theirs is NaN: use ``mean``, or :func:`resample` first.

    Raises
    ------
    SchemaError
        ``data`` is not a long frame, or a role names a missing column.
    InputError
        ``confidence`` is not in (0, 1).

    See Also
    --------
    top_emotions : the highest means per group.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("talking")
    >>> list(humelab.summarize(df).columns)[6:]
    ['n', 'mean', 'sd', 'sem', 'ci_low', 'ci_high', 'max', 'max_time', 'weighted_mean']
    """
    func = "summarize"
    check_frame(data, func)
    by = resolve_by(data, func, by)
    need(
        data,
        func,
        numeric=("time", "end", "value"),
        time=time,
        end=end,
        value=value,
        hue=hue,
    )
    if not isinstance(confidence, float | int) or not 0 < confidence < 1:
        raise InputError(
            f"`{func}`: `confidence={confidence!r}` must be a number in (0, 1), "
            "such as 0.95."
        )
    keys = dimension_keys(data, by, hue)
    cols = list(dict.fromkeys(keys + [value] + [c for c in (time, end) if c]))
    d = _scored(_by_family(data[cols], family), func, value)
    v = d[value].to_numpy(np.float64)
    if time and end:
        w = (d[end] - d[time]).to_numpy(np.float64, na_value=np.nan)
        w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    else:
        w = np.zeros(len(d))
    out, g, sid = _per_dimension(d, keys, v)
    stats = g.agg(["count", "mean", "std", "max"])
    n = stats["count"].to_numpy(np.int64)
    mean, sd = stats["mean"].to_numpy(np.float64), stats["std"].to_numpy(np.float64)
    sem = sd / np.sqrt(n)
    half = t_quantile((1 + confidence) / 2, n - 1) * sem
    out["n"], out["mean"], out["sd"], out["sem"] = n, mean, sd, sem
    out["ci_low"], out["ci_high"] = mean - half, mean + half
    out["max"] = stats["max"].to_numpy(np.float64)
    out["max_time"] = _time_of_max(d, g, time)
    sw = np.bincount(sid, weights=w, minlength=len(out))
    swv = np.bincount(sid, weights=w * v, minlength=len(out))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["weighted_mean"] = np.where(sw > 0, swv / sw, np.nan)
    return keep_attrs(out, data)


def dominant(
    data: pd.DataFrame,
    *,
    by=DEFAULT_BY,
    segment: str = "segment",
    family: str | None = "emotions",
    time: str | None = "begin",
    end: str | None = "end",
    text: str | None = "text",
    value: str = "score",
    hue: str = "name",
) -> pd.DataFrame:
    """The top dimension of every segment (face frame, utterance, word, grid bin).

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score.
    by : str or sequence of str
        Columns that define a group (default: those of ``source``, ``file``,
        ``model``, ``group`` the frame has).
    segment : str
        Column that identifies a segment inside a group (``"segment"``; use
        ``segment="begin"`` on the output of :func:`resample`).
    family : str or None
        Compare only this score family (default ``emotions``); ``None`` compares
        all. Ignored when the frame has no ``family``.
    time, end, text : str or None
        Columns copied from the segment when the frame has them.
    value : str
        Column with the scores.
    hue : str
        Column with the dimension names.

    Returns
    -------
    pandas.DataFrame
        One row per segment, in order of first appearance: the ``by`` columns,
        ``segment``, ``time``, ``end`` and ``text`` (when present), ``hue`` (the top
        dimension), ``value`` (its score, float64), ``runner_up`` (the second
        dimension) and ``margin`` (top minus second score; NaN with one dimension).
        Segments whose scores are all missing are left out.

    Raises
    ------
    SchemaError
        ``data`` is not a long frame, or a role names a missing column.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("talking")
    >>> prosody = humelab.dominant(df[df["model"] == "prosody"])
    >>> prosody[["segment", "begin", "end"]].values.tolist()
    [[0.0, 0.04, 2.08], [1.0, 2.52, 4.54]]
    """
    func = "dominant"
    check_frame(data, func)
    by = resolve_by(data, func, by)
    need(data, func, numeric=("value",), segment=segment, value=value, hue=hue)
    extra = [c for c in (time, end, text) if c and c in data and c != segment]
    cols = list(dict.fromkeys([c for c in by if c != segment] + [segment] + extra))
    fam = ["family"] if "family" in data and family is not None else []
    need_cols = list(dict.fromkeys(cols + [hue, value] + fam))
    d = _scored(_by_family(data[need_cols], family), func, value)
    gid, _ = series_ids(d, [c for c in by if c != segment] + [segment])
    v = d[value].to_numpy(np.float64)
    # The best and the second best row of each segment, by two grouped argmax
    # passes (O(n), no sort); segments are numbered by first appearance.
    n_seg = int(gid.max()) + 1 if len(gid) else 0
    top = _argmax_per_group(v, gid, n_seg)
    rest = v.copy()
    rest[top] = -np.inf
    count = np.bincount(gid, minlength=n_seg)
    has2 = count > 1
    second = _argmax_per_group(rest, gid, n_seg)
    out = d[cols + [hue]].iloc[top].reset_index(drop=True)
    out[value] = v[top]
    out["runner_up"] = d[hue].iloc[second].where(has2).reset_index(drop=True)
    out["margin"] = np.where(has2, v[top] - v[second], np.nan)
    return keep_attrs(out, data)
