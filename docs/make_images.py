"""Write the README's pictures of humelab's plots into ``docs/img/``.

Run: ``python docs/make_images.py``. The data is the project's own example video
(``humelab.load_example("talking")``: a drawn face, scored by the simulated engine
from its script), so the picture is stamped SIMULATED like every figure of simulated
scores.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import humelab  # noqa: E402

IMG = Path(__file__).resolve().parent / "img"


def timeline(path: Path) -> Path:
    """Face expressions of the talking example over time: the top 4, raw frames."""
    df = humelab.load_example("talking")
    face = df[df["model"] == "face"]
    ax = humelab.plot_timeline(face, k=4)
    ax.figure.set_size_inches(7.0, 2.8)
    ax.figure.savefig(path, dpi=80, bbox_inches="tight")
    return path


def main() -> int:
    IMG.mkdir(parents=True, exist_ok=True)
    out = timeline(IMG / "timeline.png")
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
