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
process then). Two figures per runner, each the best of ``--repeat`` jobs, and their
ratios against the thread runner in the same run:

* **measuring**: files per second while the job ran (its own ``started`` to
  ``ended`` timestamps): the runner's work, which the cluster is there to scale;
* **end to end**: files per second from the upload's first byte to ``COMPLETED``
  seen by polling, upload included (the same for every runner).
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
import bench_service  # noqa: E402
from bench_service import OUT, make_media  # noqa: E402

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


def run_job(session, url, files) -> tuple[float, float]:
    """Upload ``files`` as one job and wait; (seconds end to end, seconds running).

    Polls every 50 ms: the client runs in the service's process, and polling every
    5 ms took the service's time from the measurement."""
    wall, st = bench_service.run_job(
        session, url, files=files, models=MODELS, poll=0.05, state=True
    )
    return wall, (st["ended_timestamp_ms"] - st["started_timestamp_ms"]) / 1000


def files_per_second(server, files, repeat: int) -> dict:
    """Best files per second of ``repeat`` jobs: measuring and end to end."""
    s = requests.Session()
    s.headers["X-Hume-Api-Key"] = server.api_key
    run_job(s, server.url, files[:4])  # warm-up
    runs = [run_job(s, server.url, files) for _ in range(repeat)]
    return {
        "measuring": len(files) / min(r[1] for r in runs),
        "end_to_end": len(files) / min(r[0] for r in runs),
    }


def _show(name: str, fps: dict, base: dict | None) -> None:
    line = f"{name}: measuring {fps['measuring']:.1f} files/s"
    if base:
        line += f" ({fps['measuring'] / base['measuring']:.2f}x)"
    line += f", end to end {fps['end_to_end']:.1f} files/s"
    if base:
        line += f" ({fps['end_to_end'] / base['end_to_end']:.2f}x)"
    print(line)


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
        base = res["runs"]["threads"]
        _show("thread runner (2 threads)", base, None)
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
                _show(f"LocalCluster, 2 processes, inputs {inputs}", fps, base)
    res["ratios"] = {
        name: {m: fps[m] / base[m] for m in fps}
        for name, fps in res["runs"].items()
        if name != "threads"
    }
    OUT.mkdir(exist_ok=True)
    name = f"service_dask_results_{args.seconds:g}s.json"
    (OUT / name).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
