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
            m = (t >= pos) & (t < pos + dur)
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
    """Write a short mp4 (H.264, yuv420p) of a bright blob moving over a dark field.

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
    yy, xx = np.mgrid[0:h, 0:w]
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
            cx = w * (0.25 + 0.5 * i / max(nframes - 1, 1))
            cy = h * (0.5 + 0.15 * np.sin(2 * np.pi * i / max(nframes, 1)))
            r = min(w, h) * 0.18
            blob = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)))
            gray = (20 + 220 * blob).astype(np.uint8)
            rgb = np.dstack([gray, gray, (gray * 0.8).astype(np.uint8)])
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


def make_image(path, size: tuple[int, int] = (128, 96), seed=0) -> Path:
    """Write an image with one or two bright face-like ovals on a textured background.

    Parameters
    ----------
    path : str or Path
        Destination; ``.jpg``/``.jpeg``, ``.gif`` and ``.webp`` pick those formats,
        any other suffix gets PNG bytes.
    size : (int, int)
        Width and height in pixels.
    seed : int
        Seed of the background texture and oval placement.

    Returns
    -------
    Path
        ``path``.
    """
    from PIL import Image

    path = Path(path)
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    img = rng.normal(40, 8, (h, w))
    for _ in range(1 + seed % 2):
        cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.3, 0.7) * h
        rx, ry = w * 0.12, h * 0.2
        img += 180 * np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2))
    gray = np.clip(img, 0, 255).astype(np.uint8)
    rgb = np.dstack(
        [gray, (gray * 0.9).astype(np.uint8), (gray * 0.8).astype(np.uint8)]
    )
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".webp": "WEBP"}
    Image.fromarray(rgb, "RGB").save(path, format=fmt.get(path.suffix.lower(), "PNG"))
    return path


def make_text_file(path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` and return the path."""
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path
