"""Reader of Hume v1 Expression Measurement responses (``AudioFileResponse``,
``VideoFileResponse``) into the tidy frame.

The v1 API (``reference/v1-api.md``) answers each upload synchronously; its
bodies are not v0 predictions, so they get their own reader. Names in the frame:

- audio -> model ``prosody``, group ``unknown``, one segment per measurement
  (``begin``/``end`` = ``audio_start_ms``/``audio_end_ms`` / 1000), families
  ``emotions`` (v1 ``expressions``) and ``voice_attributes``;
- video -> model ``face``, group ``face_<face_id>``, one segment per measured face
  per image, ``frame`` = the image's index (``frame_id``), families ``emotions``
  (v1 ``expressions``) and ``descriptions``.

v1 arrays are sparse: a name missing from an array is below Hume's cutoff, not a
zero, so it has no row (and is NaN in the wide form). v1 ``probability`` values
are not comparable with v0 ``score`` values even where the names match, and v1
names stay lowercase as the API spells them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import ReadError
from ._frame import FrameBuilder, wide_from_builder
from ._input import inner, is_zip, json_error, load_bytes, looks_like_json_text

__all__ = ["read_v1"]

_SHAPES = ("long", "wide")
#: v1 array -> family in the tidy frame.
_AUDIO_FAMILIES = (
    ("expressions", "emotions"),
    ("voice_attributes", "voice_attributes"),
)
_FACE_FAMILIES = (("expressions", "emotions"), ("descriptions", "descriptions"))


def read_v1(
    data,
    *,
    source: str | Sequence[str] | None = None,
    fps: float | None = None,
    shape: str = "long",
) -> pd.DataFrame:
    """Read Hume v1 upload responses (audio and video) into a tidy frame.

    Parameters
    ----------
    data : str, path-like, bytes, binary file, dict, SDK response, or a list of them
        One or more ``AudioFileResponse``/``VideoFileResponse`` bodies: a path to a
        JSON file (one body, or a JSON array of bodies), the raw bytes, an open
        binary file, the parsed JSON, or the objects the official SDK
        (``hume-expression-measurement``) returns.
    source : str or sequence of str, optional
        The ``source`` (and ``file``) of each response: one name for all, or one per
        response. Default: the file name for a path, else ``response_<i>``.
        Consecutive responses with the same source are read as consecutive
        requests for one media (how long audio and videos are sent): audio times
        are shifted by the audio of the earlier requests
        (``received.audio_duration_ms``) and frames by their images
        (``received.frames``).
    fps : float, optional
        Frames per second at which a video's images were taken; gives faces a time
        (``begin`` = ``end`` = ``frame / fps``). Without it faces have no time
        (images carry none in v1).
    shape : {"long", "wide"}, default "long"
        ``"long"``: one row per score, the tidy contract of :mod:`humelab.schema`.
        ``"wide"``: one row per prediction with the key columns, the metadata
        columns (face ``prob`` = v1 ``confidence`` and ``box_x/y/w/h`` from
        ``bbox`` ``[x0, y0, x1, y1]``; prosody ``confidence`` and
        ``speaker_confidence``, always missing in v1), the v1 ids (prosody
        ``utterance_id``, ``measurement_id``, ``trigger``; face ``face_id``), then
        one float column per name (NaN where v1 sent no probability). Faces that
        were listed but not measured (``face_id`` null) are rows of group
        ``unmeasured`` with their box and ``prob`` and no scores; in the long form
        they have no rows. For :func:`to_long` drop the v1 id columns first and
        name the families of non-emotion names (``families={"smile":
        "descriptions"}``): v1 names are not in the v0 vocabularies it knows.

    Returns
    -------
    pandas.DataFrame
        Tidy long frame (see :data:`humelab.schema.COLUMNS`), or the wide frame.
        ``job_id`` is missing (v1 has no jobs). ``df.attrs`` holds
        ``source_format="v1"``, ``simulated`` (True when a response carries the
        ``"simulated": true`` marker of humelab's v1 stand-in, whose scores are
        synthetic), and the ``run_ids`` and ``request_ids`` of the responses.

    Raises
    ------
    ReadError
        When an input is not a v1 upload response: malformed JSON (with line and
        column), a v1 error body (its code and message), a run object, v0
        predictions (use :func:`read_predictions`), an artifacts zip.

    See Also
    --------
    read_predictions : v0 predictions JSON.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.read_v1("clip.v1.json")  # doctest: +SKIP
    >>> df.groupby(["family", "name"], observed=True)["score"].mean()  # doctest: +SKIP
    """
    if shape not in _SHAPES:
        raise ValueError(
            f"`shape` must be one of {', '.join(map(repr, _SHAPES))}, got {shape!r}."
        )
    if fps is not None and not (isinstance(fps, int | float) and fps > 0):
        raise ValueError(f"`fps` must be a positive number, got {fps!r}.")
    bodies = _load_all(data)
    names = _sources(bodies, source)
    builder = FrameBuilder(meta=shape == "wide")
    groups = _Groups()
    offsets: dict[str, float] = {}
    last = None
    for (body, label, _), name in zip(bodies, names, strict=True):
        kind = _kind(body, label)
        if name != last:
            offsets.clear()
        last = name
        if kind == "audio":
            _add_audio(groups, builder, body, name, offsets.get("audio", 0.0), label)
            dur = body.get("received", {}).get("audio_duration_ms") or 0
            offsets["audio"] = offsets.get("audio", 0.0) + dur / 1000.0
        else:
            at = offsets.get("frames", 0)
            _add_video(groups, builder, body, name, at, fps, label)
            offsets["frames"] = at + _frames_of(body)
    extra = groups.flush(builder)
    if shape == "wide":
        df = _wide(builder, extra)
    else:
        df = builder.long()
    df.attrs.update(
        source_format="v1",
        simulated=any(b.get("simulated") is True for b, _, _ in bodies),
        run_ids=[str(b["run_id"]) for b, _, _ in bodies if b.get("run_id")],
        request_ids=[str(b["request_id"]) for b, _, _ in bodies if b.get("request_id")],
    )
    return df


# -- input ----------------------------------------------------------------------------


def _is_source(obj) -> bool:
    return isinstance(obj, (str, os.PathLike, bytes, bytearray, memoryview)) or (
        callable(getattr(obj, "read", None))
    )


def _load_all(data) -> list[tuple[dict, str, str | None]]:
    """``[(body, label, name)]``: every response body, a label naming it in
    messages, and its default source name (the file name of a path, else None)."""
    if isinstance(data, (list, tuple)):
        if not data:
            raise ReadError(
                "`read_v1` got an empty list; pass one or more v1 upload responses."
            )
        out = []
        for i, item in enumerate(data):
            for body, label, name in _load_one(item):
                out.append((body, label if _is_source(item) else f"Response {i}", name))
        return out
    return _load_one(data)


def _load_one(item) -> list[tuple[dict, str, str | None]]:
    if hasattr(item, "run_id") and hasattr(item, "measurements"):  # an SDK model
        if hasattr(item, "model_dump"):
            body = item.model_dump(mode="json")
        else:  # pydantic v1
            body = json.loads(item.json())
        return [(body, "The SDK response", None)]
    if isinstance(item, dict):
        return [(item, "The given response", None)]
    if isinstance(item, str) and looks_like_json_text(item):
        item = item.encode("utf-8")  # JSON text, not a path
    if not _is_source(item):
        raise ReadError(
            f"`read_v1` cannot read a {type(item).__name__}; pass a v1 response "
            "(dict, JSON bytes, a path, or the SDK's response object) or a list of "
            "them."
        )
    raw, label = load_bytes(item, reader="read_v1", what="a v1 response JSON")
    name = (
        os.path.basename(os.fspath(item))
        if isinstance(item, (str, os.PathLike))
        else None
    )
    if is_zip(raw):
        raise ReadError(
            f"{label} is a zip archive, not a v1 response; an artifacts zip is read "
            "with `humelab.read_artifacts`."
        )
    if not bytes(raw[:4096]).strip():
        raise ReadError(f"{label} is empty; pass a v1 response JSON.")
    try:
        parsed = json.loads(bytes(raw))
    except ValueError as exc:
        raise json_error(exc, raw, label) from None
    if isinstance(parsed, list):
        if parsed and all(isinstance(x, dict) and "source" in x for x in parsed):
            raise ReadError(
                f"{label} holds v0 predictions (a list of sources), not v1 "
                "responses; read it with `humelab.read_predictions`."
            )
        return [(x, f"{label} [{i}]", name) for i, x in enumerate(parsed)]
    return [(parsed, label, name)]


def _sources(bodies, source) -> list[str]:
    n = len(bodies)
    if source is None:
        return [name or f"response_{i}" for i, (_, _, name) in enumerate(bodies)]
    if isinstance(source, str):
        return [source] * n
    names = [str(s) for s in source]
    if len(names) != n:
        raise ValueError(
            f"`source` has {len(names)} names for {n} responses; give one name, or "
            "one per response."
        )
    return names


def _kind(body, label: str) -> str:
    if not isinstance(body, dict):
        raise ReadError(
            f"{inner(label)} is a JSON {type(body).__name__}, not a v1 upload "
            "response (an object with `request_id`, `run_id`, `received`, "
            "`measurements`)."
        )
    if body.get("type") == "error" or ("message" in body and "run_id" not in body):
        what = f"`{body.get('code')}`: " if body.get("code") else ""
        raise ReadError(
            f"{label} is a v1 error answer ({what}{body.get('message')!r}), not a "
            "measurement; the request failed and has no results."
        )
    received = body.get("received")
    if not isinstance(received, dict) or not isinstance(body.get("measurements"), list):
        hint = ""
        if "metered_seconds" in body or "runs" in body:
            hint = " It is a run record; runs carry no measurements."
        elif "results" in body or "source" in body:
            hint = " It looks like v0 predictions; use `humelab.read_predictions`."
        raise ReadError(
            f"{label} is not a v1 upload response (no `received` and "
            f"`measurements`).{hint}"
        )
    if "audio_duration_ms" in received or "utterances" in body:
        return "audio"
    if "frames" in received:
        return "video"
    raise ReadError(
        f"{label}: `received` has neither `audio_duration_ms` (audio) nor `frames` "
        "(video); it is not a v1 upload response."
    )


def _frames_of(body) -> int:
    n = body.get("received", {}).get("frames")
    if isinstance(n, int):
        return n
    return len(body.get("measurements") or [])


# -- frames ---------------------------------------------------------------------------


def _scores(builder, pred, families, label):
    """(family codes, name codes, scores) of one measurement or face."""
    fam_coder, name_coder = builder.coders["family"], builder.coders["name"]
    fams, names, vals = [], [], []
    for key, family in families:
        arr = pred.get(key)
        if arr is None:
            continue
        code = fam_coder(family)
        for item in arr:
            try:
                name, p = item["name"], float(item["probability"])
            except (KeyError, TypeError, ValueError):
                raise ReadError(
                    f"{label}: a `{key}` entry is not "
                    f"{{'name': str, 'probability': float}}: {item!r}."
                ) from None
            fams.append(code)
            names.append(name_coder(name))
            vals.append(p)
    return fams, names, vals


class _Groups:
    """Predictions collected per (source, model, group), in order of first
    appearance, so consecutive requests of one source form one group."""

    def __init__(self):
        self.groups: dict[tuple, dict] = {}

    def add(self, key, pred, *, begin, end, frame, meta, ids):
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = {
                "preds": [],
                "begin": [],
                "end": [],
                "frame": [],
                "meta": {k: [] for k in meta},
                "ids": {k: [] for k in ids},
            }
        g["preds"].append(pred)
        g["begin"].append(begin)
        g["end"].append(end)
        g["frame"].append(frame)
        for k, v in meta.items():
            g["meta"][k].append(v)
        for k, v in ids.items():
            g["ids"][k].append(v)

    def flush(self, builder) -> list[dict]:
        """Add every group to ``builder``; returns the v1 id columns per chunk."""
        extra = []
        for (source, model, group), g in self.groups.items():
            preds = g["preds"]
            frames = g["frame"]
            fr = None
            if any(f is not None for f in frames):
                fr = (
                    np.array([-1 if f is None else f for f in frames], dtype=np.int64),
                    np.array([f is None for f in frames], dtype=bool),
                )
            builder.add(
                (None, source, source, model, group),
                counts=[len(p[0]) for p in preds],
                frame=fr,
                begin=np.array(g["begin"], dtype=np.float64),
                end=np.array(g["end"], dtype=np.float64),
                family_codes=np.array([c for p in preds for c in p[0]], dtype=np.int64),
                name_codes=np.array([c for p in preds for c in p[1]], dtype=np.int64),
                scores=np.array([v for p in preds for v in p[2]], dtype=np.float64),
                meta=g["meta"],
            )
            extra.append(g["ids"])
        return extra


def _add_audio(groups, builder, body, name, offset, label):
    for m in body["measurements"]:
        groups.add(
            (name, "prosody", "unknown"),
            _scores(builder, m, _AUDIO_FAMILIES, label),
            begin=offset + m["audio_start_ms"] / 1000.0,
            end=offset + m["audio_end_ms"] / 1000.0,
            frame=None,
            meta={"confidence": None, "speaker_confidence": None},
            ids={
                "utterance_id": m.get("utterance_id"),
                "measurement_id": m.get("measurement_id"),
                "trigger": m.get("trigger"),
            },
        )


def _add_video(groups, builder, body, name, offset, fps, label):
    for m in body["measurements"]:
        frame = offset + int(m["frame_id"])
        t = frame / fps if fps else np.nan
        for face in m.get("faces") or ():
            fid = face.get("face_id")
            x0, y0, x1, y1 = (list(face.get("bbox") or []) + [None] * 4)[:4]
            groups.add(
                (name, "face", "unmeasured" if fid is None else f"face_{fid}"),
                _scores(builder, face, _FACE_FAMILIES, label),
                begin=t,
                end=t,
                frame=frame,
                meta={
                    "prob": face.get("confidence"),
                    "box_x": x0,
                    "box_y": y0,
                    "box_w": None if x1 is None or x0 is None else x1 - x0,
                    "box_h": None if y1 is None or y0 is None else y1 - y0,
                },
                ids={"face_id": fid},
            )


def _wide(builder, extra) -> pd.DataFrame:
    df = wide_from_builder(builder)
    cols = ("utterance_id", "measurement_id", "trigger", "face_id")
    present = [c for c in cols if any(c in e for e in extra)]
    if not present or len(df) == 0:
        return df
    meta = list(builder.prediction_meta().columns)
    at = df.columns.get_loc(meta[-1]) + 1 if meta else 10
    for col in present:
        vals = []
        for chunk, ids in zip(builder.chunks, extra, strict=True):
            vals.extend(ids.get(col) or [None] * len(chunk[1]))
        if col == "trigger":
            series = pd.Categorical(vals)
        else:
            series = pd.array(vals, dtype="Int64")
        df.insert(at, col, series)
        at += 1
    return df
