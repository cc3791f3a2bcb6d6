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
    p.set_defaults(func=_run)


def _key_from_file(path: str) -> str:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"`--api-key-file` {path}: cannot read it ({exc.strerror}). Check the path."
        ) from None
    key = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not key:
        raise InputError(f"`--api-key-file` {path} is empty; put the key on line 1.")
    return key


def _run(args) -> int:
    if args.api_key:
        print(
            "humelab: warning: a key given with --api-key is visible to other users "
            "of this machine (`ps`); use --api-key-file or HUMELAB_API_KEY.",
            file=sys.stderr,
        )
    given_key = (
        _key_from_file(args.api_key_file)
        if args.api_key_file
        else settings.service_key(args.api_key)
    )
    limits = {}
    if args.max_file_bytes is not None:
        limits["max_file_bytes"] = args.max_file_bytes
    server = serve(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
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
