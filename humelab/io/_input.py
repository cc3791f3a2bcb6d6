"""Turning what a user passes to a reader (path, bytes, file object) into bytes.

Also sniffs the content (JSON or zip) so each reader can say which reader to use
when it is given the other kind of file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import IO, Any

from ..errors import ReadError

__all__: list[str] = []

#: What the file readers accept: a path, the raw bytes, or an open binary file.
FileSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]
#: What read_predictions also accepts: the parsed JSON (a list or one object).
JsonSource = FileSource | list[Any] | dict[str, Any]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def load_bytes(src, *, reader: str, what: str) -> tuple[bytes | memoryview, str]:
    """Return the raw content of ``src`` and a label naming it in messages.

    Parameters
    ----------
    src : str, os.PathLike, bytes, bytearray, memoryview or binary file object
        What the user passed.
    reader : str
        Name of the calling reader, for messages.
    what : str
        What the reader expects, for messages ("a predictions JSON").
    """
    if isinstance(src, (bytes, bytearray, memoryview)):
        return src, "The given data"
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        shown = _short(str(path))
        try:
            data = path.read_bytes()
        except (FileNotFoundError, OSError) as exc:
            if isinstance(src, str) and looks_like_json_text(src):
                use = (
                    "pass it as is to `humelab.read_predictions`"
                    if reader != "read_predictions"
                    else "check that it is complete"
                )
                raise ReadError(
                    f"The given string is JSON text, not a path, and `{reader}` "
                    f"reads {what}; {use}."
                ) from None
            if isinstance(exc, FileNotFoundError):
                raise ReadError(
                    f"No such file: {shown}. Pass `{reader}` the path of {what}, "
                    "its bytes, or an open binary file."
                ) from None
            if isinstance(exc, IsADirectoryError):
                raise ReadError(
                    f"{shown} is a directory; pass `{reader}` the path of {what}."
                ) from None
            raise ReadError(f"Could not read {shown}: {exc.strerror or exc}.") from None
        return data, shown
    read = getattr(src, "read", None)
    if callable(read):
        data = read()
        name = getattr(src, "name", None)
        label = (
            repr(str(name))
            if isinstance(name, (str, os.PathLike))
            else "The file object"
        )
        if isinstance(data, str):
            raise ReadError(
                f"{label} was opened in text mode; `{reader}` needs a binary file "
                "(open it with mode 'rb')."
            )
        return data, label
    hint = ""
    if hasattr(src, "columns") and hasattr(src, "dtypes"):
        hint = " It is already a frame; `humelab.validate(df)` checks it."
    elif hasattr(src, "job_id") and hasattr(src, "frame"):
        hint = (
            " It looks like a `Job`: use `job.frame()` for its tidy frame, or pass "
            "`job.predictions()`."
        )
    raise ReadError(
        f"`{reader}` cannot read a {type(src).__name__}; pass the path of {what}, "
        f"its bytes, or an open binary file.{hint}"
    )


def _short(text: str, limit: int = 120) -> str:
    """``repr(text)``, cut in the middle when it is long (for messages)."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[: limit // 2]) + " ... " + repr(text[-limit // 4 :])


def looks_like_json_text(text: str) -> bool:
    """Whether a string given to a reader is JSON text rather than a path."""
    if text.lstrip()[:1] not in ("[", "{"):
        return False
    try:
        return not Path(text).exists()
    except (OSError, ValueError):  # too long, or a NUL byte: not a path
        return True


def inner(label: str) -> str:
    """A label for use inside a sentence ("of the given data")."""
    return label[0].lower() + label[1:] if label.startswith("The ") else label


def first_byte(data) -> bytes:
    """The first non-whitespace byte of ``data`` (b"" when there is none)."""
    view = bytes(data[:4096]) if not isinstance(data, bytes) else data[:4096]
    stripped = view.lstrip(b" \t\r\n\xef\xbb\xbf")
    if not stripped and len(data) > 4096:
        stripped = bytes(data).lstrip(b" \t\r\n\xef\xbb\xbf")
    return stripped[:1]


def is_zip(data) -> bool:
    """Whether ``data`` starts like a zip archive."""
    return bytes(data[:4]) in _ZIP_MAGIC


def is_json(data) -> bool:
    """Whether ``data`` starts like a JSON array or object."""
    return first_byte(data) in (b"[", b"{")


_BYTE_RE = re.compile(r"\s*\(?\bbyte (\d+)\)?")


def _line_col(data, pos: int) -> tuple[int, int]:
    head = bytes(data[:pos])
    return head.count(b"\n") + 1, pos - (head.rfind(b"\n") + 1) + 1


def json_error(exc: Exception, data, label: str) -> ReadError:
    """A ReadError naming the line and column of a JSON syntax error."""
    msg = str(exc).rstrip(".")
    m = _BYTE_RE.search(msg)
    if m:
        pos = int(m.group(1))
        msg = _BYTE_RE.sub("", msg)
    elif "truncated" in msg:
        pos = len(data)
    else:
        pos = None
    where = ""
    if pos is not None:
        line, col = _line_col(data, pos)
        where = f" at line {line}, column {col}"
    return ReadError(
        f"{label} is not valid JSON{where} ({msg}). The file may be truncated or "
        "not a Hume predictions file; re-download it "
        "(`GET /v0/batch/jobs/{id}/predictions`)."
    )
