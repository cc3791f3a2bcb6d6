"""Benchmark of the Batch service: throughput, per-job overhead, worker scaling.

Run from the project root::

    .venv/bin/python bench/bench_service.py [--workers 1 2 4] [--files 100]

It generates 100 short wav files (numpy + soundfile) and 100 small png images (Pillow)
into ``bench/out/media``, starts a local service (simulated engine) for each worker
count, uploads each set as one multipart job, and times submit -> COMPLETED over
loopback HTTP. The per-job overhead is the mean wall time of a one-text job. Results go
to ``bench/out/bench_service.json`` and are printed as a table. Scores are simulated.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

OUT = Path(__file__).resolve().parent / "out"


def make_media(n: int) -> dict[str, list[Path]]:
    """Write ``n`` 1-second speech-like wavs and ``n`` 160x120 pngs (cached)."""
    import soundfile as sf
    from PIL import Image

    media = OUT / "media"
    media.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(sr) / sr
    wavs, pngs = [], []
    for i in range(n):
        w = media / f"voice_{i:03d}.wav"
        if not w.exists():
            f0 = 110 + 5 * i
            env = np.clip(np.sin(np.pi * t * 2), 0, None)
            sig = 0.3 * env * np.sin(2 * np.pi * f0 * t) + rng.normal(0, 0.002, sr)
            sf.write(w, sig.astype(np.float32), sr)
        wavs.append(w)
        p = media / f"face_{i:03d}.png"
        if not p.exists():
            yy, xx = np.mgrid[0:120, 0:160]
            cx, cy = rng.uniform(50, 110), rng.uniform(40, 80)
            img = 40 + 180 * np.exp(-(((xx - cx) / 20) ** 2 + ((yy - cy) / 25) ** 2))
            img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
            Image.fromarray(np.dstack([img, img, img]), "RGB").save(p)
        pngs.append(p)
    return {"audio": wavs, "image": pngs}


def run_job(
    session, url, *, files=None, body=None, models=None, poll=0.005, state=False
):
    """Submit one job and wait for COMPLETED; return wall seconds (and, with
    ``state=True``, the job's final state). Polls every ``poll`` seconds."""
    t0 = time.perf_counter()
    if files is not None:
        parts = [("file", (p.name, p.read_bytes())) for p in files]
        opts = {"models": models} if models else {}
        r = session.post(
            f"{url}/v0/batch/jobs", files=parts, data={"json": json.dumps(opts)}
        )
    else:
        r = session.post(f"{url}/v0/batch/jobs", json=body)
    r.raise_for_status()
    job_id = r.json()["job_id"]
    while True:
        st = session.get(f"{url}/v0/batch/jobs/{job_id}").json()["state"]
        if st["status"] in ("COMPLETED", "FAILED"):
            break
        time.sleep(poll)
    wall = time.perf_counter() - t0
    if st["status"] != "COMPLETED" or st["num_errors"]:
        raise RuntimeError(f"benchmark job {job_id} ended badly: {st}")
    return (wall, st) if state else wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--overhead-runs", type=int, default=20)
    args = ap.parse_args(argv)

    import humelab

    media = make_media(args.files)
    models = {"audio": {"prosody": {}, "burst": {}}, "image": {"face": {}}}
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "files_per_job": args.files,
        "runs": [],
    }
    for workers in args.workers:
        with (
            tempfile.TemporaryDirectory() as d,
            humelab.serve(data_dir=d, workers=workers, quiet=True) as server,
        ):
            s = requests.Session()
            s.headers["X-Hume-Api-Key"] = server.api_key
            run_job(s, server.url, body={"text": ["warm up"]})  # warm-up
            overhead = [
                run_job(s, server.url, body={"text": ["Hello."],
                                              "models": {"language": {}}})
                for _ in range(args.overhead_runs)
            ]  # fmt: skip
            row = {
                "workers": workers,
                "overhead_ms_median": 1000 * statistics.median(overhead),
                "overhead_ms_min": 1000 * min(overhead),
            }
            for kind in ("audio", "image"):
                wall = run_job(s, server.url, files=media[kind], models=models[kind])
                row[f"{kind}_wall_s"] = wall
                row[f"{kind}_files_per_s"] = len(media[kind]) / wall
            results["runs"].append(row)
            s.close()
    base = results["runs"][0]
    for row in results["runs"]:
        for kind in ("audio", "image"):
            row[f"{kind}_speedup"] = base[f"{kind}_wall_s"] / row[f"{kind}_wall_s"]
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_service.json").write_text(json.dumps(results, indent=2))
    print(
        f"{args.files} files per job, simulated engine, {os.cpu_count()} CPUs "
        "(scores are simulated)"
    )
    print(
        "workers | audio s | audio files/s | speedup | image s | image files/s | "
        "speedup | 1-text job ms"
    )
    for r in results["runs"]:
        print(
            f"{r['workers']:7d} | {r['audio_wall_s']:7.2f} | "
            f"{r['audio_files_per_s']:13.1f} | {r['audio_speedup']:7.2f} | "
            f"{r['image_wall_s']:7.2f} | {r['image_files_per_s']:13.1f} | "
            f"{r['image_speedup']:7.2f} | {r['overhead_ms_median']:13.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
