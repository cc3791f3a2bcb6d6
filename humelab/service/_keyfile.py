"""Reading the service's API key from a file (``humelab serve --api-key-file``).

A key given on the command line is visible to every user of the machine (``ps``); a
file readable only by its owner is not. The key is never echoed in messages.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

from ..errors import HumelabWarning, InputError

__all__ = ["read_api_key_file"]


def read_api_key_file(path) -> str:
    """The API key stored in ``path`` (its first line, surrounding spaces dropped).

    Parameters
    ----------
    path : str or Path
        A text file holding the key, e.g. written with
        ``python -c "import secrets; print(secrets.token_urlsafe(24))" > key``.

    Returns
    -------
    str
        The key.

    Raises
    ------
    humelab.InputError
        When the file cannot be read, is empty, or is not UTF-8 text. The message
        names the file, never its content.

    Warns
    -----
    humelab.HumelabWarning
        When other users can read the file (``chmod 600`` it).
    """
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
        mode = p.stat().st_mode
    except OSError as exc:
        raise InputError(
            f"could not read the API key file {p} ({exc.strerror or exc}); check "
            "the path and its permissions."
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"the API key file {p} is not UTF-8 text; write the key on one line."
        ) from None
    lines = text.strip().splitlines()
    key = lines[0].strip() if lines else ""
    if not key:
        raise InputError(
            f"the API key file {p} is empty; write the key on its first line."
        )
    if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.warn(
            f"the API key file {p} is readable by other users; restrict it with "
            f"`chmod 600 {p}`.",
            HumelabWarning,
            stacklevel=2,
        )
    return key
