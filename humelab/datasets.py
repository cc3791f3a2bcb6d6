"""The example media and the ready-made example frames (made by the project).

The media sit in ``humelab/examples/`` (package data, so they ship in the wheel):
synthesized speech with transcripts, a video and drawings of faces, a text file, a
zip, and a *script* beside each (``<stem>.expressions.csv``) stating what the
simulated engine should perceive, so results from them tell a coherent story.
``examples/index.csv`` lists every file with its kind; ``datasets/make_datasets.py``
in the source tree made them all. ``HUMELAB_DATASETS`` points to a copy elsewhere.

``load_example(name)`` returns a tidy frame of results that the project computed
from these media with the ``simulated`` engine (shipped as predictions JSON in
``examples/results/``), so it needs no service. Those scores are **simulated**:
they follow the scripts, are labelled as simulated (``df.attrs["simulated"]``), and
describe nothing anyone felt.
"""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

import pandas as pd

from .errors import InputError
from .io import read_predictions

__all__ = [
    "EXAMPLES",
    "KINDS",
    "datasets_dir",
    "example_files",
    "list_examples",
    "load_example",
]

#: Kinds of example files, as listed in ``examples/index.csv``.
KINDS: tuple[str, ...] = (
    "audio",
    "transcript",
    "video",
    "image",
    "text",
    "archive",
    "script",
)

#: The ready-made example frames: name -> (description, inputs, models). Inputs are
#: names in ``examples/``; a tuple ``(zip name, members)`` is uploaded as one zip
#: (the service pairs transcripts with media inside an archive). Used by
#: ``datasets/make_datasets.py`` to compute them, and by :func:`list_examples`.
EXAMPLES: dict[str, tuple[str, tuple, dict]] = {
    "faces": (
        "three face drawings (smiling, frowning, neutral); face model with FACS "
        "and descriptions",
        (
            "face_smile.jpg",
            "face_smile.expressions.csv",
            "face_frown.png",
            "face_frown.expressions.csv",
            "face_neutral.jpg",
            "face_neutral.expressions.csv",
        ),
        {"face": {"facs": {}, "descriptions": {}}},
    ),
    "talking": (
        "a 5-second video of a face drawing that frowns, then smiles, while a "
        "voice greets the viewer; face at 3 fps, prosody and vocal burst",
        ("face_talking.mp4", "face_talking.expressions.csv"),
        {"face": {}, "prosody": {}, "burst": {}},
    ),
    "speech": (
        "two synthesized speakers, a greeting and a complaint, with transcripts; "
        "prosody, vocal burst, language (with sentiment and toxicity) and ner",
        (
            (
                "speech.zip",
                (
                    "speech_greeting.wav",
                    "speech_greeting.txt",
                    "speech_greeting.expressions.csv",
                    "speech_complaint.wav",
                    "speech_complaint.txt",
                    "speech_complaint.expressions.csv",
                ),
            ),
        ),
        {
            "prosody": {},
            "burst": {},
            "language": {"sentiment": {}, "toxicity": {}},
            "ner": {},
        },
    ),
    "text": (
        "three sentences (thanks, doubt, a plain fact); language by sentence with "
        "sentiment and toxicity",
        ("sentences.txt", "sentences.expressions.csv"),
        {"language": {"granularity": "sentence", "sentiment": {}, "toxicity": {}}},
    ),
    "demo": (
        "every example file with its script, as `humelab demo` sends them; face, "
        "vocal burst, prosody and language",
        ("*",),
        {"face": {}, "burst": {}, "prosody": {}, "language": {}},
    ),
}


def datasets_dir() -> Path:
    """The folder holding the example media.

    Returns
    -------
    pathlib.Path
        ``$HUMELAB_DATASETS`` when set, else ``humelab/examples`` inside the
        installed package.

    Raises
    ------
    InputError
        The folder or its ``index.csv`` is missing.
    """
    env = os.environ.get("HUMELAB_DATASETS")
    path = Path(env) if env else Path(__file__).resolve().parent / "examples"
    if not (path / "index.csv").is_file():
        raise InputError(
            f"The example media were not found at `{path}` (no index.csv). They ship "
            "inside the humelab package (`humelab/examples`): reinstall humelab, or "
            "set HUMELAB_DATASETS to a copy of that folder."
        )
    return path


def _index(folder: Path) -> list[dict]:
    with open(folder / "index.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def example_files(
    kind: str | list[str] | None = None, *, with_scripts: bool = False
) -> list[Path]:
    """Paths of the example media (speech, video, images, text, a zip archive).

    Parameters
    ----------
    kind : str or list of str, optional
        Only these kinds: ``"audio"``, ``"transcript"`` (the text beside each
        speech file), ``"video"``, ``"image"``, ``"text"``, ``"archive"``,
        ``"script"`` (the ``<stem>.expressions.csv`` beside each file). Default:
        every kind except ``"transcript"`` and ``"script"``.
    with_scripts : bool, default False
        Also return the script of each returned file, right after it. Submit them
        together and the ``simulated`` engine follows the scripts (see the README,
        "Scripted simulation").

    Returns
    -------
    list of pathlib.Path
        In the order of ``examples/index.csv``.

    Raises
    ------
    InputError
        Unknown kind, or the folder is missing.

    Examples
    --------
    >>> import humelab
    >>> [p.name for p in humelab.example_files("image")]
    ['face_smile.jpg', 'face_frown.png', 'face_neutral.jpg']
    >>> [p.name for p in humelab.example_files("text", with_scripts=True)]
    ['sentences.txt', 'sentences.expressions.csv']
    """
    folder = datasets_dir()
    if kind is None:
        kinds = set(KINDS) - {"transcript", "script"}
    else:
        kinds = {kind} if isinstance(kind, str) else set(kind)
        unknown = sorted(kinds - set(KINDS))
        if unknown:
            raise InputError(
                f"Unknown kind {', '.join(map(repr, unknown))}; valid kinds: "
                f"{', '.join(KINDS)}."
            )
    rows = _index(folder)
    names = {row["file"] for row in rows}
    out = []
    for row in rows:
        if row["kind"] not in kinds:
            continue
        out.append(folder / row["file"])
        script = f"{Path(row['file']).stem}.expressions.csv"
        if with_scripts and row["kind"] != "script" and script in names:
            if "script" not in kinds:
                out.append(folder / script)
    return out


def list_examples() -> list[str]:
    """Names of the ready-made example frames, for :func:`load_example`.

    Returns
    -------
    list of str
        ``faces`` (three face drawings), ``talking`` (a video of a face drawing
        that frowns, then smiles, with speech), ``speech`` (two speakers, a
        greeting and a complaint), ``text`` (three sentences) and ``demo`` (every
        example file, as ``humelab demo`` sends them).

    See Also
    --------
    load_example : the frame of one example.

    Examples
    --------
    >>> import humelab
    >>> humelab.list_examples()
    ['faces', 'talking', 'speech', 'text', 'demo']
    """
    return list(EXAMPLES)


def load_example(name: str, *, shape: str = "long") -> pd.DataFrame:
    """A ready-made tidy frame of **simulated** results on the example media.

    The project computed these with its ``simulated`` engine from the files in
    ``humelab/examples`` and their scripts; they ship with humelab as predictions
    JSON, so no service runs. The scores follow the scripts (for example Joy and
    Amusement high on ``face_smile.jpg``) plus small noise: good for learning the
    tools and checking an analysis against a known truth, not a measurement of
    anything. Scores describe perceived expression, never felt emotion.

    Parameters
    ----------
    name : str
        One of :func:`list_examples`.
    shape : {"long", "wide"}, default "long"
        As in :func:`humelab.read_predictions`.

    Returns
    -------
    pandas.DataFrame
        Tidy frame, see :mod:`humelab.schema` (``job_id`` is missing). ``attrs``
        holds ``simulated`` (True), ``engine`` (``"simulated"``), ``scripts``
        (file -> script) and ``example`` (the name).

    Raises
    ------
    InputError
        Unknown name (the message lists the names), or the results are missing.

    See Also
    --------
    list_examples : the names.
    example_files : the media themselves, to run through a service.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("faces")
    >>> df.attrs["simulated"]
    True
    >>> sorted(df["file"].unique())
    ['face_frown.png', 'face_neutral.jpg', 'face_smile.jpg']
    """
    if name not in EXAMPLES:
        raise InputError(
            f"Unknown example {name!r}; the examples are "
            f"{', '.join(repr(n) for n in EXAMPLES)} (see `humelab.list_examples()`)."
        )
    path = results_path(name)
    try:
        data = gzip.decompress(path.read_bytes())
    except OSError as exc:
        raise InputError(
            f"The results of example {name!r} are missing or unreadable at `{path}` "
            f"({exc.strerror or type(exc).__name__}); reinstall humelab, or "
            "regenerate them with `python datasets/make_datasets.py --only results`."
        ) from None
    df = read_predictions(data, shape=shape, errors="ignore")
    df.attrs["example"] = name
    return df


def results_path(name: str) -> Path:
    """Where the predictions JSON (gzipped) of example ``name`` is stored."""
    return datasets_dir() / "results" / f"{name}.predictions.json.gz"
