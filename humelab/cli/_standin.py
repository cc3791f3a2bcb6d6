"""The ``humelab v1-standin`` subcommand: a local stand-in of Hume's v1 endpoints."""

from __future__ import annotations

from ..errors import InputError
from ..service import v1_standin
from ._common import add_parser

__all__ = ["register"]


def register(subparsers) -> None:
    """Add ``humelab v1-standin [--host] [--port] [--latency MS] [--fail-rate P]``."""
    p = add_parser(
        subparsers,
        "v1-standin",
        help="run a local stand-in of Hume's v1 Expression Measurement API",
        description=(
            "Serve Hume's v1 upload and runs endpoints locally, faithful to the "
            "reference (formats, limits, windows, face rules, error bodies), with "
            "synthetic scores marked as simulated. Point the `hume` engine at it "
            "(HUME_V1_URL or `humelab serve --engine hume --hume-url URL`) to try "
            "real-measurement jobs offline; --latency and --fail-rate inject delays, "
            "429s and 503s."
        ),
    )
    v1_standin.add_arguments(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    if not 0.0 <= args.fail_rate <= 1.0:
        raise InputError(
            f"`--fail-rate` must be between 0 and 1, got {args.fail_rate}."
        )
    if args.latency < 0:
        raise InputError(f"`--latency` must be >= 0 ms, got {args.latency}.")
    return v1_standin.run_from_args(args)
