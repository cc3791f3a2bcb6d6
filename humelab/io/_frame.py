"""Columnar assembly of the tidy long frame, shared by every reader.

Readers hand over one chunk per (source, file, model, group): per-prediction arrays
(time, frame, text) and per-score arrays (family, name, score) already as integer
codes. The builder repeats, concatenates and wraps them into categoricals without
ever creating a Python object per score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import CORE_COLUMNS, MODEL_META, WIDE_META

__all__: list[str] = []

CATEGORY_COLUMNS = (
    "job_id",
    "source",
    "file",
    "model",
    "group",
    "text",
    "family",
    "name",
)
KEY_COLUMNS = ("job_id", "source", "file", "model", "group", "segment")
#: Per-prediction columns of the long frame (repeated on every score row).
PREDICTION_COLUMNS = KEY_COLUMNS + ("frame", "begin", "end", "text")

#: Metadata columns of the wide frame, in order, with their dtypes (humelab.schema).
META_COLUMNS: dict[str, str] = {c.name: c.dtype for c in WIDE_META}


def _small(codes: np.ndarray, n: int) -> np.ndarray:
    dtype = np.int8 if n < 127 else np.int16 if n < 32767 else np.int32
    return codes.astype(dtype, copy=False)


class Coder:
    """Maps values to integer codes in order of first appearance (None -> -1)."""

    __slots__ = ("codes",)

    def __init__(self):
        self.codes: dict = {}

    def __call__(self, value) -> int:
        if value is None:
            return -1
        codes = self.codes
        code = codes.get(value)
        if code is None:
            code = codes[value] = len(codes)
        return code

    def categories(self) -> list:
        return list(self.codes)


class FrameBuilder:
    """Collects chunks and builds the tidy long frame (and per-prediction metadata)."""

    def __init__(self, *, meta: bool = False):
        self.coders = {c: Coder() for c in CATEGORY_COLUMNS}
        self.keep_meta = meta
        self.chunks: list[tuple] = []
        self.meta: list[dict] = []

    def add(
        self,
        keys,
        *,
        counts,
        frame=None,
        begin=None,
        end=None,
        text_codes=None,
        family_codes,
        name_codes,
        scores,
        meta=None,
    ):
        """Add one (job_id, source, file, model, group) chunk.

        ``counts`` is the number of scores of each prediction; the per-prediction
        arrays have one entry per prediction; ``family_codes``, ``name_codes`` and
        ``scores`` one per score, prediction by prediction.
        """
        n = len(counts)
        if n == 0:
            return
        key_codes = tuple(
            self.coders[c](v) for c, v in zip(KEY_COLUMNS[:5], keys, strict=True)
        )
        self.chunks.append(
            (
                key_codes,
                np.asarray(counts, dtype=np.int64),
                frame,
                begin,
                end,
                text_codes,
                family_codes,
                name_codes,
                scores,
            )
        )
        if self.keep_meta:
            self.meta.append(meta or {})

    # -- assembly ---------------------------------------------------------------------

    def long(self) -> pd.DataFrame:
        """The tidy long frame of everything added."""
        chunks = self.chunks
        if not chunks:
            return empty_long()
        rows = np.array([int(c[1].sum()) for c in chunks], dtype=np.int64)
        total = int(rows.sum())
        cols: dict[str, object] = {}
        for i, name in enumerate(KEY_COLUMNS[:5]):
            coder = self.coders[name]
            ncat = len(coder.codes)
            codes = _small(np.array([c[0][i] for c in chunks]), ncat)
            cols[name] = _categorical(np.repeat(codes, rows), coder.categories())
        segment = np.empty(total, dtype=np.int32)
        frame = np.zeros(total, dtype=np.int32)
        frame_mask = np.ones(total, dtype=bool)
        begin = np.full(total, np.nan)
        end = np.full(total, np.nan)
        ntext = len(self.coders["text"].codes)
        text = np.full(total, -1, dtype=_small(np.zeros(0), ntext).dtype)
        pos = 0
        for _, counts, fr, bg, en, tx, *_ in chunks:
            size = int(counts.sum())
            sl = slice(pos, pos + size)
            segment[sl] = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
            if fr is not None:
                fvals, fmask = fr
                frame[sl] = np.repeat(fvals, counts)
                frame_mask[sl] = np.repeat(fmask, counts)
            if bg is not None:
                begin[sl] = np.repeat(bg, counts)
            if en is not None:
                end[sl] = np.repeat(en, counts)
            if tx is not None:
                text[sl] = np.repeat(tx, counts)
            pos += size
        cols["segment"] = segment
        cols["frame"] = pd.arrays.IntegerArray(frame, frame_mask)
        cols["begin"] = begin
        cols["end"] = end
        cols["text"] = _categorical(text, self.coders["text"].categories())
        for name in ("family", "name"):
            coder = self.coders[name]
            idx = 6 if name == "family" else 7
            codes = np.concatenate([c[idx] for c in chunks])
            cols[name] = _categorical(
                _small(codes, len(coder.codes)), coder.categories()
            )
        scores = np.concatenate([c[8] for c in chunks])
        cols["score"] = narrow_scores(scores)
        df = pd.DataFrame(cols, copy=False)
        return normalize(df)

    def prediction_meta(self) -> pd.DataFrame:
        """One row per prediction (in long order) with the wide metadata columns."""
        models = set(self.coders["model"].codes)
        wanted = [
            c
            for c in META_COLUMNS
            if c == "file_type" or any(c in MODEL_META.get(m, ()) for m in models)
        ]
        out = {}
        npred = sum(len(c[1]) for c in self.chunks)
        for col in wanted:
            parts = []
            for chunk, meta in zip(self.chunks, self.meta, strict=True):
                n = len(chunk[1])
                vals = meta.get(col)
                if vals is None:
                    vals = [None] * n
                parts.extend(vals)
            out[col] = _meta_series(parts, META_COLUMNS[col], npred)
        return pd.DataFrame(out)


def _meta_series(values, dtype, n):
    if dtype == "float64":
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if dtype == "Int64":
        return pd.array(values, dtype="Int64")
    return pd.Categorical(values)


def _categorical(codes: np.ndarray, categories: list) -> pd.Categorical:
    cats = (
        pd.Index(categories, dtype="str") if categories else pd.Index([], dtype="str")
    )
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(cats))


def narrow_scores(scores: np.ndarray) -> np.ndarray:
    """float32 when every score is a float32 value (as Hume's are), else float64."""
    scores = np.asarray(scores, dtype=np.float64)
    s32 = scores.astype(np.float32)
    if np.array_equal(s32, scores, equal_nan=True):
        return s32
    return scores


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Categories of every category column in order of first appearance, unused dropped.

    Gives every reader and conversion the same categories for the same rows, so
    frames compare equal with ``pandas.testing.assert_frame_equal``.
    """
    for col in CATEGORY_COLUMNS:
        if col not in df.columns:
            continue
        cat = df[col].array
        codes = np.asarray(cat.codes)
        present = codes[codes >= 0]
        if len(present) == 0:
            new = _categorical(np.full(len(codes), -1, dtype=np.int8), [])
        else:
            uniq = pd.unique(present)
            if len(uniq) == len(cat.categories) and np.array_equal(
                uniq, np.arange(len(uniq))
            ):
                continue
            lookup = np.full(len(cat.categories) + 1, -1, dtype=np.int64)
            lookup[uniq] = np.arange(len(uniq))
            newcodes = lookup[codes]  # -1 maps to the last slot, which is -1
            new = _categorical(_small(newcodes, len(uniq)), list(cat.categories[uniq]))
        df[col] = new
    return df


def empty_long() -> pd.DataFrame:
    """A tidy long frame with no rows and the contract dtypes."""
    cols = {}
    for name in CORE_COLUMNS:
        if name in CATEGORY_COLUMNS:
            cols[name] = _categorical(np.zeros(0, dtype=np.int8), [])
        elif name == "segment":
            cols[name] = np.zeros(0, dtype=np.int32)
        elif name == "frame":
            cols[name] = pd.array([], dtype="Int32")
        elif name == "score":
            cols[name] = np.zeros(0, dtype=np.float32)
        else:
            cols[name] = np.zeros(0, dtype=np.float64)
    return pd.DataFrame(cols)


def dims_from_scores(
    pred_idx: np.ndarray,
    name_codes: np.ndarray,
    names: list,
    scores: np.ndarray,
    npred: int,
    *,
    narrow: bool = True,
) -> pd.DataFrame:
    """One float column per dimension name, one row per prediction (NaN = absent)."""
    scores = narrow_scores(scores) if narrow else scores
    matrix = np.full((npred, len(names)), np.nan, dtype=scores.dtype)
    matrix[pred_idx, name_codes] = scores
    return pd.DataFrame(matrix, columns=pd.Index(names, dtype=object), copy=False)


def wide_from_builder(builder: FrameBuilder) -> pd.DataFrame:
    """The wide frame of everything a builder holds: keys, metadata, dimensions."""
    chunks = builder.chunks
    if not chunks:
        return empty_long().drop(columns=["family", "name", "score"])
    npreds = np.array([len(c[1]) for c in chunks], dtype=np.int64)
    total = int(npreds.sum())
    cols: dict[str, object] = {}
    for i, name in enumerate(KEY_COLUMNS[:5]):
        coder = builder.coders[name]
        codes = _small(np.array([c[0][i] for c in chunks]), len(coder.codes))
        cols[name] = _categorical(np.repeat(codes, npreds), coder.categories())
    cols["segment"] = np.concatenate([np.arange(n, dtype=np.int32) for n in npreds])
    frame = np.zeros(total, dtype=np.int32)
    frame_mask = np.ones(total, dtype=bool)
    begin = np.full(total, np.nan)
    end = np.full(total, np.nan)
    text = np.full(total, -1, dtype=np.int64)
    pred_idx = []
    pos = 0
    for _, counts, fr, bg, en, tx, *_ in chunks:
        n = len(counts)
        sl = slice(pos, pos + n)
        if fr is not None:
            frame[sl], frame_mask[sl] = fr
        if bg is not None:
            begin[sl] = bg
        if en is not None:
            end[sl] = en
        if tx is not None:
            text[sl] = tx
        pred_idx.append(np.repeat(np.arange(pos, pos + n), counts))
        pos += n
    cols["frame"] = pd.arrays.IntegerArray(frame, frame_mask)
    cols["begin"] = begin
    cols["end"] = end
    tcoder = builder.coders["text"]
    cols["text"] = _categorical(_small(text, len(tcoder.codes)), tcoder.categories())
    keys = normalize(pd.DataFrame(cols, copy=False))
    meta = builder.prediction_meta()
    # one column per name that has a score, in order of first appearance
    codes = np.concatenate([c[7] for c in chunks]).astype(np.int64)
    used = pd.unique(codes)
    lookup = np.zeros(len(builder.coders["name"].codes), dtype=np.int64)
    lookup[used] = np.arange(len(used))
    categories = builder.coders["name"].categories()
    dims = dims_from_scores(
        np.concatenate(pred_idx),
        lookup[codes],
        [categories[u] for u in used],
        np.concatenate([c[8] for c in chunks]),
        total,
    )
    return pd.concat([keys, meta, dims], axis=1)
