"""Reader of v0 predictions JSON (``GET /v0/batch/jobs/{id}/predictions``).

Decoding uses typed :mod:`msgspec` structs for the v0 shapes. Each group's
``predictions`` array stays raw (:class:`msgspec.Raw`, a view on the input) until its
turn, so the whole tree of score objects never exists at once; each group is turned
into numpy columns straight away.
"""

from __future__ import annotations

import warnings
from itertools import chain
from operator import attrgetter

import msgspec
import numpy as np
import pandas as pd

from .._stacklevel import stack_level
from ..errors import HumelabWarning, ReadError
from ..schema import FAMILIES
from ._frame import FrameBuilder, wide_from_builder
from ._input import (
    JsonSource,
    first_byte,
    inner,
    is_json,
    is_zip,
    json_error,
    load_bytes,
    looks_like_json_text,
)
from ._shapes import (
    ENVELOPE,
    ENVELOPES,
    PREDS,
    PREDS_KNOWN,
    Envelope,
    Source,
    Span,
    present,
)

__all__ = ["read_predictions", "read_errors"]

_NAME = attrgetter("name")
_SCORE = attrgetter("score")

_ERRORS = ("warn", "raise", "ignore")
_SHAPES = ("long", "wide")


# -- public API ------------------------------------------------------------------------


def read_predictions(
    src: JsonSource,
    *,
    shape: str = "long",
    errors: str = "warn",
    job_id: str | None = None,
) -> pd.DataFrame:
    """Read Hume v0 predictions JSON into a tidy frame.

    Parameters
    ----------
    src : str, path-like, bytes, binary file object, list or dict
        The predictions: a path, the raw bytes, an open binary file, or the parsed
        JSON. The JSON may be the predictions array (one element per source), a
        single source object, or a callback body ``{job_id, status, predictions}``
        (then ``job_id`` fills the ``job_id`` column).
    shape : {"long", "wide"}, default "long"
        ``"long"``: one row per score, the tidy contract of :mod:`humelab.schema`.
        ``"wide"``: one row per prediction with the key columns, the metadata
        columns of the models present (face ``prob`` and ``box_x/y/w/h``,
        ``confidence``, ``speaker_confidence``, ``position_begin/end``, NER entity
        fields, ``file_type``), then one float column per dimension.
    errors : {"warn", "raise", "ignore"}, default "warn"
        What to do when files or sources failed inside the job (``results.errors``
        or a source-level ``error``): warn once with a :class:`~humelab.HumelabWarning`
        saying how many failed and why, raise :class:`~humelab.ReadError`, or stay
        silent. Either way :func:`read_errors` lists them.
    job_id : str, optional
        Value of the ``job_id`` column, overriding the one of a callback body.

    Returns
    -------
    pandas.DataFrame
        Tidy long frame (see :data:`humelab.schema.COLUMNS`), or the wide frame.
        ``source`` is the URL of URL sources, the upload's filename for file sources
        (``"file"`` when the service recorded none) and ``"text"`` for text input;
        a name that occurs again for a later source gets that source's position in
        the array appended (``"a.jpg [2]"``), so keys stay unique.
        ``score`` is float32 when every score is a float32 value (as Hume's are),
        which keeps them exact; otherwise float64.

    Raises
    ------
    ReadError
        When ``src`` is not predictions JSON: malformed JSON (with line and
        column), an artifacts zip (use :func:`read_artifacts`), a job details or
        job result body (fetch the predictions instead), an empty file; or, with
        ``errors="raise"``, when files failed in the job.

    See Also
    --------
    read_artifacts : the same frame from an artifacts zip.
    read_errors : per-file and per-source errors.
    to_wide, to_long : convert between the two shapes.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.read_predictions("predictions.json")  # doctest: +SKIP
    >>> df.groupby("name", observed=True)["score"].mean()  # doctest: +SKIP
    """
    _check_option("shape", shape, _SHAPES)
    _check_option("errors", errors, _ERRORS)
    sources, body_job_id, label = _parse(src)
    jid = job_id if job_id is not None else body_job_id
    builder = FrameBuilder(meta=shape == "wide")
    failures, nfiles = _build(sources, builder, jid)
    if failures:
        _report(failures, nfiles, label, errors)
    df = wide_from_builder(builder) if shape == "wide" else builder.long()
    df.attrs.update(provenance(sources))
    return df


def provenance(sources) -> dict:
    """``df.attrs`` from the ``"humelab"`` keys humelab's service adds to results.

    Returns ``{"engine": str, "simulated": bool, "scripts": {file: script}}`` when
    any source carries the key (a job of humelab's service), else ``{}`` (Hume's
    own results say nothing about an engine).
    """
    marks = [e.humelab for e in sources if isinstance(e.humelab, dict)]
    if not marks:
        return {}
    engines = sorted({str(m.get("engine")) for m in marks})
    scripts = {}
    for env in sources:
        for fp in (env.results.predictions if env.results else None) or ():
            if isinstance(fp.humelab, dict) and "script" in fp.humelab:
                scripts[fp.file] = fp.humelab["script"]
    return {
        "engine": ", ".join(engines),
        "simulated": any(m.get("simulated") is True for m in marks),
        "scripts": scripts,
    }


def read_errors(src: JsonSource, *, job_id: str | None = None) -> pd.DataFrame:
    """List the files and sources that failed in a job.

    Parameters
    ----------
    src : str, path-like, bytes, binary file object, list or dict
        Predictions JSON, as accepted by :func:`read_predictions`.
    job_id : str, optional
        Value of the ``job_id`` column, overriding the one of a callback body.

    Returns
    -------
    pandas.DataFrame
        One row per failure with columns ``job_id``, ``source``, ``file`` (missing
        for a source-level error) and ``message``; no rows when nothing failed.

    Raises
    ------
    ReadError
        When ``src`` is not predictions JSON (see :func:`read_predictions`).
    """
    sources, body_job_id, _ = _parse(src)
    jid = job_id if job_id is not None else body_job_id
    rows = []
    for env, name in zip(sources, source_names(sources), strict=True):
        for file, message in _failures(env):
            rows.append((jid, name, file, message))
    return errors_frame(rows)


def errors_frame(rows) -> pd.DataFrame:
    """The :func:`read_errors` frame from (job_id, source, file, message) rows."""
    names = ("job_id", "source", "file", "message")
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pd.DataFrame(
        {n: pd.array(list(v), dtype="str") for n, v in zip(names, columns, strict=True)}
    )


# -- parsing ---------------------------------------------------------------------------


def _check_option(name, value, allowed):
    if value not in allowed:
        raise ReadError(
            f"`{name}` must be one of {', '.join(repr(a) for a in allowed)}; "
            f"got {value!r}."
        )


def _parse(
    src, *, reader: str = "read_predictions"
) -> tuple[list[Envelope], str | None, str]:
    """Decode ``src`` into source results, the callback's job id, and a label.

    ``reader`` names the function (and argument) the user called, for messages.
    """
    if isinstance(src, (list, dict)) or _is_model(src):
        try:
            data = msgspec.json.encode(src, enc_hook=_to_builtin)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ReadError(
                f"The given predictions hold a value JSON cannot carry ({exc}). Pass "
                "the predictions as parsed by `json.load`, the SDK's objects, or the "
                "file's path."
            ) from None
        label = "The given JSON"
    elif isinstance(src, str) and looks_like_json_text(src):
        data, label = src.encode(), "The given JSON text"
    else:
        data, label = load_bytes(src, reader=reader, what="a predictions JSON file")
    if bytes(data[:3]) == b"\xef\xbb\xbf":  # a UTF-8 byte order mark
        data = memoryview(data)[3:]
    if len(data) == 0 or not first_byte(data):
        raise ReadError(
            f"{label} is empty; expected Hume predictions JSON. Re-download it "
            "(`GET /v0/batch/jobs/{id}/predictions`)."
        )
    if is_zip(data):
        raise ReadError(
            f"{label} is a zip archive (an artifacts zip?), not predictions JSON; "
            "read it with `humelab.read_artifacts`."
        )
    if not is_json(data):
        head = bytes(data[:2])
        first = bytes(first_byte(data))
        if head in (b"\xff\xfe", b"\xfe\xff"):
            raise ReadError(
                f"{label} is UTF-16 text; Hume's predictions JSON is UTF-8. Re-save "
                "it as UTF-8 (or pass the parsed JSON)."
            )
        if _is_json_scalar(data):
            raise ReadError(
                f"{label} is JSON, but a single value, not predictions: expected a "
                'list of sources `[{"source": ..., "results": ...}]`.'
            )
        raise ReadError(
            f"{label} does not start like JSON (first byte {first!r}); expected "
            "Hume predictions JSON."
        )
    try:
        if first_byte(data) == b"[":
            envs = ENVELOPES.decode(data)
            for i, env in enumerate(envs):
                _check_envelope(env, label, where=f"element {i} of ")
            return envs, None, label
        env = ENVELOPE.decode(data)
    except msgspec.ValidationError as exc:
        raise _shape_error(exc, label) from None
    except msgspec.DecodeError as exc:
        raise json_error(exc, data, label) from None
    if present(env.predictions) and env.source is None:
        # a callback body {job_id, status, predictions}
        try:
            envs = ENVELOPES.decode(env.predictions)
        except msgspec.ValidationError as exc:
            raise _shape_error(exc, label, prefix="$.predictions") from None
        for i, sub in enumerate(envs):
            _check_envelope(sub, label, where=f"predictions[{i}] of ")
        return envs, env.job_id, label
    if env.status is not None and env.job_id is not None and env.source is None:
        raise ReadError(
            f"{label} is a callback body for job `{env.job_id}` with status "
            f"{env.status!r} and no `predictions`"
            + (f" (message: {env.message!r})" if env.message else "")
            + "; there are no scores to read. Check the job's details for why."
        )
    _check_envelope(env, label)
    return [env], None, label


def _is_json_scalar(data) -> bool:
    """Whether ``data`` is one JSON number, string, boolean or null."""
    if len(data) > 1 << 20:
        return False
    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError:
        return False
    return True


def _is_model(obj) -> bool:
    # a pydantic model, e.g. hume 0.13.13's InferenceSourcePredictResult
    return callable(getattr(obj, "model_dump", None))


def _to_builtin(obj):
    """msgspec encode hook: the SDK's pydantic objects and numpy scalars."""
    if _is_model(obj):
        return obj.model_dump(mode="json", by_alias=True)
    item = getattr(obj, "item", None)
    if callable(item) and getattr(obj, "shape", None) == ():
        return item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"a {type(obj).__name__} is not JSON data")


def _check_envelope(env: Envelope, label: str, where: str = "") -> None:
    if env.source is not None or env.results is not None or env.error is not None:
        return
    if where and label.startswith("The "):
        label = "t" + label[1:]
    subject = where[:1].upper() + where[1:] + label if where else label
    if present(env.request) and present(env.state):
        state = _loads(env.state)
        status = state.get("status") if isinstance(state, dict) else None
        detail = f", status {status}" if status else ""
        msg = state.get("message") if isinstance(state, dict) else None
        if msg:
            detail += f", message {msg!r}"
        raise ReadError(
            f"{subject} is a job details body (`request` and `state`{detail}),"
            " not predictions. Fetch the job's predictions (`GET /v0/batch/jobs/"
            "{id}/predictions`, or `job.predictions()`) and read those."
        )
    if (
        present(env.completed)
        or present(env.failed)
        or (present(env.creation_timestamp) and env.status is not None)
    ):
        detail = ""
        if present(env.failed):
            failed = _loads(env.failed)
            if isinstance(failed, dict) and failed.get("message"):
                detail = f" (failed: {failed['message']!r})"
        raise ReadError(
            f"{subject} is a job result body of the pre-May-2023 Batch API "
            f"(status {env.status!r}){detail}, not predictions. Its predictions "
            "were a separate download (`completed.predictions_url`); read that JSON."
        )
    raise ReadError(
        f"{subject} has none of the keys of a predictions element "
        "(`source`, `results`, `error`); expected Hume v0 predictions JSON, a list "
        "with one element per source."
    )


def _loads(raw):
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None


def _shape_error(exc, label, prefix=None) -> ReadError:
    msg = str(exc)
    if prefix:  # msgspec paths start at `$`: say where in the body they are
        msg = msg.replace("`$", f"`{prefix}", 1)
    return ReadError(
        f"{label} is not in the shape of Hume v0 predictions: {msg}. "
        "Check that it is the output of `GET /v0/batch/jobs/{id}/predictions`."
    )


def source_names(envs: list[Envelope]) -> list[str]:
    """The ``source`` value of each element: URL, filename or ``text``.

    When two elements would get the same value (the same URL or filename submitted
    twice), the later ones get their position in the predictions array appended,
    ``"a.jpg [3]"``, so that every score keeps a unique key.
    """
    return dedupe([_source_name(e.source) for e in envs], range(len(envs)))


def dedupe(names: list[str], indexes) -> list[str]:
    """Append `` [index]`` to the second and later occurrences of a name."""
    seen: set[str] = set()
    out = []
    for name, index in zip(names, indexes, strict=True):
        out.append(name if name not in seen else f"{name} [{index}]")
        seen.add(name)
    return out


def _source_name(source: Source | None) -> str:
    if source is None:
        return "unknown"
    kind = source.type
    if kind == "url":
        return source.url or "url"
    if kind == "file":
        return source.filename or "file"
    if kind == "text":
        return "text"
    return source.url or source.filename or kind or "unknown"


def _failures(env: Envelope):
    if env.results is None:
        yield None, env.error or "the source has no results and no error message"
        return
    errors = env.results.errors or ()
    # a source-level error that repeats a file's message adds nothing: report once
    if env.error and env.error not in {e.message for e in errors}:
        yield None, env.error
    for err in errors:
        yield err.file, err.message or "no message"


# -- building --------------------------------------------------------------------------


def _build(sources: list[Envelope], builder: FrameBuilder, job_id) -> tuple[list, int]:
    failures = []
    nfiles = 0
    templates: dict = {}
    for env, name in zip(sources, source_names(sources), strict=True):
        for file, message in _failures(env):
            failures.append((name, file, message))
            nfiles += 1
        if env.results is None:
            continue
        for fp in env.results.predictions or ():
            nfiles += 1
            for model, result in (fp.models or {}).items():
                if result is None:
                    continue
                for group in result.grouped_predictions or ():
                    _add_group(
                        builder,
                        templates,
                        (
                            job_id,
                            name,
                            fp.file if fp.file is not None else "",
                            model,
                            group.id if group.id is not None else "unknown",
                        ),
                        group.predictions,
                        fp.file_type,
                    )
    return failures, nfiles


def _decode_preds(raw, keys):
    try:
        return PREDS_KNOWN.decode(raw)
    except msgspec.ValidationError:
        pass  # a name outside the vocabulary, or a real shape error
    try:
        return PREDS.decode(raw)
    except msgspec.ValidationError as exc:
        raise ReadError(
            f"The predictions of model `{keys[3]}`, group `{keys[4]}` in file "
            f"`{keys[2]}` of source `{keys[1]}` are not in the v0 shape: {exc}."
        ) from None


def _add_group(builder, templates, keys, raw, file_type):
    if not present(raw):
        return
    preds = _decode_preds(raw, keys)
    n = len(preds)
    if n == 0:
        return
    fam_coder = builder.coders["family"]
    name_coder = builder.coders["name"]
    # per family: which predictions have it and how many scores each
    fams = []
    counts = np.zeros(n, dtype=np.int64)
    for fam in FAMILIES:
        col = [getattr(p, fam) for p in preds]
        if not any(col):
            continue
        lens = np.fromiter(map(_len_or_0, col), dtype=np.int64, count=n)
        fams.append((fam, col, lens))
        counts += lens
    total = int(counts.sum())
    scores = np.empty(total, dtype=np.float64)
    fam_codes = np.empty(total, dtype=np.int32)
    name_codes = np.empty(total, dtype=np.int32)
    offset = np.cumsum(counts) - counts  # where each prediction's scores start
    for fam, col, lens in fams:
        lists = [lst for lst in col if lst]
        m = int(lens.sum())
        starts = offset[lens > 0]
        offset = offset + lens
        k = len(lists[0])
        flat = list(chain.from_iterable(lists))
        names = list(map(_NAME, flat))
        template = names[:k]
        if m == k * len(lists) and names == template * len(lists):
            codes = templates.get((fam, tuple(template)))
            if codes is None:
                codes = templates[(fam, tuple(template))] = np.array(
                    [name_coder(x) for x in template], dtype=np.int32
                )
            pos = (starts[:, None] + np.arange(k)).ravel()
            name_codes[pos] = np.tile(codes, len(lists))
        else:  # lists differ in their names: code name by name
            sizes = lens[lens > 0]
            pos = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes) + np.arange(m)
            name_codes[pos] = np.fromiter(map(name_coder, names), np.int32, count=m)
        scores[pos] = np.fromiter(map(_SCORE, flat), dtype=np.float64, count=m)
        fam_codes[pos] = fam_coder(fam)
    frames = [p.frame for p in preds]
    frame = None
    if any(f is not None for f in frames):
        mask = np.array([f is None for f in frames], dtype=bool)
        frame = (
            np.array([0 if f is None else f for f in frames], dtype=np.int64),
            mask,
        )
    begin, end = _times([p.time for p in preds])
    text_coder = builder.coders["text"]
    texts = [p.text for p in preds]
    text = (
        np.fromiter(map(text_coder, texts), dtype=np.int64, count=n)
        if any(t is not None for t in texts)
        else None
    )
    meta = _meta(preds, file_type) if builder.keep_meta else None
    builder.add(
        keys,
        counts=counts,
        frame=frame,
        begin=begin,
        end=end,
        text_codes=text,
        family_codes=fam_codes,
        name_codes=name_codes,
        scores=scores,
        meta=meta,
    )


def _len_or_0(lst) -> int:
    return len(lst) if lst else 0


def _times(times):
    """begin and end arrays from face times (floats) or spans."""
    n = len(times)
    first = next((t for t in times if t is not None), None)
    if first is None:
        return None, None
    if all(type(t) is float for t in times):
        arr = np.array(times, dtype=np.float64)
        return arr, arr.copy()
    begin = np.full(n, np.nan)
    end = np.full(n, np.nan)
    for i, t in enumerate(times):
        if t is None:
            continue
        if isinstance(t, Span):
            if t.begin is not None:
                begin[i] = t.begin
            if t.end is not None:
                end[i] = t.end
        else:
            begin[i] = end[i] = t
    return begin, end


def _meta(preds, file_type) -> dict:
    def box(attr):
        return [getattr(p.box, attr) if p.box is not None else None for p in preds]

    def pos(attr):
        return [
            getattr(p.position, attr) if p.position is not None else None for p in preds
        ]

    out = {
        "prob": [p.prob for p in preds],
        "box_x": box("x"),
        "box_y": box("y"),
        "box_w": box("w"),
        "box_h": box("h"),
        "confidence": [p.confidence for p in preds],
        "speaker_confidence": [p.speaker_confidence for p in preds],
        "position_begin": pos("begin"),
        "position_end": pos("end"),
        "file_type": [file_type] * len(preds),
    }
    for attr in ("entity", "entity_confidence", "support", "uri", "link_word"):
        out[attr] = [getattr(p, attr) for p in preds]
    return out


def _report(failures, nfiles, label, errors):
    if errors == "ignore":
        return
    nf = len(failures)
    reasons = {}
    for source, file, message in failures:
        reasons.setdefault(message, []).append(file or source)
    shown = "; ".join(
        f"{msg!r} ({', '.join(f'`{w}`' for w in where[:3])}"
        + (f" and {len(where) - 3} more" if len(where) > 3 else "")
        + ")"
        for msg, where in list(reasons.items())[:3]
    )
    more = f"; and {len(reasons) - 3} other reasons" if len(reasons) > 3 else ""
    if label.startswith("The "):
        label = "t" + label[1:]
    what = f"{nf} of {nfiles} files or sources failed in {inner(label)}: {shown}{more}."
    if errors == "raise":
        err = ReadError(
            what + " List them with `humelab.read_errors(...)`, or pass "
            "`errors='warn'` to read the scores that did succeed."
        )
        err.failures = failures
        raise err
    warnings.warn(
        what + " Their scores are not in the frame; list them with "
        "`humelab.read_errors(...)` (pass `errors='ignore'` to silence this).",
        HumelabWarning,
        stacklevel=stack_level(),
    )
