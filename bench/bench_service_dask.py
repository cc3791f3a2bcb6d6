"""Benchmark of measurement on a Dask cluster against the service's thread runner.

Run: ``python bench/bench_service_dask.py`` (writes ``bench/out/``, which git
ignores).

One job of ``--files`` (default 200) one-second speech-like wavs (``make_media`` of
``bench/bench_service.py``), models prosody and burst, simulated engine, goes
through the HTTP API of

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
    args = ap.parse_args(argv)

    import distributed

    import humelab

    files = make_media(args.files)["audio"]
    res: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "files_per_job": len(files),
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as d:
        with humelab.serve(data_dir=Path(d) / "t", workers=2, quiet=True) as server:
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
    (OUT / "service_dask_results.json").write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
