"""What a job would cost on the ``hume`` engine, before anything is sent.

Hume bills its v1 API per second of media (``reference/v1-api.md`` §7): audio by
its full length (silence included), images 1/3 s each, and every request at least
10 s; failed requests are free. The ``hume`` engine sends each audio file (or a
video's soundtrack) as 16 kHz WAV requests of at most 25 MB (about 13 minutes
each) and each video as JPEG frames sampled at ``fps_pred``, up to 150 per request.
:func:`estimate` reads only the files' headers (PyAV, imported when called) and
works out the requests and billed seconds the engine would make. It does not
import the service, so clients use it for ``client.estimate(...)`` and
``humelab submit --dry-run``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError

__all__ = [
    "estimate",
    "MAX_REQUEST_BYTES",
    "FRAMES_PER_REQUEST",
    "MIN_BILLED_SECONDS",
    "IMAGE_SECONDS",
    "AUDIO_CHUNK_SECONDS",
    "UNSUPPORTED_MODELS",
]

#: Whole multipart body limit of one v1 upload request (bytes).
MAX_REQUEST_BYTES = 25_000_000
#: Room the engine keeps in each request for multipart framing (bytes).
REQUEST_SLACK = 4096
#: Most JPEGs the engine sends in one video request (its default).
FRAMES_PER_REQUEST = 150
#: Every request that took in media is billed at least this (seconds).
MIN_BILLED_SECONDS = 10.0
#: Billed seconds per image.
IMAGE_SECONDS = 1 / 3
#: Longest audio in one request: 16 kHz s16 mono WAV below the body limit (seconds).
AUDIO_CHUNK_SECONDS = (MAX_REQUEST_BYTES - REQUEST_SLACK - 44) // 2 / 16000
#: Models (and options) Hume's v1 API cannot measure.
UNSUPPORTED_MODELS = ("burst", "language", "ner", "facemesh")

_MODELS = ("face", "burst", "prosody", "language", "ner", "facemesh")
_IMAGES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
_TEXT_SUFFIXES = {".txt", ".srt", ".vtt", ".csv", ".json", ".md"}


def _sampled_count(frame_count: int, video_fps: float, fps_pred: float) -> int:
    """Frames ``floor(k * fps / fps_pred + 0.5)`` below ``frame_count``."""
    if frame_count <= 0:
        return 0
    if not fps_pred or fps_pred >= video_fps:
        return frame_count
    step = video_fps / fps_pred
    n, k, last = 0, 0, -1
    while True:
        i = math.floor(k * step + 0.5)
        if i >= frame_count:
            return n
        if i != last:
            n += 1
            last = i
        k += 1


def _audio_bill(seconds: float) -> tuple[int, float]:
    """Requests and billed seconds of ``seconds`` of audio."""
    if seconds <= 0:
        return 0, 0.0
    n = max(1, math.ceil(seconds / AUDIO_CHUNK_SECONDS))
    last = seconds - (n - 1) * AUDIO_CHUNK_SECONDS
    return n, seconds + max(0.0, MIN_BILLED_SECONDS - last)


def _image_bill(images: int, per_request: int) -> tuple[int, float]:
    """Requests and billed seconds of ``images`` stills in batches."""
    if images <= 0:
        return 0, 0.0
    full, rest = divmod(images, per_request)
    billed = full * max(MIN_BILLED_SECONDS, per_request * IMAGE_SECONDS)
    if rest:
        billed += max(MIN_BILLED_SECONDS, rest * IMAGE_SECONDS)
    return full + (1 if rest else 0), billed


def _probe(path: Path) -> dict:
    """``kind``, ``seconds``, ``fps``, ``frames``, ``audio`` of one file."""
    if path.suffix.lower() in _TEXT_SUFFIXES:
        return {"kind": "text"}
    try:
        from PIL import Image

        with Image.open(path) as im:
            if getattr(im, "n_frames", 1) <= 1 or path.suffix.lower() in _IMAGES:
                return {"kind": "image"}
    except ImportError:  # pragma: no cover - Pillow comes with the service extra
        if path.suffix.lower() in _IMAGES:
            return {"kind": "image"}
    except Exception:  # noqa: BLE001 - not an image: try audio and video
        pass
    try:
        import av
    except ImportError:  # pragma: no cover - av comes with the service extra
        raise InputError(
            "Estimating needs PyAV to read media durations; install it with "
            "`pip install 'humelab[service]'`."
        ) from None
    try:
        with av.open(str(path)) as c:
            videos = [
                s
                for s in c.streams.video
                if not (s.disposition & av.stream.Disposition.attached_pic)
            ]
            audios = list(c.streams.audio)
            seconds = c.duration / 1e6 if c.duration else 0.0
            if videos:
                v = videos[0]
                rate = v.average_rate or v.guessed_rate or v.base_rate
                fps = float(rate) if rate else 25.0
                if v.duration and v.time_base:
                    seconds = float(v.duration * v.time_base)
                frames = v.frames or int(round(seconds * fps))
                if frames <= 1 and not audios and seconds == 0.0:
                    return {"kind": "image"}  # a still FFmpeg reads (e.g. a png)
                audio_seconds = seconds
                if audios and audios[0].duration and audios[0].time_base:
                    audio_seconds = float(audios[0].duration * audios[0].time_base)
                return {
                    "kind": "video",
                    "seconds": seconds,
                    "fps": fps,
                    "frames": frames,
                    "audio": bool(audios),
                    "audio_seconds": audio_seconds if audios else 0.0,
                }
            if audios:
                a = audios[0]
                if a.duration and a.time_base:
                    seconds = float(a.duration * a.time_base)
                return {"kind": "audio", "audio_seconds": seconds, "audio": True}
    except Exception as exc:  # noqa: BLE001 - av.error.* and friends
        return {"kind": "unknown", "error": f"could not read {path.name}: {exc}"}
    return {"kind": "unknown", "error": f"{path.name} has no audio or video stream"}


def estimate(
    paths,
    *,
    models: dict | None = None,
    fps_pred: float = 3.0,
    frames_per_request: int = FRAMES_PER_REQUEST,
) -> dict:
    """Requests and billed seconds a job would cost on the ``hume`` engine.

    Parameters
    ----------
    paths : str, Path or iterable of them
        Local media files (folders are walked, hidden files skipped).
    models : dict, optional
        The job's ``models`` (as submitted); None means all six models, as a job
        that omits ``models``.
    fps_pred : float
        Frames per second sampled from videos for ``face`` unless
        ``models["face"]["fps_pred"]`` says otherwise (default 3).
    frames_per_request : int
        JPEGs per video request (the engine's ``frames_per_request``, default 150).

    Returns
    -------
    dict
        ``engine`` ("hume"), ``requests`` (int), ``billed_seconds`` (float,
        what Hume would meter, 10 s minimum per request included),
        ``audio_seconds`` (media length sent as audio), ``images`` (stills sent),
        ``unsupported`` ({model: [file names]} for models v1 cannot measure:
        they would be error entries) and ``files``: one dict per file with the
        same fields plus ``path`` and ``kind`` (``error`` for unreadable files).

    Raises
    ------
    humelab.InputError
        When a path does not exist.

    Notes
    -----
    Audio longer than about 13 minutes is split at a quiet moment in the last
    30 s before each limit, so the real number of requests can exceed the
    estimate by one per split at worst; billed seconds are unchanged except for
    the 10 s minimum. Prices per second are set by Hume's plan; multiply
    ``billed_seconds`` by your rate.

    Examples
    --------
    >>> estimate([], models={"face": {}})["requests"]
    0
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = _expand(paths)
    if models is None:
        models = {m: {} for m in _MODELS}
    wanted = {m for m, cfg in models.items() if cfg is not None}
    face_cfg = models.get("face") or {}
    fps = face_cfg.get("fps_pred", fps_pred)
    if not isinstance(frames_per_request, int) or frames_per_request < 1:
        raise InputError(
            f"`frames_per_request` must be a whole number >= 1, got "
            f"{frames_per_request!r}."
        )
    out_files = []
    total = {"requests": 0, "billed_seconds": 0.0, "audio_seconds": 0.0, "images": 0}
    unsupported: dict[str, list[str]] = {}
    for path in files:
        info = _probe(path)
        row = {"path": str(path), "kind": info["kind"], "requests": 0,
               "billed_seconds": 0.0, "audio_seconds": 0.0, "images": 0,
               "unsupported": []}  # fmt: skip
        if "error" in info:
            row["error"] = info["error"]
        kind = info["kind"]
        visual = kind in ("image", "video")
        has_audio = bool(info.get("audio"))
        miss = []
        if has_audio or kind == "text":
            miss += [m for m in ("burst", "language", "ner") if m in wanted]
        if kind == "text":
            miss = [m for m in miss if m != "burst"]
        if visual:
            if "facemesh" in wanted:
                miss.append("facemesh")
            if "face" in wanted and face_cfg.get("facs") is not None:
                miss.append("facs")
        if "prosody" in wanted and has_audio:
            secs = float(info.get("audio_seconds") or 0.0)
            n, billed = _audio_bill(secs)
            row["requests"] += n
            row["billed_seconds"] += billed
            row["audio_seconds"] += secs
        if "face" in wanted and visual:
            if kind == "image":
                images = 1
            else:
                images = _sampled_count(info["frames"], info["fps"], fps)
            n, billed = _image_bill(images, frames_per_request)
            row["requests"] += n
            row["billed_seconds"] += billed
            row["images"] += images
        row["unsupported"] = miss
        for m in miss:
            unsupported.setdefault(m, []).append(path.name)
        for k in total:
            total[k] += row[k]
        out_files.append(row)
    return {"engine": "hume", **total, "unsupported": unsupported, "files": out_files}


def _expand(paths: Iterable) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            out += sorted(
                f
                for f in path.rglob("*")
                if f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
        elif path.is_file():
            out.append(path)
        else:
            raise InputError(
                f"No file or folder at {str(p)!r}; `estimate` reads local files. "
                "Check the path."
            )
    return out
