"""The v0 predictions JSON shapes as typed :mod:`msgspec` structs.

Fields missing from an input default to None; unknown keys are ignored. Each group's
``predictions`` stays raw (:class:`msgspec.Raw`, a view on the input) until the
reader decodes it, and scores whose names are in the v0 vocabulary decode to the
vocabulary's own (interned) strings.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ..schema import FAMILIES, VOCABULARY

__all__: list[str] = []


#: Default of raw fields: empty (falsy) when the key is absent; b"null" when null.
_ABSENT = msgspec.Raw()


def present(raw) -> bool:
    """Whether a raw field was given and is not null."""
    return len(raw) > 0 and memoryview(raw)[:4].tobytes() != b"null"


_KNOWN_NAMES = tuple(
    sorted(
        {n for fams in VOCABULARY.values() for names in fams.values() for n in names}
    )
)


class _Score(msgspec.Struct, gc=False):
    name: str
    score: float


class Span(msgspec.Struct, gc=False):
    begin: float | None = None
    end: float | None = None


class _Position(msgspec.Struct, gc=False):
    begin: int | None = None
    end: int | None = None


class _Box(msgspec.Struct, gc=False):
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None


class _KnownScore(msgspec.Struct, gc=False):
    """A score whose name is in the v0 vocabulary: decoded without a new string."""

    name: Literal[_KNOWN_NAMES]  # type: ignore[valid-type]
    score: float


def _pred_type(score):
    """One prediction of any model (fields a model lacks stay None)."""
    scores = list[score] | None
    fields = [
        ("frame", int | None, None),
        ("time", float | Span | None, None),
        ("prob", float | None, None),
        ("box", _Box | None, None),
        ("text", str | None, None),
        ("position", _Position | None, None),
        ("confidence", float | None, None),
        ("speaker_confidence", float | None, None),
        ("entity", str | None, None),
        ("entity_confidence", float | None, None),
        ("support", float | None, None),
        ("uri", str | None, None),
        ("link_word", str | None, None),
    ] + [(fam, scores, None) for fam in FAMILIES]
    return msgspec.defstruct("_Pred", fields, gc=False)


_Pred = _pred_type(_Score)


class _Group(msgspec.Struct, gc=False):
    id: str | None = None
    predictions: msgspec.Raw = _ABSENT


class _ModelResult(msgspec.Struct, gc=False):
    metadata: msgspec.Raw = _ABSENT
    grouped_predictions: list[_Group] | None = None


class _FilePrediction(msgspec.Struct, gc=False):
    file: str | None = None
    file_type: str | None = None
    models: dict[str, _ModelResult | None] | None = None
    humelab: Any = None  # humelab's service: {"script": name} when one was followed


class _FileError(msgspec.Struct, gc=False):
    file: str | None = None
    message: str | None = None


class _Results(msgspec.Struct, gc=False):
    predictions: list[_FilePrediction] | None = None
    errors: list[_FileError] | None = None


class Source(msgspec.Struct, gc=False):
    type: str | None = None
    url: str | None = None
    filename: str | None = None


class Envelope(msgspec.Struct, gc=False):
    """Any top-level object: a source result, a callback body, or a job body."""

    source: Source | None = None
    results: _Results | None = None
    error: str | None = None
    humelab: Any = None  # humelab's service: {"engine": ..., "simulated": ...}
    # callback body
    job_id: str | None = None
    status: str | None = None
    predictions: msgspec.Raw = _ABSENT
    message: str | None = None
    # job details / pre-May-2023 job result bodies (recognised to explain them)
    request: msgspec.Raw = _ABSENT
    state: msgspec.Raw = _ABSENT
    completed: msgspec.Raw = _ABSENT
    failed: msgspec.Raw = _ABSENT
    creation_timestamp: msgspec.Raw = _ABSENT


ENVELOPES = msgspec.json.Decoder(list[Envelope])
ENVELOPE = msgspec.json.Decoder(Envelope)
#: Fast decoder (known names, interned) and the general one it falls back to.
PREDS_KNOWN = msgspec.json.Decoder(list[_pred_type(_KnownScore)])
PREDS = msgspec.json.Decoder(list[_Pred])
