"""What the plots draw: dimension choice, groups and labels, gap-aware lines.

Private helpers of :mod:`humelab.plotting`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import resample, top_emotions
from .errors import InputError

__all__ = [
    "draw_lines",
    "of_family",
    "choose_dims",
    "groups_of",
    "file_label",
    "polyline",
    "timed",
    "legend_outside",
]


def of_family(data, family):
    if family is None or "family" not in data.columns:
        return data
    return data.loc[(data["family"] == family).to_numpy()]


def choose_dims(data, func, k, names, *, value, hue):
    """The named dimensions (checked), else the ``k`` highest means of the frame."""
    if names is not None:
        names = [names] if isinstance(names, str) else [str(n) for n in names]
        present = {str(n) for n in pd.unique(data[hue])}
        missing = [n for n in names if n not in present]
        if missing:
            some = ", ".join(f"`{n}`" for n in sorted(present)[:8])
            raise InputError(
                f"`{func}`: {', '.join(f'`{n}`' for n in missing)} not found in "
                f"column `{hue}` (it has {some}{', ...' if len(present) > 8 else ''})."
                " Check the spelling: names are kept exactly as the API spells them."
            )
        return names
    top = top_emotions(data, k, by=None, family=None, time=None, value=value, hue=hue)
    return list(dict.fromkeys(str(n) for n in top[hue]))


def groups_of(data, by):
    """The ``by`` combinations in order, and a short label for each."""
    if not by:
        return [()], {(): ""}
    combos = data[by].drop_duplicates()
    keys = [tuple(r) for r in combos.itertuples(index=False)]
    varying = [i for i, c in enumerate(by) if combos[c].nunique(dropna=False) > 1]
    # the varying values, each once (a source named like its file shows once)
    labels = {g: " · ".join(dict.fromkeys(str(g[i]) for i in varying)) for g in keys}
    return keys, labels


def file_label(key, fkeys, keys) -> str:
    """``file``; with ``source`` first when it differs, ``model`` when several."""
    f = dict(zip(fkeys, map(str, key), strict=True))
    parts = [f.get("file", "")]
    if "source" in f and f["source"] != f.get("file"):
        parts.insert(0, f["source"])
    if "model" in f and len({k[fkeys.index("model")] for k in keys}) > 1:
        parts.append(f["model"])
    return " · ".join(p for p in parts if p)


def polyline(b, e, v, *, gap, grid):
    """x, y of one series with NaN breaks wherever the data has a gap.

    Grid bins (``grid``) are drawn at their centres (empty bins are NaN already);
    instants are joined unless further apart than ``gap`` (default 1.5 times the
    median spacing); intervals are flat steps over ``[begin, end]``, broken where
    the next one starts more than ``gap`` (default: any time) after one ends.
    """
    order = np.argsort(b, kind="stable")
    b, e, v = b[order], e[order], v[order]
    e = np.where(np.isfinite(e), np.fmax(e, b), b)
    if grid:
        return (b + e) / 2, v
    if not (e > b).any():
        x, y = b, v
        d = np.diff(x)
        if gap is None:
            gap = 1.5 * float(np.median(d[d > 0])) if (d > 0).any() else np.inf
        after = np.flatnonzero(d > gap) + 1
    else:
        x, y = np.column_stack([b, e]).ravel(), np.repeat(v, 2)
        after = 2 * np.flatnonzero(b[1:] - e[:-1] > (gap or 1e-9)) + 2
    return np.insert(x, after, np.nan), np.insert(y, after, np.nan)


def timed(data, func, time):
    t = data[time].to_numpy(np.float64, na_value=np.nan)
    if not np.isfinite(t).any():
        raise InputError(
            f"`{func}`: the frame has no times in `{time}` (text without timestamps); "
            "use `plot_top` or `plot_transcript` instead."
        )
    return data.loc[np.isfinite(t)]


def legend_outside(ax):
    """The legend right of the axes, in two columns past 12 entries."""
    n = len(ax.get_legend_handles_labels()[1])
    return ax.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
        frameon=False, fontsize="small", ncols=1 if n <= 12 else 2,
    )  # fmt: skip


LINESTYLES = ("-", "--", ":", "-.")


def draw_lines(ax, d, dims, colors, *, by, freq, gap, time, end, value, hue, **kwargs):
    """Draw one line per (group, dimension) of ``d`` on ``ax`` (see plot_timeline)."""
    grid = freq is not None
    if grid:
        d = resample(d, freq=freq, by=by, time=time, end=end, value=value, hue=hue)
        end = end or "end"
    groups, labels = groups_of(d, by)
    parts = dict(iter(d.groupby(by + [hue], observed=True, sort=False)))
    for gi, g in enumerate(groups):
        for dim in dims:
            sub = parts.get(g + (dim,))
            if sub is None:
                continue
            b = sub[time].to_numpy(np.float64, na_value=np.nan)
            e = sub[end].to_numpy(np.float64, na_value=np.nan) if end else b
            x, y = polyline(b, e, sub[value].to_numpy(np.float64), gap=gap, grid=grid)
            kw = {
                "color": colors[dim],
                "linestyle": LINESTYLES[gi % len(LINESTYLES)],
                "linewidth": 1.3,
                "label": f"{dim} ({labels[g]})" if labels[g] else dim,
            }
            if np.isfinite(y).sum() < 100:
                kw["marker"] = "."
            ax.plot(x, y, **{**kw, **kwargs})
    ax.set_xlabel("time (s)")
    ax.set_ylabel(value)
    if len(groups) == 1 and groups[0]:
        title = dict.fromkeys(str(x) for x in groups[0])  # source == file: once
        ax.set_title(" · ".join(title), fontsize="medium")
