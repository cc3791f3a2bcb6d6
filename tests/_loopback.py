"""Loopback helpers for client tests: a fault-injecting reverse proxy, a file server.

Both are stdlib ``http.server`` servers on 127.0.0.1 port 0 running in a thread.
The proxy sits in front of the real service, counts every request it sees, and plays
a script of faults (``503``, ``429``, ``drop`` before forwarding, ``lose`` = forward
then drop the connection without answering, ``truncate`` = half the body, ``cut`` =
announce the whole body, send 10 bytes and close, or a callable run once the request
reached the service and before the answer is sent) on the requests that match.
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from functools import partial
from http.server import (
    BaseHTTPRequestHandler,
    SimpleHTTPRequestHandler,
    ThreadingHTTPServer,
)
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FaultProxy", "FileServer"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class FaultProxy:
    """A reverse proxy in front of ``upstream`` with scripted faults.

    Parameters
    ----------
    upstream : str
        The real service's base URL.

    Attributes
    ----------
    counts : Counter
        ``(method, path without query)`` -> requests received (faulted ones too).
    forwarded : Counter
        Same, for the requests that reached the upstream service.
    """

    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.counts: Counter = Counter()
        self.forwarded: Counter = Counter()
        # (method, path prefix, action): a str, or a callable run after forwarding
        self.faults: list[tuple[str, str, Any]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                method, path = self.command, self.path.split("?")[0]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.counts[(method, path)] += 1
                    action = proxy._take(method, path)
                if action == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                retry_after = "0"
                hook = action if callable(action) else None
                if hook is not None:
                    action = None
                if action and action.startswith("429:"):
                    action, retry_after = action.split(":")
                if action in ("503", "429"):
                    payload = (
                        b'{"status": %s, "error": "fault", "message": "injected"}'
                        % (action.encode())
                    )
                    self.send_response(int(action))
                    if action == "429":
                        self.send_header("Retry-After", retry_after)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=60
                )
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in _HOP
                }
                conn.request(method, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                with proxy._lock:
                    proxy.forwarded[(method, path)] += 1
                if hook is not None:
                    hook()
                if action == "truncate":
                    data = data[: len(data) // 2]
                if action == "lose":
                    self.close_connection = True
                    self.connection.close()
                    return
                try:
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in _HOP and k.lower() != "content-length":
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:10] if action == "cut" else data)
                    if action == "cut":
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.close()
                except OSError:  # the client is gone (e.g. a killed process)
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail(self, method: str, path_prefix: str, *actions: Any) -> None:
        """Play ``actions`` on the next requests matching method and path prefix."""
        with self._lock:
            self.faults.extend((method, path_prefix, a) for a in actions)

    def _take(self, method: str, path: str) -> Any:
        for i, (m, prefix, action) in enumerate(self.faults):
            if m == method and path.startswith(prefix):
                del self.faults[i]
                return action
        return None

    def total(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FileServer:
    """Serve a folder over HTTP on 127.0.0.1 (for URL inputs)."""

    def __init__(self, folder):
        handler = partial(_QuietFiles, directory=str(folder))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
