"""The job subcommands of the ``humelab`` command: submit, wait, fetch, jobs, demo.

Each talks to ``HUMELAB_URL`` (or ``--url``); with neither, it starts the embedded
local service (``simulated`` engine) inside the command's own process.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import pandas as pd

from .. import settings
from ..analysis import top_emotions
from ..client import Client
from ..client._ledger import Ledger, ledger_frame
from ..client._submit import check_config
from ..client._wait import timeout_message
from ..client.inputs import collect_inputs, preflight
from ..contract import TERMINAL, file_kind
from ..datasets import example_files
from ..errors import InputError, JobError, JobTimeoutError
from ..report import timeline_pngs, write_report
from ._common import EXIT_TIMEOUT, NOTE, add_parser, service_flags

__all__ = ["register"]

_TIMEOUT_HELP = (
    "seconds to wait at most; when they pass, the command exits with code "
    f"{EXIT_TIMEOUT} and the job keeps running (resume with `humelab wait ID`)"
)

_NOTE = NOTE


def register(subparsers) -> None:
    """Add ``submit``, ``wait``, ``fetch``, ``jobs`` and ``demo`` to the parser."""
    common = service_flags()

    p = add_parser(
        subparsers,
        "submit",
        parents=[common],
        help="submit files, folders, globs and URLs as one or more jobs",
        description=(
            "Submit media as jobs; prints one job id per line. Files found in a "
            "folder are named by their path below it; files there that no model "
            "reads (README.md, *.csv, *.py) are skipped. Exit codes: 0 done, "
            f"1 error, {EXIT_TIMEOUT} --timeout passed."
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
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="send nothing: print what the job would cost on the `hume` engine "
        "(requests and billed seconds of media) and exit",
    )
    _engine_flag(p)
    p.set_defaults(func=_submit)

    p = add_parser(
        subparsers,
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

    p = add_parser(
        subparsers,
        "fetch",
        parents=[common],
        help="download a job's predictions JSON and artifacts zip",
        description=(
            "Download a finished job's predictions JSON and artifacts zip into a "
            "folder (predictions-ID.json, artifacts-ID.zip); both are cached, so a "
            "second fetch makes no request."
        ),
    )
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--out", metavar="DIR", help="folder to write into")
    p.add_argument(
        "--parquet",
        metavar="ROOT",
        help="add the job's tidy frame to the Parquet corpus at ROOT (created; a "
        "job already in it is skipped; needs the `dask` extra); with or without "
        "--out",
    )
    p.set_defaults(func=_fetch)

    p = add_parser(
        subparsers,
        "jobs",
        parents=[common],
        help="list the jobs this machine submitted (ledger)",
        description=(
            "List the jobs in this machine's ledger for the service (--url / "
            "$HUMELAB_URL, else the embedded service); reads the ledger only, no "
            "service is started or contacted."
        ),
    )
    p.add_argument("--all", action="store_true", help="jobs of every service")
    p.set_defaults(func=_jobs)

    p = add_parser(
        subparsers,
        "demo",
        parents=[common],
        help="run the example media through the service and summarize the results",
        description=(
            "Submit the example media (humelab.example_files()) to the service "
            "(the embedded one unless --url / $HUMELAB_URL), wait, and print the top "
            f"expressions per file and model. {NOTE}"
        ),
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help=f"seconds at most (exit code {EXIT_TIMEOUT} when they pass)",
    )
    p.add_argument(
        "--resubmit",
        action="store_true",
        help="run the examples again even if the ledger holds their job",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="folder for the timeline PNGs and report.html (default: demo/ in the "
        "data folder; the command prints it)",
    )
    _engine_flag(p)
    p.set_defaults(func=_demo)

    p = add_parser(
        subparsers,
        "report",
        parents=[common],
        help="write a one-page HTML report of a job or a results file",
        description=(
            "Write a self-contained HTML page (summary tables, a timeline per "
            "source, a files-by-expressions heatmap; no network needed to view it) "
            "for a finished job (by id) or a predictions JSON / artifacts zip. "
            f"{NOTE}"
        ),
    )
    p.add_argument("target", metavar="JOB_OR_FILE", help="a job id, or a results file")
    p.add_argument(
        "--out",
        metavar="PATH",
        default=None,
        help="the .html file, or a folder for report.html (default: ./<name>.html)",
    )
    p.add_argument("--title", default=None, help="the page's title")
    p.set_defaults(func=_report)


def _engine_flag(parser) -> None:
    parser.add_argument(
        "--engine",
        choices=("simulated", "hume"),
        default=None,
        help="the embedded service's engine (default simulated; hume needs "
        "$HUME_API_KEY); a service at --url has its own",
    )


def _client(args):
    return Client(
        args.url,
        args.api_key,
        data_dir=args.data_dir,
        engine=getattr(args, "engine", None),
    )


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
        jobs = list(getattr(waitable, "jobs", [waitable]))
        pending = [j for j in jobs if j.status not in TERMINAL]
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
    # Everything that can be checked here is, before any service is started.
    models = _parse_models(args.models)
    check_config(models, None)
    if args.dry_run:
        return _dry_run(args, models)
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


def _dry_run(args, models) -> int:
    # Estimated locally: no service is started or contacted.
    est = Client("http://127.0.0.1:9", data_dir=args.data_dir).estimate(
        args.paths or None, text=args.text, models=models
    )
    print(
        f"On the `hume` engine this job would send {est['requests']} request"
        f"{'s' if est['requests'] != 1 else ''} to Hume: {est['audio_seconds']:.1f} s "
        f"of audio and {est['images']} image{'s' if est['images'] != 1 else ''}, "
        f"billed as about {est['billed_seconds']:.0f} s of media "
        "(Hume's minimum per request included)."
    )
    for model, names in sorted(est["unsupported"].items()):
        print(f"  `{model}` cannot be measured by v1 for: {', '.join(names)}")
    if est["not_estimated"]:
        print(
            f"  not estimated (the service fetches them): "
            f"{len(est['not_estimated'])} URLs"
        )
    print("Nothing was sent (--dry-run).")
    return 0


def _wait(args) -> int:
    with _client(args) as client:
        job = client.job(args.job_id)
        _wait_for(job, args, client)
        done, total = job.progress
        print(f"{job.id} {job.status} ({done}/{total} files)")
    return 0


def _fetch(args) -> int:
    if not args.out and not args.parquet:
        raise InputError(
            "`humelab fetch` needs `--out DIR` (the JSON and zip), `--parquet ROOT` "
            "(a tidy Parquet corpus), or both."
        )
    with _client(args) as client:
        job = client.job(args.job_id)
        if job.status not in TERMINAL:
            raise JobError(
                f"Job `{job.id}` is {job.status}; its results are not ready yet. "
                f"Wait for it with {_again(args, job.id)}, then fetch again."
            )
        if args.parquet:
            done = job.to_parquet(args.parquet, workers=1, progress=False)
            state = "added" if done["converted"].iloc[0] else "already there"
            print(f"{args.parquet}: {int(done['rows'].iloc[0])} scores ({state})")
        if not args.out:
            return 0
        out = Path(args.out)
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
    # Reads the ledger only: no service is started or contacted.
    data_dir = settings.default_data_dir(args.data_dir)
    url = settings.service_url(args.url)
    ledger = Ledger(data_dir / "ledger.sqlite3")
    every = ledger.rows()
    rows = every
    if not args.all:
        if url:
            rows = [r for r in rows if r["service"] == url]
            where = url
        else:  # the embedded services of this data folder (service, service-2, ...)
            prefix = f"embedded:{data_dir / 'service'}"
            rows = [r for r in rows if r["service"].startswith(prefix)]
            where = "the embedded service"
    df = ledger_frame(rows)
    if df.empty:
        others = len(every) - len(rows)
        if others:
            services = len({r["service"] for r in every})
            print(
                f"No jobs for {where} in the ledger; it holds {others} job"
                f"{'s' if others > 1 else ''} of {services} other service"
                f"{'s' if services > 1 else ''}: `humelab jobs --all` lists them."
            )
        else:
            print(
                "No jobs in the ledger yet; submit one with `humelab submit PATHS...`."
            )
        return 0
    df = df.assign(submitted=df["submitted"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    cols = ["job_id", "submitted", "status", "inputs", "models"]
    if args.all:
        cols.append("service")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(df[cols].to_string(index=False))
    return 0


def _demo(args) -> int:
    # The example media with their simulation scripts: scores follow what each file
    # shows (a smile reads as Joy), so the demo tells a coherent story.
    # The speech's transcripts go too: the service pairs each with its recording,
    # so `language` reads what is said.
    files = example_files(with_scripts=True)
    media = [p for p in files if file_kind(p.name) != "script"]
    models = {"face": {}, "burst": {}, "prosody": {}, "language": {}}
    with _client(args) as client:
        job = client.submit(
            files + example_files("transcript"), models=models, resubmit=args.resubmit
        )
        print(
            f"Job {job.id}: {len(media)} example files "
            f"({', '.join(p.name for p in media)}) with their transcripts and "
            f"simulation scripts, models {', '.join(models)}.",
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
        out = Path(args.out) if args.out else client.data_dir / "demo"
    simulated = job.simulated is not False
    print(
        f"\nTop expressions per file and model (mean score over segments, "
        f"{len(df):,} scores{'; SIMULATED' if simulated else ''}):\n"
    )
    print(summary_lines(df))
    print()
    pngs = timeline_pngs(df, out)
    page = write_report(df, out / "report.html", title="humelab demo")
    print(
        f"Pictures: {len(pngs)} timelines and a one-page report in {out}\n  open {page}"
    )
    if simulated:
        print(
            "These scores are SIMULATED: synthetic stand-ins from the `simulated` "
            "engine following each example's script, for teaching and tests, not "
            f"measurements. {_NOTE}"
        )
    else:
        print(f"Scores measured by the service's `{job.engine}` engine. {_NOTE}")
    print(
        f"In Python: humelab.Client().job({job.id!r}).frame() gives the tidy frame.",
        flush=True,
    )
    return 0


def _report(args) -> int:
    target = Path(args.target).expanduser()
    if target.exists():
        df, name = target, target.stem
    else:
        with _client(args) as client:
            job = client.job(args.target)
            df, name = job.frame("long", errors="ignore"), f"report-{job.id}"
    out = Path(args.out) if args.out else Path.cwd() / f"{name}.html"
    page = write_report(df, out, title=args.title or f"humelab report: {args.target}")
    print(page)
    return 0


def summary_lines(df, *, top: int = 3) -> str:
    """Per file and model, the expressions with the highest mean score
    (:func:`humelab.top_emotions`), as indented lines."""
    best = top_emotions(df, k=top, by=("source", "file", "model"), family="emotions")
    if best.empty:
        return "No expression scores came back."
    lines = []
    for (source, file), per_file in best.groupby(["source", "file"], observed=True):
        label = source if source == file else f"{source} / {file}"
        lines.append(str(label))
        for model, rows in per_file.groupby("model", observed=True, sort=False):
            shown = ", ".join(
                f"{n} {m:.2f}" for n, m in rows[["name", "mean"]].itertuples(False)
            )
            lines.append(f"  {model:<9} {shown}")
    return "\n".join(lines)
