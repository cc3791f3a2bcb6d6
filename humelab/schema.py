"""The tidy column contract, the name vocabularies per model, and CSV column orders.

One table (:data:`COLUMNS`) drives validation, documentation and tests. The
vocabularies are spelled exactly as Hume's v0 API spells them (see
``reference/batch-api-v0.md`` section 9). The artifacts CSV column orders are used both
by the service's artifacts writer and by :func:`humelab.read_artifacts`.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from .contract import MODELS
from .errors import SchemaError

__all__ = [
    "Column",
    "COLUMNS",
    "CORE_COLUMNS",
    "PREDICTION_COLUMNS",
    "MetaColumn",
    "WIDE_META",
    "MODEL_META",
    "MODELS",
    "FAMILIES",
    "EXPRESSIONS",
    "EXPRESSIONS_CSV",
    "LANGUAGE_EXPRESSIONS",
    "LANGUAGE_EXPRESSIONS_CSV",
    "FACS",
    "FACE_DESCRIPTIONS",
    "BURST_DESCRIPTIONS",
    "SENTIMENT",
    "TOXICITY",
    "VOCABULARY",
    "CSV_META_COLUMNS",
    "csv_columns",
    "csv_families",
    "validate",
]


class Column(NamedTuple):
    """One column of the tidy long frame."""

    name: str
    dtype: str
    nullable: bool
    description: str


#: The tidy long frame: one row per score, these columns in this order.
COLUMNS: tuple[Column, ...] = (
    Column("job_id", "category", True, "job id when known, else missing"),
    Column("source", "category", False, "URL, uploaded filename, or `text`"),
    Column(
        "file", "category", False, "file inside the source (archive path, text index)"
    ),
    Column("model", "category", False, "face, burst, prosody, language, ner, facemesh"),
    Column(
        "group", "category", False, "grouped_predictions id: face_0, spk_1, unknown"
    ),
    Column(
        "segment",
        "int32",
        False,
        "index of the prediction inside its group, input order",
    ),
    Column("frame", "Int32", True, "video frame (face), else missing"),
    Column(
        "begin", "float64", True, "seconds; face: equals `time`; missing without time"
    ),
    Column(
        "end", "float64", True, "seconds; face: equals `time`; missing without time"
    ),
    Column("text", "category", True, "transcript or text of the segment, else missing"),
    Column(
        "family", "category", False, "emotions, facs, descriptions, sentiment, toxicity"
    ),
    Column(
        "name", "category", False, "the dimension, spelled exactly as the API spells it"
    ),
    Column(
        "score", "float32|float64", False, "the value (v0 scores are float32 values)"
    ),
)

#: Names of the core columns, in order.
CORE_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS)

#: The per-prediction columns: the long frame's columns before ``family``; the wide
#: frame starts with them.
PREDICTION_COLUMNS: tuple[str, ...] = CORE_COLUMNS[: CORE_COLUMNS.index("family")]


class MetaColumn(NamedTuple):
    """One per-prediction metadata column of the wide frame."""

    name: str
    dtype: str
    csv: str | None
    models: tuple[str, ...]
    description: str


#: The wide frame's metadata columns (after :data:`PREDICTION_COLUMNS`, before one
#: float column per dimension), in order: dtype, the artifacts CSV header that holds
#: the value, the models that have it, and what it means. A wide frame holds the
#: columns of the models present in it, and always ``file_type``.
WIDE_META: tuple[MetaColumn, ...] = (
    MetaColumn(
        "prob", "float64", "Probability", ("face",), "face detection probability"
    ),
    MetaColumn("box_x", "float64", "FaceX0", ("face",), "face box left edge, pixels"),
    MetaColumn("box_y", "float64", "FaceY0", ("face",), "face box top edge, pixels"),
    MetaColumn("box_w", "float64", "FaceWidth", ("face",), "face box width, pixels"),
    MetaColumn("box_h", "float64", "FaceHeight", ("face",), "face box height, pixels"),
    MetaColumn(
        "confidence",
        "float64",
        "Confidence",
        ("prosody", "language", "ner"),
        "transcription confidence of the segment",
    ),
    MetaColumn(
        "speaker_confidence",
        "float64",
        "SpeakerConfidence",
        ("prosody", "language", "ner"),
        "speaker identification confidence",
    ),
    MetaColumn(
        "position_begin",
        "Int64",
        "BeginPosition",
        ("language", "ner"),
        "first character of the segment in the text",
    ),
    MetaColumn(
        "position_end",
        "Int64",
        "EndPosition",
        ("language", "ner"),
        "character after the segment in the text",
    ),
    MetaColumn("entity", "category", "Entity", ("ner",), "the named entity"),
    MetaColumn(
        "entity_confidence",
        "float64",
        "EntityConfidence",
        ("ner",),
        "confidence in the entity",
    ),
    MetaColumn("support", "float64", "Support", ("ner",), "support of the link"),
    MetaColumn("uri", "category", "Uri", ("ner",), "linked resource"),
    MetaColumn("link_word", "category", "LinkWord", ("ner",), "word linked"),
    MetaColumn(
        "file_type",
        "category",
        None,
        MODELS,
        "kind of file the prediction came from",
    ),
)

#: Metadata columns each model has in a wide frame (``file_type`` aside).
MODEL_META: dict[str, tuple[str, ...]] = {
    m: tuple(c.name for c in WIDE_META if m in c.models and c.name != "file_type")
    for m in MODELS
}


# -- vocabularies --------------------------------------------------------------

#: The 48 expressions of face, burst, prosody and facemesh, JSON (alphabetical) order.
EXPRESSIONS: tuple[str, ...] = (
    "Admiration", "Adoration", "Aesthetic Appreciation", "Amusement", "Anger",
    "Anxiety", "Awe", "Awkwardness", "Boredom", "Calmness", "Concentration",
    "Confusion", "Contemplation", "Contempt", "Contentment", "Craving", "Desire",
    "Determination", "Disappointment", "Disgust", "Distress", "Doubt", "Ecstasy",
    "Embarrassment", "Empathic Pain", "Entrancement", "Envy", "Excitement", "Fear",
    "Guilt", "Horror", "Interest", "Joy", "Love", "Nostalgia", "Pain", "Pride",
    "Realization", "Relief", "Romance", "Sadness", "Satisfaction", "Shame",
    "Surprise (negative)", "Surprise (positive)", "Sympathy", "Tiredness", "Triumph",
)  # fmt: skip


def _move_after(names, name, after):
    out = [n for n in names if n != name]
    out.insert(out.index(after) + 1, name)
    return tuple(out)


def _swap(names, a, b):
    out = list(names)
    i, j = out.index(a), out.index(b)
    out[i], out[j] = out[j], out[i]
    return tuple(out)


#: The 48 expressions in face.csv / prosody.csv column order (Contemplation before
#: Confusion; Desire after Satisfaction).
EXPRESSIONS_CSV: tuple[str, ...] = _move_after(
    _swap(EXPRESSIONS, "Confusion", "Contemplation"), "Desire", "Satisfaction"
)


#: The 53 language expressions (the 48 plus five), JSON (alphabetical) order.
LANGUAGE_EXPRESSIONS: tuple[str, ...] = tuple(
    sorted(
        EXPRESSIONS + ("Annoyance", "Disapproval", "Enthusiasm", "Gratitude", "Sarcasm")
    )
)

#: The 53 language expressions in language.csv / ner.csv column order (only Desire
#: moves, after Satisfaction).
LANGUAGE_EXPRESSIONS_CSV: tuple[str, ...] = _move_after(
    LANGUAGE_EXPRESSIONS, "Desire", "Satisfaction"
)

#: The 36 face FACS 2.0 names.
FACS: tuple[str, ...] = (
    "AU1 Inner Brow Raise", "AU2 Outer Brow Raise", "AU4 Brow Lowerer",
    "AU5 Upper Lid Raise", "AU6 Cheek Raise", "AU7 Lids Tight", "AU9 Nose Wrinkle",
    "AU10 Upper Lip Raiser", "AU11 Nasolabial Furrow Deepener",
    "AU12 Lip Corner Puller", "AU14 Dimpler", "AU15 Lip Corner Depressor",
    "AU16 Lower Lip Depress", "AU17 Chin Raiser", "AU18 Lip Pucker", "AU19 Tongue Show",
    "AU20 Lip Stretch", "AU22 Lip Funneler", "AU23 Lip Tightener", "AU24 Lip Presser",
    "AU25 Lips Part", "AU26 Jaw Drop", "AU27 Mouth Stretch", "AU28 Lips Suck",
    "AU32 Bite", "AU34 Puff", "AU37 Lip Wipe", "AU38 Nostril Dilate",
    "AU43 Eye Closure", "AU53 Head Up", "AU54 Head Down", "Hand over Mouth",
    "Hand over Eyes", "Hand over Forehead", "Hand over Face",
    "Hand touching Face / Head",
)  # fmt: skip

#: The 27 face descriptions.
FACE_DESCRIPTIONS: tuple[str, ...] = (
    "Beaming", "Biting lip", "Cheering", "Cringe", "Cry", "Eyes closed",
    "Face in hands", "Frown", "Gasp", "Glare", "Glaring", "Grimace", "Grin", "Jaw drop",
    "Laugh", "Licking lip", "Pout", "Scowl", "Smile", "Smirk", "Snarl", "Squint",
    "Sulking", "Tongue out", "Wide-eyed", "Wince", "Wrinkled nose",
)  # fmt: skip

#: The 67 vocal burst descriptions (capitalised as Hume's docs print them).
BURST_DESCRIPTIONS: tuple[str, ...] = (
    "Ah", "Aha", "Ahh", "Argh", "Aww", "Cackle", "Cheer", "Chuckle", "Cry", "Eek",
    "Eww", "Gasp", "Giggle", "Groan", "Growl", "Grr", "Grunt", "Ha", "Hah", "Haha",
    "Hehe", "Hiss", "Hmm", "Hoot", "Howl", "Huh", "Hurray", "Laugh", "Mhm", "Mmm",
    "Moan", "Oh", "Ohh", "Ooh", "Ooph", "Ouch", "Oww", "Pant", "Pff", "Phew", "Roar",
    "Scream", "Screech", "Shout", "Shriek", "Sigh", "Snicker", "Snort", "Sob", "Squeal",
    "Tsk", "Ugh", "Uh", "Uh-huh", "Umm", "Wail", "Wheep", "Whee", "Whew", "Whimper",
    "Woah", "Wow", "Yawn", "Yay", "Yelp", "Yippee", "Yuck",
)  # fmt: skip

#: Sentiment names, "1" (most negative) to "9".
SENTIMENT: tuple[str, ...] = tuple(str(i) for i in range(1, 10))

#: Toxicity names.
TOXICITY: tuple[str, ...] = (
    "toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate",
)  # fmt: skip

#: Score families per model, in JSON key order, with their names in JSON order.
VOCABULARY: dict[str, dict[str, tuple[str, ...]]] = {
    "face": {
        "emotions": EXPRESSIONS,
        "facs": FACS,
        "descriptions": FACE_DESCRIPTIONS,
    },
    "burst": {"emotions": EXPRESSIONS, "descriptions": BURST_DESCRIPTIONS},
    "prosody": {"emotions": EXPRESSIONS},
    "language": {
        "emotions": LANGUAGE_EXPRESSIONS,
        "sentiment": SENTIMENT,
        "toxicity": TOXICITY,
    },
    "ner": {"emotions": LANGUAGE_EXPRESSIONS},
    "facemesh": {"emotions": EXPRESSIONS},
}

#: All score families: v0's five, and ``voice_attributes`` (prosody measured by the
#: ``hume`` engine through Hume's v1 API, and :func:`humelab.read_v1`).
FAMILIES: tuple[str, ...] = (
    "emotions",
    "facs",
    "descriptions",
    "sentiment",
    "toxicity",
    "voice_attributes",
)

# -- artifacts CSV layout ------------------------------------------------------

#: Per-model metadata columns of the artifacts CSVs, in order, mapped to where the value
#: lives in a v0 prediction (a dotted path; ``group`` is the grouped_predictions id).
#: face, prosody and language are observed in real artifacts; burst, ner and facemesh
#: were never observed and follow the same pattern (humelab's documented choice).
CSV_META_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "face": (
        ("Id", "group"),
        ("Frame", "frame"),
        ("Time", "time"),
        ("Probability", "prob"),
        ("FaceX0", "box.x"),
        ("FaceY0", "box.y"),
        ("FaceWidth", "box.w"),
        ("FaceHeight", "box.h"),
    ),
    "burst": (
        ("Id", "group"),
        ("BeginTime", "time.begin"),
        ("EndTime", "time.end"),
    ),
    "prosody": (
        ("Id", "group"),
        ("Text", "text"),
        ("BeginTime", "time.begin"),
        ("EndTime", "time.end"),
        ("Confidence", "confidence"),
        ("SpeakerConfidence", "speaker_confidence"),
    ),
    "language": (
        ("Id", "group"),
        ("Text", "text"),
        ("BeginPosition", "position.begin"),
        ("EndPosition", "position.end"),
        ("BeginTime", "time.begin"),
        ("EndTime", "time.end"),
        ("Confidence", "confidence"),
        ("SpeakerConfidence", "speaker_confidence"),
    ),
    "ner": (
        ("Id", "group"),
        ("Entity", "entity"),
        ("BeginPosition", "position.begin"),
        ("EndPosition", "position.end"),
        ("BeginTime", "time.begin"),
        ("EndTime", "time.end"),
        ("EntityConfidence", "entity_confidence"),
        ("Support", "support"),
        ("Uri", "uri"),
        ("LinkWord", "link_word"),
        ("Confidence", "confidence"),
        ("SpeakerConfidence", "speaker_confidence"),
    ),
    "facemesh": (("Id", "group"),),
}

_CSV_SCORES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "face": (
        ("emotions", EXPRESSIONS_CSV),
        ("facs", FACS),
        ("descriptions", FACE_DESCRIPTIONS),
    ),
    "burst": (("emotions", EXPRESSIONS_CSV), ("descriptions", BURST_DESCRIPTIONS)),
    "prosody": (("emotions", EXPRESSIONS_CSV),),
    "language": (
        ("emotions", LANGUAGE_EXPRESSIONS_CSV),
        ("sentiment", SENTIMENT),
        ("toxicity", TOXICITY),
    ),
    "ner": (("emotions", LANGUAGE_EXPRESSIONS_CSV),),
    "facemesh": (("emotions", EXPRESSIONS_CSV),),
}


def csv_families(model: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Score families of ``{model}.csv`` in column order.

    Parameters
    ----------
    model : str
        One of :data:`MODELS`.

    Returns
    -------
    tuple of (family, names)
        Each score family with its dimension names in CSV column order.
    """
    _check_model(model)
    return _CSV_SCORES[model]


def csv_columns(model: str) -> tuple[str, ...]:
    """The full header of ``{model}.csv`` in an artifacts zip.

    Parameters
    ----------
    model : str
        One of :data:`MODELS`.

    Returns
    -------
    tuple of str
        Metadata columns, then every score column, in the order Hume wrote them.

    Examples
    --------
    >>> from humelab.schema import csv_columns
    >>> csv_columns("prosody")[:6]
    ('Id', 'Text', 'BeginTime', 'EndTime', 'Confidence', 'SpeakerConfidence')
    """
    _check_model(model)
    meta = tuple(c for c, _ in CSV_META_COLUMNS[model])
    scores = tuple(n for _, names in _CSV_SCORES[model] for n in names)
    return meta + scores


def _check_model(model):
    if model not in MODELS:
        raise SchemaError(
            f"Unknown model {model!r}; expected one of {', '.join(MODELS)}."
        )


# -- validation ----------------------------------------------------------------


def validate(
    data: pd.DataFrame, *, shape: str = "auto", caller: str = "validate"
) -> pd.DataFrame:
    """Check a frame against the tidy contract, long or wide.

    Parameters
    ----------
    data : pandas.DataFrame
        A long frame (one row per score, :data:`COLUMNS`), as returned by
        :func:`humelab.read_predictions`, or a wide frame (one row per prediction:
        :data:`PREDICTION_COLUMNS`, any of the :data:`WIDE_META` columns, then one
        float column per dimension), as ``shape="wide"`` and :func:`humelab.to_wide`
        return.
    shape : {"auto", "long", "wide"}
        Which contract to check; ``"auto"`` takes a frame without ``name`` and
        ``score`` columns as wide.
    caller : str
        The function named in messages (for library functions that validate their
        input; users leave it).

    Returns
    -------
    pandas.DataFrame
        ``data`` itself, unchanged, so calls can be chained.

    Raises
    ------
    SchemaError
        Listing every missing column and every dtype mismatch as expected vs actual,
        and nulls in non-nullable columns. A :class:`humelab.Job`, or a wide frame
        where a long one is needed, gets a message saying how to convert it.

    Examples
    --------
    >>> import humelab
    >>> df = humelab.load_example("face_smile")  # doctest: +SKIP
    >>> humelab.validate(df) is df  # doctest: +SKIP
    True
    """
    if not isinstance(data, pd.DataFrame):
        hint = ""
        if hasattr(data, "frame") and hasattr(data, "job_id"):
            hint = " It looks like a `Job`; use `job.frame()` to get its tidy frame."
        raise SchemaError(
            f"`{caller}` expects a pandas DataFrame, got {type(data).__name__}.{hint}"
        )
    if shape not in ("auto", "long", "wide"):
        raise SchemaError(f"`shape` must be 'auto', 'long' or 'wide'; got {shape!r}.")
    looks_wide = "name" not in data.columns and "score" not in data.columns
    wide = shape == "wide" or (shape == "auto" and looks_wide and len(data.columns))
    problems = _wide_problems(data) if wide else _long_problems(data)
    if problems:
        hint = ""
        if not wide and looks_wide:
            hint = (
                " This looks like a wide frame (one column per dimension); read with "
                "`shape='long'` or convert it with `humelab.to_long(df)` first."
            )
        form = "wide" if wide else "long"
        raise SchemaError(
            f"`{caller}`: the frame does not match the tidy {form} contract (see "
            f"`humelab.schema.{'WIDE_META' if wide else 'COLUMNS'}`): "
            + "; ".join(problems)
            + "."
            + hint
        )
    return data


def _column_problems(data: pd.DataFrame, columns) -> list[str]:
    problems = []
    missing = [c.name for c in columns if c.name not in data.columns]
    if missing:
        problems.append("missing columns: " + ", ".join(f"`{m}`" for m in missing))
    for col in columns:
        if col.name not in data.columns:
            continue
        actual = str(data[col.name].dtype)
        if actual not in col.dtype.split("|"):
            problems.append(f"`{col.name}` has dtype {actual}, expected {col.dtype}")
        elif not col.nullable and data[col.name].isna().any():
            n = int(data[col.name].isna().sum())
            problems.append(f"`{col.name}` has {n} missing values but may not be null")
    return problems


def _long_problems(data: pd.DataFrame) -> list[str]:
    return _column_problems(data, COLUMNS)


def _wide_problems(data: pd.DataFrame) -> list[str]:
    keys = [c for c in COLUMNS if c.name in PREDICTION_COLUMNS]
    problems = _column_problems(data, keys)
    # metadata is optional (``to_wide`` of a long frame has none), typed if present
    meta = [
        Column(c.name, c.dtype, True, c.description)
        for c in WIDE_META
        if c.name in data.columns
    ]
    problems += _column_problems(data, meta)
    known = set(PREDICTION_COLUMNS) | {c.name for c in WIDE_META}
    odd = [
        str(c)
        for c in data.columns
        if c not in known and str(data[c].dtype) not in ("float32", "float64")
    ]
    if odd:
        problems.append(
            "dimension columns must be float32 or float64, not: "
            + ", ".join(f"`{c}` ({data[c].dtype})" for c in odd[:5])
            + (" ..." if len(odd) > 5 else "")
        )
    return problems
