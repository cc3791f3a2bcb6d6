"""Benchmark of humelab.read_predictions on a one-hour multimodal predictions file.

Run: ``python bench/bench_read.py`` (writes ``bench/out/``, which git ignores).

The script writes a v0 predictions JSON for one hour of video: two identified faces at
3 fps (48 emotions each), prosody by speaker (utterances of ~4 s), and word-level
language with sentiment (53 emotions + 9 sentiment), scores being float32 values as in
Hume's output. Then, on that same file and in one run, it times

* ``json.load``  (stdlib, the baseline of every ratio),
* ``naive``      (json.load, then one dict per score, then ``pandas.DataFrame``),
* ``json_normalize`` (json.load, then ``pandas.json_normalize`` per family),
* ``read_predictions`` (``shape="long"``),

and measures each one's peak memory in a fresh interpreter (``VmHWM`` of
``/proc/self/status`` after the method, minus that of an interpreter that imported the
same libraries; ``ru_maxrss`` is not used because a child started by ``fork`` + ``exec``
inherits the parent's high-water mark, which would hide the method's own), and
the long frame's bytes per score (``df.memory_usage(deep=True).sum() / len(df)``).
Figures are machine-dependent; compare the ratios, which are taken within one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from humelab.schema import EXPRESSIONS, LANGUAGE_EXPRESSIONS, SENTIMENT

OUT = Path(__file__).resolve().parent / "out"
WORDS = (
    "so I think the main thing we learned is that people really want to see what "
    "the model says about their own voice and face in real time"
).split()


def _scores(rng, names) -> str:
    vals = rng.random(len(names), dtype=np.float32)
    return (
        "["
        + ", ".join(
            f'{{"name": "{n}", "score": {float(v)!r}}}'
            for n, v in zip(names, vals, strict=True)
        )
        + "]"
    )


def write_hour(path: Path, *, seconds: int = 3600, seed: int = 0) -> None:
    """Write one hour of face + prosody + word-level language predictions."""
    rng = np.random.default_rng(seed)
    fps, every = 30.0, 10  # 3 predictions per second
    with open(path, "w") as f:
        f.write('[{"source": {"type": "url", "url": "https://example.org/hour.mp4"}, ')
        f.write(
            '"results": {"predictions": [{"file": "hour.mp4", "file_type": "video", '
        )
        f.write('"models": {"face": {"metadata": null, "grouped_predictions": [')
        for g in range(2):
            f.write(", " if g else "")
            f.write(f'{{"id": "face_{g}", "predictions": [')
            for k, frame in enumerate(range(0, int(seconds * fps), every)):
                f.write(", " if k else "")
                f.write(
                    f'{{"frame": {frame}, "time": {frame / fps!r}, "prob": 0.9991, '
                    f'"box": {{"x": {100.5 + 300 * g}, "y": 80.25, "w": 120.0, '
                    f'"h": 150.5}}, "emotions": {_scores(rng, EXPRESSIONS)}, '
                    '"facs": null, "descriptions": null}'
                )
            f.write("]}")
        f.write("]}, ")
        meta = '{"confidence": 0.97, "detected_language": "en"}'
        f.write(f'"prosody": {{"metadata": {meta}, "grouped_predictions": [')
        for s in range(2):
            f.write(", " if s else "")
            f.write(f'{{"id": "spk_{s}", "predictions": [')
            for k, t in enumerate(np.arange(s * 4.0, seconds, 8.0)):
                text = " ".join(WORDS[(k * 7) % 20 : (k * 7) % 20 + 9])
                f.write(", " if k else "")
                f.write(
                    f'{{"text": "{text}", "time": {{"begin": {float(t)!r}, '
                    f'"end": {float(t) + 3.9!r}}}, "confidence": 0.95, '
                    '"speaker_confidence": null, '
                    f'"emotions": {_scores(rng, EXPRESSIONS)}}}'
                )
            f.write("]}")
        f.write("]}, ")
        f.write(f'"language": {{"metadata": {meta}, "grouped_predictions": [')
        f.write('{"id": "unknown", "predictions": [')
        pos = 0
        for k, t in enumerate(np.arange(0.0, seconds, 0.4)):
            w = WORDS[k % len(WORDS)]
            f.write(", " if k else "")
            f.write(
                f'{{"text": "{w}", "position": {{"begin": {pos}, '
                f'"end": {pos + len(w)}}}, "time": {{"begin": {float(t)!r}, '
                f'"end": {float(t) + 0.3!r}}}, "confidence": 0.99, '
                '"speaker_confidence": null, '
                f'"emotions": {_scores(rng, LANGUAGE_EXPRESSIONS)}, '
                f'"sentiment": {_scores(rng, SENTIMENT)}, "toxicity": null}}'
            )
            pos += len(w) + 1
        f.write(']}]}}}], "errors": []}}]\n')


# -- the methods (each also runs alone in a subprocess for its peak memory) -----------

METHODS = {
    "json.load": """
with open(PATH, "rb") as f:
    obj = json.load(f)
""",
    "naive": """
with open(PATH, "rb") as f:
    obj = json.load(f)
rows = []
for src in obj:
    for fp in src["results"]["predictions"]:
        for model, res in fp["models"].items():
            for g in res["grouped_predictions"]:
                for i, p in enumerate(g["predictions"]):
                    t = p.get("time")
                    b, e = (t, t) if isinstance(t, float) else (
                        (t or {}).get("begin"), (t or {}).get("end"))
                    for fam in ("emotions", "facs", "descriptions", "sentiment",
                                "toxicity"):
                        for s in p.get(fam) or ():
                            rows.append({"source": src["source"].get("url"),
                                         "file": fp["file"], "model": model,
                                         "group": g["id"], "segment": i,
                                         "frame": p.get("frame"), "begin": b,
                                         "end": e, "text": p.get("text"),
                                         "family": fam, "name": s["name"],
                                         "score": s["score"]})
obj = None
df = pd.DataFrame(rows)
rows = None
""",
    "json_normalize": """
with open(PATH, "rb") as f:
    obj = json.load(f)
records = []
for src in obj:
    for fp in src["results"]["predictions"]:
        for model, res in fp["models"].items():
            for g in res["grouped_predictions"]:
                for i, p in enumerate(g["predictions"]):
                    records.append(dict(p, model=model, group=g["id"], segment=i,
                                        file=fp["file"]))
parts = []
for fam in ("emotions", "facs", "descriptions", "sentiment", "toxicity"):
    recs = [r for r in records if r.get(fam)]
    if recs:
        parts.append(pd.json_normalize(recs, record_path=fam,
                                       meta=["file", "model", "group", "segment"]))
obj = records = recs = None
df = pd.concat(parts, ignore_index=True)
""",
    "read_predictions": """
df = humelab.read_predictions(PATH, shape="long")
""",
}

PRELUDE = """
import json, resource, sys
import numpy as np, pandas as pd, humelab
PATH = sys.argv[1]
"""


def peak_memory(method: str, path: Path) -> float:
    """Peak RSS (MB) of one method in a fresh interpreter, over the import baseline."""
    code = (
        PRELUDE
        + METHODS.get(method, "")
        + "\nprint([x for x in open('/proc/self/status') if x.startswith('VmHWM')][0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.split()[-2]) / 1024  # "VmHWM:  123456 kB"


def time_method(method: str, path: Path, repeat: int) -> float:
    import pandas as pd

    import humelab

    ns = {"json": json, "pd": pd, "np": np, "humelab": humelab, "PATH": str(path)}
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        exec(METHODS[method], dict(ns))
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600, help="length of the media")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best)")
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    path = OUT / f"hour_{args.seconds}s.json"
    if not path.exists():
        t0 = time.perf_counter()
        write_hour(path, seconds=args.seconds)
        print(f"wrote {path} in {time.perf_counter() - t0:.1f} s")
    size = path.stat().st_size / 1e6
    import humelab

    df = humelab.read_predictions(path)
    nscores = len(df)
    per_score = df.memory_usage(deep=True).sum() / nscores
    del df
    print(f"file {size:.1f} MB, {nscores:,} scores")
    results = {"file_mb": size, "scores": nscores, "bytes_per_score": per_score}
    base = peak_memory("baseline", path)
    for m in METHODS:
        t = time_method(m, path, args.repeat)
        mem = peak_memory(m, path) - base
        results[m] = {"seconds": t, "peak_mb": mem}
    ref = results["json.load"]
    print(f"{'method':18} {'time s':>8} {'x json':>7} {'peak MB':>8} {'x json':>7}")
    for m in METHODS:
        r = results[m]
        print(
            f"{m:18} {r['seconds']:8.2f} {r['seconds'] / ref['seconds']:7.2f} "
            f"{r['peak_mb']:8.0f} {r['peak_mb'] / ref['peak_mb']:7.2f}"
        )
    print(f"long frame: {per_score:.1f} bytes per score")
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
