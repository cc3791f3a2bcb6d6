"""The ``simulated`` engine: real media structure, synthetic (labelled) scores.

Offline and deterministic, for teaching and tests. It reads the real file: image
size and pixels, video fps, frame count and frames sampled at ``fps_pred``, audio
duration and speech segments from the signal's energy, and a transcript beside the
media when there is one. Faces are bright blobs; utterances are runs of frames whose
RMS energy is above a threshold (gaps under 0.3 s merged); vocal bursts are short
energetic events (under 1.5 s). Scores come from :mod:`._scores`: the same bytes give
the same predictions, and scores move smoothly over time.

Scores are synthetic. They describe nothing about the person in the media; the
service labels jobs run with this engine as simulated.

With a script (a ``<stem>.expressions.csv`` sidecar paired by the service, see
:mod:`._script`), scores follow what the script states over time, plus small
deterministic noise, and the prediction carries ``"humelab": {"script": name}``.
They are still simulated: a script is a teaching device, not a measurement.

Without a transcript (no ``.txt``/``.srt``/``.vtt`` of the same stem beside the
file, or transcription disabled with ``transcription=None``), audio and video get
prosody with ``text`` null and ``metadata`` null, and no ``language``/``ner`` entry
at all: the simulated engine has no speech recogniser and will not invent words.
With a transcript whose (simulated) confidence is below
``transcription.confidence_threshold`` the file fails with Hume's message
``transcript confidence (0.9) below threshold value (0.95)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from ...schema import VOCABULARY
from .. import media
from . import _transcript as tr
from ._scores import (
    as_entries,
    f16_short,
    f32,
    f32_short,
    follow_script,
    score_matrix,
    seed_of,
)
from ._script import read_script
from .base import (
    Engine,
    EngineError,
    Measurement,
    MediaInput,
    fill_model_defaults,
    fill_transcription_defaults,
)

__all__ = ["SimulatedEngine"]

_HOP = 0.02  # seconds per RMS frame
_PAD = 0.2  # prosody segments are 0.2 s wider than the words (observed in R3, R4)
_TEXT_STEP = 3.0  # stand-in seconds between text units, for smooth scores


class SimulatedEngine(Engine):
    """Deterministic synthetic measurements from the real structure of the media.

    See the module docstring for what is read from the media and what happens
    without a transcript.

    Examples
    --------
    >>> from humelab.service.engines import get_engine, MediaInput, fill_model_defaults
    >>> engine = get_engine("simulated")
    >>> out = engine.measure(MediaInput("0", text="Hello Paris."),
    ...                      models=fill_model_defaults(None), transcription={})
    >>> out["file_type"], sorted(out["models"])
    ('text', ['language', 'ner'])
    """

    name = "simulated"
    simulated = True

    def __init__(self):
        pass

    def measure(self, item: MediaInput, *, models: dict, transcription: dict | None):
        # Accept the echo form or a bare request: fill (and check) every option.
        given = {k: v for k, v in (models or {}).items() if v is not None}
        models = {k: v for k, v in fill_model_defaults(given).items() if v is not None}
        disabled = transcription is None  # "transcription": null disables it
        if disabled:
            item = dataclasses.replace(item, transcript=None)
        transcription = fill_transcription_defaults(transcription)
        if item.text is not None:
            return _Measure(item, models, transcription).text(item.text)
        if item.path is None:
            raise EngineError(f"could not decode {item.file}: no path and no text")
        info = media.probe_media(item.path, name=item.file)
        m = _Measure(item, models, transcription)
        if info.kind == "text":
            return m.marked(m.text(media.read_text(item.path, name=item.file)))
        entry = m.marked(m.media(info))
        notes = _untranscribed(item, info, models, disabled)
        return Measurement(entry, errors=notes) if notes else entry


def _untranscribed(item, info, models, disabled) -> list[str]:
    """Error entries for text models asked of speech with no transcript: this engine
    does not transcribe, so they would otherwise come back empty, silently."""
    wanted = [m for m in ("language", "ner") if m in models]
    if not wanted or not info.has_audio or item.transcript is not None:
        return []
    names = " and ".join(f"`{m}`" for m in wanted)
    if disabled:
        why = "transcription is disabled (`transcription: null`)"
        fix = "enable transcription and add a transcript"
    else:
        why = "the simulated engine does not transcribe speech"
        fix = "add a transcript"
    stem = Path(item.file).stem
    return [
        f"{names} on the speech of {item.file} needs a transcript, and {why}; "
        f"{fix} of the same stem ({stem}.txt, {stem}.srt or {stem}.vtt) beside it."
    ]


def _digest(path: Path) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def _standardise(x):
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return x
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


class _Measure:
    """One measurement: the file's digest, the requested models and the outputs."""

    def __init__(self, item, models, transcription):
        self.item = item
        self.models = models
        self.tx = transcription
        if item.text is not None:
            self.digest = hashlib.blake2b(item.text.encode(), digest_size=16).digest()
        else:
            self.digest = _digest(item.path)
        self.script = None
        script = getattr(item, "script", None)  # a ScriptedInput (see _script.py)
        if script is not None:
            self.script = read_script(script, name=item.script_name or script.name)

    def marked(self, entry):
        """``entry`` with ``"humelab": {"script": name}`` when a script was used."""
        if self.script is not None:
            entry["humelab"] = {"script": self.script.name}
        return entry

    # -- scores -----------------------------------------------------------------

    def families(
        self, model, group, t, *, feature=None, jitter=None, only=None, at=None
    ):
        """Score rows per family for ``model``: {family: [entries per point]}.

        With a script, scores follow it (:func:`._scores.follow_script`) at the
        points ``at`` (default ``t``; text without times passes the character
        positions of its units, so a script's begin and end count characters).
        """
        out = {}
        t = np.asarray(t, dtype=np.float64)
        for family, names in VOCABULARY[model].items():
            if only is not None and family not in only:
                continue
            seed = seed_of(self.digest, model, group, family)
            m = score_matrix(
                seed, family, len(names), t, feature=feature, jitter=jitter
            )
            if self.script is not None and family != "sentiment":
                levels = self.script.levels(model, names, t if at is None else at)
                m = follow_script(m, levels, seed)
            out[family] = [as_entries(names, row) for row in m]
        return out

    # -- text items -------------------------------------------------------------

    def text(self, text):
        out = {}
        words = tr.text_words(text)
        if "language" in self.models:
            cfg = self.models["language"]
            us = tr.units(words, text, cfg["granularity"], text_item=True)
            out["language"] = self._language(us, cfg, timed=False)
        if "ner" in self.models:
            out["ner"] = self._ner(
                tr.entities(words, text), self.models["ner"], timed=False
            )
        return {"file_type": "text", "models": out}

    def _jitter(self, us):
        return np.array([seed_of(self.digest, u.text, u.begin) for u in us], np.uint64)

    def _language(self, us, cfg, *, timed, metadata=None):
        groups = self._group(us, cfg.get("identify_speakers"))
        families = ["emotions"] + [
            f for f in ("sentiment", "toxicity") if cfg.get(f) is not None
        ]
        gp = []
        for gid, members in groups:
            t = self._times(members, timed)
            fam = self.families(
                "language",
                gid,
                t,
                jitter=self._jitter(members),
                only=families,
                at=None if timed else self._positions(members),
            )
            preds = []
            for i, u in enumerate(members):
                preds.append(
                    {
                        "text": u.text,
                        "position": {"begin": u.begin, "end": u.end},
                        "time": {"begin": u.t0, "end": u.t1} if timed else None,
                        "confidence": self._confidence(u, cfg["granularity"])
                        if timed
                        else None,
                        "speaker_confidence": None,
                        "emotions": fam["emotions"][i],
                        "sentiment": fam["sentiment"][i]
                        if "sentiment" in fam
                        else None,
                        "toxicity": fam["toxicity"][i] if "toxicity" in fam else None,
                    }
                )
            gp.append({"id": gid, "predictions": preds})
        return {"metadata": metadata, "grouped_predictions": gp}

    def _ner(self, us, cfg, *, timed, metadata=None):
        gp = []
        for gid, members in self._group(us, cfg.get("identify_speakers")):
            t = self._times(members, timed)
            fam = self.families(
                "ner",
                gid,
                t,
                jitter=self._jitter(members),
                at=None if timed else self._positions(members),
            )
            preds = []
            for i, u in enumerate(members):
                rng = np.random.default_rng(seed_of(self.digest, "ner-entity", u.text))
                preds.append(
                    {
                        "entity": u.text,
                        "position": {"begin": u.begin, "end": u.end},
                        "entity_confidence": f32(rng.uniform(0.6, 0.999)),
                        "support": f32(rng.uniform(0.3, 0.99)),
                        "uri": "https://en.wikipedia.org/wiki/"
                        + u.text.replace(" ", "_"),
                        "link_word": u.text,
                        "time": {"begin": u.t0, "end": u.t1} if timed else None,
                        "confidence": self._confidence(u, "utterance")
                        if timed
                        else None,
                        "speaker_confidence": None,
                        "emotions": fam["emotions"][i],
                    }
                )
            gp.append({"id": gid, "predictions": preds})
        return {"metadata": metadata, "grouped_predictions": gp}

    @staticmethod
    def _positions(units):
        """Character midpoints of text units (where a script applies to text)."""
        return [(u.begin + u.end) / 2 for u in units]

    @staticmethod
    def _times(units, timed):
        if timed:
            return [(u.t0 + u.t1) / 2 for u in units]
        return [i * _TEXT_STEP for i in range(len(units))]

    @staticmethod
    def _confidence(unit, granularity):
        # Observed: word and utterance confidences are set; sentence and turn are null.
        if granularity in ("sentence", "conversational_turn"):
            return None
        return f16_short(float(np.mean([w.confidence for w in unit.words])))

    def _group(self, units, identify):
        """[(group id, units)]: spk_N by speaker when ``identify``, else unknown."""
        identify = identify or self.tx.get("identify_speakers")
        if not identify:
            return [("unknown", list(units))] if units else []
        order: dict[int, list] = {}
        for u in units:
            order.setdefault(u.speaker, []).append(u)
        return [(f"spk_{s}", us) for s, us in order.items()]

    # -- media --------------------------------------------------------------------

    def media(self, info):
        kind = info.kind
        if kind == "video" and not info.has_audio:
            file_type = "video_no_audio"
        else:
            file_type = kind
        out = {}
        visual = kind in ("image", "video")
        if visual and ("face" in self.models or "facemesh" in self.models):
            out.update(self._faces(info))
        audio = info.has_audio
        duration = float(info.duration or 0.0)
        x = None
        if audio and {"burst", "prosody", "language", "ner"} & set(self.models):
            x = media.read_audio(self.item.path, name=self.item.file)
            duration = max(duration, len(x) / media.SAMPLE_RATE)
        segs, utts, rms = _speech(x) if x is not None else ([], [], None)
        if audio and "burst" in self.models:
            out["burst"] = self._burst(segs, rms)
        words = transcript = None
        if self.item.transcript is not None and (
            {"prosody", "language", "ner"} & set(self.models)
        ):
            try:
                cues = tr.parse_transcript(self.item.transcript)
            except OSError as e:
                name = Path(self.item.transcript).name
                reason = e.strerror or type(e).__name__  # no paths of the service
                raise EngineError(
                    f"could not read transcript {name}: {reason}"
                ) from None
            transcript, words, _ = tr.timed_words(
                cues, [(b, e) for b, e in utts], duration
            )
            self._word_details(words, x, utts)
        metadata = None
        if words:
            conf = f16_short(float(np.mean([w.confidence for w in words])))
            thr = self.tx["confidence_threshold"]
            if conf < thr:
                raise EngineError(
                    f"transcript confidence ({conf}) below threshold value ({thr})"
                )
            metadata = {
                "confidence": conf,
                "detected_language": self.tx["language"] or "en",
            }
        if audio and "prosody" in self.models:
            out["prosody"] = self._prosody(
                words, transcript, utts, rms, duration, metadata
            )
        if words:
            if "language" in self.models:
                cfg = self.models["language"]
                us = tr.units(words, transcript, cfg["granularity"])
                out["language"] = self._language(us, cfg, timed=True, metadata=metadata)
            if "ner" in self.models:
                ents = tr.entities(words, transcript)
                out["ner"] = self._ner(
                    ents, self.models["ner"], timed=True, metadata=metadata
                )
        order = ("face", "burst", "prosody", "language", "ner", "facemesh")
        return {
            "file_type": file_type,
            "models": {k: out[k] for k in order if k in out},
        }

    def _word_details(self, words, x, utts):
        """Word confidences (deterministic) and speakers (from audio pitch proxy)."""
        for w in words:
            rng = np.random.default_rng(seed_of(self.digest, "word", w.begin, w.text))
            w.confidence = f16_short(1.0 - min(0.4, abs(rng.normal(0.0, 0.025))))
            w.t0, w.t1 = f32_short(w.t0), f32_short(w.t1)
        if not words or any(w.speaker for w in words):
            return  # speakers from <v Name> cue tags
        identify = self.tx.get("identify_speakers") or any(
            (self.models.get(m) or {}).get("identify_speakers")
            for m in ("prosody", "language", "ner")
        )
        if x is None or not utts or not identify:
            return
        # Two speakers when utterances differ clearly in zero-crossing rate.
        zcr = []
        for b, e in utts:
            seg = x[int(b * media.SAMPLE_RATE) : int(e * media.SAMPLE_RATE)]
            zcr.append(
                float(np.mean(np.abs(np.diff(np.sign(seg))) > 0)) if len(seg) > 1 else 0
            )
        zcr = np.array(zcr)
        if len(zcr) < 2 or zcr.max() - zcr.min() < 0.25 * max(np.median(zcr), 1e-9):
            return
        cut = (zcr.max() + zcr.min()) / 2
        first = zcr[0] > cut
        spk = [0 if (z > cut) == first else 1 for z in zcr]
        for w in words:
            w.speaker = spk[min(w.utterance, len(spk) - 1)]

    def _prosody(self, words, transcript, utts, rms, duration, metadata):
        cfg = self.models["prosody"]
        window = cfg.get("window")
        if window is not None:
            length, step = float(window["length"]), float(window["step"])
            spans, k = [], 0
            while k * step < duration or (k == 0 and duration > 0):
                b = k * step
                spans.append((f32_short(b), f32_short(min(b + length, duration))))
                k += 1
            return self._prosody_out(
                [("unknown", [(b, e, None, None) for b, e in spans])], rms, metadata
            )
        if words:
            us = tr.units(words, transcript, cfg["granularity"])
            items = []
            for u in us:
                b = max(0.0, u.t0 - _PAD)
                e = min(duration, u.t1 + _PAD) if duration else u.t1 + _PAD
                items.append((b, e, u, self._confidence(u, cfg["granularity"])))
            groups = self._group(us, cfg.get("identify_speakers"))
            by_unit = {id(it[2]): it for it in items}
            grouped = [
                (gid, [by_unit[id(u)] for u in members]) for gid, members in groups
            ]
            return self._prosody_out(grouped, rms, metadata, text=True)
        spans = [(f32_short(b), f32_short(e), None, None) for b, e in utts]
        return self._prosody_out([("unknown", spans)] if spans else [], rms, None)

    def _prosody_out(self, grouped, rms, metadata, *, text=False):
        gp = []
        for gid, items in grouped:
            t = [(b + e) / 2 for b, e, _, _ in items]
            fam = self.families("prosody", gid, t, feature=_energy_at(rms, items))
            preds = [
                {
                    "text": u.text if text and u is not None else None,
                    "time": {"begin": b, "end": e},
                    "confidence": conf,
                    "speaker_confidence": None,
                    "emotions": fam["emotions"][i],
                }
                for i, (b, e, u, conf) in enumerate(items)
            ]
            gp.append({"id": gid, "predictions": preds})
        return {"metadata": metadata, "grouped_predictions": gp}

    def _burst(self, segs, rms):
        events = [(f32_short(b), f32_short(e)) for b, e in segs if e - b < 1.5]
        gp = []
        if events:
            items = [(b, e, None, None) for b, e in events]
            t = [(b + e) / 2 for b, e in events]
            fam = self.families("burst", "unknown", t, feature=_energy_at(rms, items))
            preds = [
                {
                    "time": {"begin": b, "end": e},
                    "emotions": fam["emotions"][i],
                    "descriptions": fam["descriptions"][i],
                }
                for i, (b, e) in enumerate(events)
            ]
            gp.append({"id": "unknown", "predictions": preds})
        return {"metadata": None, "grouped_predictions": gp}

    # -- faces --------------------------------------------------------------------

    def _faces(self, info):
        face_cfg = self.models.get("face") or {}
        fps_pred = face_cfg.get("fps_pred", 3.0)
        thr = face_cfg.get("prob_threshold", 0.99)
        min_size = face_cfg.get("min_face_size", 60)
        identify = bool(face_cfg.get("identify_faces", False))
        if info.kind == "image":
            frames = [(0, 0.0, media.read_image(self.item.path, name=self.item.file))]
        else:
            frames = media.sample_frames(
                self.item.path, fps_pred=fps_pred, name=self.item.file
            )
        dets = []  # (frame, time, box, prob, contrast)
        for frame, time, pix in frames:
            scale = info.width / pix.shape[1]
            for box, contrast in media.find_faces(pix):
                x, y, w, h = (v * scale for v in box)
                if min(w, h) < min_size:
                    continue
                prob = f32(1.0 - 10.0 ** (-(2.0 + 5.0 * contrast)))
                if prob < thr:
                    continue
                dets.append((frame, time, (x, y, w, h), prob, contrast))
        ids = _track(dets) if identify else ["unknown"] * len(dets)
        out = {}
        if "face" in self.models:
            groups: dict[str, list[int]] = {}
            for i, gid in enumerate(ids):
                groups.setdefault(gid, []).append(i)
            only = ["emotions"] + [
                f for f in ("facs", "descriptions") if face_cfg.get(f) is not None
            ]
            gp = []
            for gid, idx in groups.items():
                t = [dets[i][1] for i in idx]
                c = np.array([dets[i][4] for i in idx])
                feat = (c - c.mean()) / 0.25  # brighter-than-usual face, smoothly
                fam = self.families("face", gid, t, feature=feat, only=only)
                preds = []
                for j, i in enumerate(idx):
                    frame, time, (x, y, w, h), prob, _ = dets[i]
                    preds.append(
                        {
                            "frame": frame,
                            "time": time,
                            "prob": prob,
                            "box": {"x": f32(x), "y": f32(y), "w": f32(w), "h": f32(h)},
                            "emotions": fam["emotions"][j],
                            "facs": fam["facs"][j] if "facs" in fam else None,
                            "descriptions": fam["descriptions"][j]
                            if "descriptions" in fam
                            else None,
                        }
                    )
                gp.append({"id": gid, "predictions": preds})
            out["face"] = {"metadata": None, "grouped_predictions": gp}
        if "facemesh" in self.models:
            gp = []
            if dets:
                t = [d[1] for d in dets]
                fam = self.families("facemesh", "unknown", t)
                preds = [{"emotions": row} for row in fam["emotions"]]
                gp.append({"id": "unknown", "predictions": preds})
            out["facemesh"] = {"metadata": None, "grouped_predictions": gp}
        return out


# -- signal helpers ----------------------------------------------------------------


def _speech(x):
    """(segments, utterances, rms) from mono 16 kHz samples.

    Segments are runs of 20 ms frames whose RMS is above a threshold (gaps < 0.12 s
    merged, runs < 0.08 s dropped); utterances merge segments closer than 0.3 s.
    """
    hop = int(_HOP * media.SAMPLE_RATE)
    n = len(x) // hop
    if n == 0:
        return [], [], np.zeros(0)
    frames = x[: n * hop].reshape(n, hop)  # a view: no copy of an hour of audio
    rms = np.empty(n)
    for i in range(0, n, 50_000):
        chunk = frames[i : i + 50_000].astype(np.float64)
        rms[i : i + 50_000] = np.sqrt((chunk * chunk).mean(axis=1))
    noise, peak = np.percentile(rms, 10), np.percentile(rms, 99)
    thr = max(noise * 3.0, peak * 0.1, 1e-3)
    active = rms > thr
    edges = np.flatnonzero(np.diff(np.r_[0, active.astype(np.int8), 0]))
    runs = [(s * _HOP, e * _HOP) for s, e in zip(edges[::2], edges[1::2], strict=True)]
    segs = [r for r in _merge(runs, 0.12) if r[1] - r[0] >= 0.08]
    return segs, _merge(segs, 0.3), rms


def _merge(runs, gap):
    out = []
    for b, e in runs:
        if out and b - out[-1][1] < gap:
            out[-1] = (out[-1][0], e)
        else:
            out.append((b, e))
    return out


def _energy_at(rms, items):
    if rms is None or len(rms) == 0 or not items:
        return None
    vals = []
    for b, e, *_ in items:
        i0, i1 = int(b / _HOP), max(int(b / _HOP) + 1, int(e / _HOP))
        seg = rms[i0:i1]
        vals.append(float(np.log(seg.mean() + 1e-6)) if len(seg) else 0.0)
    return _standardise(vals)


def _track(dets):
    """face_N ids by nearest-centre matching to each track's last box."""
    tracks: list[tuple[float, float, float, int]] = []  # cx, cy, size, last frame
    ids = []
    for frame, _, (x, y, w, h), _, _ in dets:
        cx, cy = x + w / 2, y + h / 2
        best, dist = None, None
        for k, (tx, ty, size, last) in enumerate(tracks):
            if last == frame:
                continue
            d = ((cx - tx) ** 2 + (cy - ty) ** 2) ** 0.5
            if d <= size and (dist is None or d < dist):
                best, dist = k, d
        if best is None:
            tracks.append((cx, cy, max(w, h), frame))
            best = len(tracks) - 1
        else:
            tracks[best] = (cx, cy, max(w, h), frame)
        ids.append(f"face_{best}")
    return ids
