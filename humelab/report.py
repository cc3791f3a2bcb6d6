"""The one-page HTML report of a results frame, and timeline PNGs per source.

:func:`write_report` writes one self-contained HTML file: an overview, the top
expressions and a summary per file, model and group (from
:func:`humelab.top_emotions` and :func:`humelab.summarize`), and the plots of
:mod:`humelab.plotting` embedded as ``data:`` PNGs. No CDN, no script, no external
file: it opens offline and can be mailed as it is. Every report says that scores
describe perceived expression, not felt emotion, and carries a SIMULATED banner when
the frame's ``attrs`` say the scores came from the simulated engine.
:func:`timeline_pngs` writes the timeline of each source as a PNG file.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from . import __version__
from ._plot_notes import NOTE, is_simulated
from .analysis import summarize, top_emotions
from .errors import InputError, SchemaError
from .io import read_artifacts, read_predictions
from .plotting import plot_heatmap, plot_small_multiples, plot_timeline, plot_top
from .schema import validate

__all__ = ["write_report", "timeline_pngs", "render_report"]

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;
max-width:72em;padding:0 1em;color:#222;line-height:1.4}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}
th,td{border:1px solid #ddd;padding:.2em .5em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f4f4f4}.caveat{color:#555;font-size:.95em}
.simulated{background:#b00020;color:#fff;padding:.6em 1em;font-weight:bold;
border-radius:4px}figure{margin:1em 0}img{max-width:100%}
figcaption{color:#555;font-size:.9em}
"""

_CAVEAT = (
    "Scores describe perceived expression (how a face, voice or text comes across "
    "to raters), not what anyone felt."
)
_BY = ("source", "file", "model", "group")


def _frame(data) -> pd.DataFrame:
    """``data`` as a tidy long frame (a frame, or a predictions/artifacts file)."""
    if isinstance(data, pd.DataFrame):
        if "name" not in data and "score" not in data and "segment" in data:
            raise SchemaError(
                "`write_report` needs the tidy long frame (one row per score); this "
                "looks like a wide frame (one row per prediction). Pass "
                "`humelab.to_long(df)`."
            )
        try:
            validate(data)
        except SchemaError as exc:
            raise SchemaError(
                f"`write_report` needs the tidy long frame of humelab.schema; {exc}"
            ) from None
        return data
    if isinstance(data, (str, os.PathLike)) and str(data).lower().endswith(".zip"):
        return read_artifacts(data)
    if isinstance(data, (bytes, bytearray)) and bytes(data[:2]) == b"PK":
        return read_artifacts(data)
    return read_predictions(data)


def _png(fig, *, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _timeline_fig(df: pd.DataFrame, *, k: int):
    """The timeline figure of one source, or None when it has no time axis.

    A source measured at a single instant (an image) gets the bars of
    :func:`humelab.plotting.plot_top` instead: a line needs two points.
    """
    timed = df[df["begin"].notna().to_numpy()] if "begin" in df else df.iloc[:0]
    timed = timed[(timed["family"] == "emotions").to_numpy()]
    if timed.empty:
        return None
    timed.attrs = dict(df.attrs)
    panels = timed[list(_BY)].drop_duplicates()
    try:
        if timed["begin"].nunique() == 1 and timed["end"].nunique() == 1:
            return plot_top(timed, k=k).figure  # one instant (an image): bars
        if len(panels) == 1:
            return plot_timeline(timed, k=k).figure
        # a panel per file, model and face or speaker, drawing the top k of the
        # dimensions every panel has (language has names prosody lacks)
        names = timed.astype({"name": str}).groupby(list(_BY), observed=True)["name"]
        common = set.intersection(*(set(v) for _, v in names))
        means = timed.groupby("name", observed=True)["score"].mean()
        top = [n for n in means.sort_values(ascending=False).index if n in common]
        if not top:
            return None
        return plot_small_multiples(timed, facet="group", names=top[:k])
    except InputError:
        return None


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return slug[:60] or "source"


def timeline_pngs(
    data: pd.DataFrame, out_dir, *, k: int = 5, dpi: int = 100
) -> list[Path]:
    """Write one timeline PNG per source (its top ``k`` expressions over time).

    Parameters
    ----------
    data : pandas.DataFrame
        Tidy long frame (see :mod:`humelab.schema`); its ``attrs`` decide the
        SIMULATED stamp, as in :func:`humelab.plotting.plot_timeline`.
    out_dir : str or path-like
        Folder for the PNGs (created when missing). Files are named
        ``timeline-<n>-<source>.png``, ``n`` counting the sources in frame order.
    k : int, default 5
        Dimensions per plot: the ``k`` emotions with the highest mean in that source.
    dpi : int, default 100
        Resolution of the PNGs.

    Returns
    -------
    list of pathlib.Path
        The files written, in source order. Sources without times (text) get no
        PNG; a source measured at one instant (an image) gets the bars of its top
        ``k`` (:func:`humelab.plotting.plot_top`) instead of a line.

    Raises
    ------
    SchemaError
        ``data`` is not a tidy long frame.

    See Also
    --------
    write_report : the same plots, with tables, in one HTML page.
    """
    df = _frame(data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    sources = [s for s in pd.unique(df["source"].astype(object)) if pd.notna(s)]
    for i, source in enumerate(sources, 1):
        sub = df[(df["source"] == source).to_numpy()]
        sub.attrs = dict(df.attrs)
        fig = _timeline_fig(sub, k=k)
        if fig is None:
            continue
        path = out / f"timeline-{i}-{_slug(str(source))}.png"
        path.write_bytes(_png(fig, dpi=dpi))
        paths.append(path)
    return paths


# -- HTML -----------------------------------------------------------------------------


def _esc(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return html.escape(str(value))


def _table(df: pd.DataFrame, *, floats: str = "{:.3f}") -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
    rows = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                text = "" if pd.isna(v) else floats.format(v)
                cells.append(f'<td class="num">{text}</td>')
            elif isinstance(v, int):
                cells.append(f'<td class="num">{v}</td>')
            else:
                cells.append(f"<td>{_esc(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _img(png: bytes, alt: str, caption: str) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{_esc(alt)}" src="data:image/png;base64,{b64}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _overview(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (source, model), sub in df.groupby(["source", "model"], observed=True):
        begin = sub["begin"].min() if "begin" in sub else float("nan")
        end = sub["end"].max() if "end" in sub else float("nan")
        rows.append(
            {
                "source": source,
                "model": model,
                "files": int(sub["file"].nunique()),
                "groups": int(sub["group"].nunique()),
                "segments": int(sub.drop_duplicates(list(_BY) + ["segment"]).shape[0]),
                "scores": int(len(sub)),
                "from (s)": float(begin),
                "to (s)": float(end),
            }
        )
    return pd.DataFrame(rows)


def _tops(df: pd.DataFrame, k: int) -> pd.DataFrame:
    top = top_emotions(df, k=k)
    keys = [c for c in _BY if c in top]
    top = top.astype({c: str for c in keys})
    out = (
        top.groupby(keys, sort=False)
        .apply(
            lambda g: ", ".join(
                f"{n} {m:.2f}" for n, m in zip(g["name"], g["mean"], strict=True)
            ),
            include_groups=False,
        )
        .rename(f"top {k} (mean score)")
        .reset_index()
    )
    return out


def _summary(df: pd.DataFrame, k: int) -> pd.DataFrame:
    top = top_emotions(df, k=k)
    keys = [c for c in _BY if c in top]
    emo = df[(df["family"] == "emotions").to_numpy()]
    summ = summarize(emo)
    summ = (
        summ.merge(top[[*keys, "name"]].astype(str), on=[*keys, "name"])
        if len(summ)
        else summ
    )
    cols = [*keys, "name", "n", "mean", "sd", "ci_low", "ci_high", "max", "max_time"]
    cols += ["weighted_mean"] if "weighted_mean" in summ else []
    summ = summ.astype({c: str for c in keys})[cols]
    return summ.rename(
        columns={
            "ci_low": "95% CI low",
            "ci_high": "95% CI high",
            "max_time": "time of max (s)",
            "weighted_mean": "time-weighted mean",
        }
    )


def render_report(data, *, title: str | None = None, k: int = 5) -> str:
    """The HTML text of :func:`write_report` (same parameters, no file)."""
    df = _frame(data)
    attrs = dict(df.attrs)
    simulated = is_simulated(df, None)
    title = title or "humelab report"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
    ]
    made = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    engine = attrs.get("engine")
    parts.append(
        f'<p class="caveat">Made by humelab {_esc(__version__)} on {made}'
        + (f"; engine: <code>{_esc(engine)}</code>" if engine else "")
        + f". {_esc(len(df))} scores.</p>"
    )
    if simulated:
        scripts = attrs.get("scripts") or {}
        note = (
            " They follow the scripts given with "
            + ", ".join(f"<code>{_esc(f)}</code>" for f in scripts)
            + " (what the simulation was told to perceive)."
            if scripts
            else ""
        )
        parts.append(
            '<p class="simulated" id="simulated">SIMULATED: these scores are '
            "synthetic stand-ins from humelab's simulated engine, for teaching and "
            f"tests, not measurements.{note}</p>"
        )
    parts.append(f'<p class="caveat" id="caveat">{_esc(_CAVEAT)}</p>')
    if df.empty:
        parts.append("<p>No scores in this frame.</p></body></html>")
        return "\n".join(parts)
    parts += ["<h2>Overview</h2>", _table(_overview(df), floats="{:.2f}")]
    emo = df[(df["family"] == "emotions").to_numpy()]
    if not emo.empty:
        parts += [
            f"<h2>Top {k} expressions</h2>",
            "<p>Per file, model and face or speaker: the dimensions with the highest "
            "mean score over segments (a mean, never a sum).</p>",
            _table(_tops(emo, k)),
            "<h2>Summary</h2>",
            "<p>Those dimensions in detail: number of segments, mean, standard "
            "deviation, 95% confidence interval of the mean, maximum and its time, "
            "and the mean weighted by segment length.</p>",
            _table(_summary(emo, k)),
        ]
    figures = _figures(df, k)
    if figures:
        parts += ["<h2>Plots</h2>", *figures]
    parts.append(f'<p class="caveat">{_esc(NOTE)}</p></body></html>')
    return "\n".join(parts)


def _figures(df: pd.DataFrame, k: int) -> list[str]:
    out = []
    sources = [s for s in pd.unique(df["source"].astype(object)) if pd.notna(s)]
    for source in sources:
        sub = df[(df["source"] == source).to_numpy()]
        sub.attrs = dict(df.attrs)
        fig = _timeline_fig(sub, k=k)
        if fig is not None:
            out.append(
                _img(
                    _png(fig), f"plot of {source}", f"{source}: its top {k} expressions"
                )
            )
    emo = df[(df["family"] == "emotions").to_numpy()]
    if emo["file"].nunique() > 1:
        try:
            ax = plot_heatmap(emo, kind="files", k=min(15, max(k, 10)))
        except InputError:
            ax = None
        if ax is not None:
            out.append(
                _img(_png(ax.figure), "heatmap", "mean score per file and dimension")
            )
    return out


def write_report(data, out, *, title: str | None = None, k: int = 5) -> Path:
    """Write a one-page, self-contained HTML report of results.

    The page holds an overview (sources, models, segments, time span), the top
    ``k`` expressions per file, model and face or speaker
    (:func:`humelab.top_emotions`), their summary statistics
    (:func:`humelab.summarize`), a timeline per source and a files-by-dimensions
    heatmap (:mod:`humelab.plotting`), embedded as ``data:``
    PNGs. It loads nothing from the network. It states that scores describe
    perceived expression, not felt emotion, and shows a SIMULATED banner when
    ``data.attrs`` says the scores are simulated (naming the scripts they followed).

    Parameters
    ----------
    data : pandas.DataFrame, path, bytes
        A tidy long frame (see :mod:`humelab.schema`), or a predictions JSON or
        artifacts zip (a path or its bytes), read with :func:`humelab.read_predictions`
        or :func:`humelab.read_artifacts`.
    out : str or path-like
        The HTML file to write (ending ``.html`` or ``.htm``); any other path is a
        folder that gets ``report.html`` inside it. Folders are created.
    title : str, optional
        Page title (default "humelab report").
    k : int, default 5
        Dimensions per table row and plot.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    SchemaError
        ``data`` is a frame but not a tidy long frame.
    ReadError
        ``data`` is a file that is neither predictions JSON nor an artifacts zip.

    See Also
    --------
    timeline_pngs : the timelines as separate PNG files.

    Examples
    --------
    >>> import humelab
    >>> from humelab.report import write_report
    >>> write_report(humelab.load_example("faces"), "report.html")  # doctest: +SKIP
    PosixPath('report.html')
    """
    text = render_report(data, title=title, k=k)
    path = Path(out)
    if path.suffix.lower() not in (".html", ".htm"):
        path = path / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
