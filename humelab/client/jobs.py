"""Job handles: waiting with a progress bar, groups of jobs, and the download cache.

A :class:`Job` is a light handle (an id and a client). :meth:`Job.wait` polls with an
adaptive interval (fast at first, capped at the client's ``poll_interval``) under a
monotonic deadline and draws one ``tqdm.auto`` bar. Results are downloaded once into a
cache under the data directory, atomically and verified, so a second
:meth:`Job.frame` never touches the network. :class:`JobGroup` tracks the several
jobs that :meth:`humelab.Client.submit_many` creates, with one bar.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import requests

from .._stacklevel import stack_level
from ..contract import TERMINAL, JobStatus
from ..errors import (
    APIError,
    HumelabDeprecationWarning,
    InputError,
    JobError,
    JobFailedError,
)
from ..io import read_predictions
from ._wait import FIRST_POLL, POLL_GROWTH, _wait

if TYPE_CHECKING:  # pragma: no cover
    from ._client import Client

__all__ = [
    "FIRST_POLL",
    "POLL_GROWTH",
    "JobStatus",
    "Job",
    "JobGroup",
    "wait_all",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Files we write get the mode of any new file (0644 under the usual umask), not
#: mkstemp's 0600.
_FILE_MODE = 0o666 & ~_umask()

#: Builds the default client for the deprecated ``Job(job_id)`` without a client;
#: set by :mod:`humelab.client` (jobs never import the client module).
_default_client: Callable[[], Any] | None = None


class Job:
    """A job on a Batch service: its id, its last known state, and its results.

    Parameters
    ----------
    job_id : str
        The job's id.
    client : Client
        The client that talks to its service. (Leaving it out is deprecated: a
        default ``humelab.Client()`` is made, with a warning.)

    Notes
    -----
    Get one from :meth:`humelab.Client.submit`, or reattach to an existing job
    with :meth:`humelab.Client.job`.
    """

    def __init__(self, job_id: str, *, client: Client | None = None):
        if client is None:
            warnings.warn(
                "`Job(job_id)` without `client=` is deprecated and will stop working "
                "in the next release; use `client.job(job_id)` (or pass "
                "`client=`).",
                HumelabDeprecationWarning,
                stacklevel=stack_level(),
            )
            client = _default_client()
        self.id = str(job_id)
        self.client = client
        self.details: dict[str, Any] | None = None
        self._total_hint: int | None = None
        self._callback_event = None

    # -- state ---------------------------------------------------------------------

    @property
    def job_id(self) -> str:
        """Same as :attr:`id`."""
        return self.id

    def __repr__(self) -> str:
        if self.status is None:
            return f"Job({self.id!r})"
        return f"Job({self.id!r}, status={self.status!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Job)
            and other.id == self.id
            and other.client.service == self.client.service
        )

    def __hash__(self) -> int:
        return hash((self.client.service, self.id))

    def _set_details(self, details: dict[str, Any]) -> None:
        old = self.status
        self.details = details
        new = self.status
        if new != old and new in TERMINAL:
            with contextlib.suppress(Exception):
                self.client.ledger.set_status(self.id, new)

    def refresh(self) -> Job:
        """Fetch the job's current details from the service (one GET).

        Returns
        -------
        Job
            ``self``, updated.
        """
        self._set_details(self.client.get_json(f"/v0/batch/jobs/{self.id}"))
        return self

    @property
    def state(self) -> dict[str, Any]:
        """The last fetched ``state`` object (``{}`` before the first fetch)."""
        return (self.details or {}).get("state") or {}

    @property
    def status(self) -> str | None:
        """The last known status (``QUEUED``, ``IN_PROGRESS``, ``COMPLETED``,
        ``FAILED``), or None before the first fetch."""
        return self.state.get("status")

    @property
    def simulated(self) -> bool | None:
        """True when the job's scores come from the ``simulated`` engine."""
        return (self.details or {}).get("simulated")

    @property
    def engine(self) -> str | None:
        """The service's engine for this job (e.g. ``"simulated"``), when reported."""
        return (self.details or {}).get("engine")

    @property
    def progress(self) -> tuple[int, int | None]:
        """``(files done, files in total)`` from the service, when it reports them."""
        prog = self.state.get("progress") or {}
        total = prog.get("total", self._total_hint)
        done = prog.get("done", 0)
        if self.status == "COMPLETED" and total is not None:
            done = total
        return int(done or 0), (int(total) if total is not None else None)

    # -- waiting -------------------------------------------------------------------

    def wait(
        self,
        timeout: float | None = None,
        *,
        progress: bool | None = None,
        poll_interval: float | None = None,
        raise_on_failure: bool = True,
        via: str = "auto",
    ) -> Job:
        """Block until the job ends, with a progress bar.

        Parameters
        ----------
        timeout : float, optional
            Give up waiting after this many seconds (the job keeps running).
            None waits as long as it takes.
        progress : bool, optional
            Draw a ``tqdm.auto`` bar (a widget in Jupyter, text in a terminal).
            None means automatic: on in Jupyter and in a terminal, off otherwise.
            Jobs that end within a second draw nothing.
        poll_interval : float, optional
            Longest pause between two checks; default the client's
            ``poll_interval``. Checks start every 0.1 s and slow down up to it.
        raise_on_failure : bool
            Raise :class:`JobFailedError` when the job fails (default); with False
            the failed job is returned.
        via : {"auto", "poll", "callback"}
            ``"callback"`` returns as soon as the service's callback arrives; it
            needs the job to have been submitted with ``callback=True`` (polling
            stays on as a fallback). ``"auto"`` uses the callback when there is one.

        Returns
        -------
        Job
            ``self``, in a terminal state.

        Raises
        ------
        JobFailedError
            The job ended ``FAILED`` (with the service's message).
        JobTimeoutError
            ``timeout`` passed; resume with ``client.job('<id>').wait()``.
        """
        _wait(
            [self],
            timeout=timeout,
            progress=progress,
            poll_interval=poll_interval,
            raise_on_failure=raise_on_failure,
            via=via,
        )
        return self

    # -- results -------------------------------------------------------------------

    @property
    def cache_dir(self) -> Path:
        """Where this job's downloads are kept (per service and job id)."""
        return self.client._cache_dir(self.id)

    def _ensure_completed(self, what: str) -> None:
        if self.status != "COMPLETED":
            self.refresh()
        if self.status == "FAILED":
            raise JobFailedError(
                self.id, "FAILED", self.state.get("message", ""), job=self
            )
        if self.status != "COMPLETED":
            raise JobError(
                f"Job `{self.id}` is {self.status}; its {what} are not ready yet. "
                f"Call `job.wait()` first."
            )

    def _download(self, name: str, path: str, verify) -> Path:
        target = self.cache_dir / name
        if target.exists():
            return target
        self._ensure_completed(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        attempts = self.client.max_retries + 1
        for attempt in range(attempts):
            try:
                self._stream_to(target, path, verify)
                return target
            except (requests.exceptions.RequestException, _Unverified) as exc:
                # the body was cut off (or stalled, or garbled: an answer cut in
                # its headers) mid-stream: retry like a GET
                problem = (
                    str(exc) if isinstance(exc, _Unverified) else type(exc).__name__
                )
                if attempt + 1 < attempts:
                    self.client.sleep(min(5.0, 0.2 * 2**attempt))
        raise APIError(
            f"GET {path}: the download broke off or arrived damaged ({problem}), "
            f"{attempts} times; nothing was cached. Check the connection to "
            f"{self.client.base_url} and try again."
        )

    def _stream_to(self, target: Path, path: str, verify) -> None:
        """One streamed GET into a temp file, verified, then moved into place."""
        response = self.client.request("GET", path, stream=True)
        fd, tmp = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "wb") as fh:
                for block in response.iter_content(1 << 20):
                    fh.write(block)
            verify(tmp, path)
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, target)
        finally:
            response.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def predictions(self) -> list[dict[str, Any]]:
        """The job's predictions: the parsed v0 JSON (one element per source).

        Downloaded once into the cache; later calls read the cached file.

        Returns
        -------
        list of dict

        Raises
        ------
        JobError
            The job has not completed (call :meth:`wait` first).
        JobFailedError
            The job failed.
        APIError
            The download kept breaking off (retried like any GET); nothing was
            cached, so calling again starts afresh.
        """
        path = self._download(
            "predictions.json", f"/v0/batch/jobs/{self.id}/predictions", _verify_json
        )
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)

    def download_artifacts(self, path: str | os.PathLike | None = None) -> Path:
        """Download the artifacts zip (CSV files per model), once.

        Parameters
        ----------
        path : path, optional
            Also copy it there: a file name such as ``"results.zip"``, or a folder
            (existing, or any path without a suffix; created) to hold
            ``artifacts-<job id>.zip``. Default: only the cache.

        Returns
        -------
        pathlib.Path
            The zip: ``path`` when given, else the cached file.
        """
        cached = self._download(
            "artifacts.zip", f"/v0/batch/jobs/{self.id}/artifacts", _verify_zip
        )
        if path is None:
            return cached
        dest = Path(path).expanduser()
        if dest.is_dir() or not dest.suffix:
            dest = dest / f"artifacts-{self.id}.zip"
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".artifacts.", suffix=".tmp")
        os.close(fd)
        try:
            shutil.copyfile(cached, tmp)
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return dest

    def frame(self, shape: str = "long", *, errors: str = "warn") -> pd.DataFrame:
        """The job's predictions as a tidy frame, with ``job_id`` filled in.

        Parameters
        ----------
        shape : {"long", "wide"}
            One row per score (the contract in :mod:`humelab.schema`), or one row
            per prediction with a column per dimension.
        errors : {"warn", "raise", "ignore"}
            What to do with per-file errors inside the job (see
            :func:`humelab.read_predictions`).

        Returns
        -------
        pandas.DataFrame
            Tidy frame, see :mod:`humelab.schema`.
        """
        path = self._download(
            "predictions.json", f"/v0/batch/jobs/{self.id}/predictions", _verify_json
        )
        return read_predictions(path, shape=shape, errors=errors, job_id=self.id)

    def to_parquet(self, root, **options) -> pd.DataFrame:
        """Write this finished job into a tidy Parquet corpus.

        The same as ``humelab.to_parquet(job, root, **options)`` (see
        :func:`humelab.to_parquet`); needs the ``dask`` extra.

        Returns
        -------
        pandas.DataFrame
            One row for the job: ``rows``, ``files``, ``converted``, ...
        """
        # lazy: the corpus writer needs Dask and pyarrow (the `dask` extra)
        from ..corpus import to_parquet

        return to_parquet(self, root, **options)


class _Unverified(Exception):
    """A downloaded body failed verification (retried like a broken download)."""


def _verify_json(tmp: str, path: str) -> None:
    try:
        with open(tmp, encoding="utf-8") as fh:
            json.load(fh)
    except ValueError as exc:
        raise _Unverified(f"not valid JSON: {exc}") from None


def _verify_zip(tmp: str, path: str) -> None:
    try:
        with zipfile.ZipFile(tmp) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _Unverified(f"not a zip archive: {exc}") from None
    if bad is not None:
        raise _Unverified(f"zip member `{bad}` is corrupt")


# -- groups -----------------------------------------------------------------------


class JobGroup(Sequence):
    """Several jobs tracked together (from :meth:`humelab.Client.submit_many`).

    Parameters
    ----------
    jobs : iterable of Job
        The jobs.
    """

    def __init__(self, jobs: Iterable[Job]):
        self.jobs: list[Job] = list(jobs)

    def __getitem__(self, index):
        return self.jobs[index]

    def __len__(self) -> int:
        return len(self.jobs)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for job in self.jobs:
            key = job.status or "not checked yet"
            counts[key] = counts.get(key, 0) + 1
        states = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        return f"JobGroup({len(self.jobs)} jobs; {states})"

    @property
    def ids(self) -> list[str]:
        """The job ids."""
        return [job.id for job in self.jobs]

    @property
    def done(self) -> list[Job]:
        """Jobs last seen ``COMPLETED``."""
        return [job for job in self.jobs if job.status == "COMPLETED"]

    @property
    def failed(self) -> list[Job]:
        """Jobs last seen ``FAILED``."""
        return [job for job in self.jobs if job.status == "FAILED"]

    def wait(
        self,
        timeout: float | None = None,
        *,
        progress: bool | None = None,
        poll_interval: float | None = None,
        raise_on_failure: bool = True,
    ) -> JobGroup:
        """Block until every job ends, with one bar across all of them.

        Parameters
        ----------
        timeout, progress, poll_interval
            As in :meth:`Job.wait`.
        raise_on_failure : bool
            Raise :class:`JobFailedError` for the first failed job once all have
            ended, listing every failed id (default); with False, return and let
            :attr:`failed` tell.

        Returns
        -------
        JobGroup
            ``self``.

        Raises
        ------
        JobFailedError
            At least one job failed.
        JobTimeoutError
            ``timeout`` passed; the jobs keep running; call ``wait()`` again.
        """
        _wait(
            self.jobs,
            timeout=timeout,
            progress=progress,
            poll_interval=poll_interval,
            raise_on_failure=raise_on_failure,
            via="auto",
        )
        return self

    def predictions(self) -> list[dict[str, Any]]:
        """The predictions of every job, concatenated in job order.

        Each job's JSON is downloaded once into the cache (see
        :meth:`Job.predictions`).

        Returns
        -------
        list of dict
            The parsed v0 JSON of all jobs: one element per source.

        Raises
        ------
        JobError
            A job has not completed yet (call :meth:`wait` first).
        JobFailedError
            A job failed; :attr:`failed` lists them.
        """
        out: list[dict[str, Any]] = []
        for job in self.jobs:
            out.extend(job.predictions())
        return out

    def frame(self, shape: str = "long", *, errors: str = "warn") -> pd.DataFrame:
        """All jobs' predictions in one tidy frame (``job_id`` tells them apart).

        Parameters
        ----------
        shape, errors
            As in :meth:`Job.frame`.

        Returns
        -------
        pandas.DataFrame
            Tidy frame, see :mod:`humelab.schema`.
        """
        frames = [job.frame(shape, errors=errors) for job in self.jobs]
        if not frames:
            raise InputError("The group has no jobs.")
        df = pd.concat(frames, ignore_index=True)
        for col in df.columns:
            if all(isinstance(f[col].dtype, pd.CategoricalDtype) for f in frames):
                df[col] = df[col].astype("category")
        return df

    def to_parquet(self, root, **options) -> pd.DataFrame:
        """Write every job of the group into a tidy Parquet corpus.

        The same as ``humelab.to_parquet(group, root, **options)`` (see
        :func:`humelab.to_parquet`); jobs already in the corpus are skipped. Needs
        the ``dask`` extra.

        Returns
        -------
        pandas.DataFrame
            One row per job: ``rows``, ``files``, ``converted``, ...

        Raises
        ------
        JobError
            A job has not completed yet (call :meth:`wait` first).
        """
        # lazy: the corpus writer needs Dask and pyarrow (the `dask` extra)
        from ..corpus import to_parquet

        return to_parquet(self, root, **options)


def wait_all(
    jobs: Iterable[Job],
    *,
    timeout: float | None = None,
    progress: bool | None = None,
    poll_interval: float | None = None,
    raise_on_failure: bool = True,
) -> tuple[list[Job], list[Job]]:
    """Wait for several jobs with one bar; never drop a failure.

    Parameters
    ----------
    jobs : iterable of Job
        The jobs (they may belong to different clients).
    timeout, progress, poll_interval
        As in :meth:`Job.wait`.
    raise_on_failure : bool
        Raise :class:`JobFailedError` (listing every failed id) when any failed.

    Returns
    -------
    (done, failed) : tuple of lists of Job
    """
    group = JobGroup(jobs)
    group.wait(
        timeout,
        progress=progress,
        poll_interval=poll_interval,
        raise_on_failure=raise_on_failure,
    )
    return group.done, group.failed
