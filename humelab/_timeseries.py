"""Time series of tidy score frames: regular grids, alignment, smoothing, scaling.

Private machinery behind :func:`humelab.resample`, :func:`humelab.align`,
:func:`humelab.smooth` and :func:`humelab.normalize` (documented there and
re-exported by :mod:`humelab.analysis`).
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
from ._timegrid import align_segments, grid_frame, parse_freq
from .errors import InputError

__all__ = ["resample", "align", "smooth", "normalize"]

_HOWS = ("mean", "max", "min")


def _check_how(how, func):
    if how not in _HOWS:
        raise InputError(
            f"`{func}`: `how={how!r}` is not supported; use one of "
            + ", ".join(f"`{h!r}`" for h in _HOWS)
            + "."
        )


def resample(
    data: pd.DataFrame,
    *,
    freq,
    how: str = "mean",
    by=DEFAULT_BY,
    time: str = "begin",
    end: str | None = "end",
    value: str = "score",
    hue: str = "name",
) -> pd.DataFrame:
    """Put every series on a regular time grid.

    A series is one dimension in one ``by`` group (one source, file, model, group,
    family and name by default). The grid is anchored at 0 s: bin ``i`` is
    ``[i * freq, (i + 1) * freq)``, so the bins of different series and models line
    up. Each series gets the bins from the one holding its first row to the one
    holding its last; bins inside it with no data (gaps) stay NaN, never 0.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score.
    freq : float, str or pandas.Timedelta
        Bin width: seconds (``0.5``) or a pandas offset (``"500ms"``, ``"2s"``).
    how : {"mean", "max", "min"}
        ``"mean"``: intervals (prosody utterances, words) are weighted by their
        overlap with the bin in seconds; instants (face frames, ``end == time``)
        count once each, in the bin that holds them. ``"max"``/``"min"``: the
        extreme score among the rows that touch the bin.
    by : str or sequence of str
        Columns that define a group (default: those of ``source``, ``file``,
        ``model``, ``group`` the frame has).
    time, end : str
        Columns with each row's start and end in seconds (``end=None``: all rows
        are instants). Rows without a time (plain text) are left out with a
        ``HumelabWarning``.
    value : str
        Column with the scores.
    hue : str
        Column with the dimension names.

    Returns
    -------
    pandas.DataFrame
        One row per (series, bin), series in order of first appearance, bins in
        time order: the ``by`` columns, ``family`` (when present), ``hue``, then
        ``time`` and ``end`` (the bin's edges, seconds), ``value`` (float64, NaN
        in gaps) and ``n`` (rows that touched the bin).

    Raises
    ------
    SchemaError
        ``data`` is not a long frame, or a role names a missing column.
    InputError
        ``freq`` is not a positive time step, ``how`` is unknown, or the grid would
        be absurdly large.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("talking")
    >>> grid = humelab.resample(df, freq="500ms")  # or df.hume.resample(freq=...)
    >>> grid[["begin", "end"]].drop_duplicates().head(3).values.tolist()
    [[0.0, 0.5], [0.5, 1.0], [1.0, 1.5]]
    """
    func = "resample"
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
    f = parse_freq(freq, func)
    _check_how(how, func)
    keys = dimension_keys(data, by, hue)
    return grid_frame(
        data, func, keys=keys, span=keys, freq=f, how=how, time=time, end=end,
        value=value,
    )  # fmt: skip


def align(
    data: pd.DataFrame,
    *,
    to,
    how: str = "mean",
    by=("source", "file"),
    model: str = "model",
    group: str = "group",
    segment: str | None = "segment",
    text: str | None = "text",
    time: str = "begin",
    end: str | None = "end",
    value: str = "score",
    hue: str = "name",
) -> pd.DataFrame:
    """Line models up on common time units, to compare them row by row.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score.
    to : str, float or pandas.Timedelta
        A model name present in ``data`` (``"prosody"``, ``"language"``): its
        segments (utterances, words, sentences) become the rows, and every series
        of the same file (face frames, other models, other groups, the model
        itself) is averaged over each of them. Or a time step (``1.0``, ``"1s"``):
        every series of a file on the same regular grid, from the file's first
        bin to its last (see :func:`resample`).
    how : {"mean", "max", "min"}
        How the rows falling in a segment or bin are combined: instants count once,
        intervals by their overlap in seconds (``"mean"``).
    by : str or sequence of str
        Columns of one shared clock (default ``source`` and ``file``).
    model, group : str
        Columns with the model and the group (face or speaker).
    segment, text : str or None
        Columns with the segment index and its text; used for ``to=<model>`` when
        present.
    time, end : str
        Columns with each row's start and end in seconds.
    value : str
        Column with the scores.
    hue : str
        Column with the dimension names.

    Returns
    -------
    pandas.DataFrame
        For ``to=<model>``: one row per (target segment, series) of a file, segments
        in time order: the ``by`` columns, ``to_group`` and ``to_segment`` (the
        target's group and segment), ``time``, ``end`` and ``text`` of the target
        segment, then ``model``, ``group``, ``family`` (when present) and ``hue``
        of the series, ``value`` (float64; NaN when the series has nothing in that
        segment) and ``n`` (rows that fell in it). A segment is ``[time, end)``.

        For a time step: as :func:`resample`, with every series of a file on the
        same bins.

    Raises
    ------
    SchemaError
        ``data`` is not a long frame, or a role names a missing column.
    InputError
        ``to`` is neither a model in ``data`` nor a time step, or the target
        model's segments have no duration (face frames are instants: align them
        onto another model or a grid).

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("talking")
    >>> rows = humelab.align(df, to="prosody")  # face and burst per utterance
    >>> rows[["to_segment", "begin", "end"]].drop_duplicates().values.tolist()
    [[0.0, 0.04, 2.08], [1.0, 2.52, 4.54]]
    """
    func = "align"
    check_frame(data, func)
    by = resolve_by(data, func, by)
    need(
        data,
        func,
        numeric=("time", "end", "value"),
        model=model,
        group=group,
        time=time,
        end=end,
        value=value,
        hue=hue,
    )
    _check_how(how, func)
    keys = dimension_keys(data, by + [model, group], hue)
    models = [str(m) for m in pd.unique(data[model].dropna())]
    if isinstance(to, str) and to in models:
        return align_segments(
            data, func, to=to, how=how, by=by, keys=keys, model=model, group=group,
            segment=segment if segment in data else None,
            text=text if text in data else None, time=time, end=end, value=value,
        )  # fmt: skip
    try:
        f = parse_freq(to, func, name="to")
    except InputError:
        raise InputError(
            f"`{func}`: `to={to!r}` is neither a model of this frame ("
            + ", ".join(f"`{m}`" for m in models)
            + ") nor a time step such as `1.0` or `'500ms'`."
        ) from None
    return grid_frame(
        data, func, keys=keys, span=by, freq=f, how=how, time=time, end=end,
        value=value,
    )  # fmt: skip


def _sorted_series(data, keys, time):
    sid, _ = series_ids(data, keys)
    t = data[time].to_numpy(np.float64, na_value=np.nan)
    nan_t = np.isnan(t)
    # One float key (series far apart, then time) sorts faster than a lexsort;
    # rows without time go last, all of them.
    finite = t[~nan_t]
    t0 = float(finite.min()) if len(finite) else 0.0
    span = float(finite.max()) - t0 + 1.0 if len(finite) else 1.0
    key = np.where(nan_t, np.inf, sid * span + (t - t0))
    order = np.argsort(key, kind="stable")
    return sid, t, order, nan_t


def smooth(
    data: pd.DataFrame,
    *,
    window,
    center: bool = True,
    by=DEFAULT_BY,
    time: str = "begin",
    value: str = "score",
    hue: str = "name",
) -> pd.DataFrame:
    """Moving average of each series over a window of rows or of time.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score (raw, or the output of :func:`resample`).
    window : int, str or pandas.Timedelta
        An int is a number of consecutive rows of the series (as in pandas'
        ``rolling(3)``); a time (``"2s"``, ``pd.Timedelta(2, "s")``) averages the
        rows whose ``time`` lies within that span around each row.
    center : bool
        Centre the window on each row (default) or let it end at the row.
    by : str or sequence of str
        Columns that define a group (default: those of ``source``, ``file``,
        ``model``, ``group`` the frame has).
    time : str
        Column that orders a series (seconds).
    value : str
        Column with the scores.
    hue : str
        Column with the dimension names.

    Returns
    -------
    pandas.DataFrame
        A copy of ``data`` (same rows, order and columns) with ``value`` replaced by
        its float64 moving average over the non-missing values in the window. Rows
        whose value is missing (gaps) stay NaN; so do rows without a time.

    Raises
    ------
    SchemaError
        ``data`` is not a long frame, or a role names a missing column.
    InputError
        ``window`` is neither a positive int nor a positive time.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("talking")
    >>> smooth = humelab.smooth(df, window="1s")  # same rows, smoothed scores
    >>> len(smooth) == len(df)
    True
    """
    func = "smooth"
    check_frame(data, func)
    by = resolve_by(data, func, by)
    need(data, func, numeric=("time", "value"), time=time, value=value, hue=hue)
    rows_window = isinstance(window, int | np.integer) and not isinstance(
        window, bool | np.timedelta64
    )
    if rows_window:
        if window < 1:
            raise InputError(f"`{func}`: `window={window!r}` must be at least 1 row.")
    elif isinstance(window, float):
        raise InputError(
            f"`{func}`: `window={window!r}` is ambiguous; give an int for a number "
            f"of rows or a time such as `'{window:g}s'`."
        )
    else:
        width = parse_freq(window, func, name="window")
    keys = dimension_keys(data, by, hue)
    sid, t, order, nan_t = _sorted_series(data, keys, time)
    v = data[value].to_numpy(np.float64, na_value=np.nan)[order]
    s = sid[order]
    good = np.isfinite(v)
    csum = np.concatenate([[0.0], np.cumsum(np.where(good, v, 0.0))])
    ccnt = np.concatenate([[0], np.cumsum(good)])
    n = len(v)
    p = np.arange(n)
    k = n - int(nan_t.sum())  # rows with a time come first, sorted by (series, time)
    lo, hi = p.copy(), p + 1
    if rows_window:
        sk = s[:k]
        back, ahead = (window // 2, window - window // 2) if center else (window - 1, 1)
        lo[:k] = np.maximum(p[:k] - back, np.searchsorted(sk, sk, "left"))
        hi[:k] = np.minimum(p[:k] + ahead, np.searchsorted(sk, sk, "right"))
    else:
        ts = t[order]
        t0 = float(np.min(ts[:k])) if k else 0.0
        span = float(np.max(ts[:k])) - t0 if k else 0.0
        key = ts[:k] - t0 + s[:k] * (span + 2 * width + 1)  # series far apart
        back, ahead = (width / 2, width / 2) if center else (width, 0.0)
        lo[:k] = np.searchsorted(key, key - back, "left")
        hi[:k] = np.searchsorted(key, key + ahead, "right")
    with np.errstate(invalid="ignore", divide="ignore"):
        res = (csum[hi] - csum[lo]) / (ccnt[hi] - ccnt[lo])
    res[~good | nan_t[order]] = np.nan
    out = data.copy()
    smoothed = np.empty(n)
    smoothed[order] = res
    out[value] = smoothed
    return keep_attrs(out, data)


def normalize(
    data: pd.DataFrame,
    *,
    method: str = "z",
    baseline: tuple[float, float] | None = None,
    by=DEFAULT_BY,
    time: str = "begin",
    value: str = "score",
    hue: str = "name",
) -> pd.DataFrame:
    """Scale each series: z-scores, or change from a baseline period.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score.
    method : {"z", "baseline"}
        ``"z"``: ``(score - mean) / sd`` of the series (``ddof=1``; NaN when the
        series has fewer than 2 values or no spread). ``"baseline"``: ``score``
        minus the series' mean over the rows whose ``time`` lies in ``baseline``.
    baseline : tuple of (float, float)
        ``(t0, t1)`` in seconds, both ends included; required for
        ``method="baseline"``.
    by : str or sequence of str
        Columns that define a group (default: those of ``source``, ``file``,
        ``model``, ``group`` the frame has).
    time : str
        Column with each row's time in seconds (for ``baseline``).
    value : str
        Column with the scores.
    hue : str
        Column with the dimension names.

    Returns
    -------
    pandas.DataFrame
        A copy of ``data`` (same rows, order and columns) with ``value`` replaced by
        the float64 normalized score; series with no row in the baseline period
        are NaN.

    Raises
    ------
    SchemaError
        ``data`` is not a long frame, or a role names a missing column.
    InputError
        Unknown ``method``, or a missing or malformed ``baseline``.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("talking")
    >>> z = humelab.normalize(df[df["model"] == "face"])
    >>> bool(abs(z.groupby(["name"], observed=True)["score"].mean()).max() < 1e-9)
    True
    """
    func = "normalize"
    check_frame(data, func)
    by = resolve_by(data, func, by)
    if method not in ("z", "baseline"):
        raise InputError(
            f"`{func}`: `method={method!r}` is not supported; use `'z'` or "
            "`'baseline'`."
        )
    uses_time = method == "baseline"
    need(
        data,
        func,
        numeric=("time", "value"),
        time=time if uses_time else None,
        value=value,
        hue=hue,
    )
    keys = dimension_keys(data, by, hue)
    sid, n_series = series_ids(data, keys)
    v = data[value].to_numpy(np.float64, na_value=np.nan)
    good = np.isfinite(v)
    if method == "z":
        cnt = np.bincount(sid, weights=good, minlength=n_series)
        mean = np.bincount(sid, weights=np.where(good, v, 0), minlength=n_series)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = mean / cnt
            dev = np.where(good, v - mean[sid], 0.0)
            sd = np.sqrt(np.bincount(sid, dev * dev, minlength=n_series) / (cnt - 1))
            sd = np.where((cnt > 1) & (sd > 0), sd, np.nan)
            res = (v - mean[sid]) / sd[sid]
    else:
        try:
            t0, t1 = (float(x) for x in baseline)
            if not t0 <= t1:
                raise ValueError
        except (TypeError, ValueError):
            raise InputError(
                f"`{func}`: `baseline={baseline!r}` must be a pair of seconds "
                "`(t0, t1)` with t0 <= t1 when `method='baseline'`."
            ) from None
        t = data[time].to_numpy(np.float64, na_value=np.nan)
        inb = good & (t >= t0) & (t <= t1)
        cnt = np.bincount(sid, weights=inb, minlength=n_series)
        tot = np.bincount(sid, weights=np.where(inb, v, 0), minlength=n_series)
        with np.errstate(invalid="ignore", divide="ignore"):
            base = np.where(cnt > 0, tot / cnt, np.nan)
        res = v - base[sid]
    out = data.copy()
    out[value] = res
    return keep_attrs(out, data)
