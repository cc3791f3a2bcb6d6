"""HTTP transport to a Batch service, and :class:`Client`, the notebook's entry point.

One :class:`requests.Session` per client, the API key in a header (never in a repr,
log, exception or file), timeouts always set, GETs retried on connection errors, 429
and 5xx with back-off, POSTs retried only when they never reached the service, and
every HTTP error mapped to a :class:`humelab.APIError` subclass that states the
method, path, status and the service's message.

With no ``base_url`` anywhere, the client starts the embedded local service
(``simulated`` engine) in this process, once, shared by every client.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ._embedded import _EMBEDDED, _CallbackReceiver, _embedded_server
from ._ledger import Ledger, _ledger_frame, default_data_dir
from ._submit import submit_one
from .errors import (
    APIError,
    AuthError,
    InputError,
    NotFoundError,
    RateLimitError,
)
from .inputs import (
    Inputs,
    _check_models,
    _check_transcription,
    chunk_inputs,
    collect_inputs,
    preflight,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .jobs import Job, JobGroup

__all__ = ["Client"]

log = logging.getLogger(__name__)

_JOBS = "/v0/batch/jobs"
_RETRY_STATUS = (429, 500, 502, 503, 504)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
_MAYBE_SENT = (
    " The request may have reached the service, so it was not retried: look for "
    "the job in `client.list_jobs()` before submitting again."
)
_NOT_RUNNING = " Is the service running? Check `base_url` / HUMELAB_URL."
#: Longest ``Retry-After`` honoured between two retries, in seconds.
MAX_RETRY_AFTER = 60.0


class _Retry(Retry):
    """urllib3 Retry that honours ``Retry-After`` up to :data:`MAX_RETRY_AFTER`."""

    def get_retry_after(self, response):
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(max(seconds, 0.0), MAX_RETRY_AFTER)


# -- the client ---------------------------------------------------------------------


def _message(response: requests.Response) -> str:
    """The service's reason: JSON ``message``/``error``, else the body text."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return text[:300] or response.reason or "no message"
    if isinstance(body, dict):
        if "fault" in body and isinstance(body["fault"], dict):
            return str(body["fault"].get("faultstring") or body["fault"])
        parts = [str(body[k]) for k in ("message", "error") if body.get(k)]
        if parts:
            return parts[0]
    return json.dumps(body)[:300]


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
    ):
        self.data_dir = default_data_dir(data_dir)
        base_url = base_url or os.environ.get("HUMELAB_URL") or None
        api_key = api_key or os.environ.get("HUMELAB_API_KEY") or None
        self.embedded = base_url is None
        if self.embedded:
            server = _embedded_server(self.data_dir)
            base_url = server.url
            api_key = server.api_key  # the embedded service's own key
            self.service = f"embedded:{server.data_dir}"
        else:
            self.service = base_url.rstrip("/")
        self.base_url = base_url.rstrip("/")
        self.__api_key = api_key
        self.timeout = _check_timeout(timeout)
        if (
            not isinstance(max_retries, int)
            or isinstance(max_retries, bool)
            or max_retries < 0
        ):
            raise InputError(
                f"`max_retries` must be a whole number >= 0; got {max_retries!r}."
            )
        self.max_retries = max_retries
        if poll_interval <= 0:
            raise InputError(f"`poll_interval` must be > 0; got {poll_interval!r}.")
        self.poll_interval = float(poll_interval)
        #: Injectable for tests: the clock and sleep used while waiting.
        self.clock = time.monotonic
        self.sleep = time.sleep
        self.ledger = Ledger(self.data_dir / "ledger.sqlite3")
        self._receiver: _CallbackReceiver | None = None
        self._session = self._make_session()

    # -- plumbing ------------------------------------------------------------------

    def _make_session(self) -> requests.Session:
        session = requests.Session()
        retry = _Retry(
            total=self.max_retries,
            connect=self.max_retries,
            read=self.max_retries,
            status=self.max_retries,
            other=0,
            allowed_methods=_IDEMPOTENT,
            status_forcelist=_RETRY_STATUS,
            backoff_factor=0.2,
            backoff_max=5.0,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=8)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = "humelab"
        if self.__api_key:
            session.headers["X-Hume-Api-Key"] = self.__api_key
        return session

    @property
    def engine(self) -> str | None:
        """The embedded service's engine, or None for a remote service."""
        server = _EMBEDDED.get(self.data_dir) if self.embedded else None
        return server.engine if server is not None else None

    def __repr__(self) -> str:
        key = "***" if self.__api_key else None
        where = "embedded, " if self.embedded else ""
        return f"Client({where}base_url={self.base_url!r}, api_key={key})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session and the callback receiver (the service keeps on)."""
        self._session.close()
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
        kwargs.setdefault("timeout", self.timeout)
        # Never follow a redirect: requests would forward the key header to any host
        # in `Location` (it strips only `Authorization`).
        kwargs["allow_redirects"] = False
        url = self.base_url + path
        try:
            response = self._session.request(method, url, **kwargs)
        except requests.exceptions.RetryError as exc:
            raise APIError(
                f"{method} {path} failed after {self.max_retries} retries: {exc}. "
                "The service keeps failing; try again later."
            ) from None
        except requests.exceptions.ConnectionError as exc:
            never_sent = _never_sent(exc)
            maybe_sent = method not in _IDEMPOTENT and not never_sent
            hint = _MAYBE_SENT if maybe_sent else _NOT_RUNNING
            err = APIError(
                f"{method} {path}: no response from {self.base_url} "
                f"({type(exc).__name__}).{hint}"
            )
            err._never_sent = never_sent
            raise err from None
        except requests.exceptions.Timeout:
            hint = _MAYBE_SENT if method not in _IDEMPOTENT else ""
            raise APIError(
                f"{method} {path}: no answer from {self.base_url} within "
                f"{self.timeout[1]:g} s. Pass a larger `timeout=` to Client.{hint}"
            ) from None
        log.debug("%s %s -> %s", method, path, response.status_code)
        # The response keeps the request it answered, key header and all; hand on
        # a copy without the key (errors carry the response).
        response.request = _without_key(response.request)
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("Location") or "(no Location header)"
            if self.__api_key:
                location = location.replace(self.__api_key, "***")
            response.close()
            raise APIError(
                f"{method} {path} was answered with a redirect (HTTP {status}) to "
                f"`{location[:300]}`, which humelab does not follow, so the API key "
                "is never sent to another address. Set `base_url` / HUMELAB_URL to "
                "the service's own address.",
                status,
                request=response.request,
                response=response,
            )
        if response.ok:
            return response
        reason = _message(response).strip().rstrip(".")
        msg = f"{method} {path} failed with HTTP {status}: {reason}"
        if status in (401, 403):
            cls = AuthError
            msg += (
                ". Pass the service's key as `api_key=` or set HUMELAB_API_KEY "
                "(HUME_API_KEY is Hume's own key, used only by the service)."
            )
        elif status == 404:
            cls = NotFoundError
            msg += ". Check the job id and that `base_url` is the service that ran it."
        elif status == 429:
            cls = RateLimitError
            msg += ". The service is rate limiting; wait a little and try again."
        else:
            cls = APIError
            msg += "."
        raise cls(msg, status, request=response.request, response=response)

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
        response = self.request("GET", path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise APIError(
                f"GET {path} returned HTTP {response.status_code} but the body is not "
                "JSON; is `base_url` a humelab/Hume Batch service?",
                response.status_code,
                response=response,
            ) from None

    def _cache_dir(self, job_id: str) -> Path:
        slug = hashlib.sha256(self.service.encode()).hexdigest()[:16]
        return self.data_dir / "cache" / slug / job_id

    def _callback_receiver(self) -> _CallbackReceiver:
        if self._receiver is None:
            self._receiver = _CallbackReceiver()
        return self._receiver

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
    ) -> Job:
        """Start one job on the service and record it in the ledger.

        Parameters
        ----------
        inputs : path, str, (name, bytes) or list of them, optional
            Files, folders (walked, skipping hidden files and ``__MACOSX``; each
            file named by its path below the folder, e.g. ``p1/clip.wav``), globs,
            URLs and in-memory ``(name, bytes)`` pairs, mixed.
        urls, files, text : optional
            URLs, uploads and raw text items, given separately.
        models : dict, optional
            v0 model configs, e.g. ``{"face": {"identify_faces": True},
            "prosody": {}}``; omitted means every model with defaults. Checked
            before anything is sent.
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
        _check_models(models)
        _check_transcription(transcription)
        bundle = preflight(collect_inputs(inputs, urls=urls, files=files, text=text))
        return self._submit_one(
            bundle,
            models=models,
            transcription=transcription,
            callback_url=callback_url,
            notify=notify,
            callback=callback,
            resubmit=resubmit,
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
    ) -> JobGroup:
        """Start as many jobs as the inputs need (at most 100 of each kind per job).

        Parameters
        ----------
        inputs, urls, files, text, models, transcription, callback_url, notify,
        callback, resubmit
            As in :meth:`submit`.
        max_per_job : int
            Files (and URLs, and texts) per job, at most 100.

        Returns
        -------
        JobGroup
            The jobs, tracked together: ``group.wait()`` draws one bar.
        """
        from .jobs import JobGroup

        if not 1 <= max_per_job <= 100:
            raise InputError(f"`max_per_job` must be 1 to 100; got {max_per_job!r}.")
        _check_models(models)
        _check_transcription(transcription)
        bundle = collect_inputs(inputs, urls=urls, files=files, text=text)
        preflight(bundle, max_urls=10**9, max_files=10**9, max_texts=10**9)
        chunks = chunk_inputs(
            bundle, max_urls=max_per_job, max_files=max_per_job, max_texts=max_per_job
        )
        group_id = secrets.token_hex(8)
        jobs = [
            self._submit_one(
                chunk,
                models=models,
                transcription=transcription,
                callback_url=callback_url,
                notify=notify,
                callback=callback,
                resubmit=resubmit,
                group_id=group_id,
            )
            for chunk in chunks
        ]
        return JobGroup(jobs)

    def _submit_one(self, bundle: Inputs, **options) -> Job:
        return submit_one(self, bundle, **options)

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
        from .jobs import Job

        if not isinstance(job_id, str) or not job_id:
            raise InputError(f"`job_id` must be a non-empty str; got {job_id!r}.")
        return Job(job_id, client=self).refresh()

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
        from .jobs import Job

        params: dict[str, Any] = {"limit": int(limit)}
        if status is not None:
            params["status"] = [status] if isinstance(status, str) else list(status)
        out = []
        for item in self.get_json(_JOBS, params=params):
            job = Job(str(item["job_id"]), client=self)
            job._set_details(item)
            out.append(job)
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
        return _ledger_frame(self.ledger.rows(None if all_services else self.service))


def _check_timeout(timeout: Any) -> tuple[float, float]:
    """``Client``'s ``timeout`` as a ``(connect, read)`` pair of positive seconds."""
    if timeout is None:
        timeout = 60.0
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        timeout = (min(10.0, float(timeout)), float(timeout))
    pair = tuple(timeout) if isinstance(timeout, (tuple, list)) else None
    if (
        pair is None
        or len(pair) != 2
        or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0
            for t in pair
        )
    ):
        raise InputError(
            f"`timeout` must be a number of seconds > 0 or a (connect, read) pair "
            f"of them; got {timeout!r}. Pass e.g. `timeout=60`, or None for the "
            "default (60 s)."
        )
    return float(pair[0]), float(pair[1])


def _without_key(request: requests.PreparedRequest | None):
    """A copy of ``request`` whose ``X-Hume-Api-Key`` header reads ``***``."""
    if request is None or "X-Hume-Api-Key" not in request.headers:
        return request
    safe = request.copy()
    safe.headers["X-Hume-Api-Key"] = "***"
    return safe


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection failed before the request was sent."""
    from urllib3.exceptions import (
        ConnectTimeoutError,
        MaxRetryError,
        NewConnectionError,
    )

    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError)) or isinstance(
        exc, requests.exceptions.ConnectTimeout
    )
