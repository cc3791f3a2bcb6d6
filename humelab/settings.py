"""Settings of humelab, resolved in one place: argument, then environment, then default.

Every part (``Client``, ``serve``, the embedded service, the command line) asks this
module, so one environment variable means the same thing everywhere:

=====================  ===================================================  =========
variable               what                                                  default
=====================  ===================================================  =========
``HUMELAB_URL``        the Batch service a client talks to                   embedded
``HUMELAB_API_KEY``    the Batch service's key (``X-Hume-Api-Key``)          none
``HUMELAB_DATA_DIR``   ledger, download cache and the service's jobs          per-user
``HUMELAB_QUIET``      ``1`` silences humelab's one-line notices on stderr   off
``HUME_API_KEY``       Hume's own key, used only by the ``hume`` engine      none
``HUME_V1_URL``        Hume's v1 API, used only by the ``hume`` engine       Hume's
=====================  ===================================================  =========

``HUMELAB_DASK_SCHEDULER`` (default none) is a Dask scheduler (``tcp://HOST:8786``)
on whose workers ``humelab serve`` measures files instead of its own threads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import InputError

__all__ = [
    "ENV",
    "HUME_V1_URL",
    "resolve",
    "service_url",
    "service_key",
    "hume_api_key",
    "hume_url",
    "dask_scheduler",
    "default_data_dir",
    "service_data_dir",
    "timeout_pair",
    "quiet",
    "say",
]

#: The environment variable behind each setting.
ENV: dict[str, str] = {
    "url": "HUMELAB_URL",
    "api_key": "HUMELAB_API_KEY",
    "data_dir": "HUMELAB_DATA_DIR",
    "quiet": "HUMELAB_QUIET",
    "hume_api_key": "HUME_API_KEY",
    "hume_url": "HUME_V1_URL",
    "dask_scheduler": "HUMELAB_DASK_SCHEDULER",
}

#: Hume's v1 API, where the ``hume`` engine sends media by default.
HUME_V1_URL = "https://api.cloud.hume.ai"

#: Default seconds to wait for the service's answer (connecting: at most 10 s).
DEFAULT_TIMEOUT = 60.0


def resolve(setting: str, value: Any = None, default: Any = None) -> Any:
    """One setting: ``value`` when given, else its environment variable, else default.

    Parameters
    ----------
    setting : str
        A key of :data:`ENV` (``"url"``, ``"api_key"``, ``"data_dir"``, ...).
    value : optional
        The argument the user passed; None (or ``""``) means "not given".
    default : optional
        Used when neither is set.

    Returns
    -------
    Any
        The resolved value.
    """
    if value is not None and value != "":
        return value
    env = os.environ.get(ENV[setting])
    return env if env else default


def _check_url(url: str, where: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InputError(
            f"{where} = {url!r} is not a valid URL ({exc}). Expected the form "
            "http://HOST:PORT, e.g. http://127.0.0.1:8765."
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"{where} = {url!r} is not an http(s) URL. Expected the form "
            "http://HOST:PORT, e.g. http://127.0.0.1:8765 (the scheme is needed)."
        )
    return url.rstrip("/")


def service_url(value: str | None = None) -> str | None:
    """The Batch service's URL: ``value``, else ``HUMELAB_URL``, else None (embedded).

    Raises
    ------
    humelab.InputError
        The URL has no ``http://``/``https://`` scheme or no host; the message shows
        the expected form.
    """
    url = resolve("url", value)
    if url is None:
        return None
    where = "`base_url`" if value else "HUMELAB_URL"
    return _check_url(str(url).strip(), where)


def service_key(value: str | None = None) -> str | None:
    """The Batch service's key: ``value``, else ``HUMELAB_API_KEY``, else None."""
    return resolve("api_key", value)


def hume_api_key(value: str | None = None) -> str | None:
    """Hume's own key (``hume`` engine): ``value``, else ``HUME_API_KEY``, else None."""
    return resolve("hume_api_key", value)


def hume_url(value: str | None = None) -> str:
    """Hume's v1 base URL: ``value``, else ``HUME_V1_URL``, else Hume's address."""
    url = resolve("hume_url", value, HUME_V1_URL)
    return _check_url(str(url).strip(), "`hume_url`" if value else "HUME_V1_URL")


def dask_scheduler(value: str | None = None) -> str | None:
    """The Dask scheduler (``tcp://HOST:8786``) on whose workers ``humelab serve``
    measures files: ``value``, else ``HUMELAB_DASK_SCHEDULER``, else None (threads
    of the service)."""
    address = resolve("dask_scheduler", value)
    if address is None or not str(address).strip():
        return None
    return str(address).strip()


def default_data_dir(
    data_dir: str | os.PathLike | None = None, *, create: bool = True
) -> Path:
    """humelab's data folder: ledger, download cache, the service's jobs.

    Parameters
    ----------
    data_dir : path, optional
        Explicit folder; wins over everything.
    create : bool
        Create the folder when missing.

    Returns
    -------
    pathlib.Path
        ``data_dir``, else ``HUMELAB_DATA_DIR``, else the platform's per-user data
        folder (``platformdirs.user_data_dir("humelab")``), made absolute (so a
        relative folder names the same ledger from wherever it is used later).
    """
    folder = resolve("data_dir", os.fspath(data_dir) if data_dir else None)
    if folder is None:
        import platformdirs  # light, but only needed here

        folder = platformdirs.user_data_dir("humelab")
    path = Path(folder).expanduser().resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def service_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where a Batch service keeps its jobs: ``data_dir`` as given, else
    ``default_data_dir() / "service"`` (the folder the embedded service uses)."""
    if data_dir:
        return Path(data_dir).expanduser().resolve()
    return default_data_dir(create=False) / "service"


def timeout_pair(timeout: Any, *, name: str = "timeout") -> tuple[float, float]:
    """A ``timeout`` as a ``(connect, read)`` pair of positive seconds.

    Parameters
    ----------
    timeout : float, (float, float) or None
        One number for reading (connecting gets at most 10 s of it), a pair, or
        None for the default (60 s).
    name : str
        The parameter's name, for the message.

    Raises
    ------
    humelab.InputError
        Not a positive number or a pair of them.
    """
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        timeout = (min(10.0, float(timeout)), float(timeout))
    pair = tuple(timeout) if isinstance(timeout, (tuple, list)) else None
    if (
        pair is None
        or len(pair) != 2
        or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0
            for t in pair
        )
    ):
        raise InputError(
            f"`{name}` must be a number of seconds > 0 or a (connect, read) pair "
            f"of them; got {timeout!r}. Pass e.g. `{name}=60`, or None for the "
            f"default ({DEFAULT_TIMEOUT:g} s)."
        )
    return float(pair[0]), float(pair[1])


def quiet() -> bool:
    """True when ``HUMELAB_QUIET`` is set to something other than ``0``/``false``."""
    value = (os.environ.get(ENV["quiet"]) or "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def say(message: str) -> None:
    """Tell a person something in one line on stderr (never mixed with data output).

    Every user notice of humelab (the embedded service's start line, "returning the
    existing job", skipped files) goes through here. Set ``HUMELAB_QUIET=1`` to
    silence them; errors and warnings are not affected.
    """
    if not quiet():
        print(f"humelab: {message}", file=sys.stderr, flush=True)
