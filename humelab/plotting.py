"""Plots of tidy score frames: functions that draw on matplotlib Axes and return them.

Data first, options keyword-only, ``ax=None`` (a new figure) and the Axes returned
(a Figure for :func:`plot_small_multiples`); nothing calls ``plt.show()``. Extra
keyword arguments go to one matplotlib call, named in each docstring. Column roles
default to the tidy contract (``time="begin"``, ``end="end"``, ``value="score"``,
``hue="name"``).

Every figure carries a small note, "Scores describe perceived expression, not felt
emotion.", and a prominent "SIMULATED" stamp when the frame came from the simulated
engine: ``df.attrs["simulated"]`` (set by the readers, kept by
:mod:`humelab.analysis`), overridden by ``simulated=True|False``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from ._plot_data import (
    choose_dims,
    draw_lines,
    file_label,
    groups_of,
    legend_outside,
    of_family,
    timed,
)
from ._plot_notes import (
    add_notes,
    colors_for,
    is_simulated,
    nice_step,
    reserve_margins,
)
from ._roles import DEFAULT_BY, check_frame, need, resolve_by, series_ids
from .analysis import resample, summarize
from .errors import InputError

__all__ = [
    "plot_timeline",
    "plot_heatmap",
    "plot_top",
    "plot_transcript",
    "plot_small_multiples",
]


def _axes(ax, figsize=(8.0, 3.5)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        reserve_margins(fig)
    return ax


def plot_timeline(
    data: pd.DataFrame,
    *,
    k: int = 5,
    names=None,
    family: str | None = "emotions",
    freq=None,
    gap: float | None = None,
    by=DEFAULT_BY,
    ax=None,
    legend: bool = True,
    simulated: bool | None = None,
    time: str = "begin",
    end: str | None = "end",
    value: str = "score",
    hue: str = "name",
    **kwargs,
):
    """Scores over time: one line per dimension and group.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score (raw, or the output of ``resample``).
    k : int
        Draw the ``k`` dimensions with the highest mean over the frame.
    names : str or list of str, optional
        Draw these dimensions instead of the top ``k``.
    family : str or None
        Score family to draw (default ``emotions``); ``None`` for all.
    freq : float or str, optional
        Resample onto this grid first (see :func:`humelab.resample`) and draw each
        bin at its centre; empty bins break the line.
    gap : float, optional
        Seconds without data that break a line. Default: face frames further apart
        than 1.5 times their median spacing; utterances or words that do not touch.
        Gaps are never bridged: the line has a NaN there.
    by : str or sequence of str
        Columns of a group (default: those of ``source``, ``file``, ``model``,
        ``group`` the frame has); groups share a dimension's colour and differ in
        line style.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure when None.
    legend : bool
        Draw the legend, outside the data, right of the axes.
    simulated : bool or None
        Stamp the figure "SIMULATED"; None reads ``data.attrs["simulated"]``.
    time, end, value, hue : str
        Columns of start time, end time (None: instants), score and dimension name.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.plot` for every line.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes, one ``Line2D`` per (group, dimension), labelled with the dimension
        (and the group when there are several).

    Raises
    ------
    SchemaError
        ``data`` is not a long frame, or a role names a missing column.
    InputError
        Unknown ``names``, or a frame without times.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("talking")
    >>> ax = humelab.plot_timeline(df[df["model"] == "face"], k=4)
    >>> len(ax.get_lines()), ax.get_xlabel()
    (4, 'time (s)')
    """
    func = "plot_timeline"
    check_frame(data, func)
    by = resolve_by(data, func, by)
    need(data, func, numeric=("time", "end", "value"), time=time, end=end,
         value=value, hue=hue)  # fmt: skip
    d = of_family(data, family)
    dims = choose_dims(d, func, k, names, value=value, hue=hue)
    d = timed(d.loc[d[hue].astype(str).isin(dims).to_numpy()], func, time)
    created = ax is None
    ax = _axes(ax)
    draw_lines(ax, d, dims, colors_for(dims), by=by, freq=freq, gap=gap, time=time,
           end=end, value=value, hue=hue, **kwargs)  # fmt: skip
    if legend:
        legend_outside(ax)
        if created:  # room for the legend: about 0.18 in per row of entries
            n = len(ax.get_lines())
            rows = n if n <= 12 else (n + 1) // 2  # two columns past 12 entries
            ax.figure.set_size_inches(
                8.0 if n <= 12 else 11.0, max(3.5, 0.18 * rows + 1.2)
            )
            reserve_margins(ax.figure)
    add_notes(ax.figure, is_simulated(data, simulated))
    return ax


def plot_heatmap(
    data: pd.DataFrame,
    *,
    kind: str = "time",
    k: int = 10,
    names=None,
    family: str | None = "emotions",
    freq=None,
    ax=None,
    colorbar: bool = True,
    simulated: bool | None = None,
    time: str = "begin",
    end: str | None = "end",
    value: str = "score",
    hue: str = "name",
    **kwargs,
):
    """A heatmap of dimensions over time, or of files by dimensions.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score.
    kind : {"time", "files"}
        ``"time"``: dimensions (rows) by time bins (columns) of one series group
        (one source, file, model and group); empty bins are left blank.
        ``"files"``: one row per file (and model, when there are several) by
        dimensions, each cell the mean score.
    k : int
        Show the ``k`` dimensions with the highest mean over the frame.
    names : str or list of str, optional
        Show these dimensions instead, in this order.
    family : str or None
        Score family (default ``emotions``); ``None`` for all.
    freq : float or str, optional
        Bin width for ``kind="time"``; default a 1-2-5 step giving at most 200 bins.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure when None.
    colorbar : bool
        Add a colour bar.
    simulated : bool or None
        Stamp the figure "SIMULATED"; None reads ``data.attrs["simulated"]``.
    time, end, value, hue : str
        Columns of start time, end time, score and dimension name.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.pcolormesh` (``cmap``, ``vmin``, ...).

    Returns
    -------
    matplotlib.axes.Axes
        The Axes holding one ``QuadMesh``; NaN cells (no data) are masked.

    Raises
    ------
    SchemaError
        ``data`` is not a long frame, or a role names a missing column.
    InputError
        Unknown ``kind`` or ``names``; ``kind="time"`` with several series groups
        or without times.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("demo")
    >>> ax = humelab.plot_heatmap(df, kind="files", k=6)
    >>> [t.get_text() for t in ax.get_xticklabels()][:1] != []
    True
    """
    func = "plot_heatmap"
    check_frame(data, func)
    if kind not in ("time", "files"):
        raise InputError(f"`{func}`: `kind={kind!r}` must be `'time'` or `'files'`.")
    need(data, func, numeric=("time", "end", "value"), time=time, end=end,
         value=value, hue=hue)  # fmt: skip
    d = of_family(data, family)
    dims = choose_dims(d, func, k, names, value=value, hue=hue)
    d = d.loc[d[hue].astype(str).isin(dims).to_numpy()]
    ax = _axes(ax, figsize=(8.0, 0.3 * len(dims) + 1.5))
    if kind == "time":
        by = resolve_by(d, func, DEFAULT_BY)
        groups, labels = groups_of(d, by)
        if len(groups) > 1:
            raise InputError(
                f"`{func}`: `kind='time'` draws one series group; this frame has "
                f"{len(groups)} ({', '.join(labels[g] for g in groups[:5])}"
                f"{', ...' if len(groups) > 5 else ''}). Select one, for example "
                "`df[df['group'] == 'face_0']`, or use `plot_small_multiples`."
            )
        d = timed(d, func, time)
        if freq is None:
            t = d[time].to_numpy(np.float64)
            freq = nice_step(float(np.nanmax(t) - np.nanmin(t)))
        r = resample(d, freq=freq, by=by, time=time, end=end, value=value, hue=hue)
        t0, step = float(r[time].min()), float((r[end or "end"] - r[time]).iloc[0])
        col = np.round((r[time].to_numpy() - t0) / step).astype(int)
        x = t0 + step * np.arange(col.max() + 2)
        ax.set_xlabel("time (s)")
        rows = dims
        row = np.array([dims.index(str(n)) for n in r[hue]])
        cells = r[value].to_numpy(np.float64)
    else:
        fkeys = [c for c in ("source", "file", "model") if c in d.columns]
        s = summarize(d, by=fkeys, time=None, end=None, value=value, hue=hue)
        files, _ = groups_of(s, fkeys)
        rows = [file_label(f, fkeys, files) for f in files]
        pos = {f: i for i, f in enumerate(files)}
        row = np.array([pos[tuple(r)] for r in s[fkeys].itertuples(index=False)])
        col = np.array([dims.index(str(n)) for n in s[hue]])
        cells = s["mean"].to_numpy(np.float64)
        x = np.arange(len(dims) + 1)
        ax.set_xticks(np.arange(len(dims)) + 0.5, dims, rotation=60, ha="right")
    grid = np.full((len(rows), int(col.max()) + 1 if len(col) else 0), np.nan)
    grid[row, col] = cells
    mesh = ax.pcolormesh(
        x[: grid.shape[1] + 1],
        np.arange(len(rows) + 1),
        np.ma.masked_invalid(grid),
        **{"cmap": "viridis", **kwargs},
    )
    ax.set_yticks(np.arange(len(rows)) + 0.5, rows)
    ax.invert_yaxis()
    if colorbar:
        label = value if kind == "time" else f"mean {value}"
        ax.figure.colorbar(mesh, ax=ax, label=label, pad=0.01)
    add_notes(ax.figure, is_simulated(data, simulated))
    return ax


def plot_top(
    data: pd.DataFrame,
    *,
    k: int = 5,
    names=None,
    by=DEFAULT_BY,
    family: str | None = "emotions",
    confidence: float = 0.95,
    ax=None,
    legend: bool = True,
    simulated: bool | None = None,
    value: str = "score",
    hue: str = "name",
    **kwargs,
):
    """Mean score of the top dimensions as bars, with confidence intervals.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score.
    k : int
        Show the ``k`` dimensions with the highest mean over the frame.
    names : str or list of str, optional
        Show these dimensions instead, in this order.
    by : str or sequence of str
        Columns of a group (default: those of ``source``, ``file``, ``model``,
        ``group`` the frame has); each group gets its own bar per dimension;
        ``None`` pools all rows.
    family : str or None
        Score family (default ``emotions``); ``None`` for all.
    confidence : float
        Level of the error bars: Student's t interval of the mean, as in
        :func:`humelab.summarize` (none for a single row).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure when None.
    legend : bool
        Draw the legend (outside the data) when there are several groups.
    simulated : bool or None
        Stamp the figure "SIMULATED"; None reads ``data.attrs["simulated"]``.
    value, hue : str
        Columns of the score and the dimension name.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.barh` for every group's bars.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes: horizontal bars, best dimension on top, one container per group.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("faces")
    >>> ax = humelab.plot_top(df, k=3)  # a bar per face image and dimension
    >>> len(ax.get_yticklabels())
    3
    """
    func = "plot_top"
    check_frame(data, func)
    by = resolve_by(data, func, by)
    need(data, func, numeric=("value",), value=value, hue=hue)
    d = of_family(data, family)
    dims = choose_dims(d, func, k, names, value=value, hue=hue)
    d = d.loc[d[hue].astype(str).isin(dims).to_numpy()]
    s = summarize(d, by=by, confidence=confidence, time=None, end=None,
                  value=value, hue=hue)  # fmt: skip
    groups, labels = groups_of(s, by)
    ax = _axes(ax, figsize=(6.0, 0.45 * len(dims) * max(1, len(groups)) ** 0.5 + 1.2))
    height = 0.8 / len(groups)
    colors = colors_for(groups)
    for gi, g in enumerate(groups):
        sub = s.loc[(s[by] == pd.Series(g, index=by)).all(axis=1)] if by else s
        stats = sub.assign(_n=sub[hue].astype(str)).set_index("_n").reindex(dims)
        mean = stats["mean"].to_numpy(np.float64)
        err = np.nan_to_num(
            np.vstack([mean - stats["ci_low"], stats["ci_high"] - mean]), nan=0.0
        )
        y = np.arange(len(dims)) - 0.4 + height * (gi + 0.5)
        kw = {"xerr": err, "capsize": 3, "color": colors[g],
              "label": labels[g] or None}  # fmt: skip
        ax.barh(y, mean, height, **{**kw, **kwargs})
    ax.set_yticks(np.arange(len(dims)), dims)
    ax.invert_yaxis()
    ax.set_xlabel(f"mean {value} ({confidence:.0%} CI)")
    if legend and len(groups) > 1:
        legend_outside(ax)
    add_notes(ax.figure, is_simulated(data, simulated))
    return ax


def plot_transcript(
    data: pd.DataFrame,
    *,
    dimension: str | None = None,
    model: str | None = None,
    family: str | None = "emotions",
    max_labels: int = 60,
    ax=None,
    colorbar: bool = True,
    simulated: bool | None = None,
    time: str = "begin",
    end: str | None = "end",
    text: str = "text",
    value: str = "score",
    hue: str = "name",
    **kwargs,
):
    """Text segments along time, each coloured by its score on one dimension.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score.
    dimension : str, optional
        The dimension that colours the segments; default the one with the highest
        mean.
    model : str, optional
        The model whose segments to draw; default the first of ``language``,
        ``prosody``, ``ner``, ``burst`` that has text.
    family : str or None
        Score family of ``dimension`` (default ``emotions``).
    max_labels : int
        Write the text of at most this many segments (the first ones wide enough
        to hold a few characters, shortened with "…" to fit); the bars are always
        all drawn.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure when None.
    colorbar : bool
        Add a colour bar of the dimension's score.
    simulated : bool or None
        Stamp the figure "SIMULATED"; None reads ``data.attrs["simulated"]``.
    time, end, text, value, hue : str
        Columns of start, end, segment text, score and dimension name. Without
        times (plain text input) segments are laid out in order, one unit each.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.broken_barh` (one call per group).

    Returns
    -------
    matplotlib.axes.Axes
        The Axes: one lane per file and group (speaker), one bar per segment.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("speech")  # two recordings: a lane each
    >>> ax = humelab.plot_transcript(df, dimension="Joy")
    >>> ax.get_title(), len(ax.get_yticklabels())
    ('language: segments coloured by Joy', 2)
    """
    func = "plot_transcript"
    check_frame(data, func)
    need(data, func, numeric=("time", "end", "value"), time=time, end=end,
         text=text, value=value, hue=hue, model="model", group="group")  # fmt: skip
    has_text = data[text].notna().to_numpy()
    models = [str(m) for m in pd.unique(data.loc[has_text, "model"])]
    if model is None:
        pref = [m for m in ("language", "prosody", "ner", "burst") if m in models]
        model = (pref or models or [None])[0]
    if model not in models:
        raise InputError(
            f"`{func}`: no segments with text for model `{model}`; models with text "
            f"here: {', '.join(f'`{m}`' for m in models) or 'none'}."
        )
    d = of_family(data.loc[(data["model"] == model).to_numpy() & has_text], family)
    if dimension is None:
        dimension = choose_dims(d, func, 1, None, value=value, hue=hue)[0]
    else:
        choose_dims(d, func, None, dimension, value=value, hue=hue)
    seg = d.loc[(d[hue] == dimension).to_numpy()].reset_index(drop=True)
    b = seg[time].to_numpy(np.float64, na_value=np.nan)
    timed = np.isfinite(b).any()
    if timed:
        seg = seg.loc[np.isfinite(b)].reset_index(drop=True)
        b = b[np.isfinite(b)]
        e = seg[end].to_numpy(np.float64, na_value=np.nan) if end else b
        e = np.where(np.isfinite(e) & (e > b), e, b + 0.05)
    else:
        b = np.arange(len(seg), dtype=np.float64)
        e = b + 0.95
    scores = seg[value].to_numpy(np.float64)
    norm = Normalize(float(np.nanmin(scores)), float(np.nanmax(scores)))
    cmap = plt.get_cmap("viridis")
    lane_by = [c for c in ("source", "file", "group") if c in seg.columns]
    keys, labels = groups_of(seg, lane_by)  # a lane per file and speaker
    lanes = [labels[k] or str(k[-1]) for k in keys]
    lane, _ = series_ids(seg, lane_by)
    ax = _axes(ax, figsize=(10.0, 0.8 * len(lanes) + 1.4))
    for i in range(len(lanes)):
        m = lane == i
        ax.broken_barh(
            list(zip(b[m], e[m] - b[m], strict=True)),
            (i - 0.4, 0.8),
            **{"facecolors": cmap(norm(scores[m])), "edgecolor": "white", **kwargs},
        )
    span = float(e.max() - b.min()) or 1.0
    room = ((e - b) / span * 140).astype(int)  # characters that fit (~140 across)
    for j in np.flatnonzero(room >= 4)[:max_labels]:
        words = str(seg[text].iloc[j])
        if len(words) > room[j]:
            words = words[: room[j] - 1] + "…"
        ax.text(
            (b[j] + e[j]) / 2, lane[j], words, ha="center", va="center", fontsize=7,
            clip_on=True, color="white" if norm(scores[j]) < 0.6 else "black",
        )  # fmt: skip
    ax.set_yticks(np.arange(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_xlim(float(b.min()), float(e.max()))
    ax.set_xlabel("time (s)" if timed else "segment (no times in the input)")
    ax.set_title(f"{model}: segments coloured by {dimension}", fontsize="medium")
    if colorbar:
        sm = ScalarMappable(norm=norm, cmap=cmap)
        ax.figure.colorbar(sm, ax=ax, label=f"{dimension} ({value})", pad=0.01)
    add_notes(ax.figure, is_simulated(data, simulated))
    return ax


def plot_small_multiples(
    data: pd.DataFrame,
    *,
    facet: str = "file",
    k: int = 5,
    names=None,
    family: str | None = "emotions",
    freq=None,
    col_wrap: int = 2,
    height: float = 2.6,
    aspect: float = 2.2,
    sharey: bool = True,
    simulated: bool | None = None,
    time: str = "begin",
    end: str | None = "end",
    value: str = "score",
    hue: str = "name",
    **kwargs,
):
    """One timeline per file or per group, in a grid, with one shared legend.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame, one row per score.
    facet : {"file", "group"}
        One panel per (source, file), or per (source, file, model, group).
    k : int
        Draw the ``k`` dimensions with the highest mean over the whole frame, the
        same ones (and colours) in every panel.
    names : str or list of str, optional
        Draw these dimensions instead.
    family : str or None
        Score family (default ``emotions``); ``None`` for all.
    freq : float or str, optional
        Resample each panel's series onto this grid first.
    col_wrap : int
        Panels per row.
    height, aspect : float
        Height of a panel in inches, and its width as a multiple of the height.
    sharey : bool
        Share the score axis between panels.
    simulated : bool or None
        Stamp the figure "SIMULATED"; None reads ``data.attrs["simulated"]``.
    time, end, value, hue : str
        Columns of start time, end time, score and dimension name.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.plot` for every line (through
        :func:`plot_timeline`).

    Returns
    -------
    matplotlib.figure.Figure
        The figure; ``fig.axes`` holds the panels (then nothing else), titled by
        their file or group.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("talking")
    >>> fig = humelab.plot_small_multiples(df, facet="group", k=3)
    >>> [ax.get_title().split(" · ")[1] for ax in fig.axes]  # file · model · group
    ['face', 'burst', 'prosody']
    """
    func = "plot_small_multiples"
    check_frame(data, func)
    keys = {"file": ("source", "file"), "group": ("source", "file", "model", "group")}
    if facet not in keys:
        raise InputError(f"`{func}`: `facet={facet!r}` must be `'file'` or `'group'`.")
    fkeys = resolve_by(data, func, keys[facet])
    need(data, func, numeric=("time", "end", "value"), time=time, end=end,
         value=value, hue=hue)  # fmt: skip
    d = of_family(data, family)
    dims = choose_dims(d, func, k, names, value=value, hue=hue)
    d = timed(d.loc[d[hue].astype(str).isin(dims).to_numpy()], func, time)
    panels, _ = groups_of(d, fkeys)
    ncols = max(1, min(col_wrap, len(panels)))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * height * aspect, nrows * height),
        sharey=sharey, squeeze=False, layout="constrained",
    )  # fmt: skip
    reserve_margins(fig)
    parts = dict(iter(d.groupby(fkeys, observed=True, sort=False)))
    handles = {}
    colors = colors_for(dims)
    by = resolve_by(d, func, DEFAULT_BY)
    for ax, p in zip(axes.flat, panels, strict=False):
        draw_lines(ax, parts[p], dims, colors, by=by, freq=freq, gap=None, time=time,
               end=end, value=value, hue=hue, **kwargs)  # fmt: skip
        ax.set_title(" · ".join(str(x) for x in p[1:] or p), fontsize="medium")
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    for ax in axes.flat[len(panels) :]:
        fig.delaxes(ax)
    fig.legend(handles.values(), handles.keys(), loc="outside right upper",
               frameon=False, fontsize="small")  # fmt: skip
    add_notes(fig, is_simulated(data, simulated))
    return fig
