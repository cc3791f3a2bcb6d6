"""Measurement on a Dask cluster: each file's engine call runs on a worker.

The runner (:mod:`.runner`) keeps the job store, results, progress and callbacks as
always; with ``dask_scheduler=`` it calls :class:`DaskMeasure` instead of the engine.
Each file becomes one task on the cluster: the engine (pickled once, rebuilt once
per worker process) decodes the media and measures it there, and the prediction
entry comes back to the service. Inputs reach workers in one of two ways:

``"bytes"`` (default)
    The service reads the file (and its transcript or script sidecar) and ships the
    bytes with the task; the worker writes them to a private temporary folder under
    the same names. Works with workers on any machine.
``"shared"``
    The task carries only the path: every worker must see the service's data
    folder at the same path (a shared or network folder). Nothing is copied.

A worker lost mid-task (killed, out of memory, its machine gone) makes the
scheduler run the task again on another worker; the service takes the one result
that comes back, so a file is never lost or counted twice (a paid engine may have
been called for it twice). ``distributed`` is imported when a cluster is used (the
``dask`` extra), never by ``import humelab``.

Engines travel by pickle. The ``hume`` engine pickles its configuration, Hume's
key included (the workers call Hume with it), and starts fresh locks and HTTP
sessions in each worker process; its ``max_concurrency`` then holds per worker
process. The pickle goes with each task inside :class:`_Sealed`, whose repr shows
only its size, so no log line of Dask's (a failed task's arguments) can show the key.
An engine that cannot be pickled is refused with the thread runner as the way out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import pickle
import shutil
import tempfile
from pathlib import Path

from ..errors import HumelabError, InputError
from ._dask_batch import Batcher
from .engines.base import EngineError, EngineFatal

__all__ = ["DaskMeasure", "INPUTS"]

#: How inputs reach the workers.
INPUTS = ("bytes", "shared")
#: Files per task at most, when files wait for a free worker thread (one for an
#: engine that is not simulated: each of its files is paid for).
BATCH_FILES = 32
#: Engines rebuilt in this (worker) process, by the digest of their pickle.
_ENGINES: dict[str, object] = {}


class _Sealed:
    """A pickled engine, which may hold a secret: its repr never shows the bytes."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):
        return (_Sealed, (self.data,))

    def __repr__(self) -> str:
        return f"<pickled engine, {len(self.data)} bytes>"


def _engine(token: str, blob: _Sealed):
    engine = _ENGINES.get(token)
    if engine is None:
        engine = _ENGINES[token] = pickle.loads(blob.data)
    return engine


class _Scratch:
    """Where a batch's shipped inputs are written on a worker: one temporary folder,
    a numbered subfolder only for a name already used in the batch."""

    def __init__(self):
        self.root: Path | None = None
        self._used: set[str] = set()
        self._folders = 0

    def path(self, name: str) -> Path:
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="humelab-measure-"))
        folder = self.root
        if name in self._used:
            self._folders += 1
            folder = self.root / str(self._folders)
            folder.mkdir()
        self._used.add(name)
        return folder / name

    def close(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def _measure_on_worker(token, blob, item_class, fields, models, transcription, scratch):
    """Runs on a worker: rebuild the item (writing shipped bytes), measure it.

    Returns ``("ok", entry)``, ``("error", message, usage)`` for an
    :class:`EngineError`, ``("fatal", message)`` or ``("bug", message)``; messages
    name the file, never the worker's temporary paths. Shipped bytes go to
    ``scratch`` (a :class:`_Scratch`, which the caller removes).
    """
    engine = _engine(token, blob)
    values, temp_paths = {}, {}
    for name, value in fields.items():
        if isinstance(value, tuple) and value and value[0] == "bytes":
            try:
                path = scratch.path(value[1])
                path.write_bytes(value[2])
            except OSError as exc:  # this file only (the worker's disk is full...)
                reason = exc.strerror or type(exc).__name__
                return ("bug", f"could not store `{value[1]}` on a worker ({reason})")
            values[name] = path
            temp_paths[str(path)] = value[1]
        elif isinstance(value, tuple) and value and value[0] == "path":
            values[name] = Path(value[1])
        else:
            values[name] = value
    item = item_class(**values)

    def scrub(text: str) -> str:
        for path, shown in temp_paths.items():
            text = text.replace(path, shown)
        if scratch.root is not None:
            text = text.replace(str(scratch.root), "<worker folder>")
        return text

    try:
        return (
            "ok",
            engine.measure(item, models=models, transcription=transcription),
        )
    except EngineFatal as exc:
        return ("fatal", scrub(str(exc)))
    except EngineError as exc:
        return ("error", scrub(str(exc)), exc.usage)
    except Exception as exc:  # an engine bug: reported like the thread runner does
        return ("bug", scrub(f"{type(exc).__name__}: {exc}"))


def _measure_batch_on_worker(token, blob, tasks):
    """Runs on a worker: :func:`_measure_on_worker` for each task of a batch
    (``(item_class, fields, models, transcription)``), results in order; the
    batch's shipped inputs share one temporary folder."""
    scratch = _Scratch()
    try:
        return [
            ("bug", task[1])
            if task[0] == "unreadable"
            else _measure_on_worker(token, blob, *task, scratch)
            for task in tasks
        ]
    finally:
        scratch.close()


class _WorkerBug(Exception):
    """An engine failed on a worker with an unexpected error (message kept)."""


class DaskMeasure:
    """Measures files on a Dask cluster with the same results as ``engine``.

    Parameters
    ----------
    scheduler : str or distributed.Client
        The scheduler's address (``tcp://HOST:8786``) or a connected client.
    engine : Engine
        The engine; pickled and rebuilt once in each worker process.
    inputs : {"bytes", "shared"}
        Ship each file's bytes with its task, or only its path (workers see the
        service's data folder at the same path).
    timeout : float
        Seconds to wait for the scheduler when connecting.

    Raises
    ------
    humelab.InputError
        An unknown ``inputs``.
    humelab.HumelabError
        The ``dask`` extra is missing, the scheduler cannot be reached, or the
        engine cannot be pickled.
    """

    def __init__(self, scheduler, engine, *, inputs: str = "bytes", timeout=10.0):
        if inputs not in INPUTS:
            raise InputError(
                f"`dask_inputs` must be one of {', '.join(INPUTS)}; got {inputs!r}."
            )
        try:
            import distributed  # the `dask` extra, only when a cluster is used
        except ImportError:
            raise HumelabError(
                "Measuring on a Dask cluster needs the `dask` extra: "
                'pip install "humelab[dask]".'
            ) from None
        self.engine = engine
        self.name = engine.name
        self.simulated = engine.simulated
        self.inputs = inputs
        try:
            blob = pickle.dumps(engine)
        except Exception as exc:
            raise HumelabError(
                f"The {engine.name!r} engine cannot be sent to Dask workers "
                f"({type(exc).__name__}: {exc}); measure with the thread runner."
            ) from None
        self._token = hashlib.blake2b(blob, digest_size=16).hexdigest()
        self._blob = _Sealed(blob)
        if isinstance(scheduler, distributed.Client):
            self.client, self._own = scheduler, False
        else:
            try:
                self.client = distributed.Client(
                    scheduler, timeout=timeout, set_as_default=False
                )
            except (OSError, TimeoutError) as exc:
                raise HumelabError(
                    f"Could not reach the Dask scheduler at `{scheduler}` "
                    f"({type(exc).__name__}). Start one with `dask scheduler` and "
                    "workers with `dask worker ADDRESS`, or leave out "
                    "`dask_scheduler` to measure with threads."
                ) from None
            self._own = True
        # files go in batches while every worker thread is busy (two tasks each)
        # ... except for an engine that bills each file (`hume`): a batch re-run
        # after a lost worker would pay for every file of it again
        self._batcher = Batcher(
            self._submit,
            lambda: 2 * self.nthreads(),
            max_items=BATCH_FILES if engine.simulated else 1,
        )

    def nthreads(self) -> int:
        """Threads of the cluster's workers now (at least 1)."""
        return max(1, sum(self.client.nthreads().values()))

    def _fields(self, item) -> dict:
        out = {}
        for f in dataclasses.fields(item):
            value = getattr(item, f.name)
            if isinstance(value, Path):
                if self.inputs == "bytes":
                    value = ("bytes", value.name, value.read_bytes())
                else:
                    value = ("path", str(value))
            out[f.name] = value
        return out

    def _shipped(self, item) -> int:
        """Bytes of ``item`` that would travel with its task."""
        if self.inputs != "bytes":
            return 0
        total = 0
        for f in dataclasses.fields(item):
            value = getattr(item, f.name)
            if isinstance(value, Path):
                with contextlib.suppress(OSError):
                    total += value.stat().st_size
        return total

    def _submit(self, payloads: list):
        # inputs are read here, as their batch leaves: files waiting in the service
        # hold no bytes in memory
        tasks = []
        for item, models, transcription in payloads:
            try:
                fields = self._fields(item)
            except OSError as exc:  # that file only: reported like an engine bug
                tasks.append(("unreadable", f"{type(exc).__name__}: {exc}"))
                continue
            tasks.append((type(item), fields, models, transcription))
        return self.client.submit(
            _measure_batch_on_worker, self._token, self._blob, tasks, pure=False
        )

    def measure(self, item, *, models: dict, transcription):
        """Measure ``item`` on a worker; the engine's result, or its error, here."""
        payload = (item, models, transcription)
        status, *rest = self._batcher.put(payload, self._shipped(item)).result()
        if status == "ok":
            return rest[0]
        if status == "fatal":
            raise EngineFatal(rest[0])
        if status == "error":
            exc = EngineError(rest[0])
            exc.usage = rest[1]
            raise exc
        raise _WorkerBug(rest[0])

    def close(self) -> None:
        """Disconnect from the scheduler (a client passed in is left open)."""
        self._batcher.close()
        if self._own:
            self.client.close()
