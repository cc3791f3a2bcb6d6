"""Reading a Parquet corpus back: one tidy pandas frame per source, and the Dask frame.

Private machinery behind :func:`humelab.read_corpus` (documented there). The files
of one converted source (one per partition folder) become one partition of the Dask
frame, joined in Arrow, so a group of rows (source, file, model, group) never spans
partitions and reading one source back costs no concatenation in pandas. A source
larger than :data:`PARTITION_ROWS` is split between its files. pyarrow and Dask are
imported here: this module loads only with the ``dask`` extra.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dask.dataframe.utils import clear_known_categories

from ._corpus_write import CORPUS_DTYPES, HIVE_NULL, MANIFEST, read_manifest
from .errors import InputError, ReadError
from .schema import CORE_COLUMNS

__all__ = ["PARTITION_ROWS", "corpus_files", "meta", "read_files", "read_frame"]

#: Rows above which a source's files become separate partitions (about 160 MB).
PARTITION_ROWS = 4_000_000


def meta(columns=CORE_COLUMNS) -> pd.DataFrame:
    """An empty frame with the corpus dtypes (categories unknown, as Dask wants)."""
    return _meta(tuple(columns)).copy()


@functools.lru_cache(maxsize=64)
def _meta(columns: tuple) -> pd.DataFrame:
    # built once per column list: it took longer than reading a small source
    empty = pd.DataFrame(
        {c: pd.Series([], dtype=CORPUS_DTYPES[c]) for c in columns},
    )
    return clear_known_categories(empty)


def _filter(filters, where: str):
    if filters is None:
        return None
    try:
        return pq.filters_to_expression(filters)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{where}: `filters` {filters!r} is not understood ({exc}). Give a list "
            "of (column, op, value) tuples, for example [('model', '==', 'face')], "
            "or a list of such lists (OR of ANDs)."
        ) from None


def _conjunctions(filters) -> list[list[tuple]]:
    """DNF filters as a list of AND-lists of ``(column, op, value)``."""
    if not filters:
        return []
    if isinstance(filters[0], tuple):
        return [list(filters)]
    return [list(conj) for conj in filters]


_OPS = {
    "==": lambda x, v: x == v,
    "=": lambda x, v: x == v,
    "!=": lambda x, v: x != v,
    "<": lambda x, v: x < v,
    ">": lambda x, v: x > v,
    "<=": lambda x, v: x <= v,
    ">=": lambda x, v: x >= v,
    "in": lambda x, v: x in v,
    "not in": lambda x, v: x not in v,
}


def _test(values: list, op: str, value) -> tuple[bool, bool]:
    """(some value passes, every value passes) of one predicate on known values."""
    try:
        passed = [x is not None and bool(_OPS[op](x, value)) for x in values]
    except (KeyError, TypeError):
        return True, False
    return any(passed), all(passed) and bool(passed)


def _prune(keys: dict, conjunctions) -> tuple[bool, bool]:
    """(the file may hold matching rows, every row of it matches) from its keys."""
    if not conjunctions:
        return True, True
    may_any, all_any = False, False
    for conj in conjunctions:
        may, every = True, True
        for col, op, value in conj:
            if col not in keys:
                every = False
                continue
            some, each = _test(keys[col], op, value)
            may, every = may and some, every and each
        may_any, all_any = may_any or may, all_any or (may and every)
    return may_any, all_any


def _path_keys(rel: str) -> dict:
    """Partition values of a file from its folders (``model=face/...``)."""
    keys = {}
    for part in rel.split("/")[:-1]:
        col, _, value = part.partition("=")
        keys[col] = [None if value == HIVE_NULL else unquote(value)]
    return keys


def corpus_files(root, filters=None) -> tuple[list[tuple[list, dict]], tuple]:
    """The partitions of the corpus ``filters`` may keep, and the partition columns.

    Each partition is ``([(path, filter rows), ...], attrs)``: the files of one
    source (manifest order), or of part of it when it has more than
    :data:`PARTITION_ROWS` rows. Files are pruned by their partition folders and
    by the ``job_id``, ``source`` and ``file`` values the manifest records for
    each; rows are filtered when a file is read, unless every row of it is known
    to match.
    """
    root = Path(root).expanduser()
    if not (root / MANIFEST).exists():
        raise ReadError(
            f"`{root}` is not a humelab corpus (no `{MANIFEST}` in it). Build one "
            "with `humelab.to_parquet(sources, root)`."
        )
    manifest = read_manifest(root)
    partition_on = tuple(manifest.get("partition_on") or ())
    _filter(filters, "read_corpus")  # malformed filters fail here, early
    conjunctions = _conjunctions(filters)
    for conj in conjunctions:
        for item in conj:
            if len(item) != 3 or item[0] not in CORE_COLUMNS:
                raise InputError(
                    f"read_corpus: the filter {item!r} does not fit the corpus; give "
                    f"(column, op, value) with a column of {', '.join(CORE_COLUMNS)}."
                )
    out = []
    for entry in manifest["sources"].values():
        attrs = entry.get("attrs") or {}
        group, rows = [], 0
        for f in entry["files"]:
            keys = {**f.get("keys", {}), **_path_keys(f["path"])}
            may, every = _prune(keys, conjunctions)
            if not may:
                continue
            n = int(f.get("rows") or 0)
            if group and rows + n > PARTITION_ROWS:
                out.append((group, attrs))
                group, rows = [], 0
            group.append((str(root / f["path"]), not every))
            rows += n
        if group:
            out.append((group, attrs))
    return out, partition_on


def _categorical(col: pa.ChunkedArray) -> pd.Categorical:
    """A dictionary column as a pandas Categorical of ``str`` categories."""
    if col.num_chunks != 1:
        col = col.unify_dictionaries()
    first = col.chunk(0) if col.num_chunks else None
    if (
        first is not None
        and pa.types.is_dictionary(first.type)
        and len(first.dictionary) == 1
        and not col.null_count
    ):  # one value in every row (a source, its file, a partition folder)
        cats = pd.Index(first.dictionary.to_numpy(zero_copy_only=False), dtype=_STR)
        return pd.Categorical.from_codes(
            np.zeros(len(col), np.int8), dtype=pd.CategoricalDtype(cats), validate=False
        )
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    codes = arr.indices
    if codes.null_count:
        codes = pc.fill_null(codes, -1)
    codes = codes.to_numpy(zero_copy_only=False)
    cats = pd.Index(arr.dictionary.to_numpy(zero_copy_only=False), dtype=_STR)
    # the codes come from the Parquet dictionary itself: no need to check them
    return pd.Categorical.from_codes(
        codes, dtype=pd.CategoricalDtype(cats), validate=False
    )


def _column(table: pa.Table, name: str):
    col = table.column(name)
    want = CORPUS_DTYPES[name]
    if want == "category":
        return _categorical(col)
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if want == "Int32":
        if not arr.null_count:
            values = arr.to_numpy(zero_copy_only=False).astype("int32", copy=False)
            return pd.arrays.IntegerArray(values, np.zeros(len(arr), bool))
        values = arr.fill_null(0).to_numpy(zero_copy_only=False).astype("int32")
        mask = arr.is_null().to_numpy(zero_copy_only=False)
        return pd.arrays.IntegerArray(values, mask)
    return arr.to_numpy(zero_copy_only=False).astype(want, copy=False)


def _constant(value, n: int) -> pa.DictionaryArray:
    """A partition folder's value as a dictionary column of ``n`` rows."""
    if value is None:
        codes = pa.nulls(n, pa.int32())
    else:
        codes = pa.array(np.zeros(n, np.int32))
    return pa.DictionaryArray.from_arrays(codes, pa.array([value], pa.string()))


def _table(path: str, *, root, partition_on, filters, need, filter_rows) -> pa.Table:
    """One corpus file as an Arrow table: its stored columns and its folders'."""
    rel = Path(path).relative_to(Path(root)).as_posix()
    parts = {c: v[0] for c, v in _path_keys(rel).items() if c in partition_on}
    stored = [c for c in CORE_COLUMNS if c in need and c not in parts]
    table = pq.read_table(path, columns=stored)
    for c, value in parts.items():
        if c in need:
            table = table.append_column(c, _constant(value, table.num_rows))
    if filter_rows and filters:
        table = table.filter(pq.filters_to_expression(filters))
    return table


def read_files(paths, *, root, partition_on, filters=None, columns=None):
    """Corpus files (``(path, filter rows)`` pairs) as one tidy pandas frame (the
    corpus dtypes, in order; the files' rows one after another)."""
    cols = list(CORE_COLUMNS if columns is None else columns)
    conjunctions = _conjunctions(filters)
    need = set(cols) | {item[0] for conj in conjunctions for item in conj}

    def table(pair) -> pa.Table:
        path, rows = pair
        return _table(
            path,
            root=root,
            partition_on=partition_on,
            filters=filters,
            need=need,
            filter_rows=rows,
        ).select(cols)

    # a source's files (one per model folder) are decoded side by side: pyarrow
    # releases the GIL while it reads
    tables = list(_readers().map(table, paths)) if len(paths) > 1 else [table(paths[0])]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    # copy=False: the columns are new arrays already; pandas would copy them again
    return pd.DataFrame({c: _column(table, c) for c in cols}, copy=False)


@functools.cache
def _readers() -> ThreadPoolExecutor:
    """Threads that read the files of one partition (made on first use)."""
    return ThreadPoolExecutor(min(4, os.cpu_count() or 2), "humelab-corpus-read")


#: The dtype of the readers' category values (``str`` in pandas 3, else object).
_STR = pd.Series([], dtype="str").dtype


def _read_part(part, root, partition_on, filters, columns):
    paths, attrs = part
    df = read_files(
        paths, root=root, partition_on=partition_on, filters=filters, columns=columns
    )
    # engine and simulated of the source: a computed frame of one engine keeps them
    df.attrs.update(attrs)
    return df


def read_frame(root, *, filters=None, columns=None) -> dd.DataFrame:
    """The Dask frame of a corpus: one partition per source, in manifest order."""
    if columns is not None:
        columns = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in columns if c not in CORE_COLUMNS]
        if unknown:
            raise InputError(
                f"read_corpus: unknown column(s) {', '.join(map(repr, unknown))} in "
                f"`columns`; a corpus has {', '.join(CORE_COLUMNS)}."
            )
    parts, partition_on = corpus_files(root, filters)
    cols = list(CORE_COLUMNS if columns is None else columns)
    if not parts:
        return dd.from_pandas(meta(cols), npartitions=1)
    return dd.from_map(
        _read_part,
        parts,
        root=str(Path(root).expanduser()),
        partition_on=partition_on,
        filters=filters,
        columns=cols,
        meta=meta(cols),
        enforce_metadata=False,
    )
