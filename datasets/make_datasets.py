"""Make humelab's example media, their scripts and the example results.

Run from the project root:  ``python datasets/make_datasets.py [--only PART ...]``

Parts (default: all, in this order):

* ``media``: the speech, video, images and text in ``humelab/examples/``. Needs
  espeak-ng and sox on PATH (``apt-get install -y espeak-ng sox``), plus numpy,
  pillow and av (PyAV) from the ``service`` extra.
* ``scripts``: a ``<stem>.expressions.csv`` beside each file, stating what the
  simulated engine should perceive (what the drawing or the sentence shows), the
  zip, and ``index.csv``.
* ``results``: the predictions JSON of each example in ``humelab.datasets.EXAMPLES``,
  computed by a local humelab service with the ``simulated`` engine and stored
  gzipped in ``humelab/examples/results/`` (what ``humelab.load_example`` reads).

Every output is deterministic and committed, so nothing is generated or downloaded
when humelab runs. Everything is synthetic: the voices are espeak-ng's formant
synthesizer, the "faces" are drawings, and the scores are simulated.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import mimetypes
import subprocess
import sys
import tempfile
import time
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "humelab" / "examples"
SR = 16000
PARTS = ("media", "scripts", "results")

SPEECH = {
    "speech_greeting": (
        "en-us",
        "Hello, and welcome to the lab. It is lovely to see you here today.",
    ),
    "speech_complaint": (
        "en-gb",
        "I waited for an hour, and nobody called me back. This is not acceptable.",
    ),
}

TEXT = (
    "What a wonderful surprise, thank you so much!\n"
    "I am not sure this plan will work.\n"
    "The meeting starts at nine in the morning.\n"
)


# What the simulation should perceive (begin,end,name,level[,model]); names as in
# humelab.schema.VOCABULARY. Blank begin/end: the whole file.
_HEADER = (
    "# A script for humelab's simulated engine: what it should perceive. The scores\n"
    "# it gives are simulated (a teaching device), not a measurement.\n"
    "begin,end,name,level,model\n"
)
SCRIPTS = {
    "face_smile": [
        ("", "", "Joy", 0.85, ""),
        ("", "", "Amusement", 0.7, ""),
        ("", "", "Smile", 0.8, "face"),
        ("", "", "AU12 Lip Corner Puller", 0.75, "face"),
        ("", "", "AU6 Cheek Raise", 0.6, "face"),
    ],
    "face_frown": [
        ("", "", "Sadness", 0.8, ""),
        ("", "", "Disappointment", 0.6, ""),
        ("", "", "Distress", 0.55, ""),
        ("", "", "Frown", 0.75, "face"),
        ("", "", "AU15 Lip Corner Depressor", 0.7, "face"),
        ("", "", "AU4 Brow Lowerer", 0.6, "face"),
    ],
    "face_neutral": [
        ("", "", "Calmness", 0.6, ""),
        ("", "", "Contemplation", 0.4, ""),
        ("", "", "Boredom", 0.3, ""),
    ],
    # the drawing frowns, turns neutral, then smiles; the voice greets warmly
    "face_talking": [
        (0, 1.25, "Disappointment", 0.6, "face"),
        (0, 1.25, "Sadness", 0.5, "face"),
        (1.25, 2.75, "Calmness", 0.55, "face"),
        (1.25, 2.75, "Interest", 0.5, "face"),
        (2.75, "", "Joy", 0.8, "face"),
        (2.75, "", "Amusement", 0.55, "face"),
        ("", "", "Interest", 0.7, "prosody"),
        ("", "", "Joy", 0.6, "prosody"),
        ("", "", "Amusement", 0.5, "burst"),
    ],
    "speech_greeting": [
        ("", "", "Joy", 0.75, ""),
        ("", "", "Interest", 0.65, ""),
        ("", "", "Enthusiasm", 0.55, "language"),
    ],
    "speech_complaint": [
        ("", "", "Disappointment", 0.8, ""),
        ("", "", "Anger", 0.55, ""),
        ("", "", "Annoyance", 0.85, "language"),
    ],
}
# sentences.txt: begin/end count characters, one block of rows per line
_SENTENCE_ROWS = [
    [("Gratitude", 0.85), ("Surprise (positive)", 0.7), ("Joy", 0.6)],
    [("Doubt", 0.75), ("Anxiety", 0.45)],
    [("Calmness", 0.5), ("Boredom", 0.3)],
]


def sentence_script() -> list[tuple]:
    rows, pos = [], 0
    for line, dims in zip(TEXT.splitlines(), _SENTENCE_ROWS, strict=True):
        for name, level in dims:
            rows.append((pos, pos + len(line), name, level, "language"))
        pos += len(line) + 1
    return rows


def write_scripts() -> None:
    for stem, rows in {**SCRIPTS, "sentences": sentence_script()}.items():
        lines = [",".join(str(c) for c in row) for row in rows]
        path = HERE / f"{stem}.expressions.csv"
        path.write_text(_HEADER + "\n".join(lines) + "\n", encoding="utf-8")


def speak(stem: str, voice: str, sentence: str) -> Path:
    """Synthesize one sentence with espeak-ng, resample to 16 kHz mono with sox."""
    raw = HERE / f".{stem}.raw.wav"
    out = HERE / f"{stem}.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), sentence], check=True
    )
    subprocess.run(
        ["sox", str(raw), "-r", str(SR), "-c", "1", "-b", "16", str(out)], check=True
    )
    raw.unlink()
    (HERE / f"{stem}.txt").write_text(sentence + "\n", encoding="utf-8")
    return out


def read_wav(path: Path) -> np.ndarray:
    import soundfile

    data, sr = soundfile.read(path, dtype="int16")
    assert sr == SR, sr
    return data


def draw_face(w: int, h: int, cx: float, cy: float, smile: float) -> np.ndarray:
    """An RGB drawing of a face: skin oval, two eyes, a mouth that curves with smile."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    img[:] = (40, 60, 90)  # blue-grey background
    rx, ry = w * 0.2, h * 0.33
    face = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    img[face] = (225, 185, 150)
    for ex in (cx - rx * 0.4, cx + rx * 0.4):
        eye = ((xx - ex) / (rx * 0.14)) ** 2 + (
            (yy - (cy - ry * 0.25)) / (ry * 0.1)
        ) ** 2
        img[eye <= 1] = (30, 30, 30)
    mx = (xx - cx) / (rx * 0.5)
    mouth_y = cy + ry * 0.4 + smile * ry * 0.2 * (1 - mx**2)
    mouth = (np.abs(mx) <= 1) & (np.abs(yy - mouth_y) <= max(1.0, h * 0.012))
    img[mouth] = (150, 40, 50)
    return img.astype(np.uint8)


def make_video(path: Path, audio: np.ndarray, *, fps: int = 10) -> Path:
    """A face drawing drifting across the frame, smiling more over time; audio."""
    import av

    w, h = 160, 120
    seconds = len(audio) / SR
    nframes = int(seconds * fps)
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "veryslow", "crf": "30", "threads": "1"}
        vs.codec_context.thread_count = 1
        as_ = out.add_stream("aac", rate=SR)
        as_.layout = "mono"
        as_.bit_rate = 24000
        for i in range(nframes):
            t = i / max(nframes - 1, 1)
            rgb = draw_face(
                w,
                h,
                cx=w * (0.35 + 0.3 * t),
                cy=h * (0.5 + 0.05 * np.sin(6 * t)),
                smile=-0.6 + 1.6 * t,
            )
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        step = 1024
        for start in range(0, len(audio), step):
            chunk = audio[start : start + step]
            af = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
            af.sample_rate, af.pts, af.time_base = SR, start, Fraction(1, SR)
            for pkt in as_.encode(af):
                out.mux(pkt)
        for pkt in as_.encode():
            out.mux(pkt)
    return path


def make_image(path: Path, *, smile: float, size=(192, 144), **save) -> Path:
    from PIL import Image

    w, h = size
    Image.fromarray(draw_face(w, h, w / 2, h / 2, smile)).save(path, **save)
    return path


def make_media() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for stem, (voice, sentence) in SPEECH.items():
        speak(stem, voice, sentence)
    make_video(HERE / "face_talking.mp4", read_wav(HERE / "speech_greeting.wav"))
    make_image(HERE / "face_smile.jpg", smile=1.0, quality=85)
    make_image(HERE / "face_frown.png", smile=-0.8)
    make_image(HERE / "face_neutral.jpg", smile=0.0, quality=85)
    (HERE / "sentences.txt").write_text(TEXT, encoding="utf-8")


def _script_row(name: str) -> tuple[str, str, str]:
    stem = Path(name).stem
    return (f"{stem}.expressions.csv", "script", f"simulation script for {name}")


def make_index_and_zip() -> None:
    """The zip (two images and the text, with their scripts) and index.csv."""
    rows = []
    for stem, (voice, _) in SPEECH.items():
        rows.append((f"{stem}.wav", "audio", f"speech (espeak-ng, {voice}), 16 kHz"))
        rows.append((f"{stem}.txt", "transcript", f"transcript of {stem}.wav"))
        rows.append(_script_row(f"{stem}.wav"))
    rows.append(
        ("face_talking.mp4", "video", "moving face drawing, 10 fps, with speech audio")
    )
    rows.append(_script_row("face_talking.mp4"))
    for name, what in (
        ("face_smile.jpg", "smiling face drawing"),
        ("face_frown.png", "frowning face drawing"),
        ("face_neutral.jpg", "neutral face drawing"),
    ):
        rows.append((name, "image", what))
        rows.append(_script_row(name))
    rows.append(("sentences.txt", "text", "three short sentences"))
    rows.append(_script_row("sentences.txt"))
    with zipfile.ZipFile(HERE / "faces.zip", "w", zipfile.ZIP_STORED) as zf:
        for name in ("face_smile.jpg", "face_neutral.jpg", "sentences.txt"):
            for member in (name, f"{Path(name).stem}.expressions.csv"):
                info = zipfile.ZipInfo(
                    f"faces/{member}", date_time=(2026, 1, 1, 0, 0, 0)
                )
                zf.writestr(info, (HERE / member).read_bytes())
    rows.append(
        ("faces.zip", "archive", "zip of two images and the text file, with scripts")
    )
    with open(HERE / "index.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["file", "kind", "description"])
        writer.writerows(rows)


# -- results -------------------------------------------------------------------------


def _parts(inputs) -> list[tuple[str, bytes]]:
    """(upload name, bytes) of an example's inputs (see humelab.datasets.EXAMPLES)."""
    import humelab

    out = []
    for item in inputs:
        if item == "*":
            out += [(p.name, p.read_bytes()) for p in humelab.example_files(
                with_scripts=True)]  # fmt: skip
        elif isinstance(item, tuple):
            name, members = item
            buf = _zip_bytes(members)
            out.append((name, buf))
        else:
            out.append((item, (HERE / item).read_bytes()))
    return out


def _zip_bytes(members) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for m in members:
            info = zipfile.ZipInfo(m, date_time=(2026, 1, 1, 0, 0, 0))
            zf.writestr(info, (HERE / m).read_bytes())
    return buf.getvalue()


def example_predictions(name: str, url: str, api_key: str) -> bytes:
    """Run example ``name`` on the service at ``url``; its predictions JSON bytes.

    The JSON is re-serialised compactly (UTF-8, keys in the service's order).
    """
    import requests

    from humelab.datasets import EXAMPLES

    _, inputs, models = EXAMPLES[name]
    files = [
        ("file", (n, data, mimetypes.guess_type(n)[0] or "application/octet-stream"))
        for n, data in _parts(inputs)
    ]
    with requests.Session() as http:
        http.headers["X-Hume-Api-Key"] = api_key
        r = http.post(
            f"{url}/v0/batch/jobs",
            files=files,
            data={"json": json.dumps({"models": models})},
            timeout=60,
        )
        r.raise_for_status()
        job_id = r.json()["job_id"]
        deadline = time.monotonic() + 300
        while True:
            job = http.get(f"{url}/v0/batch/jobs/{job_id}", timeout=30).json()
            status = job["state"]["status"]
            if status == "COMPLETED":
                break
            if status == "FAILED" or time.monotonic() > deadline:
                raise RuntimeError(f"example {name}: job {job_id} ended {job['state']}")
            time.sleep(0.05)
        r = http.get(f"{url}/v0/batch/jobs/{job_id}/predictions", timeout=60)
        r.raise_for_status()
    data = json.loads(r.content.decode("utf-8"))
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def make_results() -> None:
    import humelab
    from humelab.datasets import EXAMPLES, results_path

    out = HERE / "results"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        with humelab.serve(data_dir=tmp, quiet=True) as server:
            for name in EXAMPLES:
                data = example_predictions(name, server.url, server.api_key)
                path = results_path(name)
                path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
                print(f"{name}: {len(data) / 1e3:.0f} kB JSON, "
                      f"{path.stat().st_size / 1e3:.0f} kB gzipped")  # fmt: skip


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    args = ap.parse_args(argv)
    if "media" in args.only:
        make_media()
    if "scripts" in args.only:
        write_scripts()
        make_index_and_zip()
    if "results" in args.only:
        make_results()
    total = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    print(f"humelab/examples is {total / 1e6:.2f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
