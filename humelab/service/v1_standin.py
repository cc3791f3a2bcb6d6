"""A local stand-in of Hume's v1 Expression Measurement HTTP API, for tests and demos.

:class:`V1StandIn` serves the v1 upload and run endpoints of
``reference/v1-api.md`` on 127.0.0.1 (uvicorn in a background thread, as the Batch
service does), so the ``hume`` engine, the official SDK
(``hume-expression-measurement``) or curl can be exercised offline::

    from humelab.service.v1_standin import V1StandIn

    with V1StandIn(latency_ms=200, api_key="k") as s:
        s.url  # e.g. "http://127.0.0.1:53122"

What is faithful: paths, auth (``X-Hume-Api-Key``, 401 bodies), multipart parsing,
format sniffing (MP3/FLAC/Ogg/MP4/AIFF... -> 415; a WAV that is not 16 kHz mono
s16 -> 400), the 25,000,000-byte body, 2,000,000-byte image and 8,294,400-pixel
limits, measurement windows (section 3.4), face rules (section 4.4: threshold,
min size, 2 measured and 32 listed, ids across images and through ``face_state``),
runs with pagination and filters, and the error bodies of section 6.

What is not: the scores. They are **synthetic** (a hash of the bytes measured, so
the same bytes give the same scores) and marked so: every upload answer has the
extra top-level key ``"simulated": true`` (the SDK's models keep unknown keys in
``model_extra``) and the header ``X-Humelab-Simulated: true``. Names come from the
confirmed partial v1 name lists. Realtime (WebSocket) endpoints are not served.

For tests it records every request (:attr:`V1StandIn.requests`, key headers
masked), counts bytes, tracks concurrency, and injects failures: queued ones with
:meth:`V1StandIn.fail_next` (429 with ``Retry-After``, 503, 401, 500...) and random
ones with ``fail_rate`` (429 or 503, from a seeded generator).
"""

from __future__ import annotations

import argparse
import os
import secrets
import threading
from collections.abc import Sequence

from ..errors import InputError
from ._threaded import ThreadedServer
from ._v1standin_app import Failure, Received, StandInState, create_app
from ._v1standin_request import Part

__all__ = ["V1StandIn", "Received", "Part", "main", "add_arguments", "run_from_args"]


class V1StandIn:
    """A running stand-in of Hume's v1 Expression Measurement API (starts at once).

    Parameters
    ----------
    host : str
        Interface to listen on.
    port : int
        TCP port; 0 picks a free one (read it from :attr:`url`).
    api_key : str, optional
        The key clients must send (``X-Hume-Api-Key``, or ``Authorization:
        Bearer``); default a random one (:attr:`api_key`). Never shown in ``repr``
        and never recorded.
    latency_ms : float
        Delay added to every upload request before it is answered (also settable
        later as :attr:`latency_ms`); the run endpoints answer at once.
    fail_rate : float
        Chance (0-1) that an upload request is answered 429 or 503 (half each, from
        a generator seeded with ``seed``) with ``Retry-After: <retry_after>``.
    retry_after : float
        ``Retry-After`` seconds of random failures.
    seed : int
        Seed of the random failures.
    faces_measured : int
        Largest faces measured per image (Hume's default 2; "support can raise it").

    Attributes
    ----------
    url : str
        Base URL, e.g. ``http://127.0.0.1:53122`` (the SDK's ``environment.base``).

    Examples
    --------
    >>> with V1StandIn(api_key="k") as s:  # doctest: +SKIP
    ...     from hume_expression_measurement import (
    ...         ExpressionMeasurementClient, ExpressionMeasurementClientEnvironment)
    ...     env = ExpressionMeasurementClientEnvironment(
    ...         base=s.url, production=s.url.replace("http", "ws"))
    ...     client = ExpressionMeasurementClient(api_key="k", environment=env)
    ...     client.runs.list()
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        latency_ms: float = 0.0,
        fail_rate: float = 0.0,
        retry_after: float = 1.0,
        seed: int = 0,
        faces_measured: int = 2,
    ):
        if not 0.0 <= float(fail_rate) <= 1.0:
            raise InputError(
                f"`fail_rate` must be between 0 and 1, got {fail_rate!r}; it is the "
                "chance that an upload is answered 429 or 503."
            )
        if float(latency_ms) < 0:
            raise InputError(f"`latency_ms` must be >= 0, got {latency_ms!r}.")
        if int(faces_measured) < 1:
            raise InputError(f"`faces_measured` must be >= 1, got {faces_measured!r}.")
        self._state = StandInState(
            api_key=api_key or secrets.token_urlsafe(24),
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            retry_after=retry_after,
            seed=seed,
            faces_measured=faces_measured,
        )
        self._http = ThreadedServer(
            create_app(self._state), host=host, port=int(port), name="v1 stand-in"
        )
        self._http.start()
        self.url = self._http.url

    # -- settings -------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The key clients must send."""
        return self._state.api_key

    @property
    def latency_ms(self) -> float:
        """Delay added to each upload request (settable)."""
        return self._state.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        self._state.latency_ms = float(value)

    @property
    def fail_rate(self) -> float:
        """Chance of a random 429/503 per upload request (settable)."""
        return self._state.fail_rate

    @fail_rate.setter
    def fail_rate(self, value: float) -> None:
        self._state.fail_rate = float(value)

    # -- fault injection ------------------------------------------------------------

    def fail_next(
        self,
        status: int | str,
        *,
        retry_after: float | None = None,
        times: int = 1,
        endpoint: str | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next request(s) with an error, before credentials are checked.

        Parameters
        ----------
        status : int or "drop"
            HTTP status, or ``"drop"``: headers promising a body, a few bytes,
            then the connection closes (a lost connection). 401 gets the auth
            body ``{"message", "request_id"}``; 429 and unmapped statuses (502,
            504...) a gateway body ``{"message"}``; others an ``ErrorBody`` with
            the code of that status: 400 ``message_invalid``, 403 ``forbidden``,
            413 ``audio_too_long`` or ``image_too_large``, 415
            ``unsupported_media_type``, 500 ``internal_error``, 503
            ``server_busy``.
        retry_after : float, optional
            Seconds sent as ``Retry-After``.
        times : int
            How many requests in a row get it.
        endpoint : {"audio", "video", "runs"}, optional
            Only requests to these endpoints; default any.
        code, message : str, optional
            Override the body's code and message.

        Examples
        --------
        >>> s.fail_next(429, retry_after=1)  # doctest: +SKIP
        >>> s.fail_next(503, times=2, endpoint="audio")  # doctest: +SKIP
        """
        if endpoint not in (None, "audio", "video", "runs"):
            raise InputError(
                "`endpoint` must be 'audio', 'video', 'runs' or None, got "
                f"{endpoint!r}."
            )
        if status != "drop" and not (isinstance(status, int) and 400 <= status < 600):
            raise InputError(
                f"`status` must be an HTTP error status (400-599) or 'drop', got "
                f"{status!r}."
            )
        if int(times) < 1:
            raise InputError(f"`times` must be >= 1, got {times!r}.")
        with self._state.lock:
            self._state.failures.append(
                Failure(status, retry_after, endpoint, code, message, int(times))
            )

    # -- what was received ----------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        """Every HTTP request so far, in arrival order (a copy of the list)."""
        with self._state.lock:
            return list(self._state.requests)

    def uploads(self, *, status: int | None = None) -> list[Received]:
        """Upload requests (audio and video), optionally only those answered
        ``status`` (e.g. 200 for the files actually measured)."""
        return [
            r
            for r in self.requests
            if r.method == "POST"
            and r.path.endswith("/file")
            and (status is None or r.status == status)
        ]

    @property
    def bytes_received(self) -> int:
        """Request body bytes received, all requests."""
        return sum(r.bytes for r in self.requests)

    @property
    def max_in_flight(self) -> int:
        """Most upload requests being handled at the same time so far."""
        return self._state.max_in_flight

    @property
    def runs(self) -> list[dict]:
        """The runs recorded (oldest first), as ``GET /run/{id}`` returns them."""
        with self._state.lock:
            return [
                {k: v for k, v in r.items() if not k.startswith("_")}
                for r in self._state.runs
            ]

    def clear(self) -> None:
        """Forget recorded requests, queued failures and the concurrency peak (runs
        stay)."""
        with self._state.lock:
            self._state.requests.clear()
            self._state.failures.clear()
            self._state.max_in_flight = self._state.in_flight

    # -- lifecycle ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._http.running

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving. Calling it twice is harmless."""
        self._http.stop(timeout)

    def __enter__(self) -> V1StandIn:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"<humelab V1StandIn {self.url or '(not started)'} (scores are simulated) "
            f"latency_ms={self.latency_ms:g} fail_rate={self.fail_rate:g} {state}>"
        )


# -- command line ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``humelab v1-standin`` options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: a free one)")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="delay added to each upload request, in ms",
    )
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="chance (0-1) of a random 429 or 503 per upload request",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help="key clients must send (default: $HUME_API_KEY, else a random one)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of random failures")


def run_from_args(args: argparse.Namespace, *, stop: threading.Event | None = None):
    """Start a stand-in from parsed options and serve until Ctrl-C (or ``stop``).

    Returns
    -------
    int
        Exit status (0).
    """
    from_env = args.api_key is None and bool(os.environ.get("HUME_API_KEY"))
    key = args.api_key or os.environ.get("HUME_API_KEY") or None
    standin = V1StandIn(
        host=args.host,
        port=args.port,
        api_key=key,
        latency_ms=args.latency,
        fail_rate=args.fail_rate,
        seed=args.seed,
    )
    if key is None:
        shown = f"key: {standin.api_key} (random, for this run)"
    else:
        shown = "key: from $HUME_API_KEY" if from_env else "key: from --api-key"
    print(
        f"humelab v1 stand-in at {standin.url} | scores are simulated | {shown} | "
        "point HUME_V1_URL at it; Ctrl-C stops it",
        flush=True,
    )
    stop = stop or threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``humelab v1-standin [--host H] [--port N] [--latency MS] [--fail-rate P]``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the subcommand (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(
        prog="humelab v1-standin",
        description="A local stand-in of Hume's v1 Expression Measurement API "
        "(synthetic scores).",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    if not 0.0 <= args.fail_rate <= 1.0:
        parser.error(f"--fail-rate must be between 0 and 1, got {args.fail_rate}")
    if args.latency < 0:
        parser.error(f"--latency must be >= 0, got {args.latency}")
    return run_from_args(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
