"""Benchmark humelab's client: upload memory and wait latency.

1. Peak memory (RSS) of a process uploading a file just under 1 GB (a sparse file in
   bench/out/) with ``humelab.Client.submit`` (streamed by requests-toolbelt's
   MultipartEncoder), compared with requests' plain ``files=`` (which builds the whole
   body in memory). Each upload runs in its own subprocess against one local service.
2. Delay from a job's completion (the service's ``ended_timestamp_ms``) to
   ``job.wait()`` returning: polling (cap 2 s, the default) and ``via="callback"``.

Run from the project root:  ``python bench/bench_client.py [--size-mb 1023] [--runs 6]``
Results are printed as a table and written to bench/out/bench_client.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def _rss_mb() -> float:
    """Peak RSS of this process in MB.

    VmHWM (Linux) belongs to this process image only; ``ru_maxrss`` would also count
    the parent's RSS at fork time, which Linux carries across ``exec``.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, url: str, path: str) -> None:
    """Upload ``path`` once with ``mode`` and print peak RSS as JSON."""
    import requests

    if mode == "humelab":
        import humelab
    key = os.environ["BENCH_KEY"]
    before = _rss_mb()
    start = time.perf_counter()
    if mode == "humelab":
        with humelab.Client(url, key, data_dir=OUT / "client-data") as client:
            job = client.submit(path, models={"burst": {}}, resubmit=True)
            job_id = job.id
    else:
        with open(path, "rb") as fh:
            r = requests.post(
                url + "/v0/batch/jobs",
                files={"file": (Path(path).name, fh)},
                data={"json": json.dumps({"models": {"burst": {}}})},
                headers={"X-Hume-Api-Key": key},
                timeout=600,
            )
        r.raise_for_status()
        job_id = r.json()["job_id"]
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "mode": mode,
                "rss_before_mb": round(before, 1),
                "peak_rss_mb": round(_rss_mb(), 1),
                "seconds": round(seconds, 2),
                "job_id": job_id,
            }
        )
    )


def bench_upload(size_mb: int) -> list[dict]:
    import humelab

    big = OUT / "upload_big.wav"  # a known ending: the service does not sniff it
    with open(big, "wb") as fh:
        fh.truncate(size_mb * 1024**2)  # sparse: no disk used on our side
    results = []
    svc_dir = OUT / "client-upload-service"
    shutil.rmtree(svc_dir, ignore_errors=True)
    try:
        with humelab.serve(data_dir=svc_dir, workers=1, quiet=True) as server:
            env = dict(os.environ, BENCH_KEY=server.api_key)
            for mode in ("humelab", "requests"):
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", mode, server.url, str(big)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=1200,
                )
                if proc.returncode:
                    raise SystemExit(f"{mode} upload failed:\n{proc.stderr}")
                results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(svc_dir, ignore_errors=True)
        shutil.rmtree(OUT / "client-data", ignore_errors=True)
        big.unlink(missing_ok=True)
    for r in results:
        r["file_mb"] = size_mb
    return results


def bench_wait(runs: int) -> dict:
    import humelab

    svc_dir = OUT / "client-wait-service"
    shutil.rmtree(svc_dir, ignore_errors=True)
    out: dict[str, list[float]] = {"poll": [], "callback": []}
    try:
        # callbacks go to the client's receiver on loopback: allowed explicitly
        with humelab.serve(
            data_dir=svc_dir,
            workers=1,
            item_delay=0.25,
            quiet=True,
            allow_private_urls=True,
        ) as server:
            with humelab.Client(
                server.url, server.api_key, data_dir=OUT / "client-wait-data"
            ) as client:
                for i in range(runs):
                    for via in ("poll", "callback"):
                        # 3..8 items of 0.25 s: completion lands anywhere in a poll gap
                        n = 3 + (i * 7 + (via == "callback")) % 6
                        texts = [f"run {i} {via} item {k}" for k in range(n)]
                        job = client.submit(
                            text=texts,
                            models={"language": {}},
                            callback=via == "callback",
                        )
                        job.wait(via=via, progress=False)
                        returned = time.time()
                        ended = job.state["ended_timestamp_ms"] / 1000
                        out[via].append(returned - ended)
    finally:
        shutil.rmtree(svc_dir, ignore_errors=True)
        shutil.rmtree(OUT / "client-wait-data", ignore_errors=True)
    return {
        via: {
            "runs": len(v),
            "median_ms": round(statistics.median(v) * 1000, 1),
            "max_ms": round(max(v) * 1000, 1),
        }
        for via, v in out.items()
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1023, help="upload size, MiB")
    parser.add_argument("--runs", type=int, default=6, help="wait-latency runs")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "URL", "PATH"))
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    upload = bench_upload(args.size_mb)
    wait = bench_wait(args.runs)
    report = {"upload": upload, "wait": wait}
    (OUT / "bench_client.json").write_text(json.dumps(report, indent=2))
    print(f"Upload of a {args.size_mb} MiB file (peak RSS of the uploading process):")
    print("| client | peak RSS (MB) | RSS before (MB) | seconds |")
    print("|---|---|---|---|")
    for r in upload:
        name = (
            "humelab Client.submit (streamed)"
            if r["mode"] == "humelab"
            else "requests files="
        )
        print(
            f"| {name} | {r['peak_rss_mb']} | {r['rss_before_mb']} | {r['seconds']} |"
        )
    print("\nDelay from job completion to wait() returning:")
    print("| wait | runs | median (ms) | max (ms) |")
    print("|---|---|---|---|")
    for via, w in wait.items():
        label = "polling (cap 2 s)" if via == "poll" else 'via="callback"'
        print(f"| {label} | {w['runs']} | {w['median_ms']} | {w['max_ms']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
