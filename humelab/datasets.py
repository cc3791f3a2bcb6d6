"""The example media in ``datasets/`` (made by the project, never downloaded).

The files sit in the ``datasets/`` folder beside the ``humelab`` package folder, so
they are found from a source checkout and from an editable install
(``pip install -e .``). ``datasets/index.csv`` lists them with their kind;
``datasets/make_datasets.py`` is the script that made them. The env var
``HUMELAB_DATASETS`` points elsewhere if needed.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .errors import InputError

__all__ = ["KINDS", "datasets_dir", "example_files"]

#: Kinds of example files, as listed in ``datasets/index.csv``.
KINDS: tuple[str, ...] = ("audio", "transcript", "video", "image", "text", "archive")


def datasets_dir() -> Path:
    """The folder holding the example media.

    Returns
    -------
    pathlib.Path
        ``$HUMELAB_DATASETS`` when set, else ``<humelab package>/../datasets``.

    Raises
    ------
    InputError
        The folder is missing (humelab was installed from a wheel rather than a
        source checkout).
    """
    env = os.environ.get("HUMELAB_DATASETS")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "datasets"
    if not (path / "index.csv").is_file():
        raise InputError(
            f"The example media were not found at `{path}` (no index.csv). They ship "
            "with a source checkout: clone the project and `pip install -e .`, or set "
            "HUMELAB_DATASETS to a copy of its `datasets/` folder."
        )
    return path


def example_files(kind: str | list[str] | None = None) -> list[Path]:
    """Paths of the example media (speech, video, images, text, a zip archive).

    Parameters
    ----------
    kind : str or list of str, optional
        Only these kinds: ``"audio"``, ``"transcript"`` (the text beside each
        speech file), ``"video"``, ``"image"``, ``"text"``, ``"archive"``. Default:
        every kind except ``"transcript"``.

    Returns
    -------
    list of pathlib.Path
        In the order of ``datasets/index.csv``.

    Raises
    ------
    InputError
        Unknown kind, or the folder is missing.

    Examples
    --------
    >>> import humelab
    >>> [p.name for p in humelab.example_files("image")]
    ['face_smile.jpg', 'face_frown.png', 'face_neutral.jpg']
    """
    folder = datasets_dir()
    if kind is None:
        kinds = set(KINDS) - {"transcript"}
    else:
        kinds = {kind} if isinstance(kind, str) else set(kind)
        unknown = sorted(kinds - set(KINDS))
        if unknown:
            raise InputError(
                f"Unknown kind {', '.join(map(repr, unknown))}; valid kinds: "
                f"{', '.join(KINDS)}."
            )
    with open(folder / "index.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [folder / row["file"] for row in rows if row["kind"] in kinds]
