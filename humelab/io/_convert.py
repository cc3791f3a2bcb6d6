"""Conversion between the tidy long frame and the wide frame (one row per prediction).

The wide frame has the per-prediction columns of the long frame, optionally the
metadata columns written by the readers, then one column per dimension name. Long ->
wide -> long returns the same frame; the family of each dimension column is recovered
from the model's vocabulary in :mod:`humelab.schema`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ..schema import FAMILIES, VOCABULARY, validate
from ._frame import (
    META_COLUMNS,
    PREDICTION_COLUMNS,
    Coder,
    _categorical,
    _small,
    dims_from_scores,
    empty_long,
    normalize,
)

__all__ = ["to_wide", "to_long"]

_KEYS = ["job_id", "source", "file", "model", "group", "segment"]

#: (model, name) -> (family, position in the family's JSON order)
_FAMILY_OF: dict[str, dict[str, tuple[str, int]]] = {
    model: {
        name: (fam, i) for fam, names in fams.items() for i, name in enumerate(names)
    }
    for model, fams in VOCABULARY.items()
}


def to_wide(data: pd.DataFrame) -> pd.DataFrame:
    """Pivot a tidy long frame to one row per prediction.

    Parameters
    ----------
    data : pandas.DataFrame
        A tidy long frame (see :data:`humelab.schema.COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        The per-prediction columns ``job_id, source, file, model, group, segment,
        frame, begin, end, text``, then one column per dimension name (in order of
        first appearance) holding the scores, NaN where a prediction has no such
        score. Rows are predictions in order of first appearance. The long frame
        carries no metadata, so unlike ``read_predictions(..., shape="wide")`` the
        result has no metadata columns.

    Raises
    ------
    SchemaError
        When ``data`` is not a tidy long frame, or when a prediction has two scores
        with the same name (the wide form cannot hold them).

    See Also
    --------
    to_long : the inverse.
    """
    validate(data, shape="long", caller="to_wide")
    n = len(data)
    if n == 0:
        return empty_long().drop(columns=["family", "name", "score"])
    ids, first = _prediction_ids(data)
    npred = len(first)
    preds = data.iloc[first][list(PREDICTION_COLUMNS)].reset_index(drop=True)
    name_codes = np.asarray(data["name"].array.codes, dtype=np.int64)
    uniq = pd.unique(name_codes)
    lookup = np.empty(len(data["name"].cat.categories), dtype=np.int64)
    lookup[uniq] = np.arange(len(uniq))
    cols = lookup[name_codes]
    pair = ids.astype(np.int64) * len(uniq) + cols
    cells = npred * len(uniq)
    if cells <= 50_000_000:
        duplicated = np.bincount(pair, minlength=cells).max() > 1
    else:
        duplicated = len(np.unique(pair)) != n
    if duplicated:
        raise SchemaError(
            "Some predictions have two scores with the same `name` (in different "
            "`family` values or duplicated rows), which a wide frame cannot hold. "
            "Keep the long form, or filter one `family` first."
        )
    names = list(data["name"].cat.categories[uniq])
    dims = dims_from_scores(
        ids, cols, names, data["score"].to_numpy(), npred, narrow=False
    )
    out = pd.concat([normalize(preds), dims], axis=1)
    out.attrs = dict(data.attrs)  # engine, simulated, scripts (set by the readers)
    return out


def _prediction_ids(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Prediction number of each row (order of first appearance) and first rows.

    Fast path: the readers write each prediction's scores as one run of rows, so runs
    of equal keys are predictions, unless a key comes back later (then group by).
    """
    n = len(data)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for col in _KEYS:
        arr = data[col]
        if isinstance(arr.dtype, pd.CategoricalDtype):
            codes = np.asarray(arr.array.codes)
        else:
            codes = arr.to_numpy()
        change[1:] |= codes[1:] != codes[:-1]
    first = np.flatnonzero(change)
    starts = data.iloc[first][_KEYS]
    if not starts.duplicated().any():
        return np.cumsum(change) - 1, first
    ids = (
        data.groupby(_KEYS, sort=False, observed=True, dropna=False).ngroup().to_numpy()
    )
    return ids, np.unique(ids, return_index=True)[1]


def to_long(data: pd.DataFrame, *, families: Mapping[str, str] | None = None):
    """Melt a wide frame (one row per prediction) into the tidy long frame.

    Parameters
    ----------
    data : pandas.DataFrame
        A wide frame from :func:`to_wide` or ``read_predictions(..., shape="wide")``.
        Columns other than the per-prediction columns and the metadata columns are
        taken as dimensions; NaN cells are absent scores.
    families : mapping of str to str, optional
        Family (``emotions``, ``facs``, ...) of dimension names that are not in the
        model's v0 vocabulary; such names default to ``emotions``.

    Returns
    -------
    pandas.DataFrame
        Tidy long frame (see :data:`humelab.schema.COLUMNS`). Within a prediction,
        scores come family by family (``emotions, facs, descriptions, sentiment,
        toxicity``) in each family's JSON order, as the readers return them
        (names outside the vocabulary follow, in column order). The metadata
        columns are dropped.

    Raises
    ------
    SchemaError
        When ``data`` is already long, lacks the key columns, or has a non-numeric
        column that would be taken as a dimension.

    See Also
    --------
    to_wide : the inverse.
    """
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(f"`to_long` expects a DataFrame, got {type(data).__name__}.")
    if "name" in data.columns and "score" in data.columns:
        raise SchemaError(
            "`to_long` got a frame with `name` and `score` columns: it is already "
            "long. Use `humelab.validate(df)` to check it."
        )
    missing = [
        c for c in ("source", "file", "model", "group", "segment") if c not in data
    ]
    if missing:
        raise SchemaError(
            "`to_long` needs the per-prediction key columns of a wide frame; missing "
            + ", ".join(f"`{m}`" for m in missing)
            + "."
        )
    families = dict(families or {})
    bad = {k: v for k, v in families.items() if v not in FAMILIES}
    if bad:
        raise SchemaError(
            f"`families` values must be one of {', '.join(FAMILIES)}; got {bad!r}."
        )
    fixed = set(PREDICTION_COLUMNS) | set(META_COLUMNS)
    dims = [c for c in data.columns if c not in fixed]
    wide = data.reset_index(drop=True)
    if len(wide) == 0 or not dims:
        return empty_long()
    numeric = [c for c in dims if pd.api.types.is_numeric_dtype(wide[c].dtype)]
    if len(numeric) < len(dims):
        other = [c for c in dims if c not in numeric]
        raise SchemaError(
            "`to_long` takes every column beyond the key and metadata columns as a "
            "dimension, and "
            + ", ".join(f"`{c}`" for c in other[:5])
            + (" is" if len(other) == 1 else " are")
            + " not numeric. Drop such columns first "
            f"(`wide.drop(columns={other[:5]!r})`) and merge them back onto the "
            "long frame."
        )
    models = wide["model"].astype("str").to_numpy()
    fam_coder, name_coder = Coder(), Coder()
    parts_rows, parts_fam, parts_name, parts_score = [], [], [], []
    dtype = np.result_type(*[wide[c].dtype for c in dims])
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    start = 0
    change = np.flatnonzero(models[1:] != models[:-1]) + 1
    for stop in [*change.tolist(), len(wide)]:
        model = models[start]
        ordered = _order(model, dims, families)
        matrix = wide[[c for c, _ in ordered]].iloc[start:stop].to_numpy(dtype=dtype)
        r, c = np.nonzero(~np.isnan(matrix))
        fam_codes = np.array([fam_coder(f) for _, f in ordered], dtype=np.int64)
        name_codes = np.array([name_coder(str(n)) for n, _ in ordered], dtype=np.int64)
        parts_rows.append(r + start)
        parts_fam.append(fam_codes[c])
        parts_name.append(name_codes[c])
        parts_score.append(matrix[r, c])
        start = stop
    rows = np.concatenate(parts_rows)
    out = {}
    for col in PREDICTION_COLUMNS:
        if col in wide:
            out[col] = wide[col].take(rows).reset_index(drop=True)
    long = empty_long()
    for col in long.columns:
        if col in out or col in ("family", "name", "score"):
            continue
        out[col] = pd.Series(
            pd.array([pd.NA] * len(rows), dtype="Int32")
            if col == "frame"
            else np.full(len(rows), np.nan)
            if col in ("begin", "end")
            else _categorical(np.full(len(rows), -1, dtype=np.int8), [])
        )
    fam = np.concatenate(parts_fam)
    nam = np.concatenate(parts_name)
    out["family"] = _categorical(
        _small(fam, len(fam_coder.codes)), fam_coder.categories()
    )
    out["name"] = _categorical(
        _small(nam, len(name_coder.codes)), name_coder.categories()
    )
    out["score"] = np.concatenate(parts_score)
    df = pd.DataFrame({c: out[c] for c in long.columns})
    for col in ("job_id", "source", "file", "model", "group", "text"):
        if not isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].astype("category")
    df["segment"] = df["segment"].astype(np.int32)
    df = normalize(df)
    df.attrs = dict(data.attrs)  # engine, simulated, scripts (set by the readers)
    return df


def _order(model: str, dims: list, families: dict) -> list[tuple[str, str]]:
    """Dimension columns of ``model`` with their family, in the readers' order."""
    vocab = _FAMILY_OF.get(model, {})
    keyed = []
    for pos, col in enumerate(dims):
        name = str(col)
        if name in vocab:
            fam, i = vocab[name]
            if name in families:
                fam, i = families[name], 10**6 + pos
        else:
            fam, i = families.get(name, "emotions"), 10**6 + pos
        keyed.append(((FAMILIES.index(fam), i), col, fam))
    keyed.sort(key=lambda t: t[0])
    return [(col, fam) for _, col, fam in keyed]
