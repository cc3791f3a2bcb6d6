"""Small deterministic media generators shared by humelab's tests.

Every generator writes a real, decodable file and returns its path. Same arguments
give the same bytes (encoders run single-threaded, no timestamps in metadata), so
tests can rely on the simulated engine's "same bytes -> same scores" rule.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["make_wav", "make_video", "make_image", "make_text_file", "speech_signal"]


def speech_signal(
    seconds: float = 2.0, *, sr: int = 16000, speech: bool = True, seed=0
):
    """Mono float32 samples in [-1, 1]: voiced-like bursts separated by silence.

    Parameters
    ----------
    seconds : float
        Duration.
    sr : int
        Sample rate in Hz.
    speech : bool
        When False, the signal is low-level noise only (no speech-like segments).
    seed : int
        Seed of the noise and of the burst layout.

    Returns
    -------
    numpy.ndarray
        float32 samples, shape ``(round(seconds * sr),)``.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    out = rng.normal(0.0, 0.002, n)  # room noise, far below the speech threshold
    if speech:
        # Bursts of 0.35-0.9 s separated by 0.2-0.5 s of silence, starting at 0.15 s.
        pos = 0.15
        while pos < seconds - 0.2:
            dur = min(rng.uniform(0.35, 0.9), seconds - pos - 0.05)
            if dur < 0.1:
                break
            f0 = rng.uniform(110, 220)
            m = slice(*np.searchsorted(t, [pos, pos + dur]))  # pos <= t < pos + dur
            tt = t[m] - pos
            env = np.sin(np.pi * tt / dur) ** 0.5
            # A pitch with harmonics, amplitude modulated at syllable rate (~4 Hz).
            syll = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * tt)
            voice = sum(np.sin(2 * np.pi * f0 * h * tt) / h for h in (1, 2, 3, 4))
            out[m] += 0.25 * env * syll * voice
            pos += dur + rng.uniform(0.2, 0.5)
    return np.clip(out, -1, 1).astype(np.float32)


def make_wav(
    path, seconds: float = 2.0, *, sr: int = 16000, speech=True, seed=0
) -> Path:
    """Write a 16-bit PCM mono wav of :func:`speech_signal`.

    Parameters
    ----------
    path : str or Path
        Destination. ``.flac`` and ``.ogg`` give FLAC and Ogg Vorbis; any other
        suffix gets WAV bytes (handy for testing detection by content).
    seconds, sr, speech, seed
        See :func:`speech_signal`.

    Returns
    -------
    Path
        ``path``.
    """
    import soundfile as sf

    path = Path(path)
    fmt = {".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower(), "WAV")
    sf.write(
        path, speech_signal(seconds, sr=sr, speech=speech, seed=seed), sr, format=fmt
    )
    return path


def make_video(
    path,
    seconds: float = 2.0,
    *,
    fps: int = 25,
    size: tuple[int, int] = (160, 120),
    audio: bool = True,
) -> Path:
    """Write a short mp4 (H.264, yuv420p) of a drawn face moving over a dark field.

    The face (a light oval, 64% of the height tall, with eyes and a mouth that smiles
    more over time) moves from the left edge to the right edge and bobs up and down.

    Parameters
    ----------
    path : str or Path
        Destination, normally ``.mp4``.
    seconds : float
        Duration.
    fps : int
        Frame rate.
    size : (int, int)
        Width and height in pixels (even numbers).
    audio : bool
        Add an AAC mono track of speech-like bursts (:func:`speech_signal`).

    Returns
    -------
    Path
        ``path``.
    """
    import av

    path = Path(path)
    w, h = size
    nframes = int(round(seconds * fps))
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "ultrafast", "threads": "1"}
        vs.codec_context.thread_count = 1
        as_ = None
        if audio:
            as_ = out.add_stream("aac", rate=16000)
            as_.layout = "mono"
        for i in range(nframes):
            ry = 0.32 * h
            rx = min(0.8 * ry, 0.24 * w)
            cx = rx + 2 + (w - 2 * rx - 4) * i / max(nframes - 1, 1)
            cy = h * 0.5 + (h * 0.5 - ry - 2) * np.sin(2 * np.pi * i / max(nframes, 1))
            rgb = _draw_faces(
                np.full((h, w), 40.0), [(cx, cy, rx, ry, i / max(nframes - 1, 1))]
            )
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if as_ is not None:
            sig = speech_signal(seconds, sr=16000, seed=1)
            pcm = (sig * 32767).astype(np.int16)
            step = 1024
            for start in range(0, len(pcm), step):
                chunk = pcm[start : start + step]
                af = av.AudioFrame.from_ndarray(
                    chunk[None, :], format="s16", layout="mono"
                )
                af.sample_rate = 16000
                af.pts = start
                af.time_base = Fraction(1, 16000)
                for pkt in as_.encode(af):
                    out.mux(pkt)
            for pkt in as_.encode():
                out.mux(pkt)
    return path


def _draw_faces(gray, faces):
    """RGB uint8 image: ``gray`` background with light face ovals drawn on it.

    ``faces`` holds ``(cx, cy, rx, ry, smile)``; smile in [0, 1] bends the mouth.
    """
    h, w = gray.shape
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.dstack([gray * 0.8, gray * 0.9, gray * 1.3])
    for cx, cy, rx, ry, smile in faces:
        oval = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        rgb[oval] = (228, 190, 160)
        for ex in (cx - 0.4 * rx, cx + 0.4 * rx):
            eye = ((xx - ex) / (0.12 * rx)) ** 2 + (
                (yy - cy + 0.25 * ry) / (0.1 * ry)
            ) ** 2
            rgb[eye <= 1] = (40, 30, 30)
        u = (xx - cx) / (0.45 * rx)
        curve = cy + 0.4 * ry - (smile - 0.5) * 0.25 * ry * (u**2 - 1)
        mouth = (np.abs(u) <= 1) & (np.abs(yy - curve) <= max(1.0, 0.05 * ry))
        rgb[mouth] = (150, 40, 40)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def make_image(path, size: tuple[int, int] = (128, 96), seed=0) -> Path:
    """Write an image of drawn faces (light ovals with eyes and a mouth).

    One face 70% of the height tall at the default size; images at least twice as
    wide as tall get two faces when ``seed`` is odd. Placement, background texture
    and smile come from ``seed``.

    Parameters
    ----------
    path : str or Path
        Destination; ``.jpg``/``.jpeg``, ``.gif`` and ``.webp`` pick those formats,
        any other suffix gets PNG bytes.
    size : (int, int)
        Width and height in pixels.
    seed : int
        Seed of the background texture, the placement and the smile.

    Returns
    -------
    Path
        ``path``.
    """
    from PIL import Image

    path = Path(path)
    rng = np.random.default_rng(seed)
    w, h = size
    two = seed % 2 == 1 and w >= 2 * h
    ry = 0.35 * h
    rx = min(0.8 * ry, (0.22 if two else 0.45) * w)
    slots = [0.25, 0.75] if two else [0.5]
    faces = []
    for slot in slots:
        span = (w / len(slots)) / 2 - rx - 2
        cx = slot * w + rng.uniform(-1, 1) * max(span, 0)
        cy = h / 2 + rng.uniform(-1, 1) * max(h / 2 - ry - 2, 0)
        faces.append((cx, cy, rx, ry, rng.uniform(0, 1)))
    rgb = _draw_faces(rng.normal(45, 6, (h, w)), faces)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".webp": "WEBP"}
    Image.fromarray(rgb, "RGB").save(path, format=fmt.get(path.suffix.lower(), "PNG"))
    return path


def make_text_file(path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` and return the path."""
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path
