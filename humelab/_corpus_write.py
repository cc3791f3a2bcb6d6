"""Writing tidy frames into a hive-partitioned Parquet corpus, and its manifest.

Private machinery behind :func:`humelab.to_parquet` (documented there). A corpus is a
folder::

    root/
      _humelab_corpus.json                 the manifest (written last, atomically)
      model=face/<digest>.parquet          one file per source per partition
      model=prosody/<digest>.parquet

Every file is written under a hidden temporary name in its final folder and renamed
into place, so a run killed halfway leaves no half-written file visible. The manifest
maps each source's content digest to its files; a later run skips the digests it
already has. pyarrow is imported here, so this module loads only with the ``dask``
extra (``humelab.corpus`` imports it when a corpus is written).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
import warnings
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import HumelabWarning, InputError, ReadError
from .io import read_artifacts, read_errors, read_predictions, read_v1
from .schema import COLUMNS, CORE_COLUMNS

__all__ = [
    "HIVE_NULL",
    "MANIFEST",
    "PARTITIONABLE",
    "CORPUS_DTYPES",
    "arrow_schema",
    "contract_frame",
    "provenance_of",
    "convert",
    "file_digest",
    "frame_digest",
    "read_manifest",
    "write_manifest",
]

#: The manifest's name inside a corpus folder.
MANIFEST = "_humelab_corpus.json"
#: Manifest format version.
VERSION = 1
#: Columns a corpus may be partitioned on (categories, so each value is a folder).
PARTITIONABLE = tuple(c.name for c in COLUMNS if c.dtype == "category")
#: The dtype of each column in a corpus: the contract's, with ``score`` float32.
CORPUS_DTYPES: dict[str, str] = {
    c.name: ("float32" if c.name == "score" else c.dtype.split("|")[0]) for c in COLUMNS
}
_ARROW = {
    "category": pa.dictionary(pa.int32(), pa.string()),
    "int32": pa.int32(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "float64": pa.float64(),
    "float32": pa.float32(),
}
_BLOCK = 1 << 20
#: The folder value of a missing partition value (Hive's spelling).
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def arrow_schema(columns) -> pa.Schema:
    """The Parquet schema of a corpus file holding ``columns`` (categories as
    dictionary columns, ``frame`` nullable int32, ``score`` float32)."""
    return pa.schema(
        [pa.field(c, _ARROW[CORPUS_DTYPES[c]], nullable=_nullable(c)) for c in columns]
    )


def _nullable(name: str) -> bool:
    return next(c.nullable for c in COLUMNS if c.name == name)


def file_digest(path: Path) -> str:
    """Content digest (BLAKE2b, 32 hex digits) of a file's bytes."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def frame_digest(data: pd.DataFrame) -> str:
    """Content digest of a tidy frame (its values and column names)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(",".join(map(str, data.columns)).encode())
    h.update(pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes())
    return h.hexdigest()


def contract_frame(data: pd.DataFrame, what: str) -> pd.DataFrame:
    """The core columns of a long frame, in order, cast to the corpus dtypes."""
    missing = [c for c in CORE_COLUMNS if c not in data.columns]
    if missing:
        raise InputError(
            f"{what} is not a tidy long frame: missing columns "
            + ", ".join(f"`{m}`" for m in missing)
            + ". Pass a frame from `humelab.read_predictions` (or `to_long` of a "
            "wide frame)."
        )
    out = {}
    for c in CORE_COLUMNS:
        col = data[c]
        want = CORPUS_DTYPES[c]
        if want == "category" and isinstance(col.dtype, pd.CategoricalDtype):
            if len(col.cat.categories) and col.cat.categories.dtype != object:
                col = col.cat.rename_categories(col.cat.categories.astype(str))
        elif str(col.dtype) != want:
            col = col.astype(want)
        out[c] = col.reset_index(drop=True)
    frame = pd.DataFrame(out)
    frame.attrs = provenance_of(data)
    return frame


def provenance_of(data: pd.DataFrame) -> dict:
    """What the corpus keeps of a frame's ``attrs``: its ``engine`` and whether its
    scores are ``simulated`` (so frames read back stay labelled)."""
    return {k: data.attrs[k] for k in ("engine", "simulated") if k in data.attrs}


def _read_source(kind: str, payload, job_id) -> tuple[pd.DataFrame, int]:
    """The tidy frame of one source and its count of failed files/sources."""
    if kind == "frame":
        return payload, 0
    path = Path(payload)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK"):
        return read_artifacts(path, errors="ignore"), 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", HumelabWarning)
            df = read_predictions(path, errors="warn", job_id=job_id)
    except ReadError as first:
        try:
            return read_v1(path), 0
        except (ReadError, ValueError, TypeError):
            raise first from None
    # the reader warns when the input records failed files: count them then only
    failed = any(issubclass(w.category, HumelabWarning) for w in caught)
    return df, len(read_errors(path)) if failed else 0


def _parts(df: pd.DataFrame, partition_on: tuple[str, ...]):
    """``(relative folder, rows)`` for each partition present in ``df``."""
    if not partition_on:
        yield "", df
        return
    if not len(df):
        return
    groups = df.groupby(list(partition_on), observed=True, dropna=False, sort=False)
    for values, idx in groups.indices.items():
        values = values if isinstance(values, tuple) else (values,)
        folder = "/".join(
            f"{c}={HIVE_NULL if pd.isna(v) else quote(str(v), safe='')}"
            for c, v in zip(partition_on, values, strict=True)
        )
        yield folder, df.iloc[np.sort(idx)]


def _keys(rows: pd.DataFrame) -> dict:
    """The ``job_id``, ``source`` and ``file`` values of a file (for pruning)."""
    out = {}
    for c in _KEYS:
        col = rows[c]
        values = col.cat.remove_unused_categories().cat.categories.tolist()
        out[c] = sorted(map(str, values)) + ([None] if col.isna().any() else [])
    return out


_KEYS = ("job_id", "source", "file")


def _write_atomic(table: pa.Table, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        # snappy: about 25% more bytes than zstd here, read back 2-3x faster
        pq.write_table(table, tmp, compression="snappy")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def convert(task: dict) -> dict:
    """Read one source and write its partitions; return its manifest entry.

    ``task``: ``kind`` (``"path"`` or ``"frame"``), ``payload`` (the path or the
    frame), ``digest``, ``label``, ``root``, ``partition_on``, ``job_id``. Runs in a
    worker process (or thread) of the conversion.
    """
    root = Path(task["root"])
    partition_on = tuple(task["partition_on"])
    df, n_errors = _read_source(task["kind"], task["payload"], task["job_id"])
    df = contract_frame(df, f"source `{task['label']}`")
    keep = [c for c in CORE_COLUMNS if c not in partition_on]
    schema = arrow_schema(keep)
    files = []
    for folder, rows in _parts(df, partition_on):
        rel = f"{folder}/{task['digest']}.parquet" if folder else task["digest"]
        if not folder:
            rel += ".parquet"
        table = pa.Table.from_pandas(rows[keep], schema=schema, preserve_index=False)
        _write_atomic(table.replace_schema_metadata(None), root / rel)
        files.append({"path": rel, "rows": int(len(rows)), "keys": _keys(rows)})
    return {
        "digest": task["digest"],
        "source": task["label"],
        "rows": int(len(df)),
        "errors": int(n_errors),
        "attrs": df.attrs,
        "files": files,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def read_manifest(root: Path) -> dict:
    """The manifest of the corpus at ``root`` (an empty one when there is none)."""
    path = Path(root) / MANIFEST
    if not path.exists():
        return {"version": VERSION, "partition_on": None, "sources": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ReadError(
            f"The corpus manifest `{path}` is not valid JSON ({exc}). It is written "
            "atomically, so something else changed it; delete it and run "
            "`humelab.to_parquet` again to rebuild the corpus."
        ) from None
    return data


def write_manifest(root: Path, manifest: dict) -> None:
    """Write the manifest atomically (temporary name, then rename)."""
    path = Path(root) / MANIFEST
    tmp = path.parent / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def warn_errors(entries: list[dict]) -> None:
    """One warning for the sources whose input recorded failed files."""
    bad = [e for e in entries if e.get("errors")]
    if bad:
        names = ", ".join(f"`{e['source']}` ({e['errors']})" for e in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        warnings.warn(
            f"{len(bad)} converted sources record failed files or sources: "
            f"{names}{more}. Their scores are in the corpus; "
            "`humelab.read_errors(path)` lists the failures.",
            HumelabWarning,
            stacklevel=3,
        )
