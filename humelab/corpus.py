"""Corpora on disk: tidy Parquet datasets written from any result, read back with Dask.

:func:`to_parquet` converts predictions JSON, artifacts zips, v1 responses, finished
jobs and tidy frames into one hive-partitioned Parquet dataset with the contract's
dtypes; :func:`read_corpus` returns it as a ``dask.dataframe`` with one partition per
converted source, so the analysis functions (:func:`humelab.top_emotions`,
:func:`humelab.summarize`, :func:`humelab.resample`) run on it source by source.

Needs the ``dask`` extra (``pip install "humelab[dask]"``: ``dask[dataframe]``,
``distributed``, ``pyarrow``). ``import humelab`` does not load this module; the
first use of ``humelab.to_parquet`` or ``humelab.read_corpus`` does.

Scores describe perceived expression, not felt emotion; scores of the simulated
engine stay labelled as simulated in the frames read back (``job_id`` and the
sources say which job they came from).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask
import pandas as pd
from filelock import FileLock
from tqdm.auto import tqdm

from . import _corpus_read, _corpus_write
from ._corpus_write import PARTITIONABLE
from .client import Client
from .errors import InputError

__all__ = ["to_parquet", "read_corpus"]

_SUFFIXES = (".json", ".zip")


def _tasks(sources, root: Path, partition_on) -> list[dict]:
    """One conversion task per source, in the order given (duplicates dropped)."""
    if isinstance(sources, (str, os.PathLike, pd.DataFrame)) or hasattr(
        sources, "jobs"
    ):
        sources = [sources]
    elif hasattr(sources, "frame") and hasattr(sources, "id"):
        sources = [sources]
    elif not isinstance(sources, Iterable):
        raise InputError(
            f"`sources` must be paths, frames, jobs or job ids; got "
            f"{type(sources).__name__}."
        )
    found: list[tuple] = []  # (kind, payload, label, job_id) in the order given

    def add_job(job):
        cached = Path(job.cache_dir) / "predictions.json"
        if not cached.exists():
            job.frame(errors="ignore")  # downloads the predictions into the cache
        found.append(("path", cached, job.id, job.id))

    client = None
    for i, src in enumerate(sources):
        if isinstance(src, pd.DataFrame):
            frame = _corpus_write.contract_frame(src, f"`sources[{i}]`")
            found.append(("frame", frame, f"frame {i}", None))
        elif hasattr(src, "jobs"):  # a JobGroup
            for job in src.jobs:
                add_job(job)
        elif hasattr(src, "frame") and hasattr(src, "id"):  # a Job
            add_job(src)
        elif isinstance(src, (str, os.PathLike)):
            path = Path(src).expanduser()
            if path.is_dir():
                files = sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix.lower() in _SUFFIXES
                    and p.is_file()
                    and not p.name.startswith((".", "_"))
                )
                found.extend(("path", p, str(p), None) for p in files)
            elif path.is_file():
                found.append(("path", path, str(path), None))
            elif isinstance(src, str) and len(src) >= 16 and "/" not in src:
                client = client or Client()
                add_job(client.job(src))
            else:
                raise InputError(
                    f"`sources[{i}]`: no file or folder at `{src}`. Give predictions "
                    "JSON, artifacts zips, v1 responses, folders of them, jobs, job "
                    "ids or tidy frames."
                )
        else:
            hint = ""
            if isinstance(src, (list, tuple)):
                hint = " (a nested list? pass one flat list of sources)"
            raise InputError(
                f"`sources[{i}]` is a {type(src).__name__}{hint}; give paths, "
                "frames, `Job`/`JobGroup` objects or job ids."
            )
    # digests by threads (BLAKE2b and reads release the GIL): hashing 40 sources
    # one by one cost a few seconds before conversion began
    with ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="digest") as pool:
        digests = list(pool.map(_digest, found))
    tasks, seen = [], set()
    for (kind, payload, label, job_id), digest in zip(found, digests, strict=True):
        if digest in seen:
            continue
        seen.add(digest)
        tasks.append(
            {
                "kind": kind,
                "payload": str(payload) if kind == "path" else payload,
                "digest": digest,
                "label": label,
                "job_id": job_id,
                "root": str(root),
                "partition_on": list(partition_on),
            }
        )
    return tasks


def _digest(source: tuple) -> str:
    kind, payload = source[:2]
    if kind == "frame":
        return _corpus_write.frame_digest(payload)
    return _corpus_write.file_digest(payload)


def _partition_on(partition_on) -> tuple[str, ...]:
    if partition_on is None:
        return ()
    cols = (partition_on,) if isinstance(partition_on, str) else tuple(partition_on)
    bad = [c for c in cols if c not in PARTITIONABLE]
    if bad:
        raise InputError(
            f"`partition_on` can name the category columns "
            f"{', '.join(PARTITIONABLE)}; got {bad[0]!r}."
        )
    return cols


def _record(root: Path, partition_on, entries: list[dict]) -> None:
    """Add converted sources to the manifest (under a lock, atomically)."""
    if not entries:
        return
    with FileLock(str(root / ".humelab_corpus.lock")):
        manifest = _corpus_write.read_manifest(root)
        manifest["partition_on"] = list(partition_on)
        for e in entries:
            manifest["sources"][e["digest"]] = e
        _corpus_write.write_manifest(root, manifest)


def to_parquet(
    sources,
    root,
    *,
    partition_on=("model",),
    client=None,
    workers: int | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Convert results into a tidy Parquet corpus (a hive-partitioned dataset).

    Parameters
    ----------
    sources : path, frame, Job, JobGroup, job id, or a list of them
        Predictions JSON files, artifacts zips, v1 response JSON files, folders of
        them (searched recursively for ``*.json`` and ``*.zip``), finished jobs
        (``Job``, ``JobGroup``, or job ids of the default :class:`humelab.Client`)
        or tidy long frames.
    root : str or Path
        The corpus folder (created). A corpus grows: sources already in it (same
        content) are skipped.
    partition_on : tuple of str
        Category columns whose values become folders (``model=face/``); ``()``
        for a flat folder. Must match the corpus' earlier runs.
    client : distributed.Client, optional
        Convert on this Dask cluster (its workers must see ``root`` and the
        source files at the same paths). Default: local worker processes.
    workers : int, optional
        Local worker processes (default: CPU count, at most the number of
        sources); 1 converts in this process.
    progress : bool, optional
        Show a progress bar; default: automatic (a widget in Jupyter, off when not
        on a terminal).

    Returns
    -------
    pandas.DataFrame
        One row per source given: ``source`` (path, job id or ``frame <i>``),
        ``digest`` (BLAKE2b of its content), ``rows`` (scores), ``files`` (Parquet
        files written), ``errors`` (failed files recorded in the input),
        ``converted`` (False when the corpus already had it).

    Raises
    ------
    humelab.InputError
        A source that is not a file, frame, job or job id; an unknown
        ``partition_on`` column, or one that differs from the corpus'.
    humelab.ReadError
        A file no reader understands (the message of ``read_predictions``).

    Notes
    -----
    Each file has the contract's dtypes (categories as dictionary columns,
    ``segment`` int32, ``frame`` nullable int32, ``score`` float32; Hume's scores
    are float32 values and stay exact). Files are named by the source's digest,
    one per source per partition, written under a temporary name and renamed;
    the manifest (``_humelab_corpus.json``) is updated after each batch of
    sources, last. A killed run leaves no partial file visible, and running it
    again converts only the sources the manifest lacks.

    Examples
    --------
    >>> import humelab
    >>> humelab.to_parquet(["a.json", "b.json"], "corpus")  # doctest: +SKIP
    >>> ddf = humelab.read_corpus("corpus", filters=[("model", "==", "face")])
    ... # doctest: +SKIP
    """
    root = Path(root).expanduser()
    parts = _partition_on(partition_on)
    root.mkdir(parents=True, exist_ok=True)
    manifest = _corpus_write.read_manifest(root)
    if manifest["sources"] and list(manifest.get("partition_on") or []) != list(parts):
        raise InputError(
            f"The corpus at `{root}` is partitioned on "
            f"{tuple(manifest['partition_on'])}, not {parts}. Pass "
            f"`partition_on={tuple(manifest['partition_on'])}` or use a new folder."
        )
    tasks = _tasks(sources, root, parts)
    done = {t["digest"]: manifest["sources"].get(t["digest"]) for t in tasks}
    pending = [t for t in tasks if done[t["digest"]] is None]
    converted: set[str] = set()
    bar = tqdm(
        total=len(pending),
        unit="source",
        disable=None if progress is None else not progress,
        delay=0.5,
    )
    try:
        for entries in _run(pending, client, workers):
            _record(root, parts, entries)
            for e in entries:
                done[e["digest"]] = e
                converted.add(e["digest"])
            bar.update(len(entries))
    finally:
        bar.close()
    _corpus_write.warn_errors([done[d] for d in converted])
    rows = [
        {
            "source": done[t["digest"]]["source"],
            "digest": t["digest"],
            "rows": done[t["digest"]]["rows"],
            "files": len(done[t["digest"]]["files"]),
            "errors": done[t["digest"]].get("errors", 0),
            "converted": t["digest"] in converted,
        }
        for t in tasks
    ]
    return pd.DataFrame(
        rows, columns=["source", "digest", "rows", "files", "errors", "converted"]
    )


def _run(pending: list[dict], client, workers):
    """Convert the tasks; yield the finished manifest entries batch by batch."""
    if not pending:
        return
    if client is not None:
        from distributed import as_completed  # the `dask` extra, only for a cluster

        futures = client.map(_corpus_write.convert, pending, pure=False)
        for fut in as_completed(futures, loop=client.loop):
            yield [fut.result()]
        return
    n = int(workers or min(len(pending), os.cpu_count() or 1))
    if n < 1:
        raise InputError(f"`workers` must be at least 1, got {workers!r}.")
    if n == 1 or len(pending) == 1:
        for task in pending:
            yield [_corpus_write.convert(task)]
        return
    yield from in_processes(_corpus_write.convert, pending, n)


def in_processes(func, items: list, workers: int, *, batch: int | None = None):
    """Run ``func`` on each item in ``workers`` spawned processes, with Dask's
    processes scheduler; yield the results batch by batch (``batch`` items, default
    twice ``workers``), in order."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    batch = batch or 2 * workers
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for i in range(0, len(items), batch):
            chunk = [dask.delayed(func)(t) for t in items[i : i + batch]]
            # chunksize=1: one task per submit. Dask's default packs the ready
            # tasks into one submit, and a pool that starts its processes on
            # demand then ran every source in a single process.
            yield list(
                dask.compute(*chunk, scheduler="processes", pool=pool, chunksize=1)
            )


def read_corpus(root, *, filters=None, columns=None):
    """Read a Parquet corpus (see :func:`to_parquet`) as a Dask frame.

    Parameters
    ----------
    root : str or Path
        The corpus folder.
    filters : list of tuple, or list of lists of tuples, optional
        Rows to keep, in pyarrow's form: ``[("model", "==", "face")]`` (AND of
        the tuples), or a list of such lists (OR of them). Partition folders that
        cannot match are not read at all.
    columns : list of str, optional
        Columns to read (default: all core columns, in the contract's order).

    Returns
    -------
    dask.dataframe.DataFrame
        The tidy long frame (see :mod:`humelab.schema`) with the corpus dtypes
        (``score`` float32), one partition per converted source (its files in
        the partition folders, joined; a source of more than 4 million rows is
        split between its files), in the order the sources were added.
        ``.compute()`` gives the pandas frame.

    Raises
    ------
    humelab.ReadError
        ``root`` is not a corpus (no manifest).
    humelab.InputError
        Unknown columns, or filters pyarrow does not understand.

    Examples
    --------
    >>> import humelab
    >>> ddf = humelab.read_corpus("corpus", columns=["source", "name", "score"])
    ... # doctest: +SKIP
    >>> ddf.groupby(["source", "name"]).score.mean().compute()  # doctest: +SKIP
    """
    return _corpus_read.read_frame(root, filters=filters, columns=columns)
