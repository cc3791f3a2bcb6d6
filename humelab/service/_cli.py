"""The ``humelab serve`` subcommand: run the Batch service in the foreground."""

from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["register"]


def register(subparsers) -> None:
    """Add ``humelab serve [--host] [--port] [--data] [--workers] [--engine] ...``."""
    p = subparsers.add_parser(
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
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=8000, help="TCP port (default 8000; 0 = any free)"
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="data folder for jobs and results (default: a per-user folder)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="files measured in parallel"
    )
    p.add_argument(
        "--engine", default="simulated", help="measurement engine (default simulated)"
    )
    p.add_argument(
        "--api-key",
        default=None,
        help="key clients must send in X-Hume-Api-Key (default: HUMELAB_API_KEY, "
        "else a random key printed at start)",
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
    p.set_defaults(func=_run)


def _run(args) -> int:
    from .server import serve

    given_key = args.api_key or os.environ.get("HUMELAB_API_KEY")
    limits = {}
    if args.max_file_bytes is not None:
        limits["max_file_bytes"] = args.max_file_bytes
    server = serve(
        host=args.host,
        port=args.port,
        data_dir=args.data,
        workers=args.workers,
        engine=args.engine,
        api_key=given_key,
        item_delay=args.item_delay,
        resume=not args.no_resume,
        **limits,
    )
    if not given_key:
        print(
            f"API key for this run: {server.api_key}  (generated; choose one with "
            "--api-key or HUMELAB_API_KEY)",
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
