"""An ASGI app served by uvicorn in a background thread, on a socket bound first.

Used by the Batch service (:class:`humelab.Server`) and the v1 stand-in: port 0
picks a free port, the URL is known before the thread starts, and it works the same
from a script, a test or a Jupyter kernel (no signal handlers outside the main
thread).
"""

from __future__ import annotations

import socket
import threading
import time

from ..errors import HumelabError

__all__ = ["ThreadedServer"]


class ThreadedServer:
    """Serve ``app`` on ``host:port`` in a daemon thread.

    Parameters
    ----------
    app : ASGI application
        What to serve.
    host : str
        Interface to bind (``"127.0.0.1"``; IPv6 literals work).
    port : int
        TCP port; 0 picks a free one.
    name : str
        The thread's name, and what the start-up error calls the server.
    """

    def __init__(self, app, *, host: str, port: int, name: str):
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self.url: str | None = None
        self._sock: socket.socket | None = None
        self._uv = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the serving thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def bind(self) -> str:
        """Open the listening socket (so :attr:`url` is known); return the URL.

        Raises
        ------
        humelab.HumelabError
            The address is taken or not available; the message says to pick
            another port.
        """
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit TCP_NODELAY: without it a keep-alive client
        # waits ~40 ms per response (Nagle + delayed ACK on split header/body writes).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise HumelabError(
                f"Could not listen on {self.host}:{self.port} ({exc.strerror}). "
                "Pick another `port` (0 chooses a free one)."
            ) from None
        sock.listen(128)
        sock.set_inheritable(True)
        self._sock = sock
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"http://{shown}:{port}"
        return self.url

    def start(self, timeout: float = 10.0) -> None:
        """Start serving (binding first if needed); wait until uvicorn is up.

        Raises
        ------
        humelab.HumelabError
            It did not start within ``timeout`` seconds.
        """
        import uvicorn  # the `service` extra, checked by the callers

        if self._sock is None:
            self.bind()
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._uv = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._uv.run,
            kwargs={"sockets": [self._sock]},
            name=self.name,
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uv.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise HumelabError(
                    f"The {self.name} did not start on {self.url} within {timeout} s."
                )
            time.sleep(0.01)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket; calling it twice is harmless."""
        if self._uv is not None:
            self._uv.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._uv is not None:
                self._uv.force_exit = True
                self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._thread = None
