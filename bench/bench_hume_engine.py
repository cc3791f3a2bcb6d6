"""Benchmark of the ``hume`` engine against the local v1 stand-in (200 ms latency).

Run from the project root::

    .venv/bin/python bench/bench_hume_engine.py [--concurrency 1 2 4] [--latency 200]

It writes a mixed set of media into ``bench/out/media_hume`` (cached): 12 audio
files of 30 s (44.1 kHz stereo FLAC, so each is decoded and resampled) and 4 videos
of 15 s (320x240, 25 fps, with a soundtrack), 7 minutes of media in all. A v1
stand-in runs in a subprocess (``humelab.service.v1_standin``, every upload answered
after ``--latency`` ms; its scores are synthetic), and for each concurrency a Batch
service with the ``hume`` engine (``max_concurrency`` = that value, twice as many
workers, at least 4) measures all files as one job (``face`` + ``prosody``),
submit to COMPLETED over loopback HTTP. The baseline, in the same run and at the
same concurrency, is "HTTP alone": the same requests, converted beforehand with the
engine's own media preparation, sent straight to the stand-in.

Figures per concurrency: wall time, minutes of media measured per minute of wall
time, requests, the engine's conversion time (thread time spent decoding and
encoding media, summed over threads) and its HTTP busy time (wall time with at
least one request to Hume in flight). The target is conversion hidden behind the
waits: at concurrency 2 the job's wall time is at most 1.1x HTTP alone.
Results go to ``bench/out/bench_hume_engine.json`` and are printed as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"
KEY = "bench-hume-key"


def make_media() -> tuple[list[Path], float]:
    """The bench's files (cached) and their total length in seconds."""
    import soundfile as sf

    sys.path.insert(0, str(ROOT))
    from tests.media import make_video, speech_signal

    folder = OUT / "media_hume"
    folder.mkdir(parents=True, exist_ok=True)
    files, seconds = [], 0.0
    for i in range(12):
        p = folder / f"voice_{i:02d}.flac"
        if not p.exists():
            sig = speech_signal(30.0, sr=44100, seed=100 + i)
            sf.write(p, np.stack([sig, 0.8 * sig], axis=1), 44100, format="FLAC")
        files.append(p)
        seconds += 30.0
    for i in range(4):
        p = folder / f"clip_{i:02d}.mp4"
        if not p.exists():
            make_video(p, 15.0, fps=25, size=(320, 240))
        files.append(p)
        seconds += 15.0
    return files, seconds


def start_standin(latency_ms: float):
    code = (
        "import sys; from humelab.service.v1_standin import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--latency", str(latency_ms), "--api-key", KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=str(ROOT),
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    line = proc.stdout.readline().decode()
    url = next(w for w in line.split() if w.startswith("http://"))
    return proc, url


def prepare_requests(files) -> list[tuple[str, list]]:
    """The requests the engine would send for ``files`` (face + prosody), converted
    up front with the engine's own media preparation: the HTTP-only baseline."""
    from humelab.service import _v1media as v1m
    from humelab.service.media import probe_media

    out = []
    for p in files:
        info = probe_media(p)
        if info.has_audio:
            for c in v1m.audio_chunks(p):
                out.append(("audio", [("file", ("c.wav", c.wav, "audio/wav"))]))
        if info.kind == "video":
            config = json.dumps({"face": {"return_face_state": True}})
            for batch in v1m.batch_frames(v1m.video_frames(p, fps_pred=3)):
                parts = [("config", (None, config, "application/json"))]
                parts += [("file", ("f.jpg", f.jpeg, "image/jpeg")) for f in batch]
                out.append(("video", parts))
    return out


def http_alone(reqs, url: str, concurrency: int) -> float:
    """Wall seconds to send the pre-converted requests ``concurrency`` at a time."""
    sessions = [requests.Session() for _ in range(concurrency)]
    local = threading.local()
    it = iter(sessions)
    lock = threading.Lock()

    def send(req):
        if not hasattr(local, "s"):
            with lock:
                local.s = next(it)
        kind, parts = req
        r = local.s.post(
            f"{url}/v1/expression/{kind}/file",
            files=parts,
            headers={"X-Hume-Api-Key": KEY},
            timeout=120,
        )
        r.raise_for_status()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, reqs))
    return time.perf_counter() - t0


def run(files, url: str, concurrency: int, workers: int) -> dict:
    """One job of all ``files`` on a fresh service; its timings."""
    import humelab
    from humelab.service.engines.hume import HumeEngine

    engine = HumeEngine(api_key=KEY, hume_url=url, max_concurrency=concurrency)
    with tempfile.TemporaryDirectory() as data:
        with humelab.serve(
            engine=engine, data_dir=data, workers=workers, quiet=True
        ) as server:
            s = requests.Session()
            s.headers["X-Hume-Api-Key"] = server.api_key
            parts = [("file", (p.name, p.read_bytes())) for p in files]
            body = {"models": {"face": {}, "prosody": {}}}
            parts.append(("json", (None, json.dumps(body), "application/json")))
            engine.activity(reset=True)
            t0 = time.perf_counter()
            r = s.post(f"{server.url}/v0/batch/jobs", files=parts, timeout=120)
            r.raise_for_status()
            job_id = r.json()["job_id"]
            while True:
                job = s.get(f"{server.url}/v0/batch/jobs/{job_id}", timeout=60).json()
                if job["state"]["status"] in ("COMPLETED", "FAILED"):
                    break
                time.sleep(0.01)
            submit_to_done = time.perf_counter() - t0
            act = engine.activity()
    st = job["state"]
    if st["status"] != "COMPLETED" or st["num_errors"]:
        raise SystemExit(f"bench job did not complete cleanly: {st}")
    return {
        # the job's own start -> end (the upload to the Batch service excluded)
        "wall_s": (st["ended_timestamp_ms"] - st["started_timestamp_ms"]) / 1000,
        "submit_to_done_s": submit_to_done,
        "requests": act["requests"],
        "convert_s": act["convert_seconds"],
        "http_busy_s": act["http_busy_seconds"],
        "usage": job.get("usage"),
    }


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--latency", type=float, default=200.0, help="ms per upload")
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="service workers (default: twice the concurrency, at least 4, so "
        "files are converted while others wait on HTTP)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    files, seconds = make_media()
    reqs = prepare_requests(files)
    proc, url = start_standin(args.latency)
    runs: dict[int, list[dict]] = {c: [] for c in args.concurrency}
    try:
        for _ in range(args.repeats):  # interleaved, so load changes hit all alike
            for c in args.concurrency:
                row = run(files, url, c, args.workers or max(4, 2 * c))
                row["http_alone_s"] = http_alone(reqs, url, c)
                row["over_busy"] = row["wall_s"] / row["http_busy_s"]
                row["over_alone"] = row["wall_s"] / row["http_alone_s"]
                runs[c].append(row)
    finally:
        proc.terminate()
        proc.wait(10)
    minutes = seconds / 60
    rows = []
    for c, rs in runs.items():
        wall = _median(rs, "wall_s")
        rows.append(
            {
                "concurrency": c,
                "workers": args.workers or max(4, 2 * c),
                "wall_s": wall,
                "submit_to_done_s": _median(rs, "submit_to_done_s"),
                "media_min_per_min": minutes / (wall / 60),
                "requests": rs[0]["requests"],
                "convert_s": _median(rs, "convert_s"),
                "http_busy_s": _median(rs, "http_busy_s"),
                "http_alone_s": _median(rs, "http_alone_s"),
                "wall_over_http_busy": _median(rs, "over_busy"),
                "wall_over_http_alone": _median(rs, "over_alone"),
                "runs": rs,
            }
        )
    OUT.mkdir(exist_ok=True)
    result = {
        "latency_ms": args.latency,
        "files": len(files),
        "media_minutes": minutes,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "rows": rows,
    }
    (OUT / "bench_hume_engine.json").write_text(json.dumps(result, indent=2))
    print(
        f"{len(files)} files, {minutes:.1f} min of media, stand-in latency "
        f"{args.latency:g} ms, {os.cpu_count()} CPUs, median of {args.repeats} "
        "(scores are simulated)"
    )
    print(
        "| concurrency | job wall | media min/min | requests | converting "
        "| HTTP busy | wall / HTTP busy | HTTP alone | wall / HTTP alone |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        w = r["wall_s"]
        print(
            f"| {r['concurrency']} | {w:.2f} s | {r['media_min_per_min']:.0f}"
            f" | {r['requests']} | {r['convert_s']:.2f} s ({r['convert_s'] / w:.0%})"
            f" | {r['http_busy_s']:.2f} s ({r['http_busy_s'] / w:.0%})"
            f" | {r['wall_over_http_busy']:.2f} | {r['http_alone_s']:.2f} s"
            f" | {r['wall_over_http_alone']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
