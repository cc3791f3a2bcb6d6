"""Make humelab's example media (everything in datasets/ except this script).

Run from the project root:  ``python datasets/make_datasets.py``

Needs espeak-ng and sox on PATH (``apt-get install -y espeak-ng sox``) for the speech,
plus numpy, pillow and av (PyAV) from the ``service`` extra. The outputs are committed,
so nothing is generated or downloaded when humelab runs. Everything is synthetic: the
voices are espeak-ng's formant synthesizer, the "faces" are drawings.
"""

from __future__ import annotations

import csv
import subprocess
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SR = 16000

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


def main() -> None:
    rows = []
    for stem, (voice, sentence) in SPEECH.items():
        speak(stem, voice, sentence)
        rows.append((f"{stem}.wav", "audio", f"speech (espeak-ng, {voice}), 16 kHz"))
        rows.append((f"{stem}.txt", "transcript", f"transcript of {stem}.wav"))
    make_video(HERE / "face_talking.mp4", read_wav(HERE / "speech_greeting.wav"))
    rows.append(
        ("face_talking.mp4", "video", "moving face drawing, 10 fps, with speech audio")
    )
    make_image(HERE / "face_smile.jpg", smile=1.0, quality=85)
    make_image(HERE / "face_frown.png", smile=-0.8)
    make_image(HERE / "face_neutral.jpg", smile=0.0, quality=85)
    for name, what in (
        ("face_smile.jpg", "smiling face drawing"),
        ("face_frown.png", "frowning face drawing"),
        ("face_neutral.jpg", "neutral face drawing"),
    ):
        rows.append((name, "image", what))
    (HERE / "sentences.txt").write_text(TEXT, encoding="utf-8")
    rows.append(("sentences.txt", "text", "three short sentences"))
    with zipfile.ZipFile(HERE / "faces.zip", "w", zipfile.ZIP_STORED) as zf:
        for name in ("face_smile.jpg", "face_neutral.jpg", "sentences.txt"):
            info = zipfile.ZipInfo(f"faces/{name}", date_time=(2026, 1, 1, 0, 0, 0))
            zf.writestr(info, (HERE / name).read_bytes())
    rows.append(("faces.zip", "archive", "zip of two images and the text file"))
    with open(HERE / "index.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["file", "kind", "description"])
        writer.writerows(rows)
    total = sum(p.stat().st_size for p in HERE.iterdir() if p.is_file())
    print(f"wrote {len(rows)} files; datasets/ is {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
