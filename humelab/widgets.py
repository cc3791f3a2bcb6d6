"""ipywidgets panels: :func:`explore` for a tidy frame, :func:`jobs_panel` for a client.

Both panels are ordinary ipywidgets 8 boxes: display them in Jupyter or Voila. Their
controls are attributes (``panel.file``, ``panel.view``, ``panel.cursor``, ...), so
code and tests drive them by setting values, and read what changed from
``panel.figure`` / ``panel.ax`` (a matplotlib Figure drawn with Agg and shown as a
PNG in ``panel.plot``, so no interactive backend is needed). A change redraws only
what it touches: a new selection rebuilds the data, a new dimension set or view the
artists, the time range only the axis limits, the cursor only its line, the
transcript and the media still.

Scores describe perceived expression, not felt emotion; frames that came from the
``simulated`` engine (``df.attrs["simulated"]``) are labelled SIMULATED.
"""

from __future__ import annotations

import html
import io
import os
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage  # matplotlib depends on Pillow

from . import _widget_data as wd
from ._widget_jobs import JobsPanel
from .errors import HumelabError, InputError
from .schema import validate

__all__ = ["explore", "jobs_panel", "ExplorePanel", "JobsPanel"]

PERCEIVED_NOTE = "Scores describe perceived expression, not felt emotion."
VIEWS = ("lines", "heatmap")


def explore(
    data: pd.DataFrame,
    *,
    file: str | None = None,
    model: str | None = None,
    group: str | None = None,
    family: str = "emotions",
    k: int = 5,
    dims: Sequence[str] | None = None,
    smooth: float = 0.0,
    view: str = "lines",
    media: Mapping[str, Any] | str | os.PathLike | None = None,
    simulated: bool | None = None,
) -> ExplorePanel:
    """A panel to step through a tidy frame's scores over time.

    Parameters
    ----------
    data : pandas.DataFrame
        A tidy long frame (see `humelab.schema`), from any reader or job.
    file : str, optional
        The file to show first (a ``file`` or ``source`` value); default the first.
    model : str, optional
        The model to show first (``face``, ``prosody``, ...); default the first.
    group : str, optional
        The face or speaker to show first (``face_0``, ``spk_1``); default the first.
    family : str
        The score family to show first, when the selection has it.
    k : int
        How many dimensions to draw when none are chosen: the ``k`` with the highest
        mean score (1 to 20).
    dims : sequence of str, optional
        Dimensions to draw instead of the top ``k``.
    smooth : float
        Width in seconds of a centred moving mean (0: raw scores).
    view : {"lines", "heatmap"}
        Lines over time, or a dimensions x time heatmap.
    media : mapping or folder, optional
        Where the media are: a folder, or a mapping of source or file names to
        paths. For an image or video source found there, the panel shows the
        picture at the cursor (needs the ``service`` extra: PyAV, Pillow).
    simulated : bool, optional
        Label the scores as simulated; default from ``data.attrs`` (``simulated``
        true, or ``engine == "simulated"``), which the readers set.

    Returns
    -------
    ExplorePanel
        An ipywidgets ``VBox``; display it, or set its controls from code.

    Raises
    ------
    SchemaError
        ``data`` is not a tidy long frame (the message says how to convert it).
    InputError
        An option names a file, model, group, family, dimension or view that is not
        in ``data``; the message lists the ones that are.

    Examples
    --------
    >>> panel = humelab.explore(df)                 # doctest: +SKIP
    >>> panel.view.value = "heatmap"                # doctest: +SKIP
    >>> panel.cursor.value = 12.5                   # doctest: +SKIP
    """
    return ExplorePanel(
        data,
        file=file,
        model=model,
        group=group,
        family=family,
        k=k,
        dims=dims,
        smooth=smooth,
        view=view,
        media=media,
        simulated=simulated,
    )


def _choose(what: str, value: Any, options: Sequence[Any], shown: Sequence[str]):
    """``value`` if it is one of ``options`` (by value or label), else an error."""
    for opt, label in zip(options, shown, strict=True):
        if value == opt or value == label:
            return opt
    if isinstance(value, str):
        for opt in options:
            if isinstance(opt, tuple) and value in opt[1:]:
                return opt
    raise InputError(
        f"`{what}`={value!r} is not in this frame; it has "
        + ", ".join(repr(s) for s in shown)
        + f". Pick one of those, or leave `{what}` out for the first."
    )


class ExplorePanel(widgets.VBox):
    """The panel :func:`explore` returns; its controls are attributes.

    Attributes
    ----------
    file, model, group, family : ipywidgets.Dropdown
        The selection. ``file.value`` is a ``(job_id, source, file)`` tuple.
    k : ipywidgets.IntSlider
        How many top dimensions to draw when ``dims`` is empty.
    dims : ipywidgets.SelectMultiple
        Dimensions to draw (ranked by mean score); empty means the top ``k``.
    smooth : ipywidgets.FloatSlider
        Moving-mean window in seconds (0: off).
    time_range : ipywidgets.FloatRangeSlider
        The time shown (seconds; segment index for text without times).
    view : ipywidgets.ToggleButtons
        ``"lines"`` or ``"heatmap"``.
    cursor : ipywidgets.FloatSlider
        A time; the transcript and the media still follow it.
    transcript : ipywidgets.HTML
        The text segments around the cursor.
    media : ipywidgets.Image
        The picture at the cursor (hidden when no media is at hand).
    plot : ipywidgets.Image
        The figure as a PNG.
    note : ipywidgets.HTML
        The perceived-expression note, and SIMULATED when the scores are.
    figure : matplotlib.figure.Figure
        The one figure the panel draws into (``panel.ax`` is its data axes).
    renders : int
        How many times the figure was drawn (one per control change).
    """

    def __init__(
        self,
        data: pd.DataFrame,
        *,
        file=None,
        model=None,
        group=None,
        family="emotions",
        k=5,
        dims=None,
        smooth=0.0,
        view="lines",
        media=None,
        simulated=None,
    ):
        validate(data, shape="long", caller="explore")
        if not len(data):
            raise InputError(
                "`explore` got an empty frame (0 rows); read a job or file with "
                "scores, e.g. `humelab.read_predictions(path)`."
            )
        if view not in VIEWS:
            raise InputError(f"`view` must be 'lines' or 'heatmap'; got {view!r}.")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 20:
            raise InputError(f"`k` must be an int from 1 to 20; got {k!r}.")
        if not isinstance(smooth, (int, float)) or smooth < 0:
            raise InputError(f"`smooth` must be seconds >= 0; got {smooth!r}.")
        if simulated is None:  # as the readers mark it (see the README)
            attrs = data.attrs
            simulated = bool(attrs.get("simulated")) or attrs.get("engine") == (
                "simulated"
            )
        self.simulated = bool(simulated)
        self._index = wd.FrameIndex(data)
        self._finder = wd.MediaFinder(media)
        self._reader = wd.FrameReader()
        self._keys = self._index.keys()
        self._holding = False
        self.renders = 0
        self.track = wd.Track(*([np.empty(0)] * 4), [])  # replaced in _load
        self._transcript = pd.DataFrame()
        self._media_at: tuple[Any, str | None] = (None, None)

        files = list(dict.fromkeys(key[:3] for key in self._keys))
        several_jobs = len({f[0] for f in files}) > 1
        wide = {"description_width": "initial"}
        self.file = widgets.Dropdown(
            options=[(_file_label(f, several_jobs), f) for f in files],
            description="file",
            style=wide,
            layout=widgets.Layout(width="34%"),
        )
        self.model = widgets.Dropdown(description="model", style=wide)
        self.group = widgets.Dropdown(description="face/speaker", style=wide)
        self.family = widgets.Dropdown(description="family", style=wide)
        for w in (self.model, self.group, self.family):
            w.layout = widgets.Layout(width="22%")
        # sliders that redraw everything update on release; the cursor (a blit)
        # follows the drag
        self.k = widgets.IntSlider(
            value=k, min=1, max=20, description="top k", continuous_update=False
        )
        self.dims = widgets.SelectMultiple(
            description="dims", rows=4, layout=widgets.Layout(width="30%")
        )
        self.smooth = widgets.FloatSlider(
            value=0.0,
            min=0.0,
            max=10.0,
            step=0.1,
            description="smooth (s)",
            continuous_update=False,
        )
        self.view = widgets.ToggleButtons(options=list(VIEWS), value=view)
        self.view.style.button_width = "80px"
        self.time_range = widgets.FloatRangeSlider(
            description="time (s)",
            continuous_update=False,
            readout_format=".1f",
            layout=widgets.Layout(width="50%"),
        )
        self.cursor = widgets.FloatSlider(
            description="cursor",
            readout_format=".2f",
            layout=widgets.Layout(width="50%"),
        )
        self.transcript = widgets.HTML()
        self.media = widgets.Image(format="png", layout=widgets.Layout(display="none"))
        self.plot = widgets.Image(format="png")
        self.note = widgets.HTML(_note_html(self.simulated))

        self.figure = Figure(figsize=(9.0, 3.6), dpi=72)
        FigureCanvasAgg(self.figure)
        # One axes per view, kept for the panel's life: a change updates artists
        # in place (no clearing), and switching the view only swaps visibility.
        self._line_ax = self.figure.add_axes((0.07, 0.17, 0.68, 0.72))
        self._heat_ax = self.figure.add_axes((0.15, 0.17, 0.6, 0.72))
        self._cax = self.figure.add_axes((0.76, 0.17, 0.012, 0.72))
        self._line_ax.set_ylabel("score")
        self._lines: list = []
        self._legend_for: tuple[str, ...] = ()
        self._image = None
        # animated: left out of full draws and blitted over a saved background
        self._cursors = {
            ax: ax.axvline(
                0.0, color="black", lw=0.8, ls="--", label="_cursor", animated=True
            )
            for ax in (self._line_ax, self._heat_ax)
        }
        self._background = None
        self._foot = self.figure.text(0.01, 0.015, PERCEIVED_NOTE, fontsize=8)
        if self.simulated:
            self.figure.text(
                0.99,
                0.96,
                "SIMULATED",
                color="#b00020",
                fontsize=10,
                fontweight="bold",
                ha="right",
                va="top",
            )

        with self._hold():
            first = files[0]
            if file is not None:
                first = _choose("file", file, files, [f[2] for f in files])
            self.file.value = first
            self._sync_pickers(model=model, group=group, family=family)
        self._load(dims=dims, smooth=smooth)

        for w in (self.file, self.model, self.group, self.family):
            w.observe(self._on_pick, names="value")
        for w in (self.k, self.dims, self.smooth, self.view):
            w.observe(self._on_artists, names="value")
        self.time_range.observe(self._on_range, names="value")
        self.cursor.observe(self._on_cursor, names="value")

        pickers = widgets.HBox([self.file, self.model, self.group, self.family])
        shaping = widgets.HBox([self.k, self.dims, self.smooth, self.view])
        picture = widgets.HBox([self.plot, self.media])
        sliders = widgets.HBox([self.time_range, self.cursor])
        super().__init__(
            [pickers, shaping, picture, sliders, self.transcript, self.note]
        )
        self.add_class("humelab-explore")

    # -- state ---------------------------------------------------------------------

    @contextmanager
    def _hold(self):
        """Batch control changes made by the panel itself (no redraw until done)."""
        was, self._holding = self._holding, True
        try:
            yield
        finally:
            self._holding = was

    def _matching(self, depth: int) -> list[tuple]:
        sel = (*self.file.value, self.model.value, self.group.value)[:depth]
        return [key for key in self._keys if key[:depth] == sel]

    def _sync_pickers(self, *, model=None, group=None, family=None) -> None:
        """Options of model, group and family for the current file (keeping values)."""
        for depth, name, picker, wanted in (
            (3, "model", self.model, model),
            (4, "group", self.group, group),
            (5, "family", self.family, family),
        ):
            options = list(dict.fromkeys(key[depth] for key in self._matching(depth)))
            keep = picker.value if picker.value in options else options[0]
            if wanted is not None:
                if picker is self.family and wanted not in options:
                    wanted = None  # a family this selection lacks: its first one
                else:
                    keep = _choose(name, wanted, options, options)
            picker.options = options
            picker.value = keep

    @property
    def selection(self) -> tuple:
        """``(job_id, source, file, model, group, family)`` shown now."""
        return (*self.file.value, self.model.value, self.group.value, self.family.value)

    @property
    def shown(self) -> tuple[str, ...]:
        """The dimensions drawn now (chosen ones, else the top ``k`` by mean)."""
        if self.dims.value:
            return tuple(self.dims.value)
        return tuple(self.dims.options[: self.k.value])

    # -- handlers ------------------------------------------------------------------

    def _on_pick(self, change) -> None:
        if self._holding:
            return
        with self._hold():
            self._sync_pickers()
        self._load()

    def _on_artists(self, change) -> None:
        if not self._holding:
            self._draw()
            self._render()

    def _on_range(self, change) -> None:
        if not self._holding:
            self._zoom()
            self._render()

    def _on_cursor(self, change) -> None:
        if not self._holding:
            self._move_cursor()
            self._render(full=False)

    # -- drawing -------------------------------------------------------------------

    def _load(self, *, dims=None, smooth=None) -> None:
        """A new selection: its data, the controls' ranges, then a full redraw."""
        self.track = self._index.track(self.selection)
        job_id, source, file = self.file.value
        self._transcript = self._index.transcript(
            job_id, source, file, prefer=self.model.value
        )
        lo, hi = self.track.span
        ranked = self.track.ranked()
        # chosen dimensions stay chosen where the new selection has them
        kept = tuple(d for d in self.dims.value if d in set(ranked))
        with self._hold():
            self.dims.options = ranked
            if dims is not None:
                missing = [d for d in dims if d not in ranked]
                if missing:
                    raise InputError(
                        f"`dims` {missing} are not in {self.family.value!r} of this "
                        f"selection; it has {ranked[:8]}... Leave `dims` out for the "
                        "top `k`."
                    )
                self.dims.value = tuple(dims)
            else:
                self.dims.value = kept
            timed = self.track.timed
            top = max(1.0, round((hi - lo) / 20.0, 1)) if timed else 0.0
            self.smooth.disabled = not timed
            width = self.smooth.value if smooth is None else smooth
            if smooth is not None and timed:  # asked for: never cut it short
                top = max(top, float(smooth))
            step = top / 100 if timed else 0.1
            _set_range(self.smooth, 0.0, top, min(width, top), step=step)
            step = (hi - lo) / 1000.0
            label = "time (s)" if timed else "segment"
            self.time_range.description = label
            _set_range(self.time_range, lo, hi, (lo, hi), step=step)
            first = 0.0 if not self.track.timed else float(self.track.begin[0])
            start = first if len(self.track.begin) else lo
            _set_range(self.cursor, lo, hi, start, step=step)  # on the first segment
        self._media_at = (None, None)
        path = self._finder.find(source, file)
        self._media_path, self._media_kind = path, wd.media_kind(path)
        self.media.layout.display = None if self._media_kind else "none"
        self._draw()
        self._render()

    @property
    def ax(self):
        """The matplotlib Axes of the current view."""
        return self._line_ax if self.view.value == "lines" else self._heat_ax

    def _draw(self) -> None:
        """Update the artists for the shown dimensions and view (no clearing)."""
        track, shown = self.track, self.shown
        window = self.smooth.value if track.timed else 0.0
        columns = np.empty((len(track.begin), 0))
        if shown:
            columns = np.column_stack(
                [wd.smooth(track, track.column(n), window) for n in shown]
            )
        self._columns, self._series = columns, []
        lines = self.view.value == "lines"
        self._line_ax.set_visible(lines)
        self._heat_ax.set_visible(not lines)
        self._cax.set_visible(not lines and self._image is not None)
        if lines:
            self._draw_lines(shown, columns)
        else:
            self._draw_heatmap(shown, columns)
        ax = self.ax
        ax.set_xlabel("time (s)" if track.timed else "segment")
        job_id, source, file, model, group, family = self.selection
        title = f"{file} · {model} · {group} · {family}"
        if window > 0:
            title += f" · smoothed {window:g} s"
        if self.simulated:
            title += " · SIMULATED scores"
        ax.set_title(title, fontsize=10)
        ax.set_xlim(*self.time_range.value)
        self._move_cursor()

    def _draw_lines(self, shown, columns) -> None:
        ax, track = self._line_ax, self.track
        lo, hi = self.time_range.value
        for j, name in enumerate(shown):
            x, y = wd.line_xy(track, columns[:, j])
            self._series.append((x, y))
            if j == len(self._lines):
                (line,) = ax.plot([], [], lw=1.2, color=f"C{j % 10}")
                self._lines.append(line)
            self._lines[j].set_data(*wd.decimate(x, y, lo, hi))
            self._lines[j].set_label(name)
            # a few points (a still image, two utterances) would be invisible dashes
            self._lines[j].set_marker("o" if len(track.begin) <= 3 else "None")
        while len(self._lines) > len(shown):
            self._lines.pop().remove()
        legend = ax.get_legend()
        if legend is not None and self._legend_for == shown:
            return self._line_limits(ax, columns)  # the same names: keep the legend
        if legend is not None:
            legend.remove()
        self._legend_for = shown
        if shown:
            ax.legend(
                handles=self._lines,
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                fontsize=8,
                frameon=False,
            )
        self._line_limits(ax, columns)

    @staticmethod
    def _line_limits(ax, columns) -> None:
        finite = columns[np.isfinite(columns)]
        bottom, top = (finite.min(), finite.max()) if len(finite) else (0.0, 1.0)
        pad = 0.05 * (top - bottom) or 0.05
        ax.set_ylim(bottom - pad, top + pad)

    def _draw_heatmap(self, shown, columns) -> None:
        ax = self._heat_ax
        mat, (left, right) = wd.grid(self.track, columns, window=self._window())
        data = np.ma.masked_invalid(mat)
        extent = (left, right, len(shown) - 0.5, -0.5)
        if self._image is None:
            self._image = ax.imshow(
                data,
                aspect="auto",
                interpolation="nearest",
                extent=extent,
                cmap="viridis",
            )
            self.figure.colorbar(self._image, cax=self._cax, label="score")
            self._cax.set_visible(True)
        else:
            self._image.set_data(data)
            self._image.set_extent(extent)
        if data.count():
            self._image.set_clim(float(data.min()), float(data.max()))
        ax.set_yticks(range(len(shown)), shown, fontsize=8)
        ax.set_ylim(len(shown) - 0.5, -0.5)

    def _window(self) -> tuple[float, float] | None:
        """The time range when it is narrower than the whole track, else None."""
        lo, hi = self.time_range.value
        return None if (lo, hi) == self.track.span else (lo, hi)

    def _zoom(self) -> None:
        """Show the time range: new limits, and the thinned lines or grid for it."""
        lo, hi = self.time_range.value
        if self.view.value == "lines":
            for line, (x, y) in zip(self._lines, self._series, strict=True):
                line.set_data(*wd.decimate(x, y, lo, hi))
        elif self._image is not None:
            mat, (left, right) = wd.grid(
                self.track, self._columns, window=self._window()
            )
            self._image.set_data(np.ma.masked_invalid(mat))
            self._image.set_extent((left, right, mat.shape[0] - 0.5, -0.5))
            self._heat_ax.set_ylim(mat.shape[0] - 0.5, -0.5)
        self.ax.set_xlim(lo, hi)

    def _move_cursor(self) -> None:
        """Move the cursor line; update the transcript and the media still."""
        t = self.cursor.value
        for line in self._cursors.values():
            line.set_xdata([t, t])
        self.transcript.value = _transcript_html(self._transcript, t, self.track.timed)
        if self._media_kind:
            at = (self._media_path, None if self._media_kind == "image" else t)
            if at != self._media_at:
                try:
                    self.media.value = self._reader.still(
                        self._media_path, self._media_kind, t
                    )
                    self._media_at = at
                except (HumelabError, OSError, ValueError) as exc:
                    self.transcript.value += f"<i>media: {html.escape(str(exc))}</i>"

    def _render(self, *, full: bool = True) -> None:
        """Draw the figure into :attr:`plot` as a PNG.

        A full draw renders every artist but the cursor and keeps that picture; a
        cursor move (``full=False``) pastes it back and draws only the cursor.
        """
        canvas = self.figure.canvas
        if full or self._background is None:
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.figure.bbox)
        else:
            canvas.restore_region(self._background)
        self.ax.draw_artist(self._cursors[self.ax])
        width, height = canvas.get_width_height()
        picture = PILImage.frombuffer(
            "RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1
        )
        buf = io.BytesIO()
        picture.save(buf, format="PNG", compress_level=1)
        self.plot.value = buf.getvalue()
        self.renders += 1

    def close(self) -> None:
        """Close the panel's widgets and any open video."""
        if hasattr(self, "_reader"):  # absent when __init__ raised
            self._reader.close()
        for w in self.children:
            w.close()
        super().close()


def _file_label(key: tuple, several_jobs: bool) -> str:
    job_id, source, file = key
    label = (
        file if source == file or source in ("text", "file") else f"{source} / {file}"
    )
    return f"{job_id}: {label}" if several_jobs and job_id else label


def _note_html(simulated: bool) -> str:
    text = html.escape(PERCEIVED_NOTE)
    if simulated:
        text = (
            '<b style="color:#b00020">SIMULATED scores</b> (synthetic, from the '
            f"simulated engine; not a measurement). {text}"
        )
    return f'<span class="humelab-note" style="font-size:90%">{text}</span>'


def _set_range(slider, lo: float, hi: float, value, *, step: float) -> None:
    """Set a slider's bounds and value in one go (no out-of-range state between)."""
    with slider.hold_trait_notifications():
        if lo > slider.max:
            slider.max, slider.min = hi, lo
        else:
            slider.min, slider.max = lo, hi
        slider.step = step if step > 0 else 0.01
        slider.value = value


def _transcript_html(segments: pd.DataFrame, t: float, timed: bool) -> str:
    """The text segments around time ``t`` (two before, the current, two after)."""
    if not len(segments):
        return '<span class="humelab-transcript"><i>no transcript</i></span>'
    pos = segments["begin"].to_numpy() if timed else segments["segment"].to_numpy()
    if timed and segments["begin"].isna().any():
        pos = segments["segment"].to_numpy()
        timed = False
    i = int(np.searchsorted(pos, t, side="right")) - 1
    lines = []
    for j in range(max(0, i - 2), min(len(segments), i + 3)):
        row = segments.iloc[j]
        inside = j == i and (not timed or t <= row["end"])
        when = (
            f"{row['begin']:.1f}–{row['end']:.1f} s" if timed else f"#{row['segment']}"
        )
        who = "" if row["group"] in ("unknown", None) else f"{row['group']}: "
        text = html.escape(str(row["text"]))
        line = f"<span style='color:#666'>{when}</span> {html.escape(who)}{text}"
        lines.append(f"<b>▶ {line}</b>" if inside else f"&nbsp;&nbsp;{line}")
    return '<div class="humelab-transcript">' + "<br>".join(lines) + "</div>"


def jobs_panel(client, *, explore: bool = True) -> JobsPanel:
    """A panel of the jobs this machine submitted, to refresh and load results.

    Parameters
    ----------
    client : humelab.Client
        Whose ledger to show (``client.jobs()``) and whose service to ask.
    explore : bool
        Open :func:`explore` on a job's frame once it is loaded.

    Returns
    -------
    JobsPanel
        An ipywidgets ``VBox``: a table of jobs with their state, a refresh button,
        a picker of finished jobs and a button that loads one (``panel.frame``).

    Raises
    ------
    InputError
        ``client`` is not a :class:`humelab.Client`.

    Examples
    --------
    >>> panel = humelab.jobs_panel(humelab.Client())   # doctest: +SKIP
    >>> panel.load(panel.job.value)                    # doctest: +SKIP
    """
    return JobsPanel(client, opener=ExplorePanel if explore else None)
