"""Measurement engines of the Batch service and the registry that builds them by name.

``simulated`` (deterministic synthetic scores from the real structure of the media,
for teaching and tests) is always available; ``hume`` measures through Hume's v1
API with the user's ``HUME_API_KEY`` (see :mod:`.hume`).
"""

from __future__ import annotations

from ...errors import InputError
from .base import (
    Engine,
    EngineError,
    EngineFatal,
    Measurement,
    MediaInput,
    fill_model_defaults,
    fill_transcription_defaults,
    validate_models,
    validate_transcription,
)

__all__ = [
    "ENGINES",
    "Engine",
    "EngineError",
    "EngineFatal",
    "MediaInput",
    "Measurement",
    "get_engine",
    "fill_model_defaults",
    "fill_transcription_defaults",
    "validate_models",
    "validate_transcription",
]


def _simulated(**options):
    from .simulated import SimulatedEngine

    if options:
        raise InputError(
            f"The `simulated` engine takes no options; got "
            f"{', '.join(f'`{k}`' for k in sorted(options))}. Remove them."
        )
    return SimulatedEngine()


def _hume(**options):
    from .hume import HumeEngine

    return HumeEngine(**options)


#: Engine factories by name.
ENGINES = {"simulated": _simulated, "hume": _hume}


def get_engine(name: str, **options) -> Engine:
    """Build the engine registered as ``name``.

    Parameters
    ----------
    name : str
        ``"simulated"``.
    **options
        Keyword options of that engine's constructor (none for ``simulated``).

    Returns
    -------
    Engine
        A new engine instance.

    Raises
    ------
    humelab.InputError
        When ``name`` is not a registered engine (the message lists them) or an
        option is unknown.

    Examples
    --------
    >>> get_engine("simulated").simulated
    True
    """
    try:
        factory = ENGINES[name]
    except (KeyError, TypeError):
        raise InputError(
            f"Unknown engine {name!r}. Available engines: {', '.join(ENGINES)}."
        ) from None
    return factory(**options)
