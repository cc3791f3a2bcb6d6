"""Probing and decoding real media for the Batch service's engines.

Kinds are detected by content, not by extension: an image (Pillow), then UTF-8 text,
then audio that libsndfile reads (wav, flac, ogg), then any container FFmpeg reads
(PyAV). Video frames are sampled at ``fps_pred`` as small grayscale arrays; audio is
decoded to mono float32 at 16 kHz. Anything that cannot be decoded raises
:class:`~humelab.service.engines.base.EngineError` ``"could not decode <file>: ..."``,
naming the file as the user knows it (``name=``), never its path on disk. A file
whose extension promises an image, audio or a video must decode as one: text named
``.jpg`` is an error, not a text input.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from .. import contract
from .engines.base import EngineError

__all__ = [
    "SAMPLE_RATE",
    "MediaInfo",
    "probe_media",
    "read_image",
    "read_text",
    "read_audio",
    "sample_frames",
    "frame_indices",
    "expected_kind",
    "find_faces",
]

#: Sample rate of decoded audio (Hz).
SAMPLE_RATE = 16000

#: Longest side of sampled frames and images handed to engines (pixels).
_SMALL = 96

#: FFmpeg demuxers that accept almost any bytes by extension (ANSI/binary text art).
_TEXT_ART_FORMATS = {"bin", "tty", "xbin", "adf", "idf"}

#: Pillow formats recognised without a magic number.
_NO_MAGIC_IMAGES = {"TGA"}

#: Text files larger than this are not sniffed as text.
_MAX_TEXT_BYTES = 10_000_000


@dataclass(frozen=True)
class MediaInfo:
    """What a file is.

    Attributes
    ----------
    kind : str
        ``"image"``, ``"video"``, ``"audio"`` or ``"text"``.
    duration : float or None
        Seconds (audio, video).
    width, height : int or None
        Pixels (image, video).
    fps : float or None
        Video frame rate.
    frame_count : int or None
        Video frames, from the container (may be an estimate from duration x fps).
    has_audio : bool
        A video has an audio track, or the file is audio.
    """

    kind: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    frame_count: int | None = None
    has_audio: bool = False


#: The kind a file name's extension promises (a file named so must decode as such);
#: the suffixes are the contract's (humelab.contract.SUFFIXES).
_KIND_BY_SUFFIX: dict[str, str] = {
    suffix: kind
    for kind in ("image", "audio", "video")
    for suffix in contract.SUFFIXES[kind]
}
_ARTICLE = {"image": "an image", "audio": "audio", "video": "a video"}


def expected_kind(name) -> str | None:
    """``"image"``, ``"audio"`` or ``"video"`` when the extension of ``name`` says so.

    Examples
    --------
    >>> expected_kind("p1/face.JPG"), expected_kind("notes.txt")
    ('image', None)
    """
    return _KIND_BY_SUFFIX.get(PurePosixPath(str(name)).suffix.lower())


def _reason(path, reason, name: str) -> str:
    # The decoders' messages embed the path on disk; users know only `name`.
    text = getattr(reason, "strerror", None) if isinstance(reason, Exception) else None
    if not isinstance(text, str) or not text.strip():
        text = str(reason).strip() or type(reason).__name__
    p = Path(path)
    for shown in {str(p), str(p.resolve())} - {""}:
        text = text.replace(f"'{shown}'", name).replace(shown, name)
    return text


def _fail(path, reason, name: str | None = None, *, kind=None) -> EngineError:
    # kind: what the extension promised ("could not decode f.jpg as an image").
    name = name or Path(path).name
    what = f"{name} as {_ARTICLE[kind]}" if kind else name
    return EngineError(f"could not decode {what}: {_reason(path, reason, name)}")


def _try_image(path, name: str):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > _MAX_IMAGE_PIXELS:
                raise _too_large(path, name, im.size)
            # Formats without a magic number accept random headers; trust them only
            # by extension.
            if im.format in _NO_MAGIC_IMAGES and PurePosixPath(
                name
            ).suffix.lower() not in (
                ".tga",
                ".icb",
                ".vda",
                ".vst",
            ):
                return None
            im.verify()
        with Image.open(path) as im:
            return im.size
    except Image.DecompressionBombError:
        raise _too_large(path, name, _header_size(path)) from None
    except EngineError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    except Exception:  # Pillow plugins raise assorted errors on junk
        return None


#: Largest image decoded, in pixels (Pillow's own bomb limit, about 89 megapixels).
_MAX_IMAGE_PIXELS = 89_478_485


def _header_size(path):
    """``(width, height)`` from an image's header, or None.

    Asks the format plugins directly: ``Image.open`` refuses to say (it raises
    before returning the image), and its global limit must not be lifted while
    other threads decode.
    """
    from PIL import Image

    Image.init()
    with open(path, "rb") as fp:
        prefix = fp.read(16)
        for fmt in Image.ID:
            factory, accept = Image.OPEN[fmt]
            try:
                if accept and not accept(prefix):
                    continue
                fp.seek(0)
                return factory(fp, str(path)).size
            except Exception:  # noqa: BLE001 - not this format
                continue
    return None


def _too_large(path, name: str, size) -> EngineError:
    shown = f"{size[0]}x{size[1]} pixels" if size else "too many pixels"
    return _fail(
        path,
        f"it is {shown}, over the {_MAX_IMAGE_PIXELS:,}-pixel limit for images; "
        "scale it down",
        name,
        kind="image",
    )


def _looks_like_text(path) -> bool:
    p = Path(path)
    if p.stat().st_size > _MAX_TEXT_BYTES:
        return False
    data = p.read_bytes()
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _try_soundfile(path):
    import soundfile as sf

    try:
        return sf.info(str(path))
    except Exception:
        return None


def probe_media(path, *, name: str | None = None) -> MediaInfo:
    """Detect what ``path`` holds and read its basic structure.

    Parameters
    ----------
    path : str or Path
        A file on disk.
    name : str, optional
        The file's name as the user knows it (upload name, archive member path),
        used in messages and for its extension; default: the name on disk.

    Returns
    -------
    MediaInfo

    Raises
    ------
    EngineError
        ``"could not decode <name>: <reason>"`` when no decoder accepts the file,
        and ``"could not decode <name> as an image: ..."`` (audio, a video) when the
        extension promises media but the content is text or does not decode.
        Messages name ``name``, never the path on disk.
    """
    path = Path(path)
    name = name or path.name
    kind = expected_kind(name)
    try:
        if path.stat().st_size == 0:
            raise _fail(path, "the file is empty", name, kind=kind)
    except OSError as e:
        raise _fail(path, e, name, kind=kind) from None
    size = _try_image(path, name)
    if size is not None:
        return MediaInfo("image", width=size[0], height=size[1])
    if _looks_like_text(path):
        if kind:
            raise _fail(
                path,
                "its content is text. Send the real file, or name a text file "
                "with .txt to measure it as text",
                name,
                kind=kind,
            )
        return MediaInfo("text")
    info = _try_soundfile(path)
    if info is not None and info.frames > 0:
        return MediaInfo(
            "audio", duration=info.frames / info.samplerate, has_audio=True
        )
    return _probe_av(path, name, kind)


def _probe_av(path, name: str, kind: str | None) -> MediaInfo:
    import av

    try:
        with av.open(str(path)) as c:
            if set(c.format.name.split(",")) & _TEXT_ART_FORMATS:
                raise EngineError("not an audio, video or image file")
            videos = [
                s
                for s in c.streams.video
                if not (s.disposition & av.stream.Disposition.attached_pic)
            ]
            audios = list(c.streams.audio)
            dur = c.duration / 1e6 if c.duration else None
            if videos:
                v = videos[0]
                rate = v.average_rate or v.guessed_rate or v.base_rate
                fps = float(rate) if rate else None
                if v.duration and v.time_base:
                    dur = float(v.duration * v.time_base)
                n = v.frames or (int(round(dur * fps)) if dur and fps else None)
                if not (v.codec_context.width and fps):
                    raise EngineError("no decodable video stream")
                if next(iter(c.decode(v)), None) is None:
                    raise EngineError("no decodable video frames")
                return MediaInfo(
                    "video",
                    duration=dur,
                    width=v.codec_context.width,
                    height=v.codec_context.height,
                    fps=fps,
                    frame_count=n,
                    has_audio=bool(audios),
                )
            if audios:
                a = audios[0]
                if a.duration and a.time_base:
                    dur = float(a.duration * a.time_base)
                return MediaInfo("audio", duration=dur, has_audio=True)
            raise EngineError("no audio or video stream")
    except EngineError as e:
        raise _fail(path, e, name, kind=kind) from None
    except Exception as e:  # av.error.* and friends
        raise _fail(path, e, name, kind=kind) from None


def _small_size(width, height, max_side=_SMALL):
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(round(width * scale))), max(2, int(round(height * scale)))


def read_image(path, *, max_side: int = _SMALL, name: str | None = None) -> np.ndarray:
    """Grayscale pixels of an image, shrunk so the longest side is ``max_side``.

    Parameters
    ----------
    path : str or Path
        An image file.
    max_side : int
        Longest side of the returned array, in pixels.
    name : str, optional
        The file's name as the user knows it, for messages (default: name on disk).

    Returns
    -------
    numpy.ndarray
        float32, shape ``(h, w)``, values 0-255.

    Raises
    ------
    EngineError
        When Pillow cannot decode it.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.seek(0)
            g = im.convert("L")
            g = g.resize(_small_size(*g.size, max_side), Image.BILINEAR)
            return np.asarray(g, dtype=np.float32)
    except Exception as e:
        raise _fail(path, e, name) from None


def read_text(path, *, name: str | None = None) -> str:
    """The UTF-8 text of a file (a leading BOM is dropped).

    Parameters
    ----------
    path : str or Path
        A text file.
    name : str, optional
        The file's name as the user knows it, for messages (default: name on disk).

    Raises
    ------
    EngineError
        When the bytes are not UTF-8.
    """
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except (UnicodeDecodeError, OSError) as e:
        raise _fail(path, e, name) from None


def _read_soundfile(path, info, target: int) -> np.ndarray:
    """Mono float32 at ``target`` Hz, read block by block (linear interpolation).

    Only the mono output is ever whole in memory, so an hour of 44.1 kHz stereo
    costs the 230 MB of its 16 kHz mono, not 1.3 GB.
    """
    import soundfile as sf

    rate, n_in = info.samplerate, info.frames
    n_out = int(round(n_in * target / rate))
    out = np.empty(n_out, dtype=np.float32)
    step = rate / target  # input samples per output sample
    done = 0  # output samples written
    offset = 0  # input index of the block's first sample
    carry = None  # last input sample of the previous block
    for block in sf.blocks(
        str(path), blocksize=1 << 18, dtype="float32", always_2d=True
    ):
        mono = block.mean(axis=1)
        base = offset
        if carry is not None:
            mono, base = np.concatenate(([carry], mono)), offset - 1
        last = base + len(mono) - 1  # last input index available
        k_end = min(n_out, int(np.floor(last / step)) + 1)
        if k_end > done:
            pos = np.arange(done, k_end) * step - base
            out[done:k_end] = np.interp(pos, np.arange(len(mono)), mono)
            done = k_end
        carry = mono[-1]
        offset += len(block)
    if done < n_out:  # the last few outputs sit past the final input sample
        out[done:] = carry if carry is not None else 0.0
    return out


def read_audio(path, *, sr: int = SAMPLE_RATE, name: str | None = None) -> np.ndarray:
    """Decode the (first) audio track to mono float32 samples at ``sr`` Hz.

    wav/flac/ogg go through soundfile; everything else through PyAV.

    Parameters
    ----------
    path : str or Path
        An audio file or a video with an audio track.
    sr : int
        Target sample rate.
    name : str, optional
        The file's name as the user knows it, for messages (default: name on disk).

    Returns
    -------
    numpy.ndarray
        float32 samples in about [-1, 1] (empty when the track is empty).

    Raises
    ------
    EngineError
        When no decoder can read an audio track.
    """
    info = _try_soundfile(path)
    if info is not None:
        try:
            return _read_soundfile(path, info, sr)
        except Exception as e:
            raise _fail(path, e, name) from None
    import av

    chunks = []
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise EngineError("no audio stream")
            stream = c.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
            for frame in c.decode(stream):
                for f in resampler.resample(frame):
                    chunks.append(f.to_ndarray().reshape(-1))
            for f in resampler.resample(None):
                chunks.append(f.to_ndarray().reshape(-1))
    except EngineError as e:
        raise _fail(path, e, name) from None
    except Exception as e:
        raise _fail(path, e, name) from None
    if not chunks:
        return np.zeros(0, np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def frame_indices(frame_count: int, video_fps: float, fps_pred: float) -> list[int]:
    """Frames sampled at `fps_pred`: `round(k * video_fps / fps_pred)`, k = 0, 1, ...

    ``fps_pred`` 0 (or above the video rate) means every frame. Indices are unique
    and below ``frame_count``.

    Examples
    --------
    >>> frame_indices(50, 25.0, 3)[:6]
    [0, 8, 17, 25, 33, 42]
    """
    if frame_count <= 0:
        return []
    if not fps_pred or fps_pred >= video_fps:
        return list(range(frame_count))
    step = video_fps / fps_pred
    out = []
    k = 0
    while True:
        # Python's round() is banker's rounding; Hume's frames (25 fps at 3: 0, 8, 17,
        # 25, 33, 42) match half-up, so use floor(x + 0.5).
        i = int(np.floor(k * step + 0.5))
        if i >= frame_count:
            break
        if not out or i != out[-1]:
            out.append(i)
        k += 1
    return out


def sample_frames(
    path, *, fps_pred: float, max_side: int = _SMALL, name: str | None = None
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Decode a video and yield the frames sampled at ``fps_pred``.

    Parameters
    ----------
    path : str or Path
        A video file.
    fps_pred : float
        Frames per second to sample (0 = every frame); frame ``round(k * fps /
        fps_pred)`` for k = 0, 1, ...
    max_side : int
        Longest side of the yielded arrays.
    name : str, optional
        The file's name as the user knows it, for messages (default: name on disk).

    Yields
    ------
    (frame, time, pixels)
        Frame index in decode order, ``frame / fps`` in seconds, and float32
        grayscale pixels 0-255 of shape ``(h, w)``.

    Raises
    ------
    EngineError
        When the video cannot be decoded.
    """
    import av

    try:
        with av.open(str(path)) as c:
            videos = [
                s
                for s in c.streams.video
                if not (s.disposition & av.stream.Disposition.attached_pic)
            ]
            if not videos:
                raise EngineError("no video stream")
            stream = videos[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 25.0
            step = fps / fps_pred if fps_pred and fps_pred < fps else 1.0
            k, target = 0, 0
            w = h = None
            for i, frame in enumerate(c.decode(stream)):
                if i < target:
                    continue
                if w is None:
                    w, h = _small_size(frame.width, frame.height, max_side)
                pix = frame.reformat(width=w, height=h, format="gray").to_ndarray()
                yield i, i / fps, pix.astype(np.float32)
                while target <= i:
                    k += 1
                    target = int(np.floor(k * step + 0.5))
    except EngineError as e:
        raise _fail(path, e, name) from None
    except GeneratorExit:
        raise
    except Exception as e:
        raise _fail(path, e, name) from None


# -- faces (drawn ones) ----------------------------------------------------------


def _blur(a, r):
    if r < 1:
        return a
    k = 2 * r + 1
    p = np.pad(a, r, mode="edge")
    c = np.cumsum(np.cumsum(p, axis=0), axis=1)
    c = np.pad(c, ((1, 0), (1, 0)))
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def _component(mask, iy, ix):
    """The 4-connected region of ``mask`` holding (iy, ix), by repeated dilation."""
    comp = np.zeros_like(mask)
    comp[iy, ix] = True
    while True:
        grown = comp.copy()
        grown[1:] |= comp[:-1]
        grown[:-1] |= comp[1:]
        grown[:, 1:] |= comp[:, :-1]
        grown[:, :-1] |= comp[:, 1:]
        grown &= mask
        if grown.sum() == comp.sum():
            return comp
        comp = grown


def find_faces(pix, max_faces=3):
    """Bright blobs as face boxes ``((x, y, w, h), contrast)`` in ``pix`` pixels.

    The deterministic "face detector" of the simulated engine and the v1 stand-in:
    the project's drawn faces are bright ovals on a darker background.

    A blob is the connected region brighter than halfway between the background
    (median) and its peak, after a light blur that fills small dark features (eyes,
    mouth). Further blobs must be at least 60% as contrasted and 25% as large as the
    first, and face-shaped (aspect between 0.4 and 2.5).
    """
    h, w = pix.shape
    a = _blur(pix.astype(np.float64), max(1, min(h, w) // 32))
    bg = float(np.median(a))
    out = []
    first = None
    for _ in range(max_faces + 2):
        iy, ix = np.unravel_index(int(np.argmax(a)), a.shape)
        peak = float(a[iy, ix])
        contrast = (peak - bg) / 255.0
        if contrast < 0.12 or (first and contrast < 0.6 * first[0]):
            break
        comp = _component(a > bg + 0.5 * (peak - bg), iy, ix)
        rows, cols = np.flatnonzero(comp.any(axis=1)), np.flatnonzero(comp.any(axis=0))
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        a[comp] = bg  # remove it before looking for the next one
        bw, bh = (x1 - x0) * 1.1, (y1 - y0) * 1.1
        area = bw * bh
        if first is None:
            first = (contrast, area)
        elif area < 0.25 * first[1] or not 0.4 <= bw / bh <= 2.5:
            continue
        bx = max(0.0, (x0 + x1) / 2 - bw / 2)
        by = max(0.0, (y0 + y1) / 2 - bh / 2)
        bw, bh = min(bw, w - bx), min(bh, h - by)
        if bw >= 2 and bh >= 2:
            out.append(((bx, by, bw, bh), min(1.0, contrast)))
        if len(out) == max_faces:
            break
    return out
