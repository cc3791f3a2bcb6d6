"""Media checks and synthetic measurements of the v1 stand-in (no web stack here).

What Hume's v1 upload endpoints do with the bytes they receive
(``reference/v1-api.md`` sections 3.3-3.4 and 4.3-4.4), reproduced offline:

- format sniffing by content (never by the part's declared type or filename):
  MP3, FLAC, Ogg, MP4/M4A, AIFF, Matroska/WebM and any RIFF that is not WAVE get
  415; a WAV that is not 16 kHz mono s16 with the basic header gets 400;
  anything else is raw samples (400 only when empty or of odd length); images
  must be JPEG (415), at most 2,000,000 bytes and 8,294,400 pixels (413), and
  decodable (400);
- measurement windows: utterances from a simple energy voice-activity detector,
  an ``interval`` measurement every ``measurement_timer_ms`` of speech, a
  ``speech_ended`` one unless the previous ended less than 1 s before, windows the
  last <= 10 s of the utterance, integer ms;
- faces: bright blobs (the ``simulated`` engine's detector, which finds the drawn
  faces of the project's test media), dropped below ``threshold`` or
  ``min_size``, the largest measured (2 by default) with ``face_id`` tracked across
  the images of a request and, through an opaque signed ``face_state``, across
  requests; the others listed, most confident first, up to 32 in all.

Scores are **synthetic**: a hash of the measured samples or image and the name, so
the same bytes give the same scores. They say nothing about anyone's expression.
Names come from the confirmed partial v1 name lists (``reference/v1-names``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from . import media

__all__ = [
    "V1Error",
    "AUDIO_EXPRESSIONS",
    "VOICE_ATTRIBUTES",
    "VIDEO_EXPRESSIONS",
    "VIDEO_DESCRIPTIONS",
    "MAX_BODY_BYTES",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_LISTED_FACES",
    "FACE_STATE_TTL_S",
    "decode_audio",
    "measure_audio",
    "check_image",
    "FaceTracker",
    "measure_images",
]

#: Confirmed v1 audio expression names (a partial list; the API has 415).
AUDIO_EXPRESSIONS = (
    "abhorrence",
    "admiration",
    "adoration",
    "amusement",
    "anger",
    "chuckling",
    "dumbfoundedness",
    "eagerness",
    "feeling uplifted",
    "feeling upset",
    "interest",
    "joy",
    "neutral",
    "pleasure",
    "pondering",
)
#: Confirmed v1 voice attribute names (a partial list; the API has 190).
VOICE_ATTRIBUTES = ("background music", "calm", "clear", "fast", "husky", "monotone")
#: Confirmed v1 video expression names (a partial list; the API has 48).
VIDEO_EXPRESSIONS = (
    "admiration",
    "adoration",
    "amusement",
    "concentration",
    "contemplation",
    "contempt",
    "entrancement",
    "interest",
    "joy",
    "realization",
    "surprise (positive)",
)
#: Confirmed v1 face description names (a partial list; the API has 27).
VIDEO_DESCRIPTIONS = ("grin", "jaw drop", "smile", "wide-eyed")

#: Whole multipart body, both endpoints (decimal MB, as the SDK's constants).
MAX_BODY_BYTES = 25_000_000
#: One JPEG part.
MAX_IMAGE_BYTES = 2_000_000
#: One image's pixel count (the area of 3840 x 2160).
MAX_IMAGE_PIXELS = 8_294_400
#: Faces listed per image, measured or not.
MAX_LISTED_FACES = 32
#: Faces the tracker remembers.
MAX_REMEMBERED_FACES = 32
#: How long a ``face_state`` is accepted.
FACE_STATE_TTL_S = 24 * 3600

SAMPLE_RATE = 16000
_MAX_WINDOW_MS = 10_000
_SPEECH_ENDED_GAP_MS = 1000
_VAD_HOP_MS = 20
_VAD_MAX_PAUSE_MS = 300
_VAD_MIN_SPEECH_MS = 80
#: The published cutoffs: voice attributes >= 0.725, face arrays > 0.1. Hume does
#: not publish the audio expressions' per-name thresholds; the stand-in uses 0.2.
VOICE_CUTOFF = 0.725
FACE_CUTOFF = 0.1
AUDIO_EXPRESSION_CUTOFF = 0.2
#: Longest side of the grayscale copy faces are looked for in (pixels).
_DETECT_SIDE = 192


class V1Error(Exception):
    """A v1 error answer: HTTP ``status``, ``code`` (``RequestErrorCode``), message."""

    def __init__(self, status: int, code: str, message: str, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


# -- audio ----------------------------------------------------------------------------


def _is_mp3_frame(b: bytes) -> bool:
    # An MPEG audio frame header: 11 sync bits, then no reserved version, layer,
    # bitrate or sample-rate value (so raw samples such as FF FF FF FF don't match).
    if len(b) < 4 or b[0] != 0xFF or (b[1] & 0xE0) != 0xE0:
        return False
    version, layer = (b[1] >> 3) & 3, (b[1] >> 1) & 3
    bitrate, rate = b[2] >> 4, (b[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3


def _container_name(data: bytes) -> str | None:
    """The name of a compressed or non-WAV container recognised by its magic."""
    head = data[:16]
    if head.startswith(b"ID3") or _is_mp3_frame(head):
        return "MP3"
    if head.startswith(b"fLaC"):
        return "FLAC"
    if head.startswith(b"OggS"):
        return "Ogg"
    if head[4:8] == b"ftyp":
        return "MP4/M4A"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "Matroska/WebM"
    if head.startswith(b"caff"):
        return "CAF"
    if head.startswith(b"#!AMR"):
        return "AMR"
    if head.startswith((b"RIFF", b"RF64")) and head[8:12] != b"WAVE":
        return f"RIFF {head[8:12].decode('latin-1')!r}"
    if head.startswith(b"RF64"):
        return "RF64"
    return None


def _decode_failed(message: str) -> V1Error:
    return V1Error(400, "audio_decode_failed", message)


def _wav_samples(data: bytes) -> bytes:
    """The sample bytes of a basic-header 16 kHz mono s16 WAV, else a 400."""
    pos, fmt, samples = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + size > len(data):
                raise _decode_failed(
                    "the WAV `fmt ` chunk is truncated; send a complete WAV file "
                    "or headerless 16 kHz mono s16le samples."
                )
            fmt = struct.unpack("<HHIIHH", data[body : body + 16])
        elif cid == b"data":
            end = len(data) if size in (0, 0xFFFFFFFF) else body + size
            if end > len(data):
                raise _decode_failed(
                    f"the WAV `data` chunk declares {size} bytes but only "
                    f"{len(data) - body} follow; send the complete file."
                )
            samples = data[body:end]
            break
        pos = body + size + (size & 1)
    if fmt is None or samples is None:
        raise _decode_failed(
            "the WAV header is malformed (no `fmt ` or `data` chunk); send a complete "
            "WAV file or headerless 16 kHz mono s16le samples."
        )
    tag, channels, rate, _, _, bits = fmt
    if tag == 0xFFFE:
        raise _decode_failed(
            "WAVE_FORMAT_EXTENSIBLE headers are not supported; write the WAV with "
            "the basic PCM header (format tag 1)."
        )
    wrong = []
    if tag != 1:
        wrong.append(f"format tag {tag} (expected 1, PCM)")
    if rate != SAMPLE_RATE:
        wrong.append(f"{rate} Hz (expected 16000 Hz)")
    if channels != 1:
        wrong.append(f"{channels} channels (expected 1)")
    if bits != 16:
        wrong.append(f"{bits}-bit samples (expected 16-bit)")
    if wrong:
        raise _decode_failed(
            f"the WAV is {', '.join(wrong)}; convert it to 16 kHz mono s16le first."
        )
    return samples


def decode_audio(data: bytes) -> np.ndarray:
    """The int16 samples of an audio part, sniffed by content.

    Parameters
    ----------
    data : bytes
        The ``file`` part.

    Returns
    -------
    numpy.ndarray
        int16 samples at 16 kHz, mono.

    Raises
    ------
    V1Error
        415 ``unsupported_media_type`` for a recognised non-WAV container; 400
        ``audio_decode_failed`` for a WAV of the wrong rate, channels or sample
        format, an extensible or broken header, or empty or odd-length samples.
    """
    name = _container_name(data)
    if name is not None:
        raise V1Error(
            415,
            "unsupported_media_type",
            f"the audio is {name}; the API takes a 16 kHz mono s16le WAV or "
            "headerless samples. Convert it first (no conversion is done "
            "server-side).",
        )
    raw = _wav_samples(data) if data[:4] == b"RIFF" else data
    if not raw:
        raise _decode_failed("the audio is empty; send at least one sample.")
    if len(raw) % 2:
        raise _decode_failed(
            f"the audio has an odd number of bytes ({len(raw)}); s16le samples take "
            "2 bytes each."
        )
    return np.frombuffer(raw, dtype="<i2")


def _probability(seed: bytes, name: str, power: float = 1.0) -> float:
    h = hashlib.blake2b(seed + name.encode("utf-8"), digest_size=8).digest()
    u = int.from_bytes(h, "big") / 2.0**64
    return round(u**power, 4)


def _scores(seed: bytes, names, *, cutoff: float, strict: bool, power: float = 1.0):
    """Sparse sorted ``[{"name", "probability"}]``: probability desc, then name."""
    out = []
    for name in names:
        p = _probability(seed, name, power)
        if p > cutoff or (not strict and p == cutoff):
            out.append((p, name))
    out.sort(key=lambda pn: (-pn[0], pn[1]))
    return [{"name": n, "probability": p} for p, n in out]


def _utterances(samples: np.ndarray) -> list[tuple[int, int]]:
    """(start_ms, end_ms) of each continuous stretch of speech.

    An energy detector on 20 ms frames: a frame is speech when its RMS is above
    -50 dBFS and a tenth of the loud end (99th percentile) of the file, so audio
    that is speech throughout still has speech; pauses under 300 ms do not end an
    utterance, and stretches under 80 ms are dropped.
    """
    hop = SAMPLE_RATE * _VAD_HOP_MS // 1000
    n = len(samples) // hop
    if n == 0:
        return []
    frames = samples[: n * hop].reshape(n, hop).astype(np.float32) / 32768.0
    rms = np.sqrt((frames * frames).mean(axis=1))
    active = rms > max(0.1 * float(np.percentile(rms, 99)), 10 ** (-50 / 20))
    edges = np.flatnonzero(np.diff(np.r_[0, active.astype(np.int8), 0]))
    out: list[tuple[int, int]] = []
    for b, e in zip(edges[::2] * _VAD_HOP_MS, edges[1::2] * _VAD_HOP_MS, strict=True):
        if out and b - out[-1][1] < _VAD_MAX_PAUSE_MS:
            out[-1] = (out[-1][0], int(e))
        else:
            out.append((int(b), int(e)))
    return [(b, e) for b, e in out if e - b >= _VAD_MIN_SPEECH_MS]


def measure_audio(samples: np.ndarray, *, measurement_timer_ms: int = 3000) -> dict:
    """``received``, ``utterances`` and ``measurements`` of an audio request.

    Parameters
    ----------
    samples : numpy.ndarray
        int16 samples at 16 kHz (:func:`decode_audio`).
    measurement_timer_ms : int
        Milliseconds of speech between ``interval`` measurements (3000-10000).

    Returns
    -------
    dict
        The body of an ``AudioFileResponse`` without ``request_id``/``run_id``.
    """
    utterances, measurements = [], []
    for uid, (start, end) in enumerate(_utterances(samples)):
        utterances.append(
            {"utterance_id": uid, "audio_start_ms": start, "audio_end_ms": end}
        )
        ends = [
            (t, "interval")
            for t in range(start + measurement_timer_ms, end + 1, measurement_timer_ms)
        ]
        if not ends or end - ends[-1][0] >= _SPEECH_ENDED_GAP_MS:
            ends.append((end, "speech_ended"))
        for stop, trigger in ends:
            begin = max(start, stop - _MAX_WINDOW_MS)
            window = samples[begin * 16 : stop * 16]
            seed = hashlib.blake2b(window.tobytes(), digest_size=16).digest()
            measurements.append(
                {
                    "measurement_id": len(measurements),
                    "utterance_id": uid,
                    "audio_start_ms": begin,
                    "audio_end_ms": stop,
                    "trigger": trigger,
                    "expressions": _scores(
                        seed + b"e",
                        AUDIO_EXPRESSIONS,
                        cutoff=AUDIO_EXPRESSION_CUTOFF,
                        strict=False,
                        power=2.0,
                    ),
                    "voice_attributes": _scores(
                        seed + b"v", VOICE_ATTRIBUTES, cutoff=VOICE_CUTOFF, strict=False
                    ),
                }
            )
    return {
        "received": {"audio_duration_ms": len(samples) * 1000 // SAMPLE_RATE},
        "utterances": utterances,
        "measurements": measurements,
    }


# -- images ---------------------------------------------------------------------------


def check_image(data: bytes, index: int) -> tuple[int, int]:
    """Format, byte and pixel checks of one JPEG part; returns ``(width, height)``.

    Raises
    ------
    V1Error
        415 ``unsupported_media_type`` when it is not a JPEG, 413
        ``image_too_large`` over 2,000,000 bytes or 8,294,400 pixels, 400
        ``image_decode_failed`` when its header cannot be read.
    """
    from PIL import Image

    if not data.startswith(b"\xff\xd8\xff"):
        raise V1Error(
            415,
            "unsupported_media_type",
            f"image {index} is not a JPEG; the API takes JPEG images only. Convert "
            "it (or extract the video's frames as JPEG) first.",
        )
    if len(data) > MAX_IMAGE_BYTES:
        raise V1Error(
            413,
            "image_too_large",
            f"image {index} is {len(data)} bytes, over the {MAX_IMAGE_BYTES}-byte "
            "limit per image; re-encode it smaller.",
        )
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
    except Exception as exc:  # noqa: BLE001 - any Pillow failure is a decode failure
        raise V1Error(
            400, "image_decode_failed", f"image {index} could not be decoded ({exc})."
        ) from None
    if width * height > MAX_IMAGE_PIXELS:
        raise V1Error(
            413,
            "image_too_large",
            f"image {index} is {width}x{height} = {width * height} pixels, over the "
            f"{MAX_IMAGE_PIXELS}-pixel limit (3840x2160); scale it down.",
        )
    return width, height


def confidence_of(contrast: float) -> float:
    """Detection confidence (v1 scale) of a blob with the given contrast (0-1).

    A drawn face on a dark field has contrast ~0.55 and confidence ~0.99; the
    default threshold 0.9 drops blobs of contrast below ~0.19.
    """
    return round(min(0.9999, 1.0 - 10.0 ** (-(0.2 + 3.0 * contrast))), 4)


@dataclass
class FaceTracker:
    """``face_id`` assignment across images (and across requests via ``face_state``).

    A measured face takes the id of the nearest remembered face whose last centre
    is within that face's size (each id once per image), else the next id. The
    tracker remembers the 32 most recently measured faces.
    """

    next_id: int = 0
    tracks: list = field(default_factory=list)  # [id, cx, cy, size, last_seen]
    clock: int = 0

    def assign(self, boxes) -> list[int]:
        self.clock += 1
        used, ids = set(), []
        for x0, y0, x1, y1 in boxes:
            cx, cy, size = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
            best, dist = None, None
            for k, (tid, tx, ty, tsize, _) in enumerate(self.tracks):
                d = ((cx - tx) ** 2 + (cy - ty) ** 2) ** 0.5
                if (
                    tid not in used
                    and d <= max(size, tsize)
                    and (dist is None or d < dist)
                ):
                    best, dist = k, d
            if best is None:
                tid = self.next_id
                self.next_id += 1
                self.tracks.append([tid, cx, cy, size, self.clock])
            else:
                tid = self.tracks[best][0]
                self.tracks[best] = [tid, cx, cy, size, self.clock]
            used.add(tid)
            ids.append(tid)
        if len(self.tracks) > MAX_REMEMBERED_FACES:
            self.tracks.sort(key=lambda t: -t[4])
            del self.tracks[MAX_REMEMBERED_FACES:]
        return ids

    def to_state(self, secret: bytes, *, now: float | None = None) -> str:
        """An opaque, signed token of this tracker (valid 24 h)."""
        body = {
            "v": 1,
            "t": int(time.time() if now is None else now),
            "n": self.next_id,
            "c": self.clock,
            "f": [
                [t[0], round(t[1], 2), round(t[2], 2), round(t[3], 2), t[4]]
                for t in self.tracks
            ],
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        sig = hmac.new(secret, raw, hashlib.sha256).digest()[:16]
        return (
            base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
            + "."
            + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
        )

    @classmethod
    def from_state(cls, token, secret: bytes, *, now: float | None = None):
        """The tracker of a ``face_state``; a fresh one when it is expired, altered
        or not ours (silently, as the API does)."""
        if not isinstance(token, str) or token.count(".") != 1:
            return cls()
        try:
            raw_b64, sig_b64 = token.split(".")
            raw = base64.urlsafe_b64decode(raw_b64 + "=" * (-len(raw_b64) % 4))
            sig = base64.urlsafe_b64decode(sig_b64 + "=" * (-len(sig_b64) % 4))
            good = hmac.new(secret, raw, hashlib.sha256).digest()[:16]
            if not hmac.compare_digest(sig, good):
                return cls()
            body = json.loads(raw)
            age = (time.time() if now is None else now) - body["t"]
            if body.get("v") != 1 or not 0 <= age <= FACE_STATE_TTL_S:
                return cls()
            tracks = [[int(t[0]), *map(float, t[1:4]), int(t[4])] for t in body["f"]]
            return cls(next_id=int(body["n"]), tracks=tracks, clock=int(body["c"]))
        except (ValueError, KeyError, TypeError, IndexError):
            return cls()


def _detect(data: bytes, width: int, index: int):
    """Face candidates ``(bbox, confidence, contrast)`` of one JPEG, in its pixels."""
    try:
        pix = media.read_image(
            io.BytesIO(data), max_side=_DETECT_SIDE, name=f"image {index}"
        )
    except Exception as exc:  # noqa: BLE001 - any decoder failure
        raise V1Error(
            400,
            "image_decode_failed",
            f"image {index} could not be decoded ({exc}); send complete JPEG files.",
        ) from None
    scale = width / pix.shape[1]
    out = []
    for (x, y, w, h), contrast in media.find_faces(pix, max_faces=MAX_LISTED_FACES + 8):
        box = [round(float(v) * scale, 1) for v in (x, y, x + w, y + h)]
        out.append((box, confidence_of(contrast)))
    return out


def measure_images(
    images: list[bytes],
    *,
    sizes: list[tuple[int, int]],
    threshold: float = 0.9,
    min_size: int = 60,
    max_measured: int = 2,
    tracker: FaceTracker | None = None,
) -> list[dict]:
    """``measurements`` of a video request (one entry per image, in order).

    Parameters
    ----------
    images : list of bytes
        JPEG parts, already checked with :func:`check_image`.
    sizes : list of (int, int)
        Their ``(width, height)``.
    threshold, min_size : float, int
        Faces below ``threshold`` confidence or with a shorter bbox side under
        ``min_size`` pixels are dropped.
    max_measured : int
        Largest faces measured per image.
    tracker : FaceTracker, optional
        Id assignment to continue (from a ``face_state``); default a fresh one.

    Returns
    -------
    list of dict
        ``[{"frame_id", "faces": [...]}]``.

    Raises
    ------
    V1Error
        400 ``image_decode_failed`` when an image's pixels cannot be decoded.
    """
    tracker = tracker if tracker is not None else FaceTracker()
    out = []
    for index, (data, (width, _)) in enumerate(zip(images, sizes, strict=True)):
        found = [
            (box, conf)
            for box, conf in _detect(data, width, index)
            if conf >= threshold and min(box[2] - box[0], box[3] - box[1]) >= min_size
        ]
        by_area = sorted(
            found, key=lambda bc: -(bc[0][2] - bc[0][0]) * (bc[0][3] - bc[0][1])
        )
        measured = by_area[:max_measured]
        rest = sorted(by_area[max_measured:], key=lambda bc: -bc[1])
        rest = rest[: max(0, MAX_LISTED_FACES - len(measured))]
        ids = tracker.assign([box for box, _ in measured])
        digest = hashlib.blake2b(data, digest_size=16).digest()
        faces = []
        for k, ((box, conf), fid) in enumerate(zip(measured, ids, strict=True)):
            seed = digest + k.to_bytes(2, "big")
            faces.append(
                {
                    "face_id": fid,
                    "bbox": box,
                    "confidence": conf,
                    "expressions": _scores(
                        seed + b"e", VIDEO_EXPRESSIONS, cutoff=FACE_CUTOFF, strict=True
                    ),
                    "descriptions": _scores(
                        seed + b"d", VIDEO_DESCRIPTIONS, cutoff=FACE_CUTOFF, strict=True
                    ),
                }
            )
        for box, conf in rest:
            faces.append(
                {
                    "face_id": None,
                    "bbox": box,
                    "confidence": conf,
                    "expressions": None,
                    "descriptions": None,
                }
            )
        out.append({"frame_id": index, "faces": faces})
    return out
