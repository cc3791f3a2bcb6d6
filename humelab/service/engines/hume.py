"""The ``hume`` engine: real measurements through Hume's v1 upload endpoints.

Each file of a job is prepared by :mod:`humelab.service._v1media` (16 kHz WAV
chunks, JPEG frames at ``fps_pred``, EXIF-upright images), sent to
``POST /v1/expression/audio/file`` and ``POST /v1/expression/video/file`` with the
user's Hume key, and the v1 responses are mapped into v0 prediction entries
(``reference/v1-api.md`` §12.1):

* audio (a file, or a video's soundtrack) -> ``models.prosody``: one prediction per
  v1 measurement, ``time`` from the measurement's ms (re-based onto the whole file
  when it was split), ``expressions`` as the ``emotions`` family and
  ``voice_attributes`` as a family of its own, ``text`` null; extra keys
  ``trigger``, ``utterance_id`` and ``measurement_id`` (numbered across chunks) and
  ``chunk``. All predictions are in one ``unknown`` group, as v0's default;
* video frames and images -> ``models.face``: one prediction per listed face,
  ``frame`` and ``time`` of the source frame, ``box`` from ``[x0, y0, x1, y1]`` in
  source pixels, ``prob`` = v1 ``confidence``, ``emotions`` and ``descriptions``
  from v1's ``expressions`` and ``descriptions``, ``facs`` null. Groups are
  ``face_<id>`` with ``identify_faces`` (ids kept across the requests of one video
  by passing ``face_state`` along), else ``unknown``; faces v1 listed without
  measuring them go to an ``unmeasured`` group with null scores.

v1 scores are sparse: a name absent from a list was below Hume's cutoff, it is
missing, never 0. Names are v1's (lowercase), a different vocabulary from v0's.
Models v1 cannot measure (``burst``, ``language``, ``ner``, ``facemesh``, FACS, and
transcripts) give a ``results.errors`` entry for each file they apply to; so does a
video's soundtrack (or frames) that failed while the other part was measured, which
is kept. HTTP 401
and 403 end the whole job FAILED (:class:`~.base.EngineFatal`); 400, 413 and 415
fail one file with Hume's code and message; 429, 5xx and connection errors are
retried with backoff (``Retry-After`` honoured) within ``max_retries``.

Scores describe how expressions are perceived by raters, not what anyone felt.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from email.utils import parsedate_to_datetime

from ... import settings
from ..._cost import FRAMES_PER_REQUEST
from ...errors import InputError
from .. import _v1media as v1m
from .. import media
from .base import (
    Engine,
    EngineError,
    EngineFatal,
    Measurement,
    MediaInput,
    fill_model_defaults,
)

__all__ = ["HumeEngine", "DEFAULT_HUME_URL"]

log = logging.getLogger(__name__)

#: Hume's production base URL.
DEFAULT_HUME_URL = settings.HUME_V1_URL
_AUDIO_PATH = "/v1/expression/audio/file"
_VIDEO_PATH = "/v1/expression/video/file"
_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
#: What v1 measures, for messages.
_V1_CAN = (
    "face expressions and descriptions (images, video frames) and audio expressions "
    "and voice attributes"
)


def _new_usage() -> dict:
    return {
        "requests": 0,
        "retries": 0,
        "media_seconds": 0.0,
        "images": 0,
        "billed_seconds": 0.0,
    }


def _add_usage(a: dict, b: dict) -> dict:
    return {k: a[k] + b[k] for k in a}


#: What a pickled engine carries (the rest is rebuilt in the receiving process).
_CONFIG = (
    "_key",
    "url",
    "max_concurrency",
    "max_retries",
    "backoff",
    "max_backoff",
    "timeout",
    "frames_per_request",
)


class _Fail(Exception):
    """A request that will not succeed (message ready for the user)."""


class HumeEngine(Engine):
    """Measure files with Hume's v1 Expression Measurement API.

    Parameters
    ----------
    api_key : str, optional
        Hume's API key (never the Batch service's own key). Default: the
        ``HUME_API_KEY`` environment variable. It is sent only to ``hume_url`` in
        ``X-Hume-Api-Key`` and never appears in a repr, log, message or file.
    hume_url : str, optional
        Base URL of Hume's v1 API. Default: ``HUME_V1_URL``, else
        ``https://api.cloud.hume.ai``.
    max_concurrency : int
        Most requests in flight to Hume at once, over all jobs and files of one
        process (default 2); on a Dask cluster each worker process has this many.
        Media conversion does not count: it overlaps the requests.
    max_retries : int
        Retries of one request after 429, 5xx or a connection error (default 5);
        then the file fails with an error entry.
    backoff : float
        Seconds before the first retry when Hume sends no ``Retry-After``; doubles
        each retry (with 10 % jitter), capped at ``max_backoff``.
    max_backoff : float
        Longest wait between two attempts, ``Retry-After`` included (seconds).
    timeout : float
        Seconds to wait for one response.
    frames_per_request : int
        Most JPEGs in one video request (also capped at 25 MB per request). Each
        request is billed at least 10 s (30 images), so larger batches cost less.

    Raises
    ------
    humelab.InputError
        When no key is given and ``HUME_API_KEY`` is unset, or an option is out of
        range.

    Notes
    -----
    Billing (``reference/v1-api.md`` §7): audio by its length, images 1/3 s each,
    at least 10 s per request; failed requests are free. A finished job's details
    carry what was sent in ``usage`` (see :func:`humelab._cost.estimate` for the
    figures before sending).

    The engine can be pickled, which is how ``serve(dask_scheduler=...)`` sends it
    to Dask workers: the pickle holds its configuration, the key included (the
    workers call Hume with it), and each process that unpickles it starts its own
    request slots, HTTP sessions and activity counters. A pickle therefore holds
    the key in clear: keep it off disk and off untrusted networks.

    Examples
    --------
    >>> engine = HumeEngine(api_key="...", hume_url="http://127.0.0.1:9")
    >>> engine
    <HumeEngine name='hume' url='http://127.0.0.1:9' max_concurrency=2>
    """

    name = "hume"
    simulated = False

    def __init__(
        self,
        *,
        api_key: str | None = None,
        hume_url: str | None = None,
        max_concurrency: int = 2,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        timeout: float = 120.0,
        frames_per_request: int = FRAMES_PER_REQUEST,
    ):
        key = settings.hume_api_key(api_key)
        if not key or not str(key).strip():
            raise InputError(
                "The `hume` engine needs Hume's API key and none was given. Set "
                "HUME_API_KEY in the environment of the service (`HUME_API_KEY=... "
                "humelab serve --engine hume`), or pass `api_key=` to the engine "
                "(`humelab.serve(engine='hume', engine_options={'api_key': ...})`). "
                "Keys are at https://platform.hume.ai/settings/keys; it is Hume's "
                "key, not the Batch service's."
            )
        url = settings.hume_url(hume_url)  # argument, HUME_V1_URL, Hume's address
        for opt, val, lo in (
            ("max_concurrency", max_concurrency, 1),
            ("max_retries", max_retries, 0),
            ("frames_per_request", frames_per_request, 1),
        ):
            if not isinstance(val, int) or isinstance(val, bool) or val < lo:
                raise InputError(
                    f"`{opt}` must be a whole number >= {lo}, got {val!r}."
                )
        self._key = str(key).strip()
        self.url = url
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.timeout = float(timeout)
        self.frames_per_request = frames_per_request
        self._start()

    def _start(self) -> None:
        """Fresh per-process parts: request slots, sessions, activity counters."""
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._local = threading.local()  # one requests.Session per thread
        self._stats_lock = threading.Lock()
        self._spans: list[tuple[float, float]] = []
        self._convert = 0.0

    def __getstate__(self) -> dict:
        """The configuration only (the key included), for pickling.

        Returns
        -------
        dict
            The attributes named in ``_CONFIG``. Locks, sessions and activity
            counters belong to one process: they are left out and made anew by
            :meth:`__setstate__`. This is how the engine travels to Dask workers
            (:mod:`humelab.service._dask_runner`).
        """
        return {k: getattr(self, k) for k in _CONFIG}

    def __setstate__(self, state: dict) -> None:
        """Restore the configuration and start fresh per-process parts."""
        for k in _CONFIG:
            setattr(self, k, state[k])
        self._start()

    def __repr__(self) -> str:
        return (
            f"<HumeEngine name={self.name!r} url={self.url!r} "
            f"max_concurrency={self.max_concurrency}>"
        )

    # -- activity (for bench/bench_hume_engine.py) -------------------------------------

    def activity(self, *, reset: bool = False) -> dict:
        """Time spent converting media and waiting on Hume since the last reset.

        Returns
        -------
        dict
            ``convert_seconds`` (thread time in media preparation, summed over
            threads), ``http_seconds`` (summed request durations),
            ``http_busy_seconds`` (wall time with at least one request in flight)
            and ``requests``.
        """
        with self._stats_lock:
            spans = sorted(self._spans)
            convert = self._convert
            if reset:
                self._spans, self._convert = [], 0.0
        busy, end = 0.0, float("-inf")
        for a, b in spans:
            if b <= end:
                continue
            busy += b - max(a, end)
            end = b
        return {
            "convert_seconds": convert,
            "http_seconds": sum(b - a for a, b in spans),
            "http_busy_seconds": busy,
            "requests": len(spans),
        }

    # -- HTTP -------------------------------------------------------------------------

    def _session(self):
        s = getattr(self._local, "session", None)
        if s is None:
            import requests

            s = requests.Session()
            s.headers["User-Agent"] = "humelab-hume-engine"
            self._local.session = s
        return s

    def _scrub(self, text: str) -> str:
        return str(text).replace(self._key, "***")

    def _retry_after(self, response) -> float | None:
        if response is None:
            return None
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        return max(0.0, when - time.time())

    def _post(self, path: str, files: list, usage: dict, name: str) -> dict:
        """POST one multipart request, retrying busy answers; the parsed JSON."""
        import requests

        url = self.url + path
        attempt = 0
        while True:
            response = None
            with self._slots:
                t0 = time.monotonic()
                try:
                    response = self._session().post(
                        url,
                        files=files,
                        headers={"X-Hume-Api-Key": self._key},
                        timeout=self.timeout,
                    )
                    reason = None
                except requests.RequestException as exc:
                    reason = type(exc).__name__
                t1 = time.monotonic()
            with self._stats_lock:
                self._spans.append((t0, t1))
            usage["requests"] += 1
            if response is not None:
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        return response.json()
                    except ValueError:
                        raise _Fail(
                            f"Hume's v1 API sent an unreadable response for `{name}` "
                            f"(HTTP {status}, not JSON). Resubmit the job; if it "
                            "happens again, report it."
                        ) from None
                body = self._error_body(response)
                if status in (401, 403):
                    raise EngineFatal(
                        f"Hume's v1 API refused the `hume` engine's key (HTTP "
                        f"{status}{body}). Check HUME_API_KEY where the service "
                        "runs: a valid Hume key with access to Expression "
                        "Measurement v1 (limited release), then resubmit the job."
                    )
                if status not in _RETRY_STATUSES:
                    raise _Fail(
                        f"Hume's v1 API rejected `{name}` (HTTP {status}{body}). "
                        "The file was not measured or billed; fix or drop it."
                    )
                reason = f"HTTP {status}{body}"
            if attempt >= self.max_retries:
                raise _Fail(
                    f"Hume's v1 API did not take `{name}` after {attempt + 1} "
                    f"attempts (last: {reason}). Resubmit the job later, or raise "
                    "the engine's `max_retries`."
                )
            wait = self._retry_after(response)
            if wait is None:
                wait = self.backoff * 2**attempt * random.uniform(0.9, 1.1)
            wait = min(wait, self.max_backoff)
            log.info(
                "Hume v1 %s for %s: %s; retry %d in %.2f s",
                path, name, reason, attempt + 1, wait,
            )  # fmt: skip
            usage["retries"] += 1
            attempt += 1
            time.sleep(wait)

    def _error_body(self, response) -> str:
        """``": code: message (request_id ...)"`` from an error body, scrubbed."""
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip()[:200]
            return f": {self._scrub(text)}" if text else ""
        if not isinstance(body, dict):
            return ""
        parts = []
        if body.get("code"):
            parts.append(str(body["code"]))
        if body.get("message"):
            parts.append(str(body["message"]))
        out = ": " + ": ".join(parts) if parts else ""
        if body.get("request_id"):
            out += f", request_id {body['request_id']}"
        return self._scrub(out)

    # -- conversion overlapping the requests ------------------------------------------

    def _prefetch(self, make):
        """``make()``'s items converted in a thread ahead of the requests."""
        return v1m.prefetch(make, depth=2, on_item=self._count_convert)

    def _count_convert(self, seconds: float) -> None:
        with self._stats_lock:
            self._convert += seconds

    # -- measuring --------------------------------------------------------------------

    def measure(self, item: MediaInput, *, models: dict, transcription: dict | None):
        """Measure one file through Hume's v1 API (see the module docstring).

        Returns
        -------
        Measurement
            The v0 entry, an error message for models v1 cannot measure, and
            ``usage`` (requests, retries, media seconds, images, billed seconds).

        Raises
        ------
        EngineError
            The file could not be measured (its ``usage`` says what was sent).
        EngineFatal
            Hume refused the key (HTTP 401/403): the job ends FAILED.
        """
        given = {k: v for k, v in (models or {}).items() if v is not None}
        models = {k: v for k, v in fill_model_defaults(given).items() if v is not None}
        usage = _new_usage()
        text_models = [m for m in ("language", "ner") if m in models] or ["text"]
        if item.text is not None or item.path is None:  # a text item: v1 has no text
            raise EngineError(self._unsupported_message(item.file, text_models))
        info = media.probe_media(item.path, name=item.file)
        if info.kind == "text":
            raise EngineError(self._unsupported_message(item.file, text_models))
        visual = info.kind in ("image", "video")
        unsupported = self._unsupported(models, info, transcription)
        want_face = "face" in models and visual
        want_prosody = "prosody" in models and info.has_audio
        out, failed, sound = {}, [], _new_usage()

        def attempt(model, run):
            # One model's requests; a file error keeps what the other model got
            # (its requests were billed), a refused key ends the job.
            try:
                out[model] = run()
            except (_Fail, EngineError) as exc:
                failed.append(str(exc))

        if want_face and want_prosody:
            # A video's soundtrack goes alongside its frames (which must go one
            # request after another, for face_state): both use the same slots.
            with ThreadPoolExecutor(1, thread_name_prefix="humelab-hume") as ex:
                fut = ex.submit(attempt, "prosody", lambda: self._prosody(item, sound))
                try:
                    attempt(
                        "face", lambda: self._faces(item, info, models["face"], usage)
                    )
                finally:
                    other = fut.exception()  # waits for the soundtrack
                if isinstance(other, BaseException):
                    raise other
        elif want_face:
            attempt("face", lambda: self._faces(item, info, models["face"], usage))
        elif want_prosody:
            attempt("prosody", lambda: self._prosody(item, usage))
        usage = _add_usage(usage, sound)
        if unsupported:
            failed.append(self._unsupported_message(item.file, unsupported))
        if failed and not out:
            err = EngineError(" ".join(failed))
            err.usage = usage
            raise err
        file_type = info.kind
        if info.kind == "video" and not info.has_audio:
            file_type = "video_no_audio"
        order = ("face", "prosody")
        entry = {
            "file_type": file_type,
            "models": {k: out[k] for k in order if k in out},
        }
        return Measurement(entry, errors=failed, usage=usage)

    @staticmethod
    def _unsupported(models: dict, info, transcription) -> list[str]:
        visual = info.kind in ("image", "video")
        out = []
        if info.has_audio:
            out += [m for m in ("burst", "language", "ner") if m in models]
        if visual:
            if "facemesh" in models:
                out.append("facemesh")
            if "face" in models and models["face"].get("facs") is not None:
                out.append("facs")
        prosody = models.get("prosody")
        if info.has_audio and prosody is not None:
            if prosody.get("granularity", "utterance") != "utterance" or prosody.get(
                "window"
            ):
                out.append("transcription")
            elif prosody.get("identify_speakers") or (transcription or {}).get(
                "identify_speakers"
            ):
                out.append("speaker identification")
        return out

    @staticmethod
    def _unsupported_message(file: str, names: list[str]) -> str:
        what = ", ".join(f"`{n}`" for n in names)
        return (
            f"the `hume` engine cannot measure {what} for `{file}`: Hume's v1 API "
            f"measures only {_V1_CAN} (prosody on v1's own utterance windows, "
            "without transcripts). Drop them from `models`, or use the `simulated` "
            "engine to try them."
        )

    # -- audio ------------------------------------------------------------------------

    def _prosody(self, item: MediaInput, usage: dict) -> dict:
        preds = []
        utt_base = mid_base = 0

        def make():
            return v1m.audio_chunks(item.path, name=item.file)

        with closing(self._prefetch(make)) as chunks:
            for chunk in chunks:
                files = [("file", (f"chunk{chunk.index}.wav", chunk.wav, "audio/wav"))]
                resp = self._post(_AUDIO_PATH, files, usage, item.file)
                usage["media_seconds"] += chunk.duration
                got = resp.get("received", {}).get("audio_duration_ms")
                seconds = (
                    got / 1000 if isinstance(got, (int, float)) else chunk.duration
                )
                usage["billed_seconds"] += max(10.0, seconds)
                try:
                    for m in resp["measurements"]:
                        begin = round(chunk.offset + m["audio_start_ms"] / 1000, 6)
                        end = round(chunk.offset + m["audio_end_ms"] / 1000, 6)
                        preds.append(
                            {
                                "text": None,
                                "time": {"begin": begin, "end": end},
                                "confidence": None,
                                "speaker_confidence": None,
                                "emotions": _scores(m.get("expressions")),
                                "voice_attributes": _scores(m.get("voice_attributes")),
                                "trigger": m.get("trigger"),
                                "utterance_id": utt_base + int(m["utterance_id"]),
                                "measurement_id": mid_base + int(m["measurement_id"]),
                                "chunk": chunk.index,
                            }
                        )
                    utt_base += len(resp.get("utterances") or [])
                    mid_base += len(resp["measurements"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise _Fail(
                        f"Hume's v1 API sent an audio response for `{item.file}` "
                        f"without the expected fields ({type(exc).__name__}: {exc})."
                    ) from None
        groups = [{"id": "unknown", "predictions": preds}] if preds else []
        return {"metadata": None, "grouped_predictions": groups}

    # -- faces ------------------------------------------------------------------------

    def _faces(self, item: MediaInput, info, cfg: dict, usage: dict) -> dict:
        identify = bool(cfg.get("identify_faces"))
        face_cfg: dict = {"return_face_state": True}
        min_size = cfg.get("min_face_size")
        if min_size is not None:
            face_cfg["min_size"] = max(1, int(min_size))
        if info.kind == "image":

            def frames():
                yield v1m.image_frame(item.path, name=item.file)
        else:
            fps_pred = cfg.get("fps_pred", 3.0)

            def frames():
                return v1m.video_frames(item.path, fps_pred=fps_pred, name=item.file)

        def batches():
            return v1m.batch_frames(frames(), max_frames=self.frames_per_request)

        groups: dict[str, list] = {}
        face_state = None
        with closing(self._prefetch(batches)) as prepared:
            for batch in prepared:
                config = {"face": face_cfg}
                if face_state:
                    config["face_state"] = face_state
                files = [("config", (None, json.dumps(config), "application/json"))]
                files += [
                    ("file", (f"frame{f.frame}.jpg", f.jpeg, "image/jpeg"))
                    for f in batch
                ]
                resp = self._post(_VIDEO_PATH, files, usage, item.file)
                usage["images"] += len(batch)
                usage["billed_seconds"] += max(10.0, len(batch) / 3)
                face_state = resp.get("face_state") or face_state
                try:
                    for m in resp["measurements"]:
                        fr = batch[int(m["frame_id"])]
                        for face in m.get("faces") or []:
                            gid, pred = _face_prediction(face, fr, identify)
                            groups.setdefault(gid, []).append(pred)
                except (KeyError, TypeError, ValueError, IndexError) as exc:
                    raise _Fail(
                        f"Hume's v1 API sent an image response for `{item.file}` "
                        f"without the expected fields ({type(exc).__name__}: {exc})."
                    ) from None
        return {
            "metadata": None,
            "grouped_predictions": [
                {"id": gid, "predictions": preds} for gid, preds in groups.items()
            ],
        }


def _scores(entries) -> list[dict] | None:
    """v1 ``[{name, probability}]`` as v0 ``[{name, score}]`` (None stays None)."""
    if entries is None:
        return None
    return [{"name": e["name"], "score": e["probability"]} for e in entries]


def _face_prediction(face: dict, fr, identify: bool) -> tuple[str, dict]:
    x0, y0, x1, y1 = (float(v) / fr.scale for v in face["bbox"][:4])
    measured = face.get("face_id") is not None
    if not measured:
        gid = "unmeasured"
    elif identify:
        gid = f"face_{int(face['face_id'])}"
    else:
        gid = "unknown"
    return gid, {
        "frame": fr.frame,
        "time": fr.time,
        "prob": face["confidence"],
        "box": {
            "x": round(x0, 4),
            "y": round(y0, 4),
            "w": round(x1 - x0, 4),
            "h": round(y1 - y0, 4),
        },
        "emotions": _scores(face.get("expressions")),
        "facs": None,
        "descriptions": _scores(face.get("descriptions")),
    }
