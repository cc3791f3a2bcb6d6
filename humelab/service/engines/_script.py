"""Scripts for the simulated engine: what a simulation should "perceive" over time.

A script is a CSV sidecar of the same stem as a media or text file
(``face_smile.jpg`` + ``face_smile.expressions.csv``) with the columns
``begin,end,name,level`` and an optional ``model``:

* ``begin``, ``end``: seconds (a blank cell means the start or the end of the file);
  a row covers the times ``begin <= t <= end``, so ``0,0`` covers an image;
* ``name``: a dimension spelled as in :data:`humelab.schema.VOCABULARY` (``Joy``,
  ``Smile``, ``AU12 Lip Corner Puller``, ``toxic``); sentiment is not scriptable;
* ``level``: the score to simulate, between 0 and 1;
* ``model`` (optional): only this model (``face``, ``prosody``, ...); blank means
  every model that has the dimension.

Lines starting with ``#`` are comments. Where rows overlap for one dimension, the
later row wins. Text files have no time axis: there ``begin`` and ``end`` count
characters (as a prediction's ``position``), and a row covers the units whose middle
lies within it. This module reads scripts and pairs them with the files they
describe; the simulated engine turns them into scores
(:func:`._scores.follow_script`).
"""

from __future__ import annotations

import csv
import difflib
import io
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ...schema import MODELS, VOCABULARY
from .base import EngineError, MediaInput

__all__ = [
    "SCRIPT_SUFFIX",
    "Script",
    "ScriptedInput",
    "attach_scripts",
    "is_script",
    "read_script",
]

#: File name ending of a script sidecar.
SCRIPT_SUFFIX = ".expressions.csv"
_REQUIRED = ("begin", "end", "name", "level")
_MAX_BYTES = 1 << 20
_MAX_ROWS = 10_000

#: Every scriptable dimension name (all families but sentiment).
SCRIPT_NAMES: frozenset[str] = frozenset(
    name
    for families in VOCABULARY.values()
    for family, names in families.items()
    if family != "sentiment"
    for name in names
)


@dataclass
class ScriptedInput(MediaInput):
    """A :class:`MediaInput` with a script sidecar.

    Parameters
    ----------
    script : Path, optional
        Where the script is on disk.
    script_name : str, optional
        The script's name as the request gave it (shown in results and errors).
    """

    script: Path | None = None
    script_name: str | None = None


@dataclass(frozen=True)
class _Row:
    begin: float | None
    end: float | None
    name: str
    level: float
    model: str | None


@dataclass(frozen=True)
class Script:
    """A parsed script: rows of (begin, end, name, level, model)."""

    name: str
    rows: tuple[_Row, ...]

    def levels(
        self, model: str, names, t: np.ndarray | None, *, size: int = 1
    ) -> np.ndarray:
        """Scripted levels of ``names`` at times ``t``; NaN where nothing is scripted.

        Parameters
        ----------
        model : str
            The model being scored (rows for another model are skipped).
        names : sequence of str
            The family's dimension names, in score order.
        t : numpy.ndarray or None
            Times in seconds, shape ``(T,)``; None for text without times (every
            row applies to every point; then ``size`` gives T).
        size : int, default 1
            The number of points when ``t`` is None.

        Returns
        -------
        numpy.ndarray
            float64, shape ``(T, len(names))``.
        """
        n_points = size if t is None else len(t)
        out = np.full((n_points, len(names)), np.nan)
        index = {n: i for i, n in enumerate(names)}
        for row in self.rows:
            j = index.get(row.name)
            if j is None or (row.model is not None and row.model != model):
                continue
            if t is None:
                out[:, j] = row.level
                continue
            tt = np.asarray(t, dtype=np.float64)
            cover = np.ones(len(tt), dtype=bool)
            if row.begin is not None:
                cover &= tt >= row.begin - 1e-6
            if row.end is not None:
                cover &= tt <= row.end + 1e-6
            out[cover, j] = row.level
        return out


def is_script(rel: str) -> bool:
    """Whether the file name ``rel`` is a script sidecar (``*.expressions.csv``)."""
    name = PurePosixPath(rel).name.lower()
    return name.endswith(SCRIPT_SUFFIX) and len(name) > len(SCRIPT_SUFFIX)


def _key(rel: str, *, script: bool) -> tuple[str, str]:
    """(folder, stem) of a file name; a script's stem drops ``.expressions.csv``."""
    p = PurePosixPath(rel)
    if script:
        return str(p.parent), p.name[: -len(SCRIPT_SUFFIX)]
    return str(p.parent), p.stem


def attach_scripts(
    groups: list[list[MediaInput]],
) -> tuple[list[list[MediaInput]], list[list[dict]]]:
    """Pair script sidecars with the files of the same folder and stem.

    A script pairs first with a file of its own source (an archive member beside
    it), else with a file of the same name in another source of the job (separate
    uploads). A paired script is not measured itself; a script that pairs with
    nothing becomes an error entry of its source (it is never measured as text).

    Parameters
    ----------
    groups : list of list of MediaInput
        The items of each source of a job, in order.

    Returns
    -------
    (list of list of MediaInput, list of list of dict)
        The items per source, scripts removed and paired files as
        :class:`ScriptedInput`; and per source the ``results.errors`` entries of
        unpaired scripts.
    """
    scripts = []  # (source index, key, item)
    for si, items in enumerate(groups):
        for it in items:
            if it.path is not None and it.text is None and is_script(it.file):
                scripts.append((si, _key(it.file, script=True), it))
    if not scripts:
        return groups, [[] for _ in groups]
    script_ids = {id(s[2]) for s in scripts}
    targets: dict[tuple[str, str], list[tuple[int, MediaInput]]] = {}
    for si, items in enumerate(groups):
        for it in items:
            if it.path is not None and id(it) not in script_ids:
                targets.setdefault(_key(it.file, script=False), []).append((si, it))
    chosen: dict[int, MediaInput] = {}  # id(media item) -> script item
    errors: list[list[dict]] = [[] for _ in groups]
    for si, key, sc in scripts:
        found = targets.get(key, [])
        same = [it for s, it in found if s == si and id(it) not in chosen]
        other = [it for s, it in found if s != si and id(it) not in chosen]
        pick = same or other
        if not pick:
            folder, stem = key
            where = f"{folder}/" if folder != "." else ""
            if found:  # every file of that stem already has a script
                message = (
                    f"script `{sc.file}` was not used: another script of the same "
                    f"stem already describes `{found[0][1].file}`; keep one."
                )
            else:
                message = (
                    f"script `{sc.file}` has no file of the same stem "
                    f"(`{where}{stem}.*`) in this job, so it was not used; upload "
                    "it together with the media it describes."
                )
            errors[si].append({"file": sc.file, "message": message})
            continue
        for it in pick:
            chosen[id(it)] = sc
    out = []
    for items in groups:
        kept = []
        for it in items:
            if id(it) in script_ids:
                continue
            sc = chosen.get(id(it))
            if sc is not None:
                it = ScriptedInput(
                    file=it.file,
                    path=it.path,
                    text=it.text,
                    transcript=it.transcript,
                    script=sc.path,
                    script_name=PurePosixPath(sc.file).name,
                )
            kept.append(it)
        out.append(kept)
    return out, errors


def _number(cell: str, what: str, where: str) -> float | None:
    cell = cell.strip()
    if not cell:
        if what == "level":
            raise EngineError(f"{where}: `level` is empty; give a number from 0 to 1.")
        return None
    try:
        x = float(cell)
    except ValueError:
        raise EngineError(
            f"{where}: `{what}` is {cell!r}, not a number; "
            + (
                "give a number from 0 to 1."
                if what == "level"
                else "give seconds, or leave it blank."
            )
        ) from None
    if not math.isfinite(x) or x < 0 or (what == "level" and x > 1):
        raise EngineError(
            f"{where}: `{what}` is {cell}; "
            + (
                "a level is from 0 to 1."
                if what == "level"
                else "seconds are 0 or more."
            )
        )
    return x


def read_script(path: Path, *, name: str) -> Script:
    """Read and check a script sidecar.

    Parameters
    ----------
    path : Path
        The file on disk.
    name : str
        Its name as the request gave it (used in messages).

    Returns
    -------
    Script

    Raises
    ------
    EngineError
        The file is unreadable, too large, or a row breaks the format (the message
        names the line, the value and the fix).
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise EngineError(
            f"could not read script {name}: {e.strerror or type(e).__name__}"
        ) from None
    if len(raw) > _MAX_BYTES:
        raise EngineError(
            f"script {name} is larger than 1 MB; a script holds a few rows of "
            "`begin,end,name,level`."
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EngineError(
            f"script {name} is not UTF-8 text; save it as UTF-8."
        ) from None
    lines = [
        (i, ln) for i, ln in enumerate(text.splitlines(), 1) if not ln.startswith("#")
    ]
    lines = [(i, ln) for i, ln in lines if ln.strip()]
    if not lines:
        raise EngineError(
            f"script {name} is empty; its first line must be the header "
            "`begin,end,name,level`."
        )
    numbers = [i for i, _ in lines]
    reader = csv.reader(io.StringIO("\n".join(ln for _, ln in lines)))
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in _REQUIRED if c not in header]
    extra = [c for c in header if c not in (*_REQUIRED, "model")]
    if missing or extra:
        what = []
        if missing:
            what.append(f"lacks {', '.join(f'`{c}`' for c in missing)}")
        if extra:
            what.append(f"has unknown {', '.join(f'`{c}`' for c in extra)}")
        raise EngineError(
            f"script {name}: the header {' and '.join(what)}; it must be "
            "`begin,end,name,level` (plus an optional `model`)."
        )
    col = {c: header.index(c) for c in header}
    rows = []
    for k, cells in enumerate(reader, 1):
        where = f"script {name}, line {numbers[k]}"
        if len(rows) >= _MAX_ROWS:
            raise EngineError(f"script {name} has more than {_MAX_ROWS} rows.")
        if len(cells) != len(header):
            raise EngineError(
                f"{where}: {len(cells)} cells where the header has {len(header)}; "
                "quote names that hold a comma."
            )
        begin = _number(cells[col["begin"]], "begin", where)
        end = _number(cells[col["end"]], "end", where)
        if begin is not None and end is not None and end < begin:
            raise EngineError(
                f"{where}: `end` ({end:g}) is before `begin` ({begin:g}); swap them."
            )
        dim = cells[col["name"]].strip()
        if dim not in SCRIPT_NAMES:
            near = difflib.get_close_matches(dim, sorted(SCRIPT_NAMES), n=1)
            hint = f" Did you mean `{near[0]}`?" if near else ""
            raise EngineError(
                f"{where}: `{dim}` is not a dimension of any model (names are "
                f"spelled as in humelab.schema.VOCABULARY; sentiment is not "
                f"scriptable).{hint}"
            )
        model = cells[col["model"]].strip() if "model" in col else ""
        if model and model not in MODELS:
            raise EngineError(
                f"{where}: `model` is {model!r}; use one of {', '.join(MODELS)}, or "
                "leave it blank for every model."
            )
        if model and not any(dim in names for names in VOCABULARY[model].values()):
            raise EngineError(f"{where}: the `{model}` model has no dimension `{dim}`.")
        level = _number(cells[col["level"]], "level", where)
        rows.append(_Row(begin, end, dim, level, model or None))
    return Script(name=name, rows=tuple(rows))
