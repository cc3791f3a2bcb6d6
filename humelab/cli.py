"""The ``humelab`` command line: assembles the subcommands of each part of humelab.

Each part registers its own subcommands from a private module exposing
``register(subparsers)``; this module only builds the parser and dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import HumelabError, JobTimeoutError

__all__ = ["main"]

#: Exit code when a ``--timeout`` passed (the job keeps running), as coreutils'
#: ``timeout``.
EXIT_TIMEOUT = 124

#: Modules that contribute subcommands, each with ``register(subparsers)``.
_COMMAND_MODULES: tuple[str, ...] = (
    "humelab.service._cli",
    "humelab.io._cli",
    "humelab._cli_jobs",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="humelab",
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
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
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
