"""Reading a Parquet corpus back: one tidy pandas frame per file, and the Dask frame.

Private machinery behind :func:`humelab.read_corpus` (documented there). Each file
of the corpus (one source in one partition) becomes one partition of the Dask
frame, so a group of rows (source, file, model, group) never spans partitions.
pyarrow and Dask are imported here: this module loads only with the ``dask`` extra.
"""

from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from dask.dataframe.utils import clear_known_categories

from ._corpus_write import CORPUS_DTYPES, MANIFEST, read_manifest
from .errors import InputError, ReadError
from .schema import CORE_COLUMNS

__all__ = ["corpus_files", "meta", "read_file", "read_frame"]


def meta(columns=CORE_COLUMNS) -> pd.DataFrame:
    """An empty frame with the corpus dtypes (categories unknown, as Dask wants)."""
    empty = pd.DataFrame(
        {c: pd.Series([], dtype=CORPUS_DTYPES[c]) for c in columns},
    )
    return clear_known_categories(empty)


def _partitioning(partition_on) -> ds.Partitioning | None:
    if not partition_on:
        return None
    fields = [(c, pa.string()) for c in partition_on]
    return ds.partitioning(pa.schema(fields), flavor="hive")


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


def corpus_files(root, filters=None) -> tuple[list[str], tuple[str, ...]]:
    """Absolute paths of the corpus files (manifest order) that ``filters`` may keep.

    Files are pruned by the partition folders they sit in; the rows inside are
    filtered when each file is read.
    """
    root = Path(root).expanduser()
    if not (root / MANIFEST).exists():
        raise ReadError(
            f"`{root}` is not a humelab corpus (no `{MANIFEST}` in it). Build one "
            "with `humelab.to_parquet(sources, root)`."
        )
    manifest = read_manifest(root)
    partition_on = tuple(manifest.get("partition_on") or ())
    paths = [
        str(root / f["path"])
        for entry in manifest["sources"].values()
        for f in entry["files"]
    ]
    expr = _filter(filters, "read_corpus")
    if expr is None or not paths:
        return paths, partition_on
    dataset = ds.dataset(
        paths,
        format="parquet",
        partitioning=_partitioning(partition_on),
        partition_base_dir=str(root),
    )
    try:
        kept = {frag.path for frag in dataset.get_fragments(filter=expr)}
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(
            f"read_corpus: `filters` {filters!r} do not fit the corpus ({exc}). "
            f"Its columns are {', '.join(CORE_COLUMNS)}."
        ) from None
    return [p for p in paths if p in kept], partition_on


def read_file(path: str, *, root, partition_on, filters=None, columns=None):
    """One corpus file as a tidy pandas frame (the corpus dtypes, in order)."""
    cols = list(CORE_COLUMNS if columns is None else columns)
    expr = _filter(filters, "read_corpus")
    if partition_on:
        dataset = ds.dataset(
            [path],
            format="parquet",
            partitioning=_partitioning(partition_on),
            partition_base_dir=str(root),
        )
        table = dataset.to_table(filter=expr, columns=cols)
    else:
        table = pq.read_table(path, columns=cols, filters=expr)
    df = table.to_pandas(types_mapper=_INT32.get)
    for c in cols:
        want = CORPUS_DTYPES[c]
        if str(df[c].dtype) != want:
            df[c] = df[c].astype(want)
        if want == "category" and df[c].cat.categories.dtype != _STR:
            # an all-missing column comes back with object categories
            cats = df[c].cat.categories.astype(_STR)
            df[c] = df[c].cat.rename_categories(cats)
    return df[cols]


_INT32 = {pa.int32(): pd.Int32Dtype()}
#: The dtype of the readers' category values (``str`` in pandas 3, else object).
_STR = pd.Series([], dtype="str").dtype


def _read_part(path, root, partition_on, filters, columns):
    df = read_file(
        path, root=root, partition_on=partition_on, filters=filters, columns=columns
    )
    if "segment" in df.columns:  # the mapper made every int32 nullable
        df["segment"] = df["segment"].astype("int32")
    return df


def read_frame(root, *, filters=None, columns=None) -> dd.DataFrame:
    """The Dask frame of a corpus: one partition per file, in manifest order."""
    if columns is not None:
        columns = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in columns if c not in CORE_COLUMNS]
        if unknown:
            raise InputError(
                f"read_corpus: unknown column(s) {', '.join(map(repr, unknown))} in "
                f"`columns`; a corpus has {', '.join(CORE_COLUMNS)}."
            )
    paths, partition_on = corpus_files(root, filters)
    cols = list(CORE_COLUMNS if columns is None else columns)
    if not paths:
        return dd.from_pandas(meta(cols), npartitions=1)
    return dd.from_map(
        _read_part,
        paths,
        root=str(Path(root).expanduser()),
        partition_on=partition_on,
        filters=filters,
        columns=cols,
        meta=meta(cols),
        enforce_metadata=False,
    )
