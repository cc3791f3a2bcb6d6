"""Column roles of the analysis and plotting functions: checks and clear errors.

A role (``time``, ``end``, ``value``, ``hue``, ``by``) names a column of the frame;
the defaults are the tidy contract's names (:mod:`humelab.schema`), so the same
functions work on a user's own long frame. This module checks that the frame is a
long DataFrame holding those columns and explains the common mistakes (a wide frame,
a :class:`humelab.Job`, a misspelt column).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from .errors import SchemaError
from .schema import EXPRESSIONS, LANGUAGE_EXPRESSIONS

__all__ = [
    "DEFAULT_BY",
    "check_frame",
    "need",
    "resolve_by",
    "dimension_keys",
    "series_ids",
    "keep_attrs",
]

#: The default ``by`` of the analysis functions: one series per file, model and group.
DEFAULT_BY: tuple[str, ...] = ("source", "file", "model", "group")

_DIMENSIONS = frozenset(EXPRESSIONS) | frozenset(LANGUAGE_EXPRESSIONS)


def check_frame(data, func: str) -> None:
    """Raise :class:`SchemaError` unless ``data`` is a DataFrame (explain a Job)."""
    if isinstance(data, pd.DataFrame):
        return
    hint = ""
    if hasattr(data, "frame") and hasattr(data, "job_id"):
        hint = " It looks like a `Job`; pass `job.frame()`, its tidy frame, instead."
    elif isinstance(data, pd.Series):
        hint = " Pass the whole long frame, not one of its columns."
    raise SchemaError(
        f"`{func}` expects a long pandas DataFrame (see `humelab.schema`), got "
        f"{type(data).__name__}.{hint}"
    )


def _looks_wide(data: pd.DataFrame) -> bool:
    return "name" not in data.columns and bool(_DIMENSIONS & set(data.columns))


def need(data: pd.DataFrame, func: str, *, numeric=(), **roles) -> None:
    """Check that every role's column exists (``None`` roles are skipped).

    Parameters
    ----------
    data : pandas.DataFrame
        The frame.
    func : str
        Name of the calling function, for the message.
    numeric : iterable of str
        Roles whose column must be numeric.
    **roles
        Role name -> column name (or None).
    """
    missing = {r: c for r, c in roles.items() if c is not None and c not in data}
    if missing:
        what = ", ".join(f"`{c}` (role `{r}=`)" for r, c in missing.items())
        have = ", ".join(f"`{c}`" for c in list(data.columns)[:20])
        if len(data.columns) > 20:
            have += ", ..."
        hint = (
            " This looks like a wide frame (one column per dimension); convert it "
            "with `humelab.to_long(df)` first."
            if _looks_wide(data)
            else " Pass the column that holds it, for example "
            f"`{next(iter(missing))}=...`, or `None` where the role is optional."
        )
        raise SchemaError(
            f"`{func}`: column {what} not in the frame, which has {have or 'none'}."
            + hint
        )
    for r in numeric:
        c = roles.get(r)
        if c is not None and not pd.api.types.is_numeric_dtype(data[c]):
            raise SchemaError(
                f"`{func}`: column `{c}` (role `{r}=`) has dtype {data[c].dtype}, "
                "expected numbers. Convert it with `pd.to_numeric` or choose "
                "another column."
            )


def resolve_by(data: pd.DataFrame, func: str, by) -> list[str]:
    """The ``by`` columns as a list.

    The default :data:`DEFAULT_BY` keeps the columns the frame has (a user's frame
    may lack ``source`` or ``group``); columns named explicitly must exist.
    """
    if by is None:
        return []
    if by is DEFAULT_BY:
        return [c for c in by if c in data.columns]
    cols = [by] if isinstance(by, str) else list(by)
    need(data, func, **{f"by[{i}]": c for i, c in enumerate(cols)})
    return cols


def dimension_keys(data: pd.DataFrame, by: list[str], hue: str) -> list[str]:
    """``by`` + ``family`` (when the frame has it) + ``hue``: one key per dimension."""
    keys = list(by)
    if "family" in data.columns and "family" not in keys and hue != "family":
        keys.append("family")
    if hue not in keys:
        keys.append(hue)
    return keys


def series_ids(data: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, int]:
    """Integer id per row of its ``keys`` combination, numbered by first appearance."""
    if not keys:
        return np.zeros(len(data), dtype=np.int64), int(len(data) > 0)
    # Combine per-column codes (categorical codes, else factorized; missing is a
    # value of its own) into one integer, then number combinations by first
    # appearance. Much faster than groupby(...).ngroup() on millions of rows.
    combined = np.zeros(len(data), dtype=np.int64)
    radix = 1
    for k in keys:
        col = data[k]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes, size = col.cat.codes.to_numpy(np.int64), len(col.cat.categories)
        else:
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
            codes, size = codes.astype(np.int64), len(uniques)
        if radix * (size + 1) >= 2**62:  # too many combinations for one integer
            ids = data.groupby(keys, observed=True, sort=False, dropna=False).ngroup()
            ids = ids.to_numpy(dtype=np.int64)
            return ids, int(ids.max()) + 1 if len(ids) else 0
        combined += (codes + 1) * radix
        radix *= size + 1
    ids, uniques = pd.factorize(combined)
    return ids.astype(np.int64), len(uniques)


def keep_attrs(out: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """Give ``out`` a copy of ``data.attrs`` (engine, simulated, ...)."""
    out.attrs = copy.deepcopy(dict(data.attrs))
    return out
