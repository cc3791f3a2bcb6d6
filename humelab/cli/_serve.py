"""The ``humelab serve`` subcommand: run the Batch service in the foreground."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from .. import settings
from ..errors import InputError
from ..service import serve
from ..service.engines import ENGINES
from ..service.server import read_api_key_file
from ._common import add_parser

__all__ = ["register"]


def register(subparsers) -> None:
    """Add ``humelab serve [--host] [--port] [--data-dir] [--engine] ...``."""
    p = add_parser(
        subparsers,
        "serve",
        help="run the local Batch service (Hume v0 Batch API contract)",
        description=(
            "Run a Batch service implementing Hume's v0 Batch API, so the "
            "hume==0.13.13 "
            "SDK and curl scripts work against it unchanged. Jobs and results are kept "
            "in the data folder and survive restarts. Scores describe perceived "
            "expression, not felt emotion; the simulated engine's scores are synthetic."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    p.add_argument("--port", type=int, default=8000, help="TCP port (0 = any free)")
    p.add_argument(
        "--data-dir",
        "--data",
        dest="data_dir",
        metavar="DIR",
        default=None,
        type=lambda text: str(Path(text).expanduser().resolve()),
        help="folder for jobs and results (default: $HUMELAB_DATA_DIR/service, else "
        "the per-user data folder's service/, the embedded service's folder)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="files measured in parallel"
    )
    p.add_argument(
        "--engine",
        default="simulated",
        choices=sorted(ENGINES),
        help="measurement engine",
    )
    key = p.add_mutually_exclusive_group()
    key.add_argument(
        "--api-key",
        default=None,
        help="key clients must send in X-Hume-Api-Key (default: $HUMELAB_API_KEY, "
        "else a random key printed at start); visible to other users in `ps`, so "
        "prefer --api-key-file or the variable",
    )
    key.add_argument(
        "--api-key-file",
        default=None,
        metavar="FILE",
        help="read the key clients must send from this file (first line)",
    )
    p.add_argument(
        "--item-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="extra seconds per measured file, to watch jobs progress in demos",
    )
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="mark jobs left unfinished by a previous run FAILED instead of resuming",
    )
    p.add_argument(
        "--max-file-bytes",
        type=int,
        default=None,
        metavar="N",
        help="cap on any single upload, URL or text item (default 1 GB)",
    )
    p.add_argument(
        "--hume-url",
        default=None,
        metavar="URL",
        help="Hume's v1 API for `--engine hume` (default: $HUME_V1_URL, else "
        "https://api.cloud.hume.ai; a `humelab v1-standin` for offline runs). "
        "Hume's key is read from $HUME_API_KEY, never from the command line",
    )
    p.add_argument(
        "--hume-concurrency",
        type=int,
        default=2,
        metavar="N",
        help="at most this many requests to Hume at once, per process (per worker "
        "process with `--dask-scheduler`; `--engine hume`)",
    )
    p.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="fetch URLs and call callbacks on loopback and private addresses "
        "(refused by default: a request must not make the service reach inside "
        "your network)",
    )
    p.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        default=None,
        help="measure each file on the workers of this Dask cluster "
        "(tcp://HOST:8786; default: HUMELAB_DASK_SCHEDULER, else threads here; "
        "needs the `dask` extra)",
    )
    p.add_argument(
        "--dask-inputs",
        choices=("bytes", "shared"),
        default="bytes",
        help="how files reach the workers: shipped as bytes, or by path in a folder "
        "the workers see at the same path as the service's data folder",
    )
    p.set_defaults(func=_run)


def _run(args) -> int:
    if args.api_key:
        print(
            "humelab: warning: a key given with --api-key is visible to other users "
            "of this machine (`ps`); use --api-key-file or HUMELAB_API_KEY.",
            file=sys.stderr,
        )
    given_key = (
        read_api_key_file(args.api_key_file)
        if args.api_key_file
        else settings.service_key(args.api_key)
    )
    limits = {}
    if args.max_file_bytes is not None:
        limits["max_file_bytes"] = args.max_file_bytes
    engine_options = {}
    if args.engine == "hume":
        engine_options = {
            "hume_url": settings.hume_url(args.hume_url),
            "max_concurrency": args.hume_concurrency,
        }
    elif args.hume_url or args.hume_concurrency != 2:
        raise InputError(
            "`--hume-url` and `--hume-concurrency` apply to `--engine hume` only."
        )
    server = serve(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        workers=args.workers,
        engine=args.engine,
        engine_options=engine_options or None,
        api_key=given_key,
        item_delay=args.item_delay,
        resume=not args.no_resume,
        allow_private_urls=args.allow_private_urls,
        dask_scheduler=args.dask_scheduler,
        dask_inputs=args.dask_inputs,
        **limits,
    )
    if not given_key:
        print(
            f"API key for this run: {server.api_key}  (generated; choose one with "
            "--api-key-file or HUMELAB_API_KEY)",
            flush=True,
        )
    print("Press Ctrl+C to stop.", flush=True)
    done = threading.Event()

    def _on_term(signum, frame):
        done.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_term)
    try:
        while not done.wait(0.5):
            if not server.running:
                print("humelab: the service stopped unexpectedly", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("humelab service stopped.", flush=True)
    return 0
