"""The embedded local service (one per process and data folder), callback receiver.

Helpers of :class:`humelab.Client`: with no ``base_url`` anywhere, the client starts
the Batch service in this process (``simulated`` engine) and shares it; with
``callback=True`` it receives job callbacks on a small loopback HTTP server.
:func:`stop_embedded` stops the embedded service of a data folder (public, as
``humelab.stop_embedded``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .. import settings
from ..errors import HumelabError, InputError

__all__ = ["CallbackReceiver", "embedded_server", "running_embedded", "stop_embedded"]

# -- the embedded service -----------------------------------------------------------

_EMBEDDED: dict[Path, Any] = {}
_EMBEDDED_LOCK = threading.Lock()


def running_embedded(data_dir: Path):
    """The embedded service of ``data_dir`` when it runs in this process, else None."""
    return _EMBEDDED.get(Path(data_dir))


def embedded_server(data_dir: Path, engine: str | None = None):
    """The in-process service of the data folder ``data_dir`` (started once).

    Its jobs live in ``data_dir/service``; when another process (another kernel)
    holds that folder, the next free ``service-2`` ... ``service-9`` is used. It
    runs ``engine`` (default ``simulated``; ``hume`` reads Hume's key from
    ``HUME_API_KEY``) and, being on this machine for this user, may fetch URLs on
    loopback and private addresses.
    """
    with _EMBEDDED_LOCK:
        server = _EMBEDDED.get(data_dir)
        if server is not None:
            if engine is not None and server.engine != engine:
                raise InputError(
                    f"The embedded service of {data_dir} runs the `{server.engine}` "
                    f"engine, not `{engine}`. Stop it first "
                    f"(`humelab.stop_embedded({str(data_dir)!r})`), or pass another "
                    "`data_dir=`."
                )
            return server
        # Lazy: the web stack (the `service` extra) stays off `import humelab`.
        from ..service import serve
        from ..service.server import _require_extra
        from ..service.store import DataDirBusy

        try:
            _require_extra()
        except HumelabError as exc:
            raise InputError(
                "No `base_url` was given and HUMELAB_URL is not set, so humelab would "
                f"start its local Batch service. {exc}"
            ) from None
        for slot in range(1, 10):
            folder = data_dir / ("service" if slot == 1 else f"service-{slot}")
            try:
                server = serve(
                    host="127.0.0.1",
                    port=0,
                    data_dir=folder,
                    engine=engine or "simulated",
                    quiet=True,
                    allow_private_urls=True,
                )
                break
            except DataDirBusy:
                continue
        else:
            raise InputError(
                f"Nine local services (other kernels or processes) already use "
                f"{data_dir}. Stop some, point this client at one with `base_url=` / "
                "HUMELAB_URL, or pass another `data_dir=`."
            )
        _EMBEDDED[data_dir] = server
        atexit.register(stop_embedded, data_dir)
        busy = (
            f" ({data_dir / 'service'} is in use by another process, e.g. another "
            "kernel)"
            if slot > 1
            else ""
        )
        what = (
            "its scores are simulated, not measurements"
            if server.simulated
            else "measured through Hume's API, billed to your Hume key"
        )
        settings.say(
            f"started the local Batch service at {server.url} (engine "
            f"`{server.engine}`: {what}); jobs are kept in {folder}{busy}."
        )
        return server


def stop_embedded(data_dir=None) -> bool:
    """Stop the embedded Batch service of a data folder, if it runs in this process.

    Its jobs stay in the data folder; unfinished ones resume when a client starts
    it again.

    Parameters
    ----------
    data_dir : path, optional
        The data folder (as given to ``Client(data_dir=...)``); default the one
        :func:`humelab.settings.default_data_dir` resolves.

    Returns
    -------
    bool
        True when a service was stopped.
    """
    key = settings.default_data_dir(data_dir, create=False)
    server = _EMBEDDED.pop(key, None)
    if server is None:
        return False
    with contextlib.suppress(Exception):
        server.stop()
    return True


# -- callback receiver --------------------------------------------------------------


class CallbackReceiver:
    """A tiny HTTP server on 127.0.0.1 that receives job callbacks in a thread."""

    def __init__(self):
        self.token = secrets.token_urlsafe(16)
        self.events: dict[str, threading.Event] = {}
        self.bodies: dict[str, dict] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                ok = self.path.split("?")[0] == f"/callback/{receiver.token}"
                try:
                    data = json.loads(body) if ok else None
                except ValueError:
                    data = None
                if isinstance(data, dict) and data.get("job_id"):
                    receiver._arrived(str(data["job_id"]), data)
                    self.send_response(200)
                else:
                    self.send_response(400 if ok else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # silence the default stderr log
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="humelab-callbacks", daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/callback/{self.token}"

    def event(self, job_id: str) -> threading.Event:
        with self._lock:
            return self.events.setdefault(job_id, threading.Event())

    def _arrived(self, job_id: str, body: dict) -> None:
        self.bodies[job_id] = body
        self.event(job_id).set()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
