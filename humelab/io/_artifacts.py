"""Reader of v0 artifacts zips (``GET /v0/batch/jobs/{id}/artifacts``).

Layout: ``{kind}-{index}-{source_name}/csv/{file}/{model}.csv`` (face crops under
``.../faces/...`` are skipped). Each CSV holds every prediction of one model for one
file, sorted chronologically across groups; the reader restores the JSON's grouping
(``segment`` = running index within the group in CSV order, which is the JSON's input
order) and its dimension order, so it returns the same frame as
:func:`read_predictions` on the job's predictions JSON.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import zlib
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd

from ..errors import ReadError
from ..schema import (
    CSV_META_COLUMNS,
    FAMILIES,
    MODELS,
    VOCABULARY,
    WIDE_META,
    csv_families,
)
from ._frame import FrameBuilder, wide_from_builder
from ._input import FileSource, inner, is_json, is_zip, load_bytes
from ._predictions import _parse, _source_name, dedupe, source_names

__all__ = ["read_artifacts"]

_DEDUPED = re.compile(r" \[\d+\]$")
_PREFIX = re.compile(r"^(url|file|text)-(\d+)-(.*)$", re.S)
_SHAPES = ("long", "wide")

#: CSV metadata column -> wide metadata column (humelab.schema.WIDE_META).
_CSV_META_WIDE = {c.csv: c.name for c in WIDE_META if c.csv}
_INT_META = {c.csv for c in WIDE_META if c.csv and c.dtype == "Int64"}
_STR_META = {c.csv for c in WIDE_META if c.csv and c.dtype == "category"}


def read_artifacts(
    src: FileSource,
    *,
    shape: str = "long",
    predictions=None,
    job_id: str | None = None,
) -> pd.DataFrame:
    """Read a Hume v0 artifacts zip into a tidy frame.

    Parameters
    ----------
    src : str, path-like, bytes or binary file object
        The artifacts zip: a path, its bytes, or an open binary file.
    shape : {"long", "wide"}, default "long"
        As in :func:`read_predictions`. In the wide frame ``file_type`` is missing
        (the zip does not record it).
    predictions : optional
        The same job's predictions, as anything :func:`read_predictions` accepts or
        the frame it returned. The zip names a URL source only by the last segment of
        its path (``url-0-talk.mp4``) and cannot record the JSON's group order; with
        ``predictions`` the ``source`` column holds the full URL, exactly as
        :func:`read_predictions` gives it, rows follow the JSON's order, and
        ``job_id`` is taken from a callback body.
    job_id : str, optional
        Value of the ``job_id`` column.

    Returns
    -------
    pandas.DataFrame
        Tidy long frame (see :data:`humelab.schema.COLUMNS`), or the wide frame.
        ``source`` is the upload's filename for file sources, ``"text"`` for text
        sources, and for URL sources the URL when ``predictions`` is given, else the
        URL's last path segment. With ``predictions`` the rows come in the order
        the predictions list them, so the frame equals :func:`read_predictions`'s
        (same rows, order and categories). Without it: sources by zip index, files
        as the zip lists them, models in :data:`humelab.schema.MODELS` order,
        groups in order of first appearance in the CSV; within a group,
        predictions in CSV order; scores in JSON order.

    Raises
    ------
    ReadError
        When ``src`` is not an artifacts zip (JSON: use :func:`read_predictions`),
        is truncated or corrupt, holds no model CSVs, or a CSV has unexpected
        columns.

    See Also
    --------
    read_predictions : the same frame from predictions JSON.
    """
    if shape not in _SHAPES:
        raise ReadError(f"`shape` must be 'long' or 'wide'; got {shape!r}.")
    data, label = load_bytes(src, reader="read_artifacts", what="an artifacts zip")
    if len(data) == 0:
        raise ReadError(
            f"{label} is empty; expected an artifacts zip. Re-download it "
            "(`GET /v0/batch/jobs/{id}/artifacts`)."
        )
    if is_json(data):
        raise ReadError(
            f"{label} is JSON, not an artifacts zip; read predictions JSON with "
            "`humelab.read_predictions`."
        )
    if not is_zip(data):
        raise ReadError(
            f"{label} is not a zip archive (starts with {bytes(data[:4])!r}); expected "
            "the artifacts zip of a job (`GET /v0/batch/jobs/{id}/artifacts`)."
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise ReadError(
            f"{label} is not a readable zip ({exc}); it is probably truncated. "
            "Re-download the artifacts (`GET /v0/batch/jobs/{id}/artifacts`)."
        ) from None
    entries = _entries(infos, label)
    mapping, body_job_id, rank = _source_mapping(predictions)
    jid = job_id if job_id is not None else body_job_id
    builder = FrameBuilder(meta=shape == "wide")
    templates: dict = {}
    resolved = {prefix: _source(prefix, mapping) for prefix, _ in entries}
    if mapping is None:  # the same name twice: later ones get their index
        prefixes = sorted(resolved, key=lambda p: resolved[p][0])
        names = dedupe(
            [resolved[p][1] for p in prefixes], [resolved[p][0] for p in prefixes]
        )
        for p, name in zip(prefixes, names, strict=True):
            resolved[p] = (resolved[p][0], name)
    if mapping is not None:
        _check_matches(entries, resolved, mapping, rank, label)
    last = len(rank)  # things the predictions do not list keep the zip's order

    def file_key(pf):
        index, source = resolved[pf[0]]
        return index, rank.get(("file", source, pf[1]), last)

    for prefix, file in sorted(entries, key=file_key):  # stable
        models = entries[(prefix, file)]
        source = resolved[prefix][1]

        def model_key(m, source=source, file=file):
            return rank.get(("model", source, file, m), last), _model_rank(m)

        for model in sorted(models, key=model_key):
            info = models[model]
            try:
                raw = zf.read(info)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise ReadError(
                    f"Entry {info.filename!r} of {inner(label)} cannot be read "
                    f"({exc}); the zip is probably truncated or corrupt. "
                    "Re-download it."
                ) from None
            _read_csv(
                builder,
                templates,
                raw,
                (jid, source, file, model),
                info.filename,
                rank,
            )
    df = wide_from_builder(builder) if shape == "wide" else builder.long()
    df.attrs.update(_provenance(zf, predictions))
    return df


def _provenance(zf: zipfile.ZipFile, predictions) -> dict:
    """``df.attrs`` from humelab's ``humelab.json`` member (else ``predictions``')."""
    try:
        mark = json.loads(zf.read("humelab.json").decode("utf-8"))
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, zlib.error):
        mark = None
    if isinstance(mark, dict) and "engine" in mark:
        return {
            "engine": str(mark["engine"]),
            "simulated": mark.get("simulated") is True,
            "scripts": dict(mark.get("scripts") or {}),
        }
    if isinstance(predictions, pd.DataFrame):
        keys = ("engine", "simulated", "scripts")
        return {k: predictions.attrs[k] for k in keys if k in predictions.attrs}
    return {}


def _check_matches(entries, resolved, mapping, rank, label) -> None:
    """With ``predictions=``: the zip and the predictions must be of the same job.

    Every zip source must be one the predictions list, and every (source, file,
    model) the predictions score must have its CSV, else scores would be dropped
    silently or given the wrong source.
    """
    known = {src for _, src, _ in mapping}
    strangers = sorted({p for p, _ in entries if resolved[p][1] not in known})
    if strangers:
        raise ReadError(
            f"{label} has {', '.join(repr(p) for p in strangers[:3])}, which the "
            "given `predictions` do not list: they are probably of another job. "
            "Pass the predictions of the job this zip came from, or none."
        )
    in_zip = {
        (resolved[prefix][1], file, model)
        for (prefix, file), models in entries.items()
        for model in models
    }
    lacking = [key[1:] for key in rank if key[0] == "model" and key[1:] not in in_zip]
    if lacking:
        shown = ", ".join(f"{m}.csv of {s} / {f}" for s, f, m in lacking[:3])
        raise ReadError(
            f"{label} lacks {len(lacking)} CSV(s) that the given `predictions` have "
            f"scores for ({shown}{', ...' if len(lacking) > 3 else ''}). The zip is "
            "incomplete or of another job; re-download it "
            "(`GET /v0/batch/jobs/{id}/artifacts`)."
        )


def _model_rank(model: str) -> int:
    return MODELS.index(model) if model in MODELS else len(MODELS)


def _entries(infos, label) -> dict:
    entries: dict[tuple[str, str], dict[str, zipfile.ZipInfo]] = {}
    for info in infos:
        parts = info.filename.split("/")
        if len(parts) >= 4 and parts[1] == "csv" and parts[-1].endswith(".csv"):
            prefix, file, model = parts[0], "/".join(parts[2:-1]), parts[-1][:-4]
            if model not in MODELS:
                raise ReadError(
                    f"{label} has {info.filename!r}, a CSV of unknown model {model!r}; "
                    f"expected one of {', '.join(MODELS)}."
                )
            entries.setdefault((prefix, file), {})[model] = info
    if not entries:
        names = ", ".join(repr(i.filename) for i in infos[:3]) or "no entries"
        raise ReadError(
            f"{label} holds no model CSVs ({names}); expected Hume artifacts laid out "
            "as `{kind}-{index}-{source}/csv/{file}/{model}.csv`."
        )
    return entries


# -- source names ----------------------------------------------------------------------


def _zip_names(kind: str | None, source: str) -> set[str]:
    """The names a source can have in a zip prefix ``{kind}-{index}-{name}``."""
    if kind == "url":
        parts = urlsplit(source)
        seg = parts.path.rstrip("/").rsplit("/", 1)[-1] or parts.netloc
        names = {seg, unquote(seg)}
    elif kind == "text":
        names = {"text"}
    else:
        names = {source}
    return names | {n.replace("/", "_").replace("\\", "_") for n in names}


def _source_mapping(predictions):
    """Sources of the job in order, a callback's job id, and the JSON's row order.

    Returns ``[(kind, source, zip names)]``, the job id (or None), and a dict ranking
    ``("file", source, file)``, ``("model", source, file, model)`` and
    ``("group", source, file, model, group)`` in the order the predictions list them.
    """
    if predictions is None:
        return None, None, {}
    rank: dict[tuple, int] = {}

    def add(source, file, model, group):
        for key in (
            ("file", source, file),
            ("model", source, file, model),
            ("group", source, file, model, group),
        ):
            rank.setdefault(key, len(rank))

    if isinstance(predictions, pd.DataFrame):
        missing = [
            c for c in ("source", "file", "model", "group") if c not in predictions
        ]
        if missing:
            raise ReadError(
                "`predictions` is a DataFrame without "
                + ", ".join(f"`{c}`" for c in missing)
                + "; pass the frame returned by `read_predictions`, or the JSON."
            )
        sources = [str(s) for s in pd.unique(predictions["source"].dropna())]
        raw_names = [_DEDUPED.sub("", s) for s in sources]
        kinds = [
            "url" if "://" in s else "text" if s == "text" else "file" for s in sources
        ]
        jids = predictions["job_id"].dropna() if "job_id" in predictions else []
        job_id = str(jids.iloc[0]) if len(jids) else None
        keys = predictions[["source", "file", "model", "group"]].drop_duplicates()
        for row in keys.astype(object).itertuples(index=False):
            add(*row)
    else:
        envs, job_id, _ = _parse(predictions, reader="read_artifacts(predictions=)")
        sources = source_names(envs)
        raw_names = [_source_name(e.source) for e in envs]
        kinds = [e.source.type if e.source is not None else None for e in envs]
        for env, source in zip(envs, sources, strict=True):
            for fp in (env.results.predictions if env.results else None) or ():
                file = fp.file if fp.file is not None else ""
                for model, res in (fp.models or {}).items():
                    for g in (res.grouped_predictions if res else None) or ():
                        if _nonempty(g.predictions):  # no scores: no rows
                            gid = g.id if g.id is not None else "unknown"
                            add(source, file, model, gid)
    return (
        [
            (k, s, _zip_names(k, raw))
            for k, s, raw in zip(kinds, sources, raw_names, strict=True)
        ],
        job_id,
        rank,
    )


def _nonempty(raw) -> bool:
    """Whether a raw JSON array has an element (without decoding it)."""
    head = memoryview(raw)[:64].tobytes().lstrip()
    return head[:1] == b"[" and head[1:].lstrip()[:1] not in (b"]", b"")


def _source(prefix: str, mapping) -> tuple[int, str]:
    """(index, source) of a zip prefix; unknown prefixes sort last, named as is."""
    m = _PREFIX.match(prefix)
    if not m:
        return 10**9, prefix
    kind, index, name = m.group(1), int(m.group(2)), m.group(3)
    if mapping is not None:
        # the global position in the predictions array (humelab's writer), ...
        if index < len(mapping):
            k, src, names = mapping[index]
            if k == kind and name in names:
                return index, src
        # ... the position among sources of the same kind, then the name alone
        same = [(src, names) for k, src, names in mapping if k == kind]
        if index < len(same) and name in same[index][1]:
            return index, same[index][0]
        hits = [src for src, names in same if name in names]
        if hits:
            return index, hits[0]
    if kind == "text":
        return index, "text"
    return index, name


# -- CSV -------------------------------------------------------------------------------


def _layout(model: str, header: list[str], where: str):
    """Check a header; return meta columns and (index, family, name) in JSON order."""
    meta = [c for c, _ in CSV_META_COLUMNS[model]]
    if header[: len(meta)] != meta:
        raise ReadError(
            f"{where} has unexpected metadata columns {header[: len(meta)]}; a "
            f"{model}.csv starts with {meta}. It was not written by Hume's v0 service."
        )
    scores = header[len(meta) :]
    if scores and all(_FAMILY_NAME.match(c) for c in scores):
        return meta, _named_layout(header, len(meta), where)
    known = {name: fam for fam, names in csv_families(model) for name in names}
    unexpected = [c for c in scores if c not in known]
    dupes = sorted({c for c in scores if scores.count(c) > 1})
    if unexpected or dupes:
        raise ReadError(
            f"{where} has unexpected columns "
            + ", ".join(repr(c) for c in (unexpected + dupes)[:5])
            + f" for model {model!r}; expected the columns of "
            f"`humelab.schema.csv_columns({model!r})`."
        )
    missing = [n for n in known if n not in scores]
    if missing:  # Hume writes every column, leaving cells empty for a family off
        raise ReadError(
            f"{where} lacks {len(missing)} of the {len(known)} score columns of "
            f"model {model!r} ("
            + ", ".join(repr(c) for c in missing[:5])
            + (", ..." if len(missing) > 5 else "")
            + "); its scores cannot all be read. It was not written by Hume's v0 "
            "service, or was edited: re-download the artifacts."
        )
    position = {n: i for i, n in enumerate(header)}
    order = []
    for fam in FAMILIES:
        for name in VOCABULARY[model].get(fam, ()):
            if name in position and known.get(name) == fam:
                order.append((position[name], fam, name))
    return meta, order


#: A score column named ``family:name``: the layout humelab's service writes when
#: the names are not v0's (the ``hume`` engine's v1 names, sparse).
_FAMILY_NAME = re.compile(rf"^({'|'.join(FAMILIES)}):(.+)$")


def _named_layout(header: list[str], start: int, where: str):
    """(index, family, name) of ``family:name`` score columns, in header order."""
    order = []
    for i, col in enumerate(header[start:], start):
        fam, name = _FAMILY_NAME.match(col).groups()
        order.append((i, fam, name))
    pairs = [(f, n) for _, f, n in order]
    dupes = sorted({f"{f}:{n}" for f, n in pairs if pairs.count((f, n)) > 1})
    if dupes:
        raise ReadError(f"{where} has duplicated columns {', '.join(dupes[:5])}.")
    return order


def _wide_meta(rows, mi, where) -> dict:
    """The wide metadata columns of some CSV rows (``mi``: column -> index)."""
    meta = {"file_type": [None] * len(rows)}
    for col, wcol in _CSV_META_WIDE.items():
        if col not in mi:
            continue
        vals = [r[mi[col]] for r in rows]
        if col in _STR_META:
            meta[wcol] = [v or None for v in vals]
            continue
        try:
            nums = [float(v) if v else None for v in vals]
        except ValueError as exc:
            raise ReadError(f"{where!r} has a non-numeric {col}: {exc}.") from None
        meta[wcol] = (
            [None if v is None else int(v) for v in nums] if col in _INT_META else nums
        )
    return meta


def _num(cell: str):
    return float(cell) if cell else np.nan


def _read_csv(builder, templates, raw: bytes, keys, where: str, rank) -> None:
    jid, source, file, model = keys
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(f"{where!r} is not UTF-8 text ({exc}).") from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise ReadError(f"{where!r} is empty; expected a header row and predictions.")
    header, body = rows[0], rows[1:]
    meta, order = _layout(model, header, repr(where))
    width = len(header)
    for k, row in enumerate(body):
        if len(row) != width:
            raise ReadError(
                f"{where!r} row {k + 2} has {len(row)} cells; the header has {width}."
            )
    if not body:
        return
    cols = [c for c, _, _ in order]
    try:  # pandas' C parser for the score block (the csv pass above validated rows)
        block = pd.read_csv(
            io.StringIO(text, newline=""),
            usecols=cols,
            dtype=np.float64,
            na_values=[""],
            keep_default_na=False,
        )
    except ValueError as exc:
        raise ReadError(f"{where!r} has a non-numeric score: {exc}.") from None
    matrix = block[[header[c] for c in cols]].to_numpy(dtype=np.float64)
    del block
    fam_coder, name_coder, text_coder = (
        builder.coders[c] for c in ("family", "name", "text")
    )
    fam_codes = np.array([fam_coder(f) for _, f, _ in order], dtype=np.int32)
    name_codes = np.array([name_coder(n) for _, _, n in order], dtype=np.int32)
    # families absent from a row (all cells empty) are null in JSON: no rows
    present = ~np.isnan(matrix)
    fam_idx = {}
    for j, (_, fam, _) in enumerate(order):
        fam_idx.setdefault(fam, []).append(j)
    mi = {c: header.index(c) for c in meta}
    groups: dict[str, list[int]] = {}
    for k, row in enumerate(body):
        groups.setdefault(row[mi["Id"]], []).append(k)
    # segment = running index within the group in time order (Hume's CSVs are
    # already chronological, so this keeps their order; it equals the JSON's)
    clock_col = next((c for c in ("Frame", "Time", "BeginTime") if c in mi), None)
    clock = None
    if clock_col is not None:
        try:
            clock = np.array([_num(r[mi[clock_col]]) for r in body], dtype=np.float64)
        except ValueError as exc:
            raise ReadError(
                f"{where!r} has a non-numeric {clock_col}: {exc}."
            ) from None
    last = len(rank)
    for group, idx in sorted(
        groups.items(),
        key=lambda kv: rank.get(("group", source, file, model, kv[0]), last),
    ):
        idx = np.array(idx)
        if clock is not None:  # time order within the group (CSV order on ties)
            idx = idx[np.argsort(clock[idx], kind="stable")]
        sub, mask = matrix[idx], present[idx]
        r, c = np.nonzero(mask)
        counts = mask.sum(axis=1).astype(np.int64)
        sel = [body[k] for k in idx]
        begin = end = None
        frame = None
        try:
            if "Time" in mi:
                t = np.array([_num(s[mi["Time"]]) for s in sel])
                begin, end = t, t.copy()
            if "BeginTime" in mi:
                begin = np.array([_num(s[mi["BeginTime"]]) for s in sel])
                end = np.array([_num(s[mi["EndTime"]]) for s in sel])
            if "Frame" in mi:
                fr = [s[mi["Frame"]] for s in sel]
                frame = (
                    np.array([int(v) if v else 0 for v in fr], dtype=np.int64),
                    np.array([not v for v in fr], dtype=bool),
                )
        except ValueError as exc:
            raise ReadError(
                f"{where!r} has a non-numeric time or frame: {exc}."
            ) from None
        text = None
        if "Text" in mi:
            text = np.array(
                [text_coder(s[mi["Text"]] or None) for s in sel], dtype=np.int64
            )
        wide_meta = _wide_meta(sel, mi, where) if builder.keep_meta else None
        builder.add(
            (jid, source, file, model, group),
            counts=counts,
            frame=frame,
            begin=begin,
            end=end,
            text_codes=text,
            family_codes=fam_codes[c],
            name_codes=name_codes[c],
            scores=sub[r, c],
            meta=wide_meta,
        )
