"""Time machinery of :mod:`humelab.analysis`: grids, interval overlaps, frequencies.

Everything is vectorised with numpy (no Python loop per row). Rows are intervals
``[begin, end)`` weighted by their overlap in seconds, or instants (``end <= begin``,
face frames) that count once in the bin that holds them.
"""

from __future__ import annotations

import datetime
import numbers
import warnings

import numpy as np
import pandas as pd

from ._roles import keep_attrs, series_ids
from .errors import HumelabWarning, InputError

__all__ = [
    "parse_freq",
    "expand_bins",
    "overlap_pairs",
    "runs",
    "spread",
    "timed_rows",
    "reduce",
    "grid_frame",
    "align_segments",
    "MAX_CELLS",
]

#: Refuse grids with more (row, bin) cells than this: a freq far too fine.
MAX_CELLS = 200_000_000


def parse_freq(freq, func: str, *, name: str = "freq") -> float:
    """Seconds of ``freq``: a number of seconds, a pandas offset string, a Timedelta."""
    seconds = None
    if isinstance(freq, datetime.timedelta | np.timedelta64):  # pd.Timedelta too
        seconds = pd.Timedelta(freq).total_seconds()
    elif isinstance(freq, numbers.Real) and not isinstance(freq, bool):
        seconds = float(freq)
    elif isinstance(freq, str):
        try:
            float(freq)  # a bare number in a string would be read as nanoseconds
        except ValueError:
            try:
                seconds = pd.Timedelta(freq).total_seconds()
            except ValueError:
                seconds = None
    if seconds is None or not np.isfinite(seconds) or seconds <= 0:
        raise InputError(
            f"`{func}`: `{name}={freq!r}` is not a positive time step. Give seconds "
            "(`0.5`) or a pandas offset such as `'500ms'` or `'2s'`."
        )
    return seconds


def timed_rows(
    data: pd.DataFrame, func: str, time: str, end: str | None, value: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ok, begin, end, value)`` as float64; ``ok`` marks rows with time and value.

    A missing ``end`` makes the row an instant at ``begin``; an ``end`` before its
    ``begin`` too. Rows without a time are left out with one warning.
    """
    t = data[time].to_numpy(dtype=np.float64, na_value=np.nan)
    if end is None:
        e = t.copy()
    else:
        e = data[end].to_numpy(dtype=np.float64, na_value=np.nan)
        e = np.where(np.isfinite(e), np.fmax(e, t), t)
    v = data[value].to_numpy(dtype=np.float64, na_value=np.nan)
    has_t = np.isfinite(t)
    if not has_t.all() and len(t):
        warnings.warn(
            f"`{func}`: {int((~has_t).sum()):,} of {len(t):,} rows have no `{time}` "
            "(text without timestamps) and are left out.",
            HumelabWarning,
            stacklevel=3,
        )
    return has_t & np.isfinite(v), t, e, v


def _bin_index(x: np.ndarray, freq: float, fn) -> np.ndarray:
    # Round the ratio first so that 0.3 / 0.1 = 2.9999999999999996 lands in bin 3.
    return fn(np.round(x / freq, 9)).astype(np.int64)


def expand_bins(
    b: np.ndarray, e: np.ndarray, freq: float, func: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (row, bin) pair where the row overlaps grid bin ``[i*freq, (i+1)*freq)``.

    Returns
    -------
    rows, bins, weights : numpy.ndarray
        Row positions, bin numbers and weights: overlap seconds for intervals, 1 for
        instants.
    """
    inst = e <= b
    i0 = _bin_index(b, freq, np.floor)
    i1 = np.where(inst, i0, _bin_index(e, freq, np.ceil) - 1)
    nb = np.maximum(i1, i0) - i0 + 1
    total = int(nb.sum())
    if total > MAX_CELLS:
        raise InputError(
            f"`{func}`: a grid step of {freq!r} s makes {total:,} cells from "
            f"{len(b):,} rows; choose a coarser `freq`."
        )
    rows = np.repeat(np.arange(len(b)), nb)
    starts = np.cumsum(nb) - nb
    bins = i0[rows] + (np.arange(total) - starts[rows])
    lo = bins * freq
    w = np.minimum(e[rows], lo + freq) - np.maximum(b[rows], lo)
    w = np.where(inst[rows], 1.0, w)
    keep = w > 0
    return rows[keep], bins[keep], w[keep]


def _ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten the ranges ``[lo[j], hi[j])``: returns ``(j, position)`` pairs."""
    cnt = np.maximum(hi - lo, 0)
    j = np.repeat(np.arange(len(lo)), cnt)
    pos = lo[j] + (np.arange(int(cnt.sum())) - (np.cumsum(cnt) - cnt)[j])
    return j, pos


def runs(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of runs of consecutive rows with the same (t, e).

    The scores of one prediction (48 or more dimensions) share its times, so the
    time work is done once per run and then spread over the run's rows.
    """
    n = len(t)
    change = np.ones(n, bool)
    change[1:] = (t[1:] != t[:-1]) | (e[1:] != e[:-1])
    starts = np.flatnonzero(change)
    return starts, np.diff(np.append(starts, n))


def spread(starts, lengths, idx) -> tuple[np.ndarray, np.ndarray]:
    """For pairs on runs ``idx``: ``(pair, row)`` for every row of each run."""
    return _ranges(starts[idx], starts[idx] + lengths[idx])


def overlap_pairs(
    tb: np.ndarray, te: np.ndarray, rb: np.ndarray, re: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (target, row, weight) where a row falls in target ``[tb, te)``.

    Instants count with weight 1 when ``tb <= t < te``; intervals with their overlap
    in seconds when it is positive. Targets may overlap each other.
    """
    js, rs, ws = [], [], []
    inst = re <= rb
    for mask in (inst, ~inst):
        idx = np.flatnonzero(mask)
        if not len(idx) or not len(tb):
            continue
        b = rb[idx]
        order = np.argsort(b, kind="stable")
        bs = b[order]
        longest = 0.0 if mask is inst else float((re[idx] - b).max())
        lo = np.searchsorted(bs, tb - longest, "left")
        hi = np.searchsorted(bs, te, "left")
        j, pos = _ranges(lo, hi)
        r = idx[order[pos]]
        if mask is inst:
            w = np.ones(len(r))
        else:
            w = np.minimum(re[r], te[j]) - np.maximum(rb[r], tb[j])
            keep = w > 0
            j, r, w = j[keep], r[keep], w[keep]
        js.append(j)
        rs.append(r)
        ws.append(w)
    if not js:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(js), np.concatenate(rs), np.concatenate(ws)


def reduce(
    key: np.ndarray, v: np.ndarray, w: np.ndarray, size: int, how: str
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce values per cell ``key`` in ``range(size)``: ``(value, count)``.

    ``how="mean"`` is the ``w``-weighted mean; ``"max"``/``"min"`` ignore weights.
    Cells with nothing stay NaN (never 0) with count 0.
    """
    n = np.bincount(key, minlength=size)
    if how == "mean":
        num = np.bincount(key, weights=w * v, minlength=size)
        den = np.bincount(key, weights=w, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(den > 0, num / den, np.nan)
    else:
        out = np.full(size, np.nan)
        (np.fmax if how == "max" else np.fmin).at(out, key, v)
    return out, n


# -- frames -------------------------------------------------------------------


def grid_frame(data, func, *, keys, span, freq, how, time, end, value):
    """Shared engine of ``resample`` and grid ``align`` (see :mod:`humelab.analysis`).

    ``span`` is the list of key columns that share one grid range (``keys`` itself
    for a range per series, the file columns for one grid per file).
    """
    ok, t, e, v = timed_rows(data, func, time, end, value)
    sid, n_series = series_ids(data, keys)
    okpos = np.flatnonzero(ok)
    tt, ee = t[okpos], e[okpos]
    starts, lengths = runs(tt, ee)
    run, bins, w = expand_bins(tt[starts], ee[starts], freq, func)
    pair, rows = spread(starts, lengths, run)
    bins, w = bins[pair], w[pair]
    pos = okpos[rows]
    rsid = sid[pos]
    if span == keys:
        owner, n_owner = np.arange(n_series), n_series
    else:
        sp, n_owner = series_ids(data, span)
        owner = np.zeros(n_series, np.int64)
        owner[sid] = sp
    big = np.iinfo(np.int64).max
    omin, omax = np.full(n_owner, big), np.full(n_owner, -big)
    np.minimum.at(omin, owner[rsid], bins)
    np.maximum.at(omax, owner[rsid], bins)
    has = np.zeros(n_series, bool)
    has[rsid] = True
    smin = omin[owner]
    length = np.where(has, omax[owner] - smin + 1, 0)
    base = np.cumsum(length) - length
    size = int(length.sum())
    val, count = reduce(base[rsid] + bins - smin[rsid], v[pos], w, size, how)
    series = np.repeat(np.arange(n_series), length)
    b = smin[series] + (np.arange(size) - base[series])
    first = pd.Series(sid).drop_duplicates().index.to_numpy()
    out = data[keys].iloc[first[series]].reset_index(drop=True)
    end_col = end or "end"
    out[time] = np.round(b * freq, 9)
    out[end_col] = np.round((b + 1) * freq, 9)
    out[value] = val
    out["n"] = count.astype(np.int64)
    return keep_attrs(out, data)


def align_segments(
    data, func, *, to, how, by, keys, model, group, segment, text, time, end, value
):
    """``align`` onto the segments of model ``to``: one row per (segment, series)."""
    ok, t, e, v = timed_rows(data, func, time, end, value)
    sid, _ = series_ids(data, keys)
    fid, n_files = series_ids(data, by)
    is_target = (data[model] == to).to_numpy() & ok
    seg_keys = by + [group] + ([segment] if segment else [c for c in (time, end) if c])
    tpos = np.flatnonzero(is_target)
    tpos = tpos[~data[seg_keys].iloc[tpos].duplicated().to_numpy()]
    if len(tpos) and not (e[tpos] > t[tpos]).any():
        raise InputError(
            f"`{func}`: the segments of `{to}` have no duration (instants such as "
            "face frames); align onto a model with utterances or words, or onto a "
            "grid (`to='1s'`)."
        )
    tpos = tpos[np.lexsort((t[tpos], fid[tpos]))]
    rows = np.flatnonzero(ok)
    if n_files > 1:
        rows = rows[np.argsort(fid[rows], kind="stable")]
    r_split = np.searchsorted(fid[rows], np.arange(n_files + 1))
    t_split = np.searchsorted(fid[tpos], np.arange(n_files + 1))
    take_t, take_s, vals, counts = [], [], [], []
    first = pd.Series(sid).drop_duplicates()
    first_row = np.empty(len(first), np.int64)
    first_row[first.to_numpy()] = first.index.to_numpy()
    for f in range(n_files):  # one iteration per file, not per row
        fr = rows[r_split[f] : r_split[f + 1]]
        ft = tpos[t_split[f] : t_split[f + 1]]
        if not len(fr) or not len(ft):
            continue
        local, inv = np.unique(sid[fr], return_inverse=True)
        tf, ef = t[fr], e[fr]
        starts, lengths = runs(tf, ef)
        j, run, w = overlap_pairs(t[ft], e[ft], tf[starts], ef[starts])
        pair, r = spread(starts, lengths, run)
        j, w = j[pair], w[pair]
        size = len(ft) * len(local)
        val, cnt = reduce(j * len(local) + inv[r], v[fr][r], w, size, how)
        take_t.append(np.repeat(ft, len(local)))
        take_s.append(np.tile(first_row[local], len(ft)))
        vals.append(val)
        counts.append(cnt)
    cat = (lambda xs: np.concatenate(xs)) if take_t else (lambda xs: np.zeros(0, int))
    tt, ts = cat(take_t), cat(take_s)
    tcols = [group] + ([segment] if segment else []) + [time, end or "end"]
    tcols += [text] if text else []
    target = data[by + [c for c in tcols if c in data]].iloc[tt]
    target = target.rename(columns={group: "to_group", segment: "to_segment"})
    target = target.reset_index(drop=True)
    series = data[keys[len(by) :]].iloc[ts].reset_index(drop=True)
    out = pd.concat([target, series], axis=1)
    out[value] = cat(vals).astype(np.float64)
    out["n"] = cat(counts).astype(np.int64)
    return keep_attrs(out, data)
