"""The artifacts writer: a v0 predictions array to the artifacts zip of CSVs.

Layout (``reference/batch-api-v0.md`` §6)::

    {kind}-{index}-{source_name}/csv/{prediction.file}/{model}.csv

* ``kind`` is ``file`` (upload), ``url`` or ``text``.
* ``index`` is the 0-based position of the source in the predictions array (one global
  counter over all kinds, humelab's choice: Hume's samples only ever show index 0).
* ``source_name`` is the upload's filename (``file`` when it has none), the URL's last
  path segment (its host when the path is empty), or ``text``.

Entries are stored (no compression), CSVs use CRLF line endings, null is an empty
cell, numbers are written as Python ``repr``, and fields are quoted only when needed.
Rows are sorted chronologically across groups, as in Hume's files: face by frame,
then by box area, largest first (this reproduces every two-face frame of the real
sample R3), then group id; the others by begin time, then position; stable.
Within a source, entries are written in reverse order of the prediction's models
(Hume wrote ``language, prosody, face``). Column orders come from
:mod:`humelab.schema`; burst, ner and facemesh follow the same pattern (``Id``,
metadata, then score columns).
Sources that failed as a whole (no ``results``) and files without predictions for
a model write nothing. ``..``, ``.`` and empty segments of ``prediction.file`` are
dropped so no entry can escape its folder when the zip is extracted.
When the sources carry humelab's ``"humelab"`` key, a last member ``humelab.json``
says which engine measured them, whether the scores are simulated, and which files
followed a script.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

from ..schema import CSV_META_COLUMNS, FAMILIES, csv_families

__all__ = ["MARKER_MEMBER", "write_artifacts", "artifact_prefix", "csv_rows"]

#: Zip member naming the engine (humelab's addition; v0 readers ignore it).
MARKER_MEMBER = "humelab.json"


def artifact_prefix(source: dict, index: int) -> str:
    """The top-level folder of one source: ``{kind}-{index}-{source_name}``.

    Parameters
    ----------
    source : dict
        The ``source`` object of one predictions element.
    index : int
        Its 0-based position in the predictions array.

    Returns
    -------
    str

    Examples
    --------
    >>> artifact_prefix({"type": "url", "url": "https://x.org/a/IMG_4648.mp4?s=1"}, 0)
    'url-0-IMG_4648.mp4'
    >>> artifact_prefix({"type": "text"}, 2)
    'text-2-text'
    """
    kind = source.get("type") or "file"
    if kind == "url":
        parts = urlsplit(source.get("url") or "")
        name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or parts.netloc
    elif kind == "text":
        name = "text"
    else:
        name = source.get("filename") or "file"
    name = name.replace("/", "_").replace("\\", "_") or kind
    return f"{kind}-{index}-{name}"


def _safe_member(file: str) -> str:
    """``prediction.file`` as a zip path that cannot escape its folder."""
    parts = [p for p in file.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "file"


def _get(pred: dict, dotted: str, group: str):
    if dotted == "group":
        return group
    value = pred
    for key in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _sort_key(model):
    if model == "face":

        def face_key(r):
            box = r[1].get("box") or {}
            area = (box.get("w") or 0.0) * (box.get("h") or 0.0)
            return (r[1].get("frame") or 0, -area, r[0] or "")

        return face_key
    if model == "facemesh":
        return lambda r: 0

    def key(r):
        p = r[1]
        t = p.get("time") or {}
        pos = p.get("position") or {}
        begin = t.get("begin")
        pbegin = pos.get("begin")
        return (
            begin is None,
            begin if begin is not None else 0.0,
            pbegin if pbegin is not None else 0,
        )

    return key


def csv_rows(model: str, model_predictions: dict):
    """Yield the rows of ``{model}.csv`` (header first) for one file's model entry.

    Parameters
    ----------
    model : str
        Model name.
    model_predictions : dict
        ``{"metadata": ..., "grouped_predictions": [...]}``.

    Yields
    ------
    list
        The header, then one row per prediction, sorted chronologically across
        groups. Cells are None (empty), str, int or float.
    """
    meta = CSV_META_COLUMNS[model]
    rows = [
        (g.get("id"), p)
        for g in model_predictions.get("grouped_predictions") or []
        for p in g.get("predictions") or []
    ]
    rows.sort(key=_sort_key(model))
    families = csv_families(model)
    named = _names_beyond_v0(model, families, rows)
    if named is None:  # v0's layout: every column of the model, Hume's order
        columns = [(f, n) for f, names in families for n in names]
        header = [c for c, _ in meta] + [n for _, n in columns]
    else:  # other names (the hume engine's v1 names): `family:name` columns
        columns = named
        header = [c for c, _ in meta] + [f"{f}:{n}" for f, n in columns]
    yield header
    for group, pred in rows:
        row = [_get(pred, path, group) for _, path in meta]
        scores = {
            (f, e["name"]): e["score"] for f in FAMILIES for e in pred.get(f) or []
        }
        row.extend(scores.get(c) for c in columns)
        yield row


def _names_beyond_v0(model: str, families, rows) -> list[tuple[str, str]] | None:
    """The (family, name) pairs of the rows in first-seen order when any is not a v0
    name of the model (v1 names, sparse); None when v0's layout holds them all."""
    known = {(f, n) for f, names in families for n in names}
    seen: dict[tuple[str, str], None] = {}
    for _, pred in rows:
        for family in FAMILIES:
            for entry in pred.get(family) or []:
                seen.setdefault((family, entry["name"]), None)
    if all(pair in known for pair in seen):
        return None
    return sorted(seen, key=lambda pair: FAMILIES.index(pair[0]))  # stable


class _Text(io.TextIOBase):
    """A text sink that encodes into a binary zip entry in chunks."""

    def __init__(self, raw):
        self.raw = raw
        self.buf: list[str] = []
        self.size = 0

    def write(self, s):
        self.buf.append(s)
        self.size += len(s)
        if self.size > 1 << 16:
            self.flush()
        return len(s)

    def flush(self):
        if self.buf:
            self.raw.write("".join(self.buf).encode("utf-8"))
            self.buf, self.size = [], 0


def write_artifacts(predictions: list, dest: str | Path | IO[bytes]) -> None:
    """Write the artifacts zip of a job from its predictions array.

    Parameters
    ----------
    predictions : list
        The v0 predictions array (one element per source; see
        ``reference/batch-api-v0.md`` §5).
    dest : str, Path or binary file object
        Where to write the zip. A file object is written to and left open.

    Notes
    -----
    Rows are streamed into each zip entry, so a one-hour file never becomes one big
    string. See the module docstring for the layout and CSV format.

    Examples
    --------
    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> write_artifacts([], buf)
    >>> zipfile.ZipFile(buf).namelist()
    []
    """
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as zf:
        for index, element in enumerate(predictions or []):
            results = element.get("results")
            if not results:
                continue
            prefix = artifact_prefix(element.get("source") or {}, index)
            for pred in results.get("predictions") or []:
                file = _safe_member(str(pred.get("file")))
                models = pred.get("models") or {}
                for model in reversed(list(models)):
                    entry = models[model]
                    if model not in CSV_META_COLUMNS or not entry:
                        continue
                    if not any(
                        g.get("predictions") for g in entry["grouped_predictions"]
                    ):
                        continue
                    name = f"{prefix}/csv/{file}/{model}.csv"
                    with zf.open(name, "w", force_zip64=True) as raw:
                        text = _Text(raw)
                        writer = csv.writer(text, lineterminator="\r\n")
                        for row in csv_rows(model, entry):
                            writer.writerow(row)
                        text.flush()
        marker = _marker(predictions or [])
        if marker:
            zf.writestr(MARKER_MEMBER, json.dumps(marker, ensure_ascii=False))


def _marker(predictions: list) -> dict | None:
    """``{"engine", "simulated", "scripts"}`` from the sources' ``humelab`` keys."""
    marks = [e["humelab"] for e in predictions if isinstance(e.get("humelab"), dict)]
    if not marks:
        return None
    scripts = {
        p["file"]: p["humelab"]["script"]
        for e in predictions
        for p in (e.get("results") or {}).get("predictions") or []
        if isinstance(p.get("humelab"), dict) and "script" in p["humelab"]
    }
    return {
        "engine": marks[0].get("engine"),
        "simulated": any(m.get("simulated") for m in marks),
        "scripts": scripts,
    }
