"""Starting and stopping the Batch service: :func:`serve` and :class:`Server`.

The service runs uvicorn in a background daemon thread, bound to a socket opened
before the thread starts (port 0 picks a free port), so it works the same from a
script, a test, or a Jupyter kernel. No signal handlers are installed from the
background thread (uvicorn skips them outside the main thread).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from pathlib import Path

from .. import settings
from ..errors import HumelabError, InputError
from ._keyfile import read_api_key_file
from ._threaded import ThreadedServer
from .intake import Limits

__all__ = ["serve", "Server", "default_data_dir", "read_api_key_file"]

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    """The service's default folder: ``service/`` in humelab's data folder
    (``HUMELAB_DATA_DIR``, else the per-user data folder), as the embedded service's.
    """
    return settings.service_data_dir()


class Server:
    """A running Batch service (returned by :func:`serve`).

    Attributes
    ----------
    url : str
        Base URL, e.g. ``http://127.0.0.1:53122``; point Hume's SDK or humelab's
        client at it.
    api_key : str
        The key clients send in ``X-Hume-Api-Key`` (never shown in ``repr``).
    engine : str
        Engine name (``"simulated"``).
    simulated : bool
        Whether the engine's scores are simulated.
    data_dir : Path
        Where jobs and results are stored.
    workers : int
        Threads measuring files in parallel.
    """

    def __init__(self, *, host, port, data_dir, api_key, engine, runner, store, app):
        self._http = ThreadedServer(app, host=host, port=port, name="Batch service")
        self.data_dir = store.data_dir
        self._api_key = api_key
        self._engine = engine
        self.runner = runner
        self.store = store
        self.app = app
        self.url = ""

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def engine(self) -> str:
        return self._engine.name

    @property
    def simulated(self) -> bool:
        return bool(self._engine.simulated)

    @property
    def workers(self) -> int:
        return self.runner.workers

    @property
    def running(self) -> bool:
        return self._http.running

    def _start(self, timeout: float = 10.0) -> None:
        self.url = self._http.bind()
        self.runner.start()
        self._http.start(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, stop the workers and release the data directory.

        An unfinished job stays in the store and resumes when a service starts on
        the same data directory. Calling ``stop`` twice is harmless.
        """
        self._http.stop(timeout)
        if self.runner is not None:
            self.runner.stop()
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        label = " (scores are simulated)" if self.simulated else ""
        state = "running" if self.running else "stopped"
        return (
            f"<humelab Server {self.url or '(not started)'} engine={self.engine!r}"
            f"{label} workers={self.workers} data_dir='{self.data_dir}' {state}>"
        )


def _banner(server: Server) -> str:
    label = "scores are simulated" if server.simulated else "measured scores"
    return (
        f"humelab Batch service at {server.url} | engine: {server.engine} ({label}) | "
        f"data: {server.data_dir}"
    )


def _require_extra() -> None:
    """Fail with the install command when the ``service`` extra is missing."""
    import importlib.util

    needed = ("starlette", "uvicorn", "python_multipart", "av", "soundfile", "PIL")
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise HumelabError(
            "The local Batch service needs the `service` extra, and "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
            'installed. Install it with `pip install "humelab[service]"`, or use '
            "a running service (`base_url=` / HUMELAB_URL)."
        )


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir=None,
    workers: int | None = None,
    engine="simulated",
    api_key: str | None = None,
    engine_options: dict | None = None,
    item_delay: float = 0.0,
    resume: bool = True,
    callback_attempts: int = 5,
    callback_backoff: float = 1.0,
    callback_timeout: float = 10.0,
    quiet: bool = False,
    allow_private_urls=False,
    api_key_file=None,
    dask_scheduler=None,
    dask_inputs: str = "bytes",
    **limits,
) -> Server:
    """Start a Batch service (Hume v0 Batch API contract) in a background thread.

    Parameters
    ----------
    host : str
        Interface to listen on; the default keeps the service on this machine.
    port : int
        TCP port; 0 picks a free one (read it from ``server.url``).
    data_dir : str or Path, optional
        Where jobs and results are kept; default: a per-user folder
        (:func:`default_data_dir`). Jobs survive restarts on the same folder.
    workers : int, optional
        Threads measuring files in parallel (default: CPU count, at most 8).
    engine : str or Engine
        Measurement engine name (``"simulated"``) or an engine instance.
    api_key : str, optional
        The key clients must send in ``X-Hume-Api-Key``; default: the
        ``HUMELAB_API_KEY`` environment variable, else a random key for this run
        (``server.api_key``). ``HUME_API_KEY`` is never used: it is Hume's.
    engine_options : dict, optional
        Keyword options for the engine.
    item_delay : float
        Extra seconds per measured file, to watch jobs progress in demos.
    resume : bool
        Resume jobs left unfinished by a previous run (default); if False they end
        ``FAILED`` with a message.
    callback_attempts, callback_backoff, callback_timeout
        Callback delivery: attempts, first backoff in seconds (doubling), and the
        per-attempt timeout.
    quiet : bool
        Don't print the one-line start message.
    allow_private_urls : bool or list of str
        By default URLs and callbacks are fetched and called only on public
        addresses (loopback, private, link-local, multicast, reserved and
        unspecified ones are refused, in any spelling, after every redirect).
        ``True`` allows all (a notebook's embedded service, tests serving media
        from loopback); a list of networks (``["10.1.0.0/16"]``) allows those.
    api_key_file : str or Path, optional
        Read the key from this file (its first line) instead of ``api_key``; keeps
        it out of process listings (:func:`read_api_key_file`).
    dask_scheduler : str or distributed.Client, optional
        Measure each file (media decoding and the engine) on the workers of this
        Dask cluster (``tcp://HOST:8786``) instead of the service's threads;
        default: ``HUMELAB_DASK_SCHEDULER``, else threads. The service keeps the
        jobs, results and callbacks. Needs the ``dask`` extra.
    dask_inputs : {"bytes", "shared"}
        How files reach the workers: their bytes shipped with each task
        (default), or only their paths, for workers that see the data folder at
        the same path.
    **limits
        Caps from :class:`humelab.service.intake.Limits`: ``max_urls``,
        ``max_files``, ``max_texts``, ``max_file_bytes``, ``max_json_bytes``,
        ``max_archive_members``, ``max_archive_bytes``, ``max_expanded_bytes``,
        ``fetch_timeout``, ``fetch_total_timeout``, ``upload_idle_timeout``,
        ``min_free_bytes``.

    Returns
    -------
    Server
        Running service; use it as a context manager, or call ``server.stop()``.

    Raises
    ------
    humelab.InputError
        For an unknown engine or limit name.
    humelab.HumelabError
        When the port is taken, the data directory is used by another service, or
        the ``service`` extra is not installed.

    Examples
    --------
    >>> import humelab
    >>> with humelab.serve(quiet=True, data_dir=tmp) as server:  # doctest: +SKIP
    ...     from hume import HumeClient
    ...     client = HumeClient(api_key=server.api_key, base_url=server.url)
    """
    _require_extra()
    from ._netguard import NetGuard
    from .app import create_app
    from .engines import get_engine
    from .intake import DiskReserve
    from .runner import CallbackPolicy, Runner
    from .store import JobStore

    known = {f.name for f in dataclasses.fields(Limits)}
    unknown = sorted(set(limits) - known)
    if unknown:
        raise InputError(
            f"Unknown option `{unknown[0]}` for humelab.serve; limits are "
            f"{', '.join(sorted(known))}."
        )
    lim = Limits(**limits)
    if isinstance(engine, str):
        eng = get_engine(engine, **(engine_options or {}))
    else:
        if engine_options:
            raise InputError("`engine_options` only applies when `engine` is a name.")
        eng = engine
    if api_key_file is not None:
        if api_key:
            raise InputError("give `api_key` or `api_key_file`, not both.")
        api_key = read_api_key_file(api_key_file)
    guard = NetGuard(allow_private=allow_private_urls)
    key = settings.service_key(api_key) or secrets.token_urlsafe(24)
    store = JobStore(settings.service_data_dir(data_dir))
    try:
        runner = Runner(
            store,
            eng,
            lim,
            workers=workers,
            item_delay=item_delay,
            resume=resume,
            callbacks=CallbackPolicy(
                attempts=callback_attempts,
                backoff=callback_backoff,
                timeout=callback_timeout,
            ),
            guard=guard,
            disk=DiskReserve(store.data_dir, lim.min_free_bytes),
            dask_scheduler=settings.dask_scheduler(dask_scheduler)
            if isinstance(dask_scheduler, (str, type(None)))
            else dask_scheduler,
            dask_inputs=dask_inputs,
        )
        app = create_app(
            store=store,
            runner=runner,
            engine=eng,
            api_key=key,
            limits=lim,
            guard=guard,
        )
        server = Server(
            host=host,
            port=int(port),
            data_dir=store.data_dir,
            api_key=key,
            engine=eng,
            runner=runner,
            store=store,
            app=app,
        )
    except BaseException:
        store.close()
        raise
    try:
        server._start()
    except BaseException:
        server.stop()
        raise
    if not quiet:
        print(_banner(server), flush=True)
    return server
