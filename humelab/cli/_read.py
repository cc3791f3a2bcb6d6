"""The ``humelab read`` subcommand: load predictions JSON or an artifacts zip."""

from __future__ import annotations

from pathlib import Path

from ..analysis import top_emotions
from ..errors import ReadError
from ..io import read_artifacts, read_errors, read_predictions
from ..io._input import is_zip, load_bytes
from ._common import add_parser

__all__ = ["register"]


def register(subparsers) -> None:
    """Add ``humelab read PATH [--shape long|wide] [--top N]``."""
    p = add_parser(
        subparsers,
        "read",
        help="load a predictions JSON or artifacts zip and print a summary",
        description=(
            "Load a Hume v0 predictions JSON or artifacts zip (detected by content) "
            "and print rows, sources, models and the top expressions. Scores describe "
            "perceived expression, not felt emotion."
        ),
    )
    p.add_argument("path", metavar="PATH", help="predictions JSON or artifacts zip")
    p.add_argument(
        "--shape", choices=("long", "wide"), default="long", help="frame shape to load"
    )
    p.add_argument(
        "--top",
        type=int,
        default=5,
        metavar="N",
        help="expressions to list",
    )
    p.set_defaults(func=_run)


def _run(args) -> int:
    path = Path(args.path)
    data, _ = load_bytes(path, reader="humelab read", what="a predictions JSON or zip")
    if is_zip(data):
        kind, errors = "artifacts zip", None
        long = read_artifacts(path)
        df = read_artifacts(path, shape="wide") if args.shape == "wide" else long
    else:
        kind, errors = "predictions JSON", read_errors(path)
        long = read_predictions(path, errors="ignore")
        df = (
            read_predictions(path, shape="wide", errors="ignore")
            if args.shape == "wide"
            else long
        )
    print(
        f"{path} ({kind}, shape {args.shape}): {len(df):,} rows x {df.shape[1]} columns"
    )
    print(f"  scores:  {len(long):,}")
    sources = list(long["source"].cat.categories)
    more = " ..." if len(sources) > 3 else ""
    print(f"  sources: {len(sources)}: " + ", ".join(sources[:3]) + more)
    counts = long.groupby("model", observed=True)["score"].size()
    print("  models:  " + ", ".join(f"{m} ({n:,} scores)" for m, n in counts.items()))
    if errors is not None and len(errors):
        print(
            f"  errors:  {len(errors)} failed files or sources "
            "(see humelab.read_errors)"
        )
    best = top_emotions(long, k=args.top, by="model", family="emotions")
    if len(best):
        print("  top expressions (mean score; perceived expression, not felt emotion):")
        for model, rows in best.groupby("model", observed=True, sort=False):
            shown = ", ".join(
                f"{n} {m:.3f}" for n, m in rows[["name", "mean"]].itertuples(False)
            )
            print(f"    {model}: {shown}")
    if not len(long):
        raise ReadError(f"{path} holds no scores.")
    return 0
