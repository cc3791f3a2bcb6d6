"""The notebook's entry point: :class:`Client` (submit, reattach, list) and :func:`run`.

A client holds a :class:`~humelab.client._transport.Transport` to one Batch service,
the on-disk ledger of submitted jobs and the download cache. With no service URL
anywhere, it starts the embedded local service (``simulated`` engine) in this
process, once, shared by every client of the same data folder. Every :class:`Job`
a client hands out is built here (:meth:`Client._job`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from .. import _cost, settings
from .._stacklevel import stack_level
from ..contract import MODELS
from ..errors import HumelabWarning, InputError
from ._embedded import CallbackReceiver, embedded_server, running_embedded
from ._ledger import Ledger, ledger_frame
from ._submit import Submitted, check_config, submit_one
from ._transport import Transport
from .inputs import Inputs, chunk_inputs, collect_inputs, preflight
from .jobs import Job, JobGroup

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Client", "run"]

_JOBS = "/v0/batch/jobs"


class Client:
    """Talk to a Batch service (v0 contract) from a notebook or script.

    Parameters
    ----------
    base_url : str, optional
        The service, e.g. ``"http://127.0.0.1:8000"``. Defaults to the env var
        ``HUMELAB_URL``; with neither, the embedded local service (``simulated``
        engine) is started in this process, once, and shared by all clients.
    api_key : str, optional
        The service's key, sent as ``X-Hume-Api-Key``. Defaults to the env var
        ``HUMELAB_API_KEY``. (``HUME_API_KEY`` is Hume's own key, used only by the
        service's ``hume`` engine.) Never shown in a repr, log or error.
    timeout : float or (float, float), optional
        Seconds to wait for the service: one number for reading (connecting gets at
        most 10 s), or a ``(connect, read)`` pair. Always set: None means the
        default, 60 s.
    max_retries : int
        Retries of a GET on connection errors, 429 (honouring ``Retry-After``) and
        5xx, with exponential back-off. A POST is retried only on a connection error
        before anything was sent, so a job is never created twice.
    poll_interval : float
        The longest pause between two status checks while waiting, in seconds.
        Polling starts at 0.1 s and grows up to this cap.
    data_dir : path, optional
        Where the ledger, the download cache and the embedded service's jobs live.
        Defaults to the env var ``HUMELAB_DATA_DIR``, else the per-user data
        directory (``platformdirs``).
    engine : {"simulated", "hume"}, optional
        The embedded service's engine (default ``simulated``). ``"hume"`` measures
        through Hume's v1 API with ``HUME_API_KEY`` (billed by Hume; see
        :meth:`estimate`). Only for the embedded service.

    Examples
    --------
    >>> import humelab
    >>> with humelab.Client() as client:  # doctest: +SKIP
    ...     job = client.submit(humelab.example_files(), models={"face": {}})
    ...     df = job.wait().frame()
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | tuple[float, float] | None = 60.0,
        max_retries: int = 5,
        poll_interval: float = 2.0,
        data_dir: str | os.PathLike | None = None,
        engine: str | None = None,
    ):
        self.data_dir = settings.default_data_dir(data_dir)
        base_url = settings.service_url(base_url)
        api_key = settings.service_key(api_key)
        self.embedded = base_url is None
        if engine is not None and not self.embedded:
            raise InputError(
                f"`engine={engine!r}` chooses the embedded service's engine, but this "
                f"client talks to {base_url}, whose engine is set where it runs "
                "(`humelab serve --engine ...`). Leave `engine` out, or unset "
                "`base_url` / HUMELAB_URL."
            )
        if self.embedded:
            server = embedded_server(self.data_dir, engine)
            base_url = server.url
            api_key = server.api_key  # the embedded service's own key
            self.service = f"embedded:{server.data_dir}"
        else:
            self.service = base_url.rstrip("/")
        self._http = Transport(
            base_url, api_key, timeout=timeout, max_retries=max_retries
        )
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or not poll_interval > 0
        ):
            raise InputError(f"`poll_interval` must be > 0; got {poll_interval!r}.")
        self.poll_interval = float(poll_interval)
        #: Injectable for tests: the clock and sleep used while waiting.
        self.clock = time.monotonic
        self.sleep = time.sleep
        self.ledger = Ledger(self.data_dir / "ledger.sqlite3")
        self._receiver: CallbackReceiver | None = None

    # -- plumbing ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The service's URL."""
        return self._http.base_url

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` seconds for each request."""
        return self._http.timeout

    @property
    def max_retries(self) -> int:
        """Retries of a GET on connection errors, 429 and 5xx."""
        return self._http.max_retries

    @property
    def engine(self) -> str | None:
        """The embedded service's engine, or None for a remote service."""
        server = running_embedded(self.data_dir) if self.embedded else None
        return server.engine if server is not None else None

    def __repr__(self) -> str:
        key = "***" if self._http.has_key else None
        where = "embedded, " if self.embedded else ""
        return f"Client({where}base_url={self.base_url!r}, api_key={key})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session and the callback receiver (the service keeps on)."""
        self._http.close()
        if self._receiver is not None:
            self._receiver.close()
            self._receiver = None

    def __del__(self):  # pragma: no cover - best effort
        with contextlib.suppress(Exception):
            self.close()

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """Send one request to the service and map errors.

        Parameters
        ----------
        method : str
            HTTP method.
        path : str
            Path below ``base_url``, e.g. ``"/v0/batch/jobs"``.
        **kwargs
            Passed to :meth:`requests.Session.request` (``timeout`` is always set).

        Returns
        -------
        requests.Response
            A 2xx response.

        Raises
        ------
        APIError
            No response (connection refused or dropped), or a non-2xx status;
            :class:`AuthError` for 401/403, :class:`NotFoundError` for 404,
            :class:`RateLimitError` for 429 once retries are spent.
        """
        return self._http.request(method, path, **kwargs)

    def get_json(self, path: str, **kwargs) -> Any:
        """GET ``path`` and return the parsed JSON body.

        Parameters
        ----------
        path : str
            Path below ``base_url``, e.g. ``"/v0/batch/jobs"``.
        **kwargs
            Passed to :meth:`request` (e.g. ``params=``).

        Returns
        -------
        Any
            The decoded JSON (a dict or a list for the Batch API).

        Raises
        ------
        APIError
            As :meth:`request`, or the body is not JSON (``base_url`` is probably
            not a Batch service).
        """
        return self._http.get_json(path, **kwargs)

    def _cache_dir(self, job_id: str) -> Path:
        slug = hashlib.sha256(self.service.encode()).hexdigest()[:16]
        return self.data_dir / "cache" / slug / job_id

    def _callback_receiver(self) -> CallbackReceiver:
        if self._receiver is None:
            self._receiver = CallbackReceiver()
        return self._receiver

    def _job(self, job_id: str, *, details=None, submitted: Submitted | None = None):
        """The one place a :class:`Job` is made: from an id, details, or a submit."""
        job = Job(job_id, client=self)
        if details is not None:
            job._set_details(details)
        if submitted is not None:
            job._total_hint = submitted.total
            if submitted.callback:
                job._callback_event = self._callback_receiver().event(job_id)
        return job

    # -- jobs ----------------------------------------------------------------------

    def submit(
        self,
        inputs: Any = None,
        *,
        urls: Iterable[str] | str | None = None,
        files: Iterable[Any] | None = None,
        text: Iterable[str] | str | None = None,
        models: dict[str, dict] | None = None,
        transcription: dict | None = None,
        callback_url: str | None = None,
        notify: bool = False,
        callback: bool = False,
        resubmit: bool = False,
        progress: bool | None = None,
        timeout: float | None = None,
    ) -> Job:
        """Start one job on the service and record it in the ledger.

        Parameters
        ----------
        inputs : path, str, (name, bytes) or list of them, optional
            Files, folders (walked, skipping hidden files, ``__MACOSX`` and files
            no model can read, such as ``README.md``; each file named by its path
            below the folder, e.g. ``p1/clip.wav``), globs, URLs and in-memory
            ``(name, bytes)`` pairs, mixed.
        urls, files, text : optional
            URLs, uploads and raw text items, given separately.
        models : dict, optional
            v0 model configs, e.g. ``{"face": {"identify_faces": True},
            "prosody": {}}``; omitted means every model with defaults. Checked
            before anything is sent (the rules of :mod:`humelab.contract`).
        transcription : dict, optional
            v0 transcription config, e.g. ``{"language": "en"}``.
        callback_url : str, optional
            The service POSTs the result there when the job ends.
        notify : bool
            Ask the service to email on completion (ignored by the local service).
        callback : bool
            Start a small receiver on 127.0.0.1 and pass its URL as
            ``callback_url``, so :meth:`Job.wait` returns the moment the job ends
            (the service must run on this machine).
        resubmit : bool
            Submit even if the ledger holds a job with the same inputs and config.
        progress : bool, optional
            A ``tqdm.auto`` bar in bytes while files are hashed and uploaded. None
            means automatic (on in Jupyter and a terminal, off otherwise); small
            uploads that end within a second draw nothing.
        timeout : float, optional
            Seconds to wait for the service's answer to the upload (default: the
            client's ``timeout``). The job may still have been created when it
            passes; the ledger then finds it on the next submit.

        Returns
        -------
        Job
            The new job, or the existing one for the same inputs and config.

        Raises
        ------
        InputError
            A path does not exist, a model or option is unknown, or a limit is
            exceeded (over 100 files: use :meth:`submit_many`).
        APIError
            The service refused the job.
        """
        check_config(models, transcription)
        bundle = preflight(collect_inputs(inputs, urls=urls, files=files, text=text))
        self._warn_engine_limits(models)
        return self._submit(
            bundle,
            models=models,
            transcription=transcription,
            callback_url=callback_url,
            notify=notify,
            callback=callback,
            resubmit=resubmit,
            progress=progress,
            timeout=timeout,
        )

    def submit_many(
        self,
        inputs: Any = None,
        *,
        urls: Iterable[str] | str | None = None,
        files: Iterable[Any] | None = None,
        text: Iterable[str] | str | None = None,
        models: dict[str, dict] | None = None,
        transcription: dict | None = None,
        callback_url: str | None = None,
        notify: bool = False,
        callback: bool = False,
        resubmit: bool = False,
        max_per_job: int = 100,
        progress: bool | None = None,
        timeout: float | None = None,
    ) -> JobGroup:
        """Start as many jobs as the inputs need (at most 100 of each kind per job).

        Parameters
        ----------
        inputs, urls, files, text, models, transcription, callback_url, notify,
        callback, resubmit, progress, timeout
            As in :meth:`submit`.
        max_per_job : int
            Files (and URLs, and texts) per job, at most 100.

        Returns
        -------
        JobGroup
            The jobs, tracked together: ``group.wait()`` draws one bar.
        """
        if not 1 <= max_per_job <= 100:
            raise InputError(f"`max_per_job` must be 1 to 100; got {max_per_job!r}.")
        check_config(models, transcription)
        bundle = collect_inputs(inputs, urls=urls, files=files, text=text)
        preflight(bundle, max_urls=10**9, max_files=10**9, max_texts=10**9)
        self._warn_engine_limits(models)
        chunks = chunk_inputs(
            bundle, max_urls=max_per_job, max_files=max_per_job, max_texts=max_per_job
        )
        group_id = secrets.token_hex(8)
        jobs = [
            self._submit(
                chunk,
                models=models,
                transcription=transcription,
                callback_url=callback_url,
                notify=notify,
                callback=callback,
                resubmit=resubmit,
                group_id=group_id,
                progress=progress,
                timeout=timeout,
            )
            for chunk in chunks
        ]
        return JobGroup(jobs)

    def _warn_engine_limits(self, models: dict | None) -> None:
        """Warn before upload when the ``hume`` engine is asked for what v1 lacks."""
        if self.engine != "hume":
            return
        wanted = [
            m for m, c in (models or dict.fromkeys(MODELS, {})).items() if c is not None
        ]
        missing = [m for m in wanted if m in _cost.UNSUPPORTED_MODELS]
        if "face" in wanted and (models or {}).get("face", {}).get("facs") is not None:
            missing.append("face.facs")
        if missing:
            warnings.warn(
                f"The `hume` engine (Hume's v1 API) cannot measure "
                f"{', '.join(f'`{m}`' for m in missing)}; each file will carry an "
                "error entry saying so. Leave them out of `models` to avoid it.",
                HumelabWarning,
                stacklevel=stack_level(),
            )

    def _submit(self, bundle: Inputs, **options) -> Job:
        submitted = submit_one(self, bundle, **options)
        return self._job(
            submitted.job_id, details=submitted.details, submitted=submitted
        )

    def job(self, job_id: str) -> Job:
        """Reattach to a job by id (e.g. after a kernel restart).

        Parameters
        ----------
        job_id : str
            The id that :meth:`submit` returned (see :meth:`jobs`).

        Returns
        -------
        Job
            Its current state, fetched from the service.

        Raises
        ------
        NotFoundError
            The service does not know this id.
        """
        if not isinstance(job_id, str) or not job_id:
            raise InputError(f"`job_id` must be a non-empty str; got {job_id!r}.")
        return self._job(job_id).refresh()

    def list_jobs(
        self, *, status: str | Iterable[str] | None = None, limit: int = 50
    ) -> list[Job]:
        """The service's own job list (``GET /v0/batch/jobs``), newest first.

        Parameters
        ----------
        status : str or list of str, optional
            Only jobs in these states (``QUEUED``, ``IN_PROGRESS``, ...).
        limit : int
            At most this many.

        Returns
        -------
        list of Job
        """
        params: dict[str, Any] = {"limit": int(limit)}
        if status is not None:
            params["status"] = [status] if isinstance(status, str) else list(status)
        return [
            self._job(str(item["job_id"]), details=item)
            for item in self.get_json(_JOBS, params=params)
        ]

    def estimate(
        self,
        inputs: Any = None,
        *,
        urls: Iterable[str] | str | None = None,
        files: Iterable[Any] | None = None,
        text: Iterable[str] | str | None = None,
        models: dict[str, dict] | None = None,
    ) -> dict[str, Any]:
        """What a job would cost on the ``hume`` engine, before anything is sent.

        Hume bills per second of media (and per still image); nothing here contacts
        a service. Media are probed locally with PyAV (the ``service`` extra).

        Parameters
        ----------
        inputs, urls, files, text, models
            As in :meth:`submit`.

        Returns
        -------
        dict
            ``requests`` and ``billed_seconds`` (what Hume would meter, its minimum
            per request included), ``audio_seconds``, ``images``, ``unsupported``
            (``{model: [files]}`` that v1 cannot measure: they would be error
            entries), ``files`` (one dict per file), and ``not_estimated``: URLs
            (their length is unknown before the service fetches them).

        Raises
        ------
        InputError
            As :meth:`submit`'s checks (paths, models, limits).

        Examples
        --------
        >>> client.estimate("interview.mp4", models={"face": {}})  # doctest: +SKIP
        {'engine': 'hume', 'requests': 2, 'billed_seconds': 61.0, ...}
        """
        check_config(models, None)
        bundle = collect_inputs(inputs, urls=urls, files=files, text=text)
        preflight(bundle, max_urls=10**9, max_files=10**9, max_texts=10**9)
        with tempfile.TemporaryDirectory(prefix="humelab-estimate-") as tmp:
            paths = []
            for f in bundle.files:
                if f.path is not None:
                    paths.append(f.path)
                else:  # in-memory bytes: probed from a temporary copy
                    path = Path(tmp) / Path(f.name).name
                    path.write_bytes(f.data or b"")
                    paths.append(path)
            out = _cost.estimate(paths, models=models)
        if bundle.text:
            for model in ("language", "ner"):
                if models is None or model in (models or {}):
                    out["unsupported"].setdefault(model, []).extend(
                        f"text[{i}]" for i in range(len(bundle.text))
                    )
        out["not_estimated"] = list(bundle.urls)
        return out

    def jobs(self, *, all_services: bool = False) -> pd.DataFrame:
        """Jobs this machine submitted, from the on-disk ledger.

        Parameters
        ----------
        all_services : bool
            Include jobs sent to other services (default: only this client's).

        Returns
        -------
        pandas.DataFrame
            One row per job, oldest first: ``job_id``, ``submitted`` (UTC),
            ``inputs`` (a summary), ``models``, ``status`` (last seen), ``group``,
            ``service``.
        """
        return ledger_frame(self.ledger.rows(None if all_services else self.service))


def run(
    inputs: Any = None,
    *,
    urls: Iterable[str] | str | None = None,
    files: Iterable[Any] | None = None,
    text: Iterable[str] | str | None = None,
    models: dict[str, dict] | None = None,
    transcription: dict | None = None,
    shape: str = "long",
    timeout: float | None = None,
    progress: bool | None = None,
    client: Client | None = None,
    resubmit: bool = False,
) -> pd.DataFrame:
    """Submit, wait and load in one call.

    Parameters
    ----------
    inputs, urls, files, text, models, transcription, resubmit
        As in :meth:`humelab.Client.submit`. More than 100 of a kind are split into
        several jobs.
    shape : {"long", "wide"}
        As in :meth:`Job.frame`.
    timeout, progress
        As in :meth:`Job.wait`.
    client : Client, optional
        Default: ``humelab.Client()`` (``HUMELAB_URL``, else the embedded service).

    Returns
    -------
    pandas.DataFrame
        Tidy frame, see :mod:`humelab.schema`.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.run(humelab.example_files(kind="image"),
    ...                  models={"face": {}})  # doctest: +SKIP
    """
    own = client is None
    client = client or Client()
    try:
        group = client.submit_many(
            inputs,
            urls=urls,
            files=files,
            text=text,
            models=models,
            transcription=transcription,
            resubmit=resubmit,
            progress=progress,
        )
        group.wait(timeout, progress=progress)
        if len(group) == 1:
            return group[0].frame(shape)
        return group.frame(shape)
    finally:
        if own:
            client.close()
