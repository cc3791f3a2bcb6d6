"""Benchmark of humelab's analysis on the one-hour predictions file of bench_read.py.

Run: ``python bench/bench_explore.py`` (writes ``bench/out/``, which git ignores).

On the same file and in one run it times ``read_predictions`` (the baseline of every
ratio) and then, on the frame it returned, ``resample`` and ``align`` of the whole
file (and, for reference, ``top_emotions`` and ``summarize``). The target is a ratio
of at most 1.0 for resample and align: exploring an hour costs no more than reading
it. One function per measurement (``measure_*``), each returning a dict
of figures, so more measurements (the ``explore()`` panel's re-render) slot in beside
them. Figures are machine-dependent; compare the ratios, taken within one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_read import OUT, write_hour  # noqa: E402


def best_of(fn, repeat: int) -> tuple[float, object]:
    """Best wall time of ``fn()`` over ``repeat`` runs, and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def hour_file(seconds: int = 3600) -> Path:
    """The one-hour predictions JSON (written once, as bench_read.py does)."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"hour_{seconds}s.json"
    if not path.exists():
        write_hour(path, seconds=seconds)
    return path


def measure_read(path: Path, repeat: int) -> dict:
    """The baseline: ``read_predictions`` of the file (long frame)."""
    import humelab

    t, df = best_of(lambda: humelab.read_predictions(path), repeat)
    return {"seconds": t, "rows": len(df), "frame": df}


def measure_resample(df, repeat: int, freq: float = 1.0) -> dict:
    """``resample(df, freq=...)`` of the whole frame (every series on a grid)."""
    import humelab

    t, out = best_of(lambda: humelab.resample(df, freq=freq), repeat)
    return {"seconds": t, "rows_out": len(out), "freq": freq}


def measure_align_model(df, repeat: int, to: str = "prosody") -> dict:
    """``align(df, to="prosody")``: face, language and prosody onto utterances."""
    import humelab

    t, out = best_of(lambda: humelab.align(df, to=to), repeat)
    return {"seconds": t, "rows_out": len(out), "to": to}


def measure_align_grid(df, repeat: int, to: str = "1s") -> dict:
    """``align(df, to="1s")``: every series of the file on one shared 1 s grid."""
    import humelab

    t, out = best_of(lambda: humelab.align(df, to=to), repeat)
    return {"seconds": t, "rows_out": len(out), "to": to}


#: The control changes timed by :func:`measure_explore`, in order: every control,
#: each several times, the cursor (the cheapest: a blit) 6 times out of 20.
EXPLORE_CHANGES = (
    ("cursor", 600.0),
    ("view", "heatmap"),
    ("cursor", 1200.0),
    ("time_range", (600.0, 1200.0)),
    ("view", "lines"),
    ("k", 3),
    ("cursor", 900.0),
    ("smooth", 5.0),
    ("dims", ("Joy", "Anger")),
    ("time_range", None),  # back to the whole hour
    ("group", "face_1"),
    ("cursor", 2400.0),
    ("dims", ()),
    ("smooth", 0.0),
    ("k", 5),
    ("model", "prosody"),
    ("cursor", 1800.0),
    ("model", "language"),
    ("model", "face"),
    ("cursor", 3000.0),
)


def measure_explore(df) -> dict:
    """``humelab.explore(df)``: the panel's re-render per control change.

    Builds the panel on the whole hour, then sets each control of
    :data:`EXPLORE_CHANGES` in turn as a user would, timing each change from setting
    the value to the new PNG being in the panel (the work the kernel does; the
    browser's drawing of the image is not included). The target is a median of at
    most 150 ms over the 20 changes.
    """
    import statistics

    import humelab

    t0 = time.perf_counter()
    panel = humelab.explore(df)
    build = time.perf_counter() - t0
    full = (panel.time_range.min, panel.time_range.max)
    times: dict[str, list[float]] = {}
    before = panel.renders
    for control, value in EXPLORE_CHANGES:
        widget = getattr(panel, control)
        t0 = time.perf_counter()
        widget.value = full if value is None else value
        times.setdefault(control, []).append(time.perf_counter() - t0)
    every = [t for ts in times.values() for t in ts]
    assert panel.renders - before == len(EXPLORE_CHANGES), "one render per change"
    panel.close()
    return {
        "seconds": statistics.median(every),
        "max_seconds": max(every),
        "build_seconds": build,
        "changes": len(every),
        "per_control_median": {c: statistics.median(ts) for c, ts in times.items()},
    }


def measure_top(df, repeat: int) -> dict:
    """``top_emotions(df)``: what summaries (CLI, report, demo) compute first."""
    import humelab

    t, out = best_of(lambda: humelab.top_emotions(df), repeat)
    return {"seconds": t, "rows_out": len(out)}


def measure_summarize(df, repeat: int) -> dict:
    """``summarize(df)``: n, mean, sd, CI, max and time-weighted mean per dimension."""
    import humelab

    t, out = best_of(lambda: humelab.summarize(df), repeat)
    return {"seconds": t, "rows_out": len(out)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600, help="length of the media")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the file has no failed sources; keep output tidy
    path = hour_file(args.seconds)
    read = measure_read(path, args.repeat)
    df = read.pop("frame")
    print(f"file {path.stat().st_size / 1e6:.1f} MB, {read['rows']:,} scores")
    results = {
        "read_predictions": read,
        "resample": measure_resample(df, args.repeat),
        "align_prosody": measure_align_model(df, args.repeat),
        "align_grid": measure_align_grid(df, args.repeat),
        "top_emotions": measure_top(df, args.repeat),
        "summarize": measure_summarize(df, args.repeat),
    }
    ref = read["seconds"]
    print(f"{'what':22} {'time s':>8} {'x read':>7} {'rows out':>10}")
    for name, r in results.items():
        rows = r.get("rows_out", r.get("rows"))
        print(f"{name:22} {r['seconds']:8.3f} {r['seconds'] / ref:7.2f} {rows:10,}")
    panel = results["explore_panel"] = measure_explore(df)
    print(
        f"explore(): median re-render {panel['seconds'] * 1000:.0f} ms over "
        f"{panel['changes']} control changes (max {panel['max_seconds'] * 1000:.0f} "
        f"ms; target <= 150 ms); panel built in {panel['build_seconds']:.2f} s"
    )
    for control, t in panel["per_control_median"].items():
        print(f"  {control:12} {t * 1000:6.0f} ms")
    (OUT / "explore_results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
