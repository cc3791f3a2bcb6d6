"""The engine interface of the Batch service, and validation of model configurations.

An engine measures one input file (:class:`MediaInput`) and returns one v0
prediction entry without its ``"file"`` key (see ``reference/batch-api-v0.md`` §5).
:func:`validate_models`, :func:`fill_model_defaults` and :func:`validate_transcription`
are pure functions shared by the service (request validation and the echoed
``request.models``) and the client (preflight checks).
"""

from __future__ import annotations

import abc
import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InputError
from ...schema import MODELS

__all__ = [
    "MediaInput",
    "EngineError",
    "Engine",
    "GRANULARITIES",
    "TRANSCRIPTION_LANGUAGES",
    "MODEL_DEFAULTS",
    "TRANSCRIPTION_DEFAULTS",
    "validate_models",
    "fill_model_defaults",
    "validate_transcription",
    "fill_transcription_defaults",
]

#: Allowed values of ``models.prosody.granularity`` and ``models.language.granularity``.
GRANULARITIES: tuple[str, ...] = (
    "word",
    "sentence",
    "utterance",
    "conversational_turn",
)

#: Allowed values of ``transcription.language`` (BCP-47 tags, §3.1).
TRANSCRIPTION_LANGUAGES: tuple[str, ...] = (
    "zh", "da", "nl", "en", "en-AU", "en-IN", "en-NZ", "en-GB", "fr", "fr-CA", "de",
    "hi", "hi-Latn", "id", "it", "ja", "ko", "no", "pl", "pt", "pt-BR", "pt-PT", "ru",
    "es", "es-419", "sv", "ta", "tr", "uk",
)  # fmt: skip

#: Default configuration of every model, in the key order the service echoes.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "face": {
        "fps_pred": 3.0,
        "prob_threshold": 0.99,
        "identify_faces": False,
        "min_face_size": 60,
        "facs": None,
        "descriptions": None,
        "save_faces": False,
    },
    "burst": {},
    "prosody": {"granularity": "utterance", "identify_speakers": False, "window": None},
    "language": {
        "granularity": "word",
        "sentiment": None,
        "toxicity": None,
        "identify_speakers": False,
    },
    "ner": {"identify_speakers": False},
    "facemesh": {},
}

#: Defaults of the ``window`` object of ``models.prosody``.
WINDOW_DEFAULTS: dict[str, float] = {"length": 4.0, "step": 1.0}

#: Default transcription settings (``language`` None means auto-detect).
TRANSCRIPTION_DEFAULTS: dict[str, Any] = {
    "language": None,
    "identify_speakers": False,
    "confidence_threshold": 0.5,
}


@dataclass
class MediaInput:
    """One file to measure.

    Parameters
    ----------
    file : str
        The name reported as ``prediction.file`` (file name, archive member path, or
        the text index as a string).
    path : Path, optional
        Where the bytes are on disk (None for text items).
    text : str, optional
        The text of a text-source item (``request.text``).
    transcript : Path, optional
        A sibling ``.txt``, ``.srt`` or ``.vtt`` of the same stem, used as the
        transcript of ``path``.
    """

    file: str
    path: Path | None = None
    text: str | None = None
    transcript: Path | None = None


class EngineError(Exception):
    """One file could not be measured; the message becomes a ``results.errors`` entry.

    Not a :class:`humelab.HumelabError`: it never reaches a user as an exception, only
    as ``{"file": ..., "message": str(error)}`` in the job's predictions.
    """


class Engine(abc.ABC):
    """A measurement engine: turns one :class:`MediaInput` into a v0 prediction entry.

    Attributes
    ----------
    name : str
        Registry name (``"simulated"``, ``"hume"``).
    simulated : bool
        True when scores are synthetic; the service labels such jobs as simulated.
    """

    name: str = "base"
    simulated: bool = False

    @abc.abstractmethod
    def measure(
        self, item: MediaInput, *, models: dict, transcription: dict | None
    ) -> dict:
        """Measure one file.

        Parameters
        ----------
        item : MediaInput
            The file or text item.
        models : dict
            The echo form from :func:`fill_model_defaults`: all six model keys, each a
            configuration with defaults filled, or None when not requested.
        transcription : dict or None
            Transcription settings (see :func:`fill_transcription_defaults`; ``{}``
            means the defaults). None means transcription is disabled (the
            request's explicit ``"transcription": null``): no transcript is used.

        Returns
        -------
        dict
            ``{"file_type": ..., "models": {model: {"metadata": ...,
            "grouped_predictions": [...]}}}``; models that do not apply to the file
            are absent.

        Raises
        ------
        EngineError
            The file failed (undecodable media, transcript below the confidence
            threshold, ...); the job continues with the other files.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} simulated={self.simulated}>"


# -- validation -----------------------------------------------------------------------

_OPTIONS: dict[str, tuple[str, ...]] = {m: tuple(d) for m, d in MODEL_DEFAULTS.items()}


def _fail(field: str, problem: str, fix: str) -> InputError:
    return InputError(f"`{field}` {problem}. {fix}")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_bool(field, v):
    if not isinstance(v, bool):
        raise _fail(field, f"must be true or false, got {v!r}", "Pass a boolean.")


def _check_number(field, v, *, lo=None, hi=None, integral=False):
    if not _is_number(v):
        raise _fail(field, f"must be a number, got {v!r}", "Pass a number.")
    if integral and float(v) != int(v):
        raise _fail(field, f"must be a whole number, got {v!r}", "Pass an integer.")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = (
            f"between {lo} and {hi}"
            if lo is not None and hi is not None
            else f">= {lo}"
            if lo is not None
            else f"<= {hi}"
        )
        raise _fail(field, f"must be {rng}, got {v!r}", f"Pass a value {rng}.")


def _check_enable(field, v):
    # facs, descriptions, sentiment, toxicity: {} enables, null disables.
    if v is not None and (not isinstance(v, dict) or v):
        raise _fail(
            field,
            f"must be {{}} (enable) or null (disable), got {v!r}",
            "It has no options; pass {} to enable it.",
        )


def _check_granularity(field, v):
    if v not in GRANULARITIES:
        raise _fail(
            field,
            f"must be one of {', '.join(GRANULARITIES)}, got {v!r}",
            "Pick one of those granularities.",
        )


def _check_window(field, v):
    if v is None:
        return
    if not isinstance(v, dict):
        raise _fail(
            field, f"must be an object or null, got {v!r}", "Pass {length, step}."
        )
    for key in v:
        if key not in WINDOW_DEFAULTS:
            raise _fail(
                f"{field}.{key}",
                "is not a window option",
                "Window options are `length` and `step` (seconds).",
            )
    for key, val in v.items():
        _check_number(f"{field}.{key}", val, lo=0.5)


def _did_you_mean(word, choices) -> str:
    # "Did you mean `language`? " for a near miss (a typo), else nothing.
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f"Did you mean `{close[0]}`? " if close else ""


def validate_models(models) -> None:
    """Check a request's ``models`` object.

    Parameters
    ----------
    models : dict or None
        ``models`` as sent in a job request: each key a model name, each value a
        configuration object (``{}`` for defaults) or null. None means "all models".

    Raises
    ------
    humelab.InputError
        Naming the offending field (``models.face.prob_threshold``) and value, for
        unknown models or options, wrong types and out-of-range values.

    Examples
    --------
    >>> validate_models({"face": {"prob_threshold": 0.5}, "prosody": {}})
    >>> validate_models({"voice": {}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    humelab.errors.InputError: `models.voice` is not a model...
    """
    if models is None:
        return
    if not isinstance(models, dict):
        raise _fail(
            "models",
            f"must be an object keyed by model name, got {type(models).__name__}",
            f"Pass e.g. {{'face': {{}}}}; models are {', '.join(MODELS)}.",
        )
    for name, config in models.items():
        if name not in MODELS:
            raise _fail(
                f"models.{name}",
                "is not a model",
                f"{_did_you_mean(name, MODELS)}Known models are {', '.join(MODELS)}.",
            )
        if config is None:
            continue
        if not isinstance(config, dict):
            raise _fail(
                f"models.{name}",
                f"must be an object ({{}} for defaults) or null, got {config!r}",
                "Pass {} to run the model with its defaults.",
            )
        for key in config:
            if key not in _OPTIONS[name]:
                known = ", ".join(_OPTIONS[name]) or "none (pass {})"
                raise _fail(
                    f"models.{name}.{key}",
                    "is not an option of this model",
                    f"{_did_you_mean(key, _OPTIONS[name])}"
                    f"Options of `{name}` are: {known}.",
                )
        _validate_config(name, config)


def _validate_config(name, config):
    f = f"models.{name}"
    if name == "face":
        checks = {
            "fps_pred": lambda k, v: _check_number(k, v, lo=0),
            "prob_threshold": lambda k, v: _check_number(k, v, lo=0, hi=1),
            "identify_faces": _check_bool,
            "min_face_size": lambda k, v: _check_number(k, v, lo=0, integral=True),
            "facs": _check_enable,
            "descriptions": _check_enable,
            "save_faces": _check_bool,
        }
    elif name == "prosody":
        checks = {
            "granularity": _check_granularity,
            "identify_speakers": _check_bool,
            "window": _check_window,
        }
    elif name == "language":
        checks = {
            "granularity": _check_granularity,
            "sentiment": _check_enable,
            "toxicity": _check_enable,
            "identify_speakers": _check_bool,
        }
    elif name == "ner":
        checks = {"identify_speakers": _check_bool}
    else:
        checks = {}
    for key, value in config.items():
        checks[key](f"{f}.{key}", value)


def fill_model_defaults(models: dict | None) -> dict:
    """The echo form of a request's ``models``: all six keys, defaults filled.

    Parameters
    ----------
    models : dict or None
        ``models`` as sent. None (omitted) runs every model with its defaults.

    Returns
    -------
    dict
        A new dict with the six model keys in :data:`humelab.schema.MODELS` order; a
        requested model maps to its configuration with every option filled, a model
        not requested maps to None.

    Raises
    ------
    humelab.InputError
        When :func:`validate_models` rejects ``models``.

    Examples
    --------
    >>> fill_model_defaults({"prosody": {}})["prosody"]
    {'granularity': 'utterance', 'identify_speakers': False, 'window': None}
    >>> fill_model_defaults({"prosody": {}})["face"] is None
    True
    """
    validate_models(models)
    if models is None:
        models = {m: {} for m in MODELS}
    out: dict[str, dict | None] = {}
    for name in MODELS:
        given = models.get(name)
        if given is None:
            out[name] = None
            continue
        config = {k: given.get(k, v) for k, v in MODEL_DEFAULTS[name].items()}
        for k in ("facs", "descriptions", "sentiment", "toxicity"):
            if k in config and config[k] is not None:
                config[k] = {}
        if name == "prosody" and config["window"] is not None:
            config["window"] = {
                k: config["window"].get(k, v) for k, v in WINDOW_DEFAULTS.items()
            }
        out[name] = config
    return out


def validate_transcription(transcription) -> None:
    """Check a request's ``transcription`` object.

    Parameters
    ----------
    transcription : dict or None
        ``{"language": ..., "identify_speakers": ..., "confidence_threshold": ...}``,
        each key optional; None is allowed.

    Raises
    ------
    humelab.InputError
        Naming the offending field (``transcription.language``) and value.
    """
    if transcription is None:
        return
    if not isinstance(transcription, dict):
        raise _fail(
            "transcription",
            f"must be an object or null, got {type(transcription).__name__}",
            "Pass e.g. {'language': 'en'}.",
        )
    for key, value in transcription.items():
        field = f"transcription.{key}"
        if key == "language":
            if value is not None and value not in TRANSCRIPTION_LANGUAGES:
                raise _fail(
                    field,
                    f"is not a supported language, got {value!r}",
                    f"Use one of {', '.join(TRANSCRIPTION_LANGUAGES)}, "
                    "or omit it to auto-detect.",
                )
        elif key == "identify_speakers":
            _check_bool(field, value)
        elif key == "confidence_threshold":
            _check_number(field, value, lo=0, hi=1)
        else:
            raise _fail(
                field,
                "is not a transcription option",
                "Options are `language`, `identify_speakers`, `confidence_threshold`.",
            )


def fill_transcription_defaults(transcription: dict | None) -> dict:
    """Transcription settings with defaults filled (None gives all defaults).

    Parameters
    ----------
    transcription : dict or None
        As sent in a request.

    Returns
    -------
    dict
        ``language`` (None = auto-detect), ``identify_speakers`` (False),
        ``confidence_threshold`` (0.5).

    Raises
    ------
    humelab.InputError
        When :func:`validate_transcription` rejects it.
    """
    validate_transcription(transcription)
    given = transcription or {}
    return {k: given.get(k, v) for k, v in TRANSCRIPTION_DEFAULTS.items()}
