"""The data side of the explore panel: one selection of a tidy frame as a score matrix.

Private machinery for :mod:`humelab.widgets`. Everything here is plain numpy on
arrays taken once from the tidy frame (see `humelab.schema`), so a control change
costs a few milliseconds even on an hour of predictions: the panel indexes the frame
once, and each selection (job, source, file, model, group, family) becomes a
:class:`Track`, a matrix of segments x dimensions with the segments' times and texts.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

__all__: list[str] = []

#: The keys of one selection, in picker order.
KEYS = ("job_id", "source", "file", "model", "group", "family")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".mpg"})
#: Models whose segments carry text, in the order the transcript prefers them.
TEXT_MODELS = ("language", "prosody", "burst", "ner")


@dataclass
class Track:
    """One selection: ``values[i, j]`` is segment ``i``'s score for ``names[j]``.

    Segments are sorted by time (input order when the frame has no times).
    ``begin``/``end`` are seconds (NaN without time), ``instants`` says every segment
    is a point in time (face frames), ``texts`` holds each segment's text or None.
    """

    names: np.ndarray
    values: np.ndarray
    begin: np.ndarray
    end: np.ndarray
    texts: list[str | None]

    @property
    def timed(self) -> bool:
        """Whether the segments have times (text input has none)."""
        return bool(len(self.begin)) and bool(np.isfinite(self.begin).all())

    @property
    def instants(self) -> bool:
        """Whether every segment is an instant (``begin == end``, face frames)."""
        return self.timed and bool(np.all(self.begin == self.end))

    @property
    def x(self) -> np.ndarray:
        """Each segment's position: its midpoint in seconds, else its index."""
        if self.timed:
            return (self.begin + self.end) / 2.0
        return np.arange(len(self.begin), dtype=float)

    @property
    def span(self) -> tuple[float, float]:
        """The first begin and last end (indices without times)."""
        if not len(self.begin):
            return 0.0, 1.0
        if self.timed:
            lo, hi = float(np.min(self.begin)), float(np.max(self.end))
        else:
            lo, hi = 0.0, float(len(self.begin) - 1)
        return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)  # one instant: centred

    def means(self) -> np.ndarray:
        """The true mean of each dimension over the segments that have it."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.values, axis=0)

    def ranked(self) -> list[str]:
        """Dimension names by mean score, highest first."""
        order = np.argsort(-np.nan_to_num(self.means(), nan=-np.inf), kind="stable")
        return [str(self.names[j]) for j in order]

    def column(self, name: str) -> np.ndarray:
        """The scores of one dimension, one per segment (NaN where it is absent)."""
        hit = np.flatnonzero(self.names == name)
        if not len(hit):
            return np.full(len(self.begin), np.nan)
        return self.values[:, hit[0]]


class FrameIndex:
    """A tidy frame indexed once by selection, with its columns as numpy arrays."""

    def __init__(self, data: pd.DataFrame):
        keys = data[list(KEYS)]
        self.groups: dict[tuple, np.ndarray] = {
            tuple(_clean(v) for v in key): idx
            for key, idx in keys.groupby(
                list(KEYS), observed=True, dropna=False, sort=False
            ).indices.items()
        }
        self.segment = data["segment"].to_numpy()
        self.begin = data["begin"].to_numpy(dtype=float, na_value=np.nan)
        self.end = data["end"].to_numpy(dtype=float, na_value=np.nan)
        self.score = data["score"].to_numpy(dtype=float)
        names = data["name"].astype("category")
        self.name_codes = names.cat.codes.to_numpy()
        self.name_labels = np.asarray(names.cat.categories, dtype=object)
        text = data["text"].astype("category")
        self.text_codes = text.cat.codes.to_numpy()
        self.text_labels = [str(t) for t in text.cat.categories]
        self._tracks: dict[tuple, Track] = {}
        self._transcripts: dict[tuple, pd.DataFrame] = {}

    def keys(self) -> list[tuple]:
        """Every selection present, in the frame's order."""
        return list(self.groups)

    def track(self, key: tuple) -> Track:
        """The :class:`Track` of one selection ``(job_id, source, ..., family)``."""
        if key in self._tracks:
            return self._tracks[key]
        idx = self.groups.get(key)
        if idx is None or not len(idx):
            empty = np.empty(0)
            return Track(np.empty(0, dtype=object), np.empty((0, 0)), empty, empty, [])
        useg, row = _dense(self.segment[idx])
        ucode, col = _dense(self.name_codes[idx])
        values = np.full((len(useg), len(ucode)), np.nan)
        values[row, col] = self.score[idx]
        begin = np.full(len(useg), np.nan)
        end = np.full(len(useg), np.nan)
        begin[row] = self.begin[idx]
        end[row] = self.end[idx]
        tcode = np.full(len(useg), -1)
        tcode[row] = self.text_codes[idx]
        if np.isfinite(begin).all():
            order = np.argsort(begin, kind="stable")
            values, begin, end, tcode = (
                values[order],
                begin[order],
                end[order],
                tcode[order],
            )
        texts = [self.text_labels[c] if c >= 0 else None for c in tcode]
        track = Track(self.name_labels[ucode], values, begin, end, texts)
        if len(self._tracks) >= 16:  # a few recent selections, for switching back
            self._tracks.pop(next(iter(self._tracks)))
        self._tracks[key] = track
        return track

    def transcript(self, job_id, source, file, *, prefer: str) -> pd.DataFrame:
        """The text segments of one file: ``begin, end, group, text``, by time.

        Taken from ``prefer`` when that model has text there, else from the first of
        :data:`TEXT_MODELS` that has. Empty when the file has no text.
        """
        cached = self._transcripts.get((job_id, source, file, prefer))
        if cached is None:
            cached = self._transcripts[job_id, source, file, prefer] = self._text(
                job_id, source, file, prefer
            )
        return cached

    def _text(self, job_id, source, file, prefer: str) -> pd.DataFrame:
        models = [prefer] + [m for m in TEXT_MODELS if m != prefer]
        for model in models:
            rows = []
            for key, idx in self.groups.items():
                if key[:4] != (job_id, source, file, model):
                    continue
                seg = self.segment[idx]
                first = np.full(int(seg.max()) + 1, -1)
                first[seg[::-1]] = idx[::-1]  # the last write wins: the first row
                useg = np.flatnonzero(first >= 0)
                pick = first[useg]
                codes = self.text_codes[pick]
                keep = codes >= 0
                rows.append(
                    pd.DataFrame(
                        {
                            "segment": useg[keep],
                            "begin": self.begin[pick][keep],
                            "end": self.end[pick][keep],
                            "group": key[4],
                            "text": [self.text_labels[c] for c in codes[keep]],
                        }
                    )
                )
            if rows:
                out = pd.concat(rows, ignore_index=True)
                out = out.drop_duplicates(["group", "segment"])
                if len(out):
                    by = "begin" if out["begin"].notna().all() else "segment"
                    return out.sort_values([by, "group"], kind="stable").reset_index(
                        drop=True
                    )
        return pd.DataFrame(columns=["segment", "begin", "end", "group", "text"])


def _dense(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for small ints >= 0, in O(n)."""
    present = np.zeros(int(values.max()) + 1, dtype=bool)
    present[values] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[values]


def _clean(value: Any) -> Any:
    """A key part as a plain value (None for a missing one)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


# -- series for drawing ----------------------------------------------------------


def smooth(track: Track, column: np.ndarray, window: float) -> np.ndarray:
    """Centred moving mean over ``window`` seconds, as ``humelab.smooth`` computes it.

    Each segment's value becomes the mean of the values whose ``begin`` lies within
    ``window / 2`` of its own (``humelab.smooth(df, window=f"{window}s")``, done on
    one track's matrix so the panel stays fast); missing values are skipped, never
    counted as 0, and a segment without a value stays missing. ``window <= 0`` or a
    track without times returns ``column``.
    """
    if window <= 0 or len(column) < 2 or not track.timed:
        return column
    x = track.begin
    lo = np.searchsorted(x, x - window / 2.0, side="left")
    hi = np.searchsorted(x, x + window / 2.0, side="right")
    ok = np.isfinite(column)
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, column, 0.0))])
    cnt = np.concatenate([[0], np.cumsum(ok)])
    n = cnt[hi] - cnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (csum[hi] - csum[lo]) / n
    return np.where(ok, out, np.nan)


def line_xy(track: Track, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points to draw one dimension, with NaN breaks where the recording has gaps.

    Face frames (instants) are joined point to point; a step longer than 1.5 times
    the usual one is a gap. Intervals (utterances, words) are drawn as flat steps
    from begin to end; a gap between one's end and the next's begin stays open.
    Without times, values are joined by segment index.
    """
    if not track.timed:
        return track.x, column
    if track.instants:
        t = track.begin
        if len(t) < 3:
            return t, column
        dt = np.diff(t)
        step = float(np.median(dt))
        gaps = np.flatnonzero(dt > 1.5 * step + 1e-9) + 1
        return np.insert(t, gaps, np.nan), np.insert(column, gaps, np.nan)
    x = np.column_stack([track.begin, track.end]).ravel()
    y = np.repeat(column, 2)
    gaps = np.flatnonzero(track.begin[1:] > track.end[:-1] + 1e-6) + 1
    return np.insert(x, 2 * gaps, np.nan), np.insert(y, 2 * gaps, np.nan)


def decimate(
    x: np.ndarray, y: np.ndarray, lo: float, hi: float, *, bins: int = 150
) -> tuple[np.ndarray, np.ndarray]:
    """The points of a line between ``lo`` and ``hi``, thinned for drawing.

    When more than ``4 * bins`` points are visible, each of ``bins`` equal slices of
    ``[lo, hi]`` keeps only its lowest and highest point (in time order), so the
    drawn envelope is the same at screen resolution while the figure draws in a few
    milliseconds. A break (NaN) between slices, or a slice with no point, keeps the
    line open there. ``x`` is sorted apart from its NaN breaks.
    """
    inside = np.flatnonzero((x >= lo) & (x <= hi))
    if not len(inside):
        return x[:0], y[:0]
    # one point beyond each edge, so lines run to the frame
    first, last = max(0, inside[0] - 1), inside[-1] + 2
    xs, ys = x[first:last], y[first:last]
    if len(xs) <= 4 * bins or hi <= lo:
        return xs, ys
    ok = np.isfinite(xs) & np.isfinite(ys)
    breaks = np.cumsum(~ok)[ok]  # NaNs seen before each kept point
    xf, yf = xs[ok], ys[ok]
    b = np.clip(((xf - lo) / (hi - lo) * bins).astype(np.int64), -1, bins)
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    ends = np.r_[starts[1:], len(b)]
    order = np.lexsort((yf, b))
    low, high = order[starts], order[ends - 1]
    pair = np.sort(np.column_stack([low, high]), axis=1)
    # open the line between slices that skip a slice or had a NaN between them
    cut = (np.diff(b[starts]) > 1) | (breaks[starts[1:]] != breaks[ends[:-1] - 1])
    out_x, out_y = xf[pair.ravel()], yf[pair.ravel()]
    at = 2 * (np.flatnonzero(cut) + 1)
    return np.insert(out_x, at, np.nan), np.insert(out_y, at, np.nan)


def grid(
    track: Track,
    columns: np.ndarray,
    *,
    bins: int = 600,
    window: tuple[float, float] | None = None,
) -> tuple[np.ndarray, tuple[float, float]]:
    """Scores on a regular grid of ``bins`` cells over ``window`` (heatmap).

    ``window`` defaults to the track's span (face frames: half a step beyond the
    first and last).

    ``columns`` is segments x dimensions. A cell takes the value of the interval
    that covers its centre, or of the nearest face frame within 0.75 of the usual
    frame step (half of what :func:`line_xy` calls a gap); other cells stay NaN
    (gaps are left blank, never filled). Returns the
    dimensions x cells matrix and the ``(left, right)`` extent in seconds.
    """
    lo, hi = track.span
    n = len(track.begin)
    if not track.timed:
        return columns.T, (-0.5, n - 0.5)
    half = float(np.median(np.diff(track.begin))) / 2.0 if n > 1 else 0.0
    if window is not None:
        lo, hi = window
    elif track.instants:
        lo, hi = lo - half, hi + half
    bins = max(1, min(bins, 4 * n))
    centres = lo + (np.arange(bins) + 0.5) * (hi - lo) / bins
    if track.instants:
        pos = np.clip(np.searchsorted(track.begin, centres), 1, max(n - 1, 1))
        left = track.begin[pos - 1]
        right = track.begin[np.minimum(pos, n - 1)]
        take = np.where(centres - left <= right - centres, pos - 1, pos)
        take = np.minimum(take, n - 1)
        near = np.abs(track.begin[take] - centres)
        ok = near <= (1.5 * half if n > 1 else np.inf) + 1e-9
    else:
        take = np.searchsorted(track.begin, centres, side="right") - 1
        ok = take >= 0
        take = np.maximum(take, 0)
        ok &= centres <= track.end[take] + 1e-9
    out = columns[take].T.copy()
    out[:, ~ok] = np.nan
    return out, (lo, hi)


# -- media -----------------------------------------------------------------------


class MediaFinder:
    """Finds the media of a source/file in a ``media=`` mapping or folder.

    The mapping's keys (or the folder's entries) are looked up by the file's name
    inside its source, the source's name, and the base names of both.
    """

    def __init__(self, media: Mapping[str, Any] | str | os.PathLike | None):
        if media is None:
            self.mapping: dict[str, Path] = {}
            self.folder: Path | None = None
        elif isinstance(media, Mapping):
            self.mapping = {str(k): Path(v) for k, v in media.items()}
            self.folder = None
        elif isinstance(media, (str, os.PathLike)):
            folder = Path(media)
            if not folder.is_dir():
                raise InputError(
                    f"`media` must be a folder or a mapping of names to paths; "
                    f"{str(media)!r} is not a folder. Pass the folder that holds the "
                    "media, or `media={'clip.mp4': 'path/to/clip.mp4'}`."
                )
            self.mapping, self.folder = {}, folder
        else:
            raise InputError(
                f"`media` must be a folder or a mapping of names to paths; got "
                f"{type(media).__name__}. Pass e.g. `media='recordings/'`."
            )

    def find(self, source: str | None, file: str | None) -> Path | None:
        """The path of a source/file's media, or None when it is not at hand."""
        names = []
        for name in (file, source):
            if name:
                names += [name, name.rsplit("/", 1)[-1].split("?", 1)[0]]
        for name in names:
            if name in self.mapping and self.mapping[name].is_file():
                return self.mapping[name]
            if self.folder is not None:
                path = self.folder / name
                if ".." not in Path(name).parts and path.is_file():
                    return path
        return None


def media_kind(path: Path | None) -> str | None:
    """``"image"``, ``"video"`` or None, from the file's extension."""
    if path is None:
        return None
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


class FrameReader:
    """Stills of an image or a video at a time, as PNG bytes (PyAV, Pillow).

    PyAV and Pillow come with the ``service`` extra; they are imported on first use
    so the panel costs nothing without media. The open video is kept until
    :meth:`close`.
    """

    def __init__(self, *, width: int = 320):
        self.width = width
        self._path: Path | None = None
        self._container = None

    def still(self, path: Path, kind: str, time: float) -> bytes:
        """The picture at ``time`` seconds (an image is the same at every time)."""
        try:
            from PIL import Image  # lazy: optional dependency (`service` extra)
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise InputError(
                "Showing media frames needs Pillow and PyAV; install them with "
                "`pip install 'humelab[service]'`."
            ) from exc
        if kind == "image":
            with Image.open(path) as im:
                picture = im.convert("RGB")
        else:
            picture = self._video_frame(path, time)
        picture.thumbnail((self.width, self.width))
        buf = io.BytesIO()
        picture.save(buf, format="PNG")
        return buf.getvalue()

    def _video_frame(self, path: Path, time: float):
        import av  # lazy: optional dependency (`service` extra)

        if self._path != path:
            self.close()
            self._container, self._path = av.open(str(path)), path
        container = self._container
        stream = container.streams.video[0]
        base = float(stream.time_base)
        container.seek(max(0, int(time / base)), stream=stream, backward=True)
        picture = None
        for frame in container.decode(stream):
            picture = frame
            if frame.pts is not None and frame.pts * base >= time - 1e-3:
                break
        if picture is None:
            raise InputError(f"{path.name!r} has no video frame at {time:.2f} s.")
        return picture.to_image()

    def close(self) -> None:
        """Close the open video, if any."""
        if self._container is not None:
            self._container.close()
        self._container, self._path = None, None
