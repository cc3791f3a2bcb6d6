"""The notes every humelab figure carries, and small shared plotting helpers.

Each figure gets a small note that scores describe perceived expression, not felt
emotion, and a prominent "SIMULATED" stamp when its frame came from the simulated
engine. A frame carries that fact in ``df.attrs``: the readers set
``attrs["simulated"]`` (True or False; absent when unknown) and ``attrs["engine"]``
from the predictions; the analysis functions keep ``attrs``. A plotting function's
``simulated=`` keyword overrides it (``None``: from ``attrs``).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps

__all__ = [
    "NOTE",
    "STAMP",
    "is_simulated",
    "add_notes",
    "reserve_margins",
    "colors_for",
    "nice_step",
]

#: The note on every figure.
NOTE = "Scores describe perceived expression, not felt emotion."
#: The stamp on figures of simulated scores.
STAMP = "SIMULATED: synthetic scores, not measurements"

_NOTE_GID = "humelab-note"
_STAMP_GID = "humelab-simulated"


def is_simulated(data, simulated: bool | None) -> bool:
    """The ``simulated`` keyword, else ``data.attrs`` (``simulated`` or ``engine``)."""
    if simulated is not None:
        return bool(simulated)
    attrs = getattr(data, "attrs", {}) or {}
    if attrs.get("simulated") is not None:
        return bool(attrs["simulated"])
    return attrs.get("engine") == "simulated"


def add_notes(fig, simulated: bool) -> None:
    """Put the note (and the stamp when ``simulated``) on ``fig``, once each.

    The note sits small in the bottom-left corner, the stamp white on red in the
    top-left corner; figures humelab creates keep margins free for them
    (:func:`reserve_margins`).
    """
    gids = {t.get_gid() for t in fig.texts}
    if _NOTE_GID not in gids:
        fig.text(
            0.005, 0.005, NOTE, fontsize=7, color="0.35", ha="left", va="bottom",
            gid=_NOTE_GID,
        )  # fmt: skip
    if simulated and _STAMP_GID not in gids:
        fig.text(
            0.005, 0.995, STAMP, fontsize=11, fontweight="bold", color="white",
            ha="left", va="top", gid=_STAMP_GID,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "tab:red",
                  "edgecolor": "none"},
        )  # fmt: skip


def reserve_margins(fig) -> None:
    """Keep strips at the bottom (note) and top (stamp) of a constrained layout."""
    h = fig.get_figheight()
    bottom, top = 0.2 / h, 0.34 / h  # inches, as fractions of the height
    fig.get_layout_engine().set(rect=(0.0, bottom, 1.0, 1.0 - bottom - top))


def colors_for(names) -> dict:
    """A stable colour per name (tab10, then tab20 for more than 10)."""
    names = list(names)
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def nice_step(span: float, bins: int = 200) -> float:
    """A 1-2-5 step (seconds) giving at most about ``bins`` bins over ``span``."""
    if not np.isfinite(span) or span <= 0:
        return 1.0
    raw = span / bins
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return float(m * mag)
    return float(10 * mag)
