"""Benchmark of tidy Parquet corpora: conversion, reading back, a corpus-wide query.

Run: ``python bench/bench_corpus.py`` (writes ``bench/out/``, which git ignores;
``--files 40`` is the default, ``--files 8`` a quick look).

It writes ``--files`` one-hour multimodal predictions files (``write_hour`` of
``bench/bench_read.py``: 1,638,000 scores each, every file a different seed and a
different source URL), then in one run measures

* conversion throughput (scores per second) of :func:`humelab.to_parquet` with 1
  and 2 worker processes, and their ratio;
* reading one file's tidy frame back (``read_corpus`` with a ``source`` filter,
  then ``.compute()``) versus ``read_predictions`` on its JSON, best of 5 each, in a
  fresh process;
* "mean of each emotion per file" over the whole corpus with ``read_corpus`` on a
  ``distributed.LocalCluster`` of 2 worker processes (1 thread each), with each
  worker's peak memory (``VmHWM``), and the same query on pandas for a corpus that
  still fits in memory (the first ``--pandas-files`` files): loading with
  ``read_predictions`` plus the groupby, against Dask on a corpus of the same files;
* Parquet bytes per score on disk versus the JSON's.

Figures depend on the machine and its load; compare the ratios, taken in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_read import write_hour  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def make_sources(n: int) -> list[Path]:
    """``n`` one-hour predictions files with distinct sources (cached)."""
    folder = OUT / "corpus_src"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        path = folder / f"hour_{i:03d}.json"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            write_hour(tmp, seed=1000 + i)
            data = tmp.read_bytes().replace(b"hour.mp4", f"hour{i:03d}.mp4".encode(), 2)
            path.write_bytes(data)
            tmp.unlink()
        files.append(path)
    return files


def convert(files, root: Path, workers: int) -> tuple[float, int]:
    import humelab

    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    summary = humelab.to_parquet(files, root, workers=workers, progress=False)
    return time.perf_counter() - t0, int(summary["rows"].sum())


def emotion_means(ddf_or_df):
    """The query: mean of each emotion per file (source, file, model, name)."""
    d = ddf_or_df[ddf_or_df["family"] == "emotions"]
    g = d.groupby(["source", "file", "name"], observed=True)["score"]
    if type(d).__module__.startswith("dask"):
        return g.mean(split_out=1)  # a small result: a tree reduction, no shuffle
    return g.mean()


def vm_hwm(pid: int) -> float:
    """Peak resident memory of a process, in MB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cluster_query(root: Path) -> tuple[float, list[float], int]:
    """Seconds, each worker's peak MB, and rows of the query on a fresh cluster."""
    import distributed

    import humelab

    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit="1GiB",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        t0 = time.perf_counter()
        ddf = humelab.read_corpus(
            root, columns=["source", "file", "family", "name", "score"]
        )
        result = emotion_means(ddf).compute()
        seconds = time.perf_counter() - t0
        pids = client.run(os.getpid).values()
        peaks = [vm_hwm(p) for p in pids]
    return seconds, peaks, len(result)


def read_one(root: Path, path: Path) -> dict:
    """Seconds (best of 5) to read one source's tidy frame: ``read_corpus`` with a
    ``source`` filter and ``.compute()``, versus ``read_predictions`` of its JSON."""
    import humelab

    source = "https://example.org/hour000.mp4"  # the source of files[0]

    def best(fn, n=5):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return min(times), out

    t_json, df_json = best(lambda: humelab.read_predictions(path))
    t_pq, df_pq = best(
        lambda: humelab.read_corpus(root, filters=[("source", "==", source)]).compute()
    )
    assert len(df_pq) == len(df_json), (len(df_pq), len(df_json))
    return {"read_predictions_s": t_json, "read_corpus_s": t_pq, "ratio": t_pq / t_json}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--pandas-files", type=int, default=6)
    ap.add_argument(
        "--read-one", nargs=2, metavar=("ROOT", "JSON"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args.read_one:
        print(json.dumps(read_one(Path(args.read_one[0]), Path(args.read_one[1]))))
        return 0

    import humelab

    t0 = time.perf_counter()
    files = make_sources(args.files)
    print(f"{len(files)} one-hour files ready ({time.perf_counter() - t0:.0f} s)")
    res: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "files": len(files),
    }
    # 1. conversion throughput, 1 and 2 worker processes
    conv = {}
    for workers in (1, 2):
        root = OUT / f"corpus_w{workers}"
        seconds, scores = convert(files, root, workers)
        conv[workers] = {"seconds": seconds, "scores": scores, "rate": scores / seconds}
        print(f"to_parquet, {workers} worker(s): {seconds:.1f} s, "
              f"{scores / seconds / 1e6:.2f} M scores/s")  # fmt: skip
    res["conversion"] = conv
    res["conversion_ratio_2_vs_1"] = conv[2]["rate"] / conv[1]["rate"]
    root = OUT / "corpus_w2"

    # 2. one file back: Parquet vs read_predictions, in a fresh process (this one
    # holds the heap of the in-process conversion above)
    out = subprocess.run(
        [sys.executable, __file__, "--read-one", str(root), str(files[0])],
        check=True,
        capture_output=True,
        text=True,
    )
    res["read_one"] = json.loads(out.stdout.strip().splitlines()[-1])
    t_json, t_pq = (
        res["read_one"]["read_predictions_s"],
        res["read_one"]["read_corpus_s"],
    )
    print(f"one file: read_predictions {t_json:.2f} s, read_corpus {t_pq:.3f} s "
          f"({t_pq / t_json:.3f}x)")  # fmt: skip

    # 3. mean of each emotion per file: the whole corpus on a 2-process cluster
    seconds, peaks, rows = cluster_query(root)
    res["query_corpus"] = {
        "seconds": seconds,
        "scores": conv[2]["scores"],
        "worker_peak_mb": peaks,
        "rows": rows,
    }
    print(f"corpus query: {seconds:.1f} s over {conv[2]['scores']:,} scores, "
          f"worker peaks {', '.join(f'{p:.0f}' for p in peaks)} MB")  # fmt: skip
    # ... and on pandas, for a corpus that fits in memory (first --pandas-files)
    small = files[: args.pandas_files]
    small_root = OUT / "corpus_small"
    convert(small, small_root, 2)
    t = time.perf_counter()
    frames = [humelab.read_predictions(p) for p in small]
    df = pd.concat(frames, ignore_index=True)
    del frames
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    expected = emotion_means(df)
    t_query = time.perf_counter() - t
    del df
    t_dask_small, _, rows_small = cluster_query(small_root)
    assert rows_small == len(expected)
    res["query_small"] = {
        "files": len(small),
        "pandas_load_s": t_load,
        "pandas_query_s": t_query,
        "dask_s": t_dask_small,
        "ratio_vs_pandas_load_and_query": t_dask_small / (t_load + t_query),
    }
    print(f"{len(small)} files: pandas load {t_load:.1f} s + query {t_query:.2f} s; "
          f"read_corpus query {t_dask_small:.1f} s "
          f"({t_dask_small / (t_load + t_query):.2f}x)")  # fmt: skip

    # 4. bytes per score on disk
    pq_bytes = sum(p.stat().st_size for p in root.rglob("*.parquet"))
    json_bytes = sum(p.stat().st_size for p in files)
    scores = conv[2]["scores"]
    res["bytes_per_score"] = {
        "parquet": pq_bytes / scores,
        "json": json_bytes / scores,
        "ratio": pq_bytes / json_bytes,
    }
    print(f"bytes per score: Parquet {pq_bytes / scores:.2f}, JSON "
          f"{json_bytes / scores:.2f} ({pq_bytes / json_bytes:.3f}x)")  # fmt: skip
    OUT.mkdir(exist_ok=True)
    (OUT / "corpus_results.json").write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
