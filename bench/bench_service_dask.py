"""Benchmark of measurement on a Dask cluster against the service's thread runner.

Run: ``python bench/bench_service_dask.py`` (writes ``bench/out/``, which git
ignores).

One job of ``--files`` (default 200) speech-like wavs of ``--seconds`` each (default
1 s: ``make_media`` of ``bench/bench_service.py``), models prosody and burst,
simulated engine, goes
through the HTTP API (the v0 limit of 100 files per job raised with ``max_files``) of

* ``humelab.serve(workers=2)``: the thread runner, two threads;
* ``humelab.serve(dask_scheduler=...)`` on a ``distributed.LocalCluster`` of 2
  worker processes with 1 thread each, inputs shipped as bytes and, separately,
  read from the shared folder (``dask_inputs="shared"``).

Each service first runs a 4-file warm-up job (the engine is loaded in every worker
process then); the figure is files per second of the best of ``--repeat`` jobs, and
the ratio is taken against the thread runner in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import OUT, make_media, run_job  # noqa: E402

MODELS = {"prosody": {}, "burst": {}}


def make_audio(n: int, seconds: float) -> list[Path]:
    """``n`` speech-like wavs of ``seconds`` each (cached; 1 s: bench_service's)."""
    if seconds == 1:
        return make_media(n)["audio"]
    import numpy as np
    import soundfile as sf

    folder = OUT / f"media_{seconds:g}s"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(int(sr * seconds)) / sr
    out = []
    for i in range(n):
        w = folder / f"voice_{i:03d}.wav"
        if not w.exists():
            env = np.clip(np.sin(np.pi * t * 0.5), 0, None)  # 2 s syllable-ish bursts
            sig = 0.3 * env * np.sin(2 * np.pi * (110 + 5 * i) * t)
            sig += rng.normal(0, 0.002, t.size)
            sf.write(w, sig.astype(np.float32), sr)
        out.append(w)
    return out


def files_per_second(server, files, repeat: int) -> float:
    s = requests.Session()
    s.headers["X-Hume-Api-Key"] = server.api_key
    run_job(s, server.url, files=files[:4], models=MODELS)  # warm-up
    best = min(
        run_job(s, server.url, files=files, models=MODELS) for _ in range(repeat)
    )
    return len(files) / best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.0, help="audio per file")
    args = ap.parse_args(argv)

    import distributed

    import humelab

    files = make_audio(args.files, args.seconds)
    res: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "files_per_job": len(files),
        "seconds_per_file": args.seconds,
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as d:
        with humelab.serve(
            data_dir=Path(d) / "t", workers=2, quiet=True, max_files=len(files)
        ) as server:
            res["runs"]["threads"] = files_per_second(server, files, args.repeat)
        print(f"thread runner (2 threads): {res['runs']['threads']:.1f} files/s")
        with distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster:
            for inputs in ("bytes", "shared"):
                with humelab.serve(
                    data_dir=Path(d) / inputs,
                    quiet=True,
                    dask_scheduler=cluster.scheduler_address,
                    dask_inputs=inputs,
                    max_files=len(files),
                ) as server:
                    fps = files_per_second(server, files, args.repeat)
                res["runs"][f"dask_{inputs}"] = fps
                print(
                    f"LocalCluster, 2 processes, inputs {inputs}: {fps:.1f} files/s "
                    f"({fps / res['runs']['threads']:.2f}x)"
                )
    res["ratios"] = {
        k: v / res["runs"]["threads"] for k, v in res["runs"].items() if k != "threads"
    }
    OUT.mkdir(exist_ok=True)
    name = f"service_dask_results_{args.seconds:g}s.json"
    (OUT / name).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
