"""Media preparation for Hume's v1 upload endpoints: WAV chunks, JPEG frames, batches.

Hume's v1 API does no conversion (``reference/v1-api.md`` §3.3, §4.3): audio must be
16 kHz mono s16 WAV, at most 25 MB per request; video is sent as JPEG stills, each at
most 2 MB and 8,294,400 pixels, at most 25 MB per request. This module turns any file
the service accepts into those pieces, with PyAV (decoding, resampling) and Pillow
(JPEG, EXIF orientation):

* :func:`audio_chunks` - any audio, or a video's soundtrack, as WAV chunks below the
  request limit, split at the quietest moment near each limit (silence where there is
  some), each with its offset in seconds from the start of the file;
* :func:`video_frames` - a video's frames sampled at ``fps_pred`` as JPEGs, with their
  source frame index and time, scaled down when over the limits;
* :func:`image_frame` - one image as a JPEG with its EXIF orientation applied;
* :func:`batch_frames` - frames grouped into requests below the body limit;
* :func:`prefetch` - any of those generators run in a thread, a few items ahead,
  so conversion overlaps the requests.

Everything is a generator that decodes as it goes: at most one request's worth of
media is held in memory, never a whole video or a whole long recording.
"""

from __future__ import annotations

import io
import queue
import threading
import time
import wave
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._cost import MAX_REQUEST_BYTES, REQUEST_SLACK
from .engines.base import EngineError

__all__ = [
    "SAMPLE_RATE",
    "MAX_REQUEST_BYTES",
    "MAX_IMAGE_BYTES",
    "MAX_PIXELS",
    "AudioChunk",
    "Frame",
    "audio_chunks",
    "chunk_seconds",
    "video_frames",
    "image_frame",
    "batch_frames",
    "prefetch",
]

#: Sample rate Hume's v1 audio endpoint accepts (Hz).
SAMPLE_RATE = 16000
#: Limit of one JPEG in a v1 video request (bytes).
MAX_IMAGE_BYTES = 2_000_000
#: Pixel limit of one JPEG (the area of 3840 x 2160).
MAX_PIXELS = 8_294_400
#: Bytes of multipart framing counted per image part.
PART_OVERHEAD = 256
#: Size of a basic WAV header (RIFF, fmt, data).
_WAV_HEADER = 44
#: Energy frame used to find silence (seconds).
_HOP = 0.02
#: JPEG qualities tried, best first, before scaling an image down further.
_QUALITIES = (90, 80, 70, 60)


@dataclass(frozen=True)
class AudioChunk:
    """One WAV request's worth of audio.

    Attributes
    ----------
    index : int
        0-based position of the chunk in the file.
    offset : float
        Seconds from the start of the file to the chunk's first sample; add it to
        the times Hume reports for the chunk.
    duration : float
        Seconds of audio in the chunk.
    wav : bytes
        16 kHz mono s16 WAV (basic 44-byte header).
    """

    index: int
    offset: float
    duration: float
    wav: bytes


@dataclass(frozen=True)
class Frame:
    """One JPEG still for the v1 video endpoint.

    Attributes
    ----------
    frame : int
        Index of the frame in the source video, in decode order (0 for an image).
    time : float
        ``frame / fps`` in seconds (0.0 for an image).
    jpeg : bytes
        The JPEG sent to Hume.
    scale : float
        Size of the JPEG over the size of the source (1.0 unless scaled down);
        divide Hume's boxes by it to get source pixels.
    """

    frame: int
    time: float
    jpeg: bytes
    scale: float = 1.0


def _decode_error(name: str, exc) -> EngineError:
    return EngineError(f"could not decode {name}: {exc}")


def chunk_seconds(max_bytes: int = MAX_REQUEST_BYTES) -> float:
    """Longest audio (seconds) one WAV request below ``max_bytes`` can hold.

    Examples
    --------
    >>> round(chunk_seconds(), 1)
    781.1
    """
    return _max_samples(max_bytes) / SAMPLE_RATE


def _max_samples(max_bytes: int) -> int:
    n = (int(max_bytes) - REQUEST_SLACK - _WAV_HEADER) // 2
    if n < SAMPLE_RATE:
        raise ValueError(
            f"`max_bytes` {max_bytes!r} leaves less than one second of audio per "
            "request. Pass at least 40000."
        )
    return n


def _wav_bytes(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.astype("<i2", copy=False).tobytes())
    return buf.getvalue()


def _split_point(samples: np.ndarray, limit: int, search: int) -> int:
    """Where to end a chunk of at most ``limit`` samples: the middle of the quietest
    20 ms in its last ``search`` samples (the latest such moment on ties)."""
    hop = int(SAMPLE_RATE * _HOP)
    lo = max(limit - search, hop)
    region = samples[lo:limit].astype(np.float64)
    n = len(region) // hop
    if n == 0:
        return limit
    frames = region[: n * hop].reshape(n, hop)
    rms = np.sqrt((frames**2).mean(axis=1))
    k = n - 1 - int(np.argmin(rms[::-1]))  # the latest quietest frame
    return lo + k * hop + hop // 2


def audio_chunks(
    path,
    *,
    name: str | None = None,
    max_bytes: int = MAX_REQUEST_BYTES,
    search: float = 30.0,
) -> Iterator[AudioChunk]:
    """Decode any audio (or a video's soundtrack) into 16 kHz mono s16 WAV chunks.

    Parameters
    ----------
    path : str or Path
        An audio or video file FFmpeg can read.
    name : str, optional
        The file's name as the user knows it, for messages (default: name on disk).
    max_bytes : int
        Body limit of one request; each chunk leaves room for the multipart framing
        (default 25,000,000, about 781 s of audio).
    search : float
        Seconds before each limit searched for the quietest 20 ms to split at.

    Yields
    ------
    AudioChunk
        In order; their offsets and durations tile the whole file.

    Raises
    ------
    EngineError
        ``"could not decode <name>: ..."`` when the file has no decodable audio.
    """
    import av

    path = Path(path)
    name = name or path.name
    limit = _max_samples(max_bytes)
    window = min(int(search * SAMPLE_RATE), limit // 2)
    parts: list[np.ndarray] = []
    held = 0  # samples in parts
    emitted = 0  # samples already yielded in earlier chunks
    index = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise EngineError("it has no audio track")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)

            def pcm(frames):
                for f in frames:
                    yield f.to_ndarray().reshape(-1)

            def decoded():
                for frame in container.decode(stream):
                    yield from pcm(resampler.resample(frame))
                yield from pcm(resampler.resample(None))

            for block in decoded():
                if not len(block):
                    continue
                parts.append(block)
                held += len(block)
                while held > limit:
                    buf = np.concatenate(parts)
                    cut = _split_point(buf, limit, window)
                    yield AudioChunk(
                        index,
                        emitted / SAMPLE_RATE,
                        cut / SAMPLE_RATE,
                        _wav_bytes(buf[:cut]),
                    )
                    index += 1
                    emitted += cut
                    rest = buf[cut:]
                    parts, held = [rest], len(rest)
    except EngineError as exc:
        raise _decode_error(name, exc) from None
    except GeneratorExit:
        raise
    except Exception as exc:  # av.error.* and friends
        raise _decode_error(name, exc) from None
    if held == 0 and index == 0:
        raise _decode_error(name, "its audio track holds no samples")
    if held:
        buf = np.concatenate(parts)
        yield AudioChunk(
            index, emitted / SAMPLE_RATE, held / SAMPLE_RATE, _wav_bytes(buf)
        )


def _fit_jpeg(image, *, max_bytes: int, max_pixels: int) -> tuple[bytes, float]:
    """Encode a PIL image as a JPEG within the byte and pixel limits.

    Returns the JPEG and its scale relative to ``image``.
    """
    from PIL import Image

    if image.mode != "RGB":
        image = image.convert("RGB")
    w, h = image.size
    scale = 1.0
    if w * h > max_pixels:
        scale = (max_pixels / (w * h)) ** 0.5
    while True:
        sw, sh = max(1, int(w * scale)), max(1, int(h * scale))
        while sw * sh > max_pixels:  # int() rounding can leave one row too many
            sw, sh = sw - 1, max(1, int(round(h * (sw - 1) / w)))
        img = image if (sw, sh) == (w, h) else image.resize((sw, sh), Image.BILINEAR)
        for q in _QUALITIES:
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=q)
            if buf.tell() <= max_bytes:
                return buf.getvalue(), sw / w
        scale *= 0.75


def video_frames(
    path,
    *,
    fps_pred: float = 3.0,
    name: str | None = None,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> Iterator[Frame]:
    """Decode a video and yield its frames sampled at ``fps_pred`` as JPEGs.

    Frames are chosen as the service's other engines choose them (frame
    ``floor(k * fps / fps_pred + 0.5)`` for k = 0, 1, ..., see
    :func:`humelab.service.media.frame_indices`), so ``frame`` and ``time`` match
    v0's face predictions.

    Parameters
    ----------
    path : str or Path
        A video file.
    fps_pred : float
        Frames per second to sample (0, or above the video's rate, = every frame).
    name : str, optional
        The file's name as the user knows it, for messages.
    max_image_bytes, max_pixels : int
        Limits of one JPEG; larger frames are scaled down.

    Yields
    ------
    Frame

    Raises
    ------
    EngineError
        When the video cannot be decoded.
    """
    import av

    path = Path(path)
    name = name or path.name
    try:
        with av.open(str(path)) as c:
            videos = [
                s
                for s in c.streams.video
                if not (s.disposition & av.stream.Disposition.attached_pic)
            ]
            if not videos:
                raise EngineError("it has no video track")
            stream = videos[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 25.0
            step = fps / fps_pred if fps_pred and fps_pred < fps else 1.0
            k, target = 0, 0
            for i, frame in enumerate(c.decode(stream)):
                if i < target:
                    continue
                jpeg, scale = _fit_jpeg(
                    frame.to_image(), max_bytes=max_image_bytes, max_pixels=max_pixels
                )
                yield Frame(i, i / fps, jpeg, scale)
                while target <= i:
                    k += 1
                    target = int(np.floor(k * step + 0.5))
    except EngineError as exc:
        raise _decode_error(name, exc) from None
    except GeneratorExit:
        raise
    except Exception as exc:
        raise _decode_error(name, exc) from None


def image_frame(
    path,
    *,
    name: str | None = None,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> Frame:
    """One image as a JPEG for the v1 video endpoint, EXIF orientation applied.

    Hume reports boxes in the pixels of the stored JPEG without applying EXIF
    orientation (v1-api.md §4.4); rotating first makes the boxes match what users
    see. A JPEG that is already upright and within the limits is sent unchanged.

    Parameters
    ----------
    path : str or Path
        An image file Pillow reads.
    name : str, optional
        The file's name as the user knows it, for messages.
    max_image_bytes, max_pixels : int
        Limits of one JPEG; larger images are scaled down.

    Returns
    -------
    Frame
        ``frame`` 0 and ``time`` 0.0.

    Raises
    ------
    EngineError
        When Pillow cannot read the image.
    """
    from PIL import Image, ImageOps

    path = Path(path)
    name = name or path.name
    try:
        with Image.open(path) as im:
            orientation = im.getexif().get(0x0112, 1)
            w, h = im.size
            if (
                im.format == "JPEG"
                and orientation == 1
                and w * h <= max_pixels
                and path.stat().st_size <= max_image_bytes
                and im.mode in ("RGB", "L")
            ):
                return Frame(0, 0.0, path.read_bytes(), 1.0)
            im.load()
            upright = ImageOps.exif_transpose(im)
            if upright.mode in ("RGBA", "LA", "P"):
                upright = upright.convert("RGBA")
                flat = Image.new("RGB", upright.size, (255, 255, 255))
                flat.paste(upright, mask=upright.getchannel("A"))
                upright = flat
            jpeg, scale = _fit_jpeg(
                upright, max_bytes=max_image_bytes, max_pixels=max_pixels
            )
    except OSError as exc:
        raise _decode_error(name, exc) from None
    except Exception as exc:  # Pillow's DecompressionBombError and friends
        raise _decode_error(name, exc) from None
    return Frame(0, 0.0, jpeg, scale)


def batch_frames(
    frames: Iterable[Frame],
    *,
    max_bytes: int = MAX_REQUEST_BYTES,
    max_frames: int = 150,
) -> Iterator[list[Frame]]:
    """Group frames into requests: at most ``max_frames`` and ``max_bytes`` each.

    Parameters
    ----------
    frames : iterable of Frame
        Consumed lazily; one batch is held at a time.
    max_bytes : int
        Body limit of one request (framing counted: :data:`PART_OVERHEAD` per
        image plus :data:`REQUEST_SLACK`).
    max_frames : int
        Most images per request.

    Yields
    ------
    list of Frame
        Non-empty, in order.
    """
    if max_frames < 1:
        raise ValueError(f"`max_frames` must be at least 1, got {max_frames!r}.")
    budget = int(max_bytes) - REQUEST_SLACK
    batch: list[Frame] = []
    size = 0
    for fr in frames:
        need = len(fr.jpeg) + PART_OVERHEAD
        if batch and (size + need > budget or len(batch) >= max_frames):
            yield batch
            batch, size = [], 0
        batch.append(fr)
        size += need
    if batch:
        yield batch


def prefetch(
    make: Callable[[], Iterator],
    *,
    depth: int = 2,
    on_item: Callable[[float], None] | None = None,
) -> Iterator:
    """Run the generator ``make()`` in a thread, at most ``depth`` items ahead.

    Parameters
    ----------
    make : callable
        Returns the generator to run (called in the thread, so files it opens
        belong to it).
    depth : int
        Items converted ahead of the consumer.
    on_item : callable, optional
        Called with the thread time (seconds) each item took to produce.

    Yields
    ------
    The generator's items, in order. Its exception, if any, is raised here;
    closing this generator stops the thread and closes ``make()``'s generator.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run():
        gen = make()
        try:
            while True:
                t0 = time.thread_time()
                try:
                    item = next(gen)
                except StopIteration:
                    put((end, None))
                    return
                finally:
                    if on_item is not None:
                        on_item(time.thread_time() - t0)
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer
            put((end, exc))
        finally:
            gen.close()

    threading.Thread(target=run, name="humelab-convert", daemon=True).start()
    try:
        while True:
            item, exc = q.get()
            if item is end:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
