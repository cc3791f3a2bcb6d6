"""The job subcommands of the ``humelab`` command: submit, wait, fetch, jobs, demo.

Each talks to ``HUMELAB_URL`` (or ``--url``); with neither, it starts the embedded
local service (``simulated`` engine) inside the command's own process.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from .cli import EXIT_TIMEOUT
from .errors import InputError, JobError, JobTimeoutError

__all__ = ["register"]

_TIMEOUT_HELP = (
    "seconds to wait at most; when they pass, the command exits with code "
    f"{EXIT_TIMEOUT} and the job keeps running (resume with `humelab wait ID`)"
)

_NOTE = (
    "Scores describe perceived expression (how a face, voice or text comes across), "
    "not felt emotion."
)


def register(subparsers) -> None:
    """Add ``submit``, ``wait``, ``fetch``, ``jobs`` and ``demo`` to the parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        help="the Batch service (default: $HUMELAB_URL, else the embedded service)",
    )
    common.add_argument(
        "--data-dir",
        type=lambda text: str(Path(text).expanduser().resolve()),
        help="ledger, cache and embedded-service folder (default: $HUMELAB_DATA_DIR)",
    )

    p = subparsers.add_parser(
        "submit",
        parents=[common],
        help="submit files, folders, globs and URLs as one or more jobs",
        description=(
            "Submit media as jobs; prints one job id per line. The API key comes "
            "from $HUMELAB_API_KEY. Files found in a folder are named by their path "
            f"below it. Exit codes: 0 done, 1 error, {EXIT_TIMEOUT} --timeout passed."
        ),
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="file, folder, glob or URL")
    p.add_argument(
        "--models",
        help="comma-separated models (face,prosody) or a JSON object of configs "
        '(\'{"face": {"identify_faces": true}}\')',
    )
    p.add_argument("--text", action="append", help="a text item (repeatable)")
    p.add_argument("--wait", action="store_true", help="wait for the jobs to end")
    p.add_argument("--timeout", type=float, help=_TIMEOUT_HELP)
    p.add_argument(
        "--resubmit", action="store_true", help="submit even if already in the ledger"
    )
    p.set_defaults(func=_submit)

    p = subparsers.add_parser(
        "wait",
        parents=[common],
        help="wait for a job to end, with a progress bar",
        description=(
            "Wait for a job to end. Exit codes: 0 completed, 1 failed or error, "
            f"{EXIT_TIMEOUT} --timeout passed (the job keeps running)."
        ),
    )
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--timeout", type=float, help=_TIMEOUT_HELP)
    p.set_defaults(func=_wait)

    p = subparsers.add_parser(
        "fetch",
        parents=[common],
        help="download a job's predictions JSON and artifacts zip",
    )
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    p.set_defaults(func=_fetch)

    p = subparsers.add_parser(
        "jobs", parents=[common], help="list the jobs this machine submitted (ledger)"
    )
    p.add_argument("--all", action="store_true", help="jobs of every service")
    p.set_defaults(func=_jobs)

    p = subparsers.add_parser(
        "demo",
        parents=[common],
        help="run the example media through the service and summarize the results",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help=f"seconds at most (default 120; exit code {EXIT_TIMEOUT} when they pass)",
    )
    p.set_defaults(func=_demo)


def _client(args):
    from .client import Client

    return Client(args.url, data_dir=args.data_dir)


def _parse_models(text: str | None) -> dict | None:
    if not text:
        return None
    text = text.strip()
    if text.startswith("["):
        raise InputError(
            f"`--models` got a JSON list ({text}); pass model names separated by "
            "commas (`--models prosody,face`) or a JSON object of configs "
            """(`--models '{"prosody": {}}'`)."""
        )
    if text.startswith("{"):
        try:
            models = json.loads(text)
        except ValueError as exc:
            raise InputError(f"`--models` is not valid JSON: {exc}.") from None
        return models
    return {name.strip(): {} for name in text.split(",") if name.strip()}


def _again(args, job_id: str) -> str:
    """The command that resumes waiting for ``job_id`` with the same service."""
    flags = "".join(
        f" --{flag.replace('_', '-')} {shlex.quote(str(value))}"
        for flag in ("url", "data_dir")
        if (value := getattr(args, flag, None))
    )
    return f"`humelab wait {job_id}{flags}`"


def _wait_for(waitable, args, client) -> None:
    """``waitable.wait(args.timeout)``, with a timeout told in CLI terms."""
    try:
        waitable.wait(args.timeout)
    except JobTimeoutError:
        from ._wait import timeout_message

        jobs = list(getattr(waitable, "jobs", [waitable]))
        pending = [j for j in jobs if j.status not in ("COMPLETED", "FAILED")]
        pending = pending or jobs
        first = pending[0]
        message = timeout_message(
            pending,
            jobs,
            args.timeout,
            resume=_again(args, first.id),
            embedded=client.embedded,
        )
        raise JobTimeoutError(
            message, job_id=first.id, status=first.status, job=first
        ) from None


def _submit(args) -> int:
    from .inputs import _check_models, collect_inputs, preflight

    # Everything that can be checked here is, before any service is started.
    models = _check_models(_parse_models(args.models))
    preflight(
        collect_inputs(args.paths or None, text=args.text),
        max_urls=10**9,
        max_files=10**9,
        max_texts=10**9,
    )
    with _client(args) as client:
        group = client.submit_many(
            args.paths or None,
            text=args.text,
            models=models,
            resubmit=args.resubmit,
        )
        for job in group:
            print(job.id, flush=True)
        if client.embedded and not args.wait:
            print(
                "humelab: the embedded service lives only as long as this command, so "
                "it waits for the jobs (set HUMELAB_URL to use a running service).",
                file=sys.stderr,
            )
        if args.wait or client.embedded:
            _wait_for(group, args, client)
            for job in group:
                print(f"{job.id} {job.status}", file=sys.stderr)
    return 0


def _wait(args) -> int:
    with _client(args) as client:
        job = client.job(args.job_id)
        _wait_for(job, args, client)
        done, total = job.progress
        print(f"{job.id} {job.status} ({done}/{total} files)")
    return 0


def _fetch(args) -> int:
    out = Path(args.out)
    with _client(args) as client:
        job = client.job(args.job_id)
        if job.status not in ("COMPLETED", "FAILED"):
            raise JobError(
                f"Job `{job.id}` is {job.status}; its results are not ready yet. "
                f"Wait for it with {_again(args, job.id)}, then fetch again."
            )
        out.mkdir(parents=True, exist_ok=True)
        preds = out / f"predictions-{job.id}.json"
        src = job.cache_dir / "predictions.json"
        job.predictions()
        preds.write_bytes(src.read_bytes())
        art = job.download_artifacts(out)
        print(preds)
        print(art)
    return 0


def _jobs(args) -> int:
    import os

    import pandas as pd

    from ._ledger import Ledger, _ledger_frame, default_data_dir

    # Reads the ledger only: no service is started or contacted.
    data_dir = default_data_dir(args.data_dir)
    url = args.url or os.environ.get("HUMELAB_URL")
    ledger = Ledger(data_dir / "ledger.sqlite3")
    rows = ledger.rows()
    if not args.all:
        if url:
            rows = [r for r in rows if r["service"] == url.rstrip("/")]
        else:  # the embedded services of this data folder (service, service-2, ...)
            prefix = f"embedded:{data_dir / 'service'}"
            rows = [r for r in rows if r["service"].startswith(prefix)]
    df = _ledger_frame(rows)
    if df.empty:
        print("No jobs in the ledger yet; submit one with `humelab submit PATHS...`.")
        return 0
    df = df.assign(submitted=df["submitted"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    cols = ["job_id", "submitted", "status", "inputs", "models"]
    if args.all:
        cols.append("service")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(df[cols].to_string(index=False))
    return 0


def _demo(args) -> int:
    from .datasets import example_files

    files = example_files()
    models = {"face": {}, "burst": {}, "prosody": {}, "language": {}}
    with _client(args) as client:
        job = client.submit(files, models=models)
        print(
            f"Job {job.id}: {len(files)} example files "
            f"({', '.join(p.name for p in files)}), models {', '.join(models)}.",
            flush=True,
        )
        start = time.monotonic()
        _wait_for(job, args, client)
        done, total = job.progress
        print(
            f"{job.status}: {done}/{total} files measured (the service counts each "
            f"file inside an archive) in {time.monotonic() - start:.1f} s.",
            flush=True,
        )
        df = job.frame("long", errors="ignore")
    simulated = job.simulated is not False
    print(
        f"\nTop expressions per file and model (mean score over segments, "
        f"{len(df):,} scores{'; SIMULATED' if simulated else ''}):\n"
    )
    print(_summary(df))
    print()
    if simulated:
        print(
            "These scores are SIMULATED: synthetic stand-ins from the `simulated` "
            f"engine, for teaching and tests, not measurements. {_NOTE}"
        )
    else:
        print(f"Scores measured by the service's `{job.engine}` engine. {_NOTE}")
    print(
        f"In Python: humelab.Client().job({job.id!r}).frame() gives the tidy frame.",
        flush=True,
    )
    return 0


def _summary(df, *, top: int = 3) -> str:
    """Per file and model, the expressions with the highest mean score."""
    emo = df[df["family"] == "emotions"]
    if emo.empty:
        return "No expression scores came back."
    means = (
        emo.groupby(["source", "file", "model", "name"], observed=True)["score"]
        .mean()
        .reset_index()
        .sort_values(["source", "file", "model", "score"], ascending=[1, 1, 1, 0])
    )
    lines = []
    for (source, file), per_file in means.groupby(["source", "file"], observed=True):
        label = source if source == file else f"{source} / {file}"
        lines.append(str(label))
        for model, rows in per_file.groupby("model", observed=True, sort=False):
            best = ", ".join(
                f"{n} {s:.2f}" for n, s in rows.head(top)[["name", "score"]].values
            )
            lines.append(f"  {model:<9} {best}")
    return "\n".join(lines)
