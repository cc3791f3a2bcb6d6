"""The v0 Batch API request rules: models, options, transcription, limits, job states.

One declarative table (:data:`OPTIONS`) holds every model option with its kind, range
and default; :func:`validate_models`, :func:`fill_model_defaults`, the documentation
and the tests (:func:`violations`) are driven by it. The client's preflight, the
service's request parser, the command line and the duplicate check all use this
module, so a rule is written once (``reference/batch-api-v0.md`` section 3).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from .errors import InputError

__all__ = [
    "MODELS",
    "GRANULARITIES",
    "TRANSCRIPTION_LANGUAGES",
    "Option",
    "OPTIONS",
    "MODEL_DEFAULTS",
    "WINDOW_DEFAULTS",
    "TRANSCRIPTION_DEFAULTS",
    "MAX_URLS",
    "MAX_FILES",
    "MAX_TEXTS",
    "MAX_FILE_BYTES",
    "SUFFIXES",
    "file_kind",
    "JobStatus",
    "TERMINAL",
    "STATUSES",
    "validate_models",
    "fill_model_defaults",
    "require_a_model",
    "validate_transcription",
    "fill_transcription_defaults",
    "check_http_url",
    "did_you_mean",
    "violations",
]

#: The six v0 models, in the order the service echoes them.
MODELS: tuple[str, ...] = ("face", "burst", "prosody", "language", "ner", "facemesh")

#: Allowed values of ``models.prosody.granularity`` and ``models.language.granularity``.
GRANULARITIES: tuple[str, ...] = (
    "word",
    "sentence",
    "utterance",
    "conversational_turn",
)

#: Allowed values of ``transcription.language`` (BCP-47 tags, section 3.1).
TRANSCRIPTION_LANGUAGES: tuple[str, ...] = (
    "zh", "da", "nl", "en", "en-AU", "en-IN", "en-NZ", "en-GB", "fr", "fr-CA", "de",
    "hi", "hi-Latn", "id", "it", "ja", "ko", "no", "pl", "pt", "pt-BR", "pt-PT", "ru",
    "es", "es-419", "sv", "ta", "tr", "uk",
)  # fmt: skip

#: At most this many URLs per job.
MAX_URLS = 100
#: At most this many uploaded files per job.
MAX_FILES = 100
#: At most this many text items per job.
MAX_TEXTS = 100
#: At most this many bytes per file, URL download or text item (1 GB = 1024**3).
MAX_FILE_BYTES = 1024**3


#: File name endings the service recognises, by kind (case does not matter).
SUFFIXES: dict[str, tuple[str, ...]] = {
    "image": tuple(".png .jpg .jpeg .gif .bmp .tif .tiff .webp .heic .tga".split()),
    "audio": tuple(".wav .mp3 .m4a .aac .flac .ogg .oga .opus .wma .aif .aiff".split()),
    "video": tuple(".mp4 .m4v .mov .avi .mkv .webm .mpg .mpeg .wmv .3gp .flv".split()),
    "text": (".txt",),
    "transcript": (".txt", ".srt", ".vtt"),
    "archive": (".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"),
    # a simulation script beside a media file (simulated engine, for teaching)
    "script": (".expressions.csv",),
}


def file_kind(name: str) -> str | None:
    """The kind a file name promises (``"image"``, ``"audio"``, ``"video"``,
    ``"text"``, ``"transcript"``, ``"archive"``, ``"script"``), or None when no model
    can read such a file (``README.md``, ``index.csv``, ``notes.py``)."""
    low = str(name).lower()
    for kind in ("archive", "script", "image", "audio", "video", "transcript"):
        if low.endswith(SUFFIXES[kind]):
            return "text" if low.endswith(".txt") else kind
    return None


class JobStatus(str, Enum):
    """The state of a job; ``COMPLETED`` and ``FAILED`` are terminal."""

    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """True for ``COMPLETED`` and ``FAILED``."""
        return self.value in TERMINAL


#: Every job state, in lifecycle order.
STATUSES: tuple[str, ...] = tuple(s.value for s in JobStatus)
#: The states a job never leaves.
TERMINAL: frozenset[str] = frozenset({"COMPLETED", "FAILED"})


@dataclass(frozen=True)
class Option:
    """One option of one model.

    Attributes
    ----------
    model : str
        The model it belongs to.
    name : str
        The option's key in the model's configuration.
    kind : str
        ``"number"``, ``"integer"``, ``"bool"``, ``"enable"`` (``{}`` enables,
        null disables), ``"granularity"`` or ``"window"``.
    default : Any
        The value the service fills in when the option is omitted.
    lo, hi : float, optional
        Inclusive bounds of a number.
    """

    model: str
    name: str
    kind: str
    default: Any
    lo: float | None = None
    hi: float | None = None

    @property
    def field(self) -> str:
        """The option's path in a request, e.g. ``models.face.fps_pred``."""
        return f"models.{self.model}.{self.name}"


#: Every option of every model, in the key order the service echoes.
OPTIONS: tuple[Option, ...] = (
    Option("face", "fps_pred", "number", 3.0, lo=0),
    Option("face", "prob_threshold", "number", 0.99, lo=0, hi=1),
    Option("face", "identify_faces", "bool", False),
    Option("face", "min_face_size", "integer", 60, lo=0),
    Option("face", "facs", "enable", None),
    Option("face", "descriptions", "enable", None),
    Option("face", "save_faces", "bool", False),
    Option("prosody", "granularity", "granularity", "utterance"),
    Option("prosody", "identify_speakers", "bool", False),
    Option("prosody", "window", "window", None),
    Option("language", "granularity", "granularity", "word"),
    Option("language", "sentiment", "enable", None),
    Option("language", "toxicity", "enable", None),
    Option("language", "identify_speakers", "bool", False),
    Option("ner", "identify_speakers", "bool", False),
)

#: Default configuration of every model, in the key order the service echoes.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    m: {o.name: o.default for o in OPTIONS if o.model == m} for m in MODELS
}

#: Defaults of the ``window`` object of ``models.prosody`` (seconds, each >= 0.5).
WINDOW_DEFAULTS: dict[str, float] = {"length": 4.0, "step": 1.0}
_WINDOW_MIN = 0.5

#: Default transcription settings (``language`` None means auto-detect).
TRANSCRIPTION_DEFAULTS: dict[str, Any] = {
    "language": None,
    "identify_speakers": False,
    "confidence_threshold": 0.5,
}

_BY_MODEL: dict[str, dict[str, Option]] = {
    m: {o.name: o for o in OPTIONS if o.model == m} for m in MODELS
}


# -- checks -------------------------------------------------------------------------


def _fail(field: str, problem: str, fix: str) -> InputError:
    return InputError(f"`{field}` {problem}. {fix}")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _range(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f">= {lo}" if lo is not None else f"<= {hi}"


def _check_bool(field: str, v) -> None:
    if not isinstance(v, bool):
        raise _fail(field, f"must be true or false, got {v!r}", "Pass a boolean.")


def _check_number(field: str, v, *, lo=None, hi=None, integral=False) -> None:
    if not _is_number(v):
        raise _fail(field, f"must be a number, got {v!r}", "Pass a number.")
    if integral and float(v) != int(v):
        raise _fail(field, f"must be a whole number, got {v!r}", "Pass an integer.")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = _range(lo, hi)
        raise _fail(field, f"must be {rng}, got {v!r}", f"Pass a value {rng}.")


def _check_enable(field: str, v) -> None:
    if v is not None and (not isinstance(v, dict) or v):
        raise _fail(
            field,
            f"must be {{}} (enable) or null (disable), got {v!r}",
            "It has no options; pass {} to enable it.",
        )


def _check_granularity(field: str, v) -> None:
    if v not in GRANULARITIES:
        raise _fail(
            field,
            f"must be one of {', '.join(GRANULARITIES)}, got {v!r}",
            "Pick one of those granularities.",
        )


def _check_window(field: str, v) -> None:
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
        _check_number(f"{field}.{key}", val, lo=_WINDOW_MIN)


def _check_option(option: Option, value) -> None:
    field = option.field
    if option.kind == "number":
        _check_number(field, value, lo=option.lo, hi=option.hi)
    elif option.kind == "integer":
        _check_number(field, value, lo=option.lo, hi=option.hi, integral=True)
    elif option.kind == "bool":
        _check_bool(field, value)
    elif option.kind == "enable":
        _check_enable(field, value)
    elif option.kind == "granularity":
        _check_granularity(field, value)
    elif option.kind == "window":
        _check_window(field, value)
    else:  # pragma: no cover - a new kind must be handled here
        raise AssertionError(f"unknown option kind {option.kind!r}")


def did_you_mean(word, choices) -> str:
    """``"Did you mean `x`? "`` for a typo close to one of ``choices``, else ``""``."""
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
                f"{did_you_mean(name, MODELS)}Known models are {', '.join(MODELS)}.",
            )
        if config is None:
            continue
        if not isinstance(config, dict):
            raise _fail(
                f"models.{name}",
                f"must be an object ({{}} for defaults) or null, got {config!r}",
                "Pass {} to run the model with its defaults.",
            )
        known = _BY_MODEL[name]
        for key, value in config.items():
            if key not in known:
                names = ", ".join(known) or "none (pass {})"
                raise _fail(
                    f"models.{name}.{key}",
                    "is not an option of this model",
                    f"{did_you_mean(key, known)}Options of `{name}` are: {names}.",
                )
            _check_option(known[key], value)


def fill_model_defaults(models: dict | None) -> dict:
    """The echo form of a request's ``models``: all six keys, defaults filled.

    Parameters
    ----------
    models : dict or None
        ``models`` as sent. None (omitted) runs every model with its defaults.

    Returns
    -------
    dict
        A new dict with the six model keys in :data:`MODELS` order; a requested model
        maps to its configuration with every option filled, a model not requested
        maps to None.

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
        for option in _BY_MODEL[name].values():
            if option.kind == "enable" and config[option.name] is not None:
                config[option.name] = {}
        if name == "prosody" and config["window"] is not None:
            config["window"] = {
                k: config["window"].get(k, v) for k, v in WINDOW_DEFAULTS.items()
            }
        out[name] = config
    return out


def require_a_model(echo: dict) -> dict:
    """Check that the echo form of ``models`` requests at least one model.

    Parameters
    ----------
    echo : dict
        What :func:`fill_model_defaults` returned.

    Returns
    -------
    dict
        ``echo`` unchanged.

    Raises
    ------
    humelab.InputError
        When every model is null (``models={}`` or all values null).
    """
    if all(v is None for v in echo.values()):
        raise InputError(
            "`models` names no model; add at least one (for example "
            '`"face": {}`) or omit `models` to run all six.'
        )
    return echo


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
                    f"{did_you_mean(value, TRANSCRIPTION_LANGUAGES)}Use one of "
                    f"{', '.join(TRANSCRIPTION_LANGUAGES)}, or omit it to auto-detect.",
                )
        elif key == "identify_speakers":
            _check_bool(field, value)
        elif key == "confidence_threshold":
            _check_number(field, value, lo=0, hi=1)
        else:
            raise _fail(
                field,
                "is not a transcription option",
                f"{did_you_mean(key, TRANSCRIPTION_DEFAULTS)}Options are `language`, "
                "`identify_speakers`, `confidence_threshold`.",
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


def check_http_url(url, field: str) -> str:
    """Check that ``url`` is an absolute http(s) URL with a host; return it stripped.

    Parameters
    ----------
    url : str
        The URL as given.
    field : str
        Where it came from (``urls[0]``, ``callback_url``), for the message.

    Returns
    -------
    str
        The URL without surrounding spaces.

    Raises
    ------
    humelab.InputError
        Naming ``field`` when the URL is not a string, not http/https, has no host,
        or cannot be parsed (a malformed IPv6 literal such as ``http://[::1``).
    """
    if not isinstance(url, str):
        raise InputError(f"`{field}` must be a string URL, got {url!r}.")
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError as exc:
        raise InputError(
            f"`{field}` = {url!r} is not a valid URL ({exc}); check its spelling."
        ) from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise InputError(
            f"`{field}` = {url!r} is not an http or https URL; the service only "
            "fetches http:// and https:// addresses (upload local files instead)."
        )
    return url.strip()


# -- the rules, as data for tests ----------------------------------------------------


def _bad_values(option: Option) -> Iterator[Any]:
    """Values that break ``option``, one per rule it carries."""
    if option.kind in ("number", "integer"):
        yield "3"  # not a number
        yield True  # a bool is not a number
        if option.lo is not None:
            yield option.lo - 1
        if option.hi is not None:
            yield option.hi + 1
        if option.kind == "integer":
            yield 60.5
    elif option.kind == "bool":
        yield "yes"
    elif option.kind == "enable":
        yield {"x": 1}
    elif option.kind == "granularity":
        yield "paragraph"
    elif option.kind == "window":
        yield 4
        yield {"length": 0.1}
        yield {"size": 1.0}


def violations() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every request rule of this module, each broken once.

    Yields
    ------
    (str, dict)
        A description of the rule and the keyword arguments of a job request that
        breaks it (``models``, ``transcription``, ``urls``, ``text``,
        ``callback_url``). The service must answer each with 400 and the client's
        preflight must refuse each before anything is sent; the tests iterate
        over this generator, so a rule added here is checked on both sides.
    """
    for option in OPTIONS:
        for value in _bad_values(option):
            config = {option.name: value}
            yield (f"{option.field}={value!r}", {"models": {option.model: config}})
        yield (
            f"models.{option.model}.not_an_option",
            {"models": {option.model: {"not_an_option": 1}}},
        )
    for model in MODELS:
        if not _BY_MODEL[model]:
            yield (f"models.{model} takes no option", {"models": {model: {"x": 1}}})
        yield (f"models.{model} = list", {"models": {model: []}})
    yield ("unknown model", {"models": {"voice": {}}})
    yield ("models not an object", {"models": ["face"]})
    yield ("no model requested ({})", {"models": {}})
    yield ("every model null", {"models": {m: None for m in MODELS}})
    yield ("transcription not an object", {"transcription": "en"})
    yield ("transcription.language unknown", {"transcription": {"language": "xx"}})
    yield ("transcription option unknown", {"transcription": {"lang": "en"}})
    yield (
        "transcription.identify_speakers not bool",
        {"transcription": {"identify_speakers": "yes"}},
    )
    for bad in (-0.1, 1.5, "high"):
        yield (
            f"transcription.confidence_threshold={bad!r}",
            {"transcription": {"confidence_threshold": bad}},
        )
    yield ("url not http(s)", {"urls": ["ftp://example.org/a.wav"]})
    yield ("url without host", {"urls": ["http://"]})
    yield ("url malformed IPv6", {"urls": ["http://[::1"]})
    yield (f"more than {MAX_URLS} urls", {"urls": ["https://example.org/a.wav"] * 101})
    yield (f"more than {MAX_TEXTS} texts", {"text": ["hi"] * (MAX_TEXTS + 1)})
    yield ("callback_url not http(s)", {"callback_url": "mailto:me@example.org"})
