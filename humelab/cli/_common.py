"""What every ``humelab`` subcommand shares: exit codes, the help format, the flags
that name the service and the data folder (one name per idea across subcommands)."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = [
    "EXIT_TIMEOUT",
    "NOTE",
    "HelpFormatter",
    "service_flags",
    "data_dir_flag",
    "add_parser",
]

#: Exit code when a ``--timeout`` passed (the job keeps running), as coreutils'
#: ``timeout``.
EXIT_TIMEOUT = 124

#: The caveat every summary carries.
NOTE = (
    "Scores describe perceived expression (how a face, voice or text comes across), "
    "not felt emotion."
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown in help, unless None or a flag's False (which say nothing)."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _absolute(text: str) -> str:
    return str(Path(text).expanduser().resolve())


def data_dir_flag(parser: argparse.ArgumentParser, *, what: str) -> None:
    """Add ``--data-dir DIR`` (alias ``--data``), made absolute."""
    parser.add_argument(
        "--data-dir",
        "--data",
        dest="data_dir",
        metavar="DIR",
        type=_absolute,
        default=None,
        help=f"{what} (default: $HUMELAB_DATA_DIR, else the per-user data folder)",
    )


def service_flags() -> argparse.ArgumentParser:
    """A parent parser with ``--url``, ``--api-key`` and ``--data-dir``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=None,
        help="the Batch service (default: $HUMELAB_URL, else the embedded service)",
    )
    common.add_argument(
        "--api-key",
        default=None,
        help="the Batch service's key (default: $HUMELAB_API_KEY); visible to other "
        "users in `ps`, so prefer the variable",
    )
    data_dir_flag(common, what="ledger, download cache and embedded-service folder")
    return common


def add_parser(subparsers, name: str, *, help: str, description: str, **kwargs):
    """A subcommand with a description and the shared help format."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        formatter_class=HelpFormatter,
        **kwargs,
    )
