"""The ``humelab`` command line: every subcommand, one parser, one dispatch.

Each module here registers its subcommands with ``register(subparsers)``:
:mod:`._serve` (``serve``), :mod:`._read` (``read``), :mod:`._jobs` (``submit``,
``wait``, ``fetch``, ``jobs``, ``demo``) and :mod:`._standin` (``v1-standin``). Flags
mean the same everywhere (:mod:`._common`).
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import HumelabError, JobTimeoutError
from . import _jobs, _read, _serve, _standin
from ._common import EXIT_TIMEOUT, HelpFormatter

__all__ = ["main", "EXIT_TIMEOUT"]

_COMMANDS = (_serve, _read, _jobs, _standin)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="humelab",
        formatter_class=HelpFormatter,
        description=(
            "Batch expression measurement in the Hume v0 style. Scores describe "
            "perceived expression, not felt emotion."
        ),
        epilog=(
            f"Exit codes: 0 success, 1 error, 2 usage, {EXIT_TIMEOUT} a --timeout "
            "passed (the job keeps running; resume with `humelab wait ID`), 130 "
            "interrupted."
        ),
    )
    parser.add_argument("--version", action="version", version=f"humelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``humelab`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        The process exit code: 0 success, 1 error, 2 usage, 124 a ``--timeout``
        passed, 130 interrupted.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except JobTimeoutError as exc:
        print(f"humelab: error: {exc}", file=sys.stderr)
        return EXIT_TIMEOUT
    except HumelabError as exc:
        print(f"humelab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("humelab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `humelab read x.json | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
