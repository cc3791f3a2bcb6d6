"""The engine interface of the Batch service.

An engine measures one input file (:class:`MediaInput`) and returns one v0
prediction entry without its ``"file"`` key (see ``reference/batch-api-v0.md`` §5).
The request rules engines rely on (model options and defaults) are in
:mod:`humelab.contract`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

# The request rules live in humelab.contract; re-exported here for the engines.
from ...contract import (
    GRANULARITIES,
    MODEL_DEFAULTS,
    TRANSCRIPTION_DEFAULTS,
    TRANSCRIPTION_LANGUAGES,
    WINDOW_DEFAULTS,
    fill_model_defaults,
    fill_transcription_defaults,
    validate_models,
    validate_transcription,
)

__all__ = [
    "MediaInput",
    "EngineError",
    "EngineFatal",
    "Measurement",
    "Engine",
    "GRANULARITIES",
    "TRANSCRIPTION_LANGUAGES",
    "MODEL_DEFAULTS",
    "TRANSCRIPTION_DEFAULTS",
    "WINDOW_DEFAULTS",
    "validate_models",
    "fill_model_defaults",
    "validate_transcription",
    "fill_transcription_defaults",
]


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
    as ``{"file": ..., "message": str(error)}`` in the job's predictions. An engine
    that sent requests for the file may set ``usage`` (a dict, see
    :class:`Measurement`) on it.
    """

    usage: dict | None = None


class EngineFatal(Exception):
    """The whole job cannot go on (the engine's credentials were refused, ...).

    The runner ends the job FAILED with this message; no other file is measured.
    """


@dataclass
class Measurement:
    """What an engine may return instead of a bare prediction entry.

    Parameters
    ----------
    entry : dict
        The v0 prediction entry without ``"file"`` (as :meth:`Engine.measure`).
    errors : list of str
        Messages of ``results.errors`` entries for this file beside its
        predictions (for example models the engine cannot measure).
    usage : dict, optional
        What measuring the file sent to a paid API (requests, retries, media
        seconds, images, billed seconds); summed into the job's ``usage``.
    """

    entry: dict
    errors: list[str] = field(default_factory=list)
    usage: dict | None = None


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
            are absent. Or a :class:`Measurement` holding that entry with extra
            error messages and usage.

        Raises
        ------
        EngineError
            The file failed (undecodable media, transcript below the confidence
            threshold, ...); the job continues with the other files.
        EngineFatal
            The job cannot go on (credentials refused); it ends FAILED.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} simulated={self.simulated}>"
