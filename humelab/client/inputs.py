"""Collecting job inputs: files, folders, globs, URLs, in-memory bytes and text.

:func:`collect_inputs` turns whatever a notebook has at hand into one
:class:`Inputs` bundle, :func:`preflight` checks it against the v0 limits before
anything is uploaded, and :func:`chunk_inputs` splits a large bundle into pieces that
each fit in one job (used by :meth:`humelab.Client.submit_many`).
"""

from __future__ import annotations

import glob
import hashlib
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import contract, settings
from ..contract import MAX_FILE_BYTES, MAX_FILES, MAX_TEXTS, MAX_URLS, file_kind
from ..errors import InputError

__all__ = [
    "MAX_URLS",
    "MAX_FILES",
    "MAX_TEXTS",
    "MAX_FILE_BYTES",
    "InputFile",
    "Inputs",
    "collect_inputs",
    "preflight",
    "chunk_inputs",
]

# The limits are the contract's (humelab.contract); kept here by name for callers.


_URL_PREFIXES = ("http://", "https://")
_GLOB_CHARS = ("*", "?", "[")
_SKIP_DIRS = {"__MACOSX", "__pycache__"}


@dataclass(frozen=True)
class InputFile:
    """One file to upload: a path on disk, or in-memory bytes.

    Attributes
    ----------
    name : str
        The file name sent to the service (the ``filename`` of the multipart part).
    path : pathlib.Path or None
        The file on disk, streamed at upload time; None for in-memory data.
    data : bytes or None
        The content, for in-memory inputs.
    size : int
        Size in bytes.
    """

    name: str
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)
    size: int = 0

    def open(self):
        """Open the content for reading in binary mode (a file object)."""
        if self.path is not None:
            return open(self.path, "rb")
        return io.BytesIO(self.data or b"")

    def md5(self) -> str:
        """MD5 of the content (what the service echoes as ``md5sum``)."""
        h = hashlib.md5(usedforsecurity=False)
        with self.open() as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()

    def sha256(self) -> str:
        """Hash of the content, read in 1 MiB blocks (never all in memory)."""
        h = hashlib.sha256()
        with self.open() as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()


@dataclass
class Inputs:
    """The inputs of one job (or of several, before chunking).

    Attributes
    ----------
    urls : list of str
        Media or archive URLs the service downloads.
    files : list of InputFile
        Files uploaded with the request.
    text : list of str
        Raw text items (language and ner models).
    """

    urls: list[str] = field(default_factory=list)
    files: list[InputFile] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.urls) + len(self.files) + len(self.text)

    @property
    def total_bytes(self) -> int:
        """Total size of the files, in bytes."""
        return sum(f.size for f in self.files)

    def describe(self) -> str:
        """One-line summary such as ``'3 files, 1 URL, 2 texts'``."""
        parts = []
        for n, word in (
            (len(self.files), "file"),
            (len(self.urls), "URL"),
            (len(self.text), "text"),
        ):
            if n:
                parts.append(f"{n} {word}{'' if n == 1 else 's'}")
        return ", ".join(parts) or "nothing"

    def fingerprint(self) -> dict[str, Any]:
        """What identifies these inputs: URLs, texts, and file names with hashes."""
        return {
            "urls": list(self.urls),
            "text": [hashlib.sha256(t.encode()).hexdigest() for t in self.text],
            "files": [[f.name, f.sha256()] for f in self.files],
        }


def _is_url(value: str) -> bool:
    return value.lower().startswith(_URL_PREFIXES)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in _SKIP_DIRS


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        for name in sorted(names):
            if not _hidden(name):
                yield Path(root) / name


def _fixed_prefix(parts: tuple[str, ...]) -> tuple[str, ...]:
    """The leading parts of a glob pattern that hold no wildcard."""
    out = []
    for part in parts:
        if any(c in part for c in _GLOB_CHARS):
            break
        out.append(part)
    return tuple(out)


def _file(path: Path, name: str | None = None) -> InputFile:
    return InputFile(name=name or path.name, path=path, size=path.stat().st_size)


def _one(item: Any) -> Iterator[InputFile | str]:
    """Expand one item of ``inputs`` into files (InputFile) and URLs (str)."""
    if isinstance(item, tuple) and len(item) == 2:
        name, data = item
        if not isinstance(name, str) or not isinstance(data, (bytes, bytearray)):
            raise InputError(
                f"An in-memory input must be a `(name, bytes)` pair; got "
                f"({type(name).__name__}, {type(data).__name__}). Pass e.g. "
                "`('clip.wav', data)`."
            )
        yield InputFile(name=name, data=bytes(data), size=len(data))
        return
    if isinstance(item, (bytes, bytearray)):
        raise InputError(
            "Bytes need a file name: pass `(name, bytes)`, e.g. `('clip.wav', data)`."
        )
    if not isinstance(item, (str, os.PathLike)):
        raise InputError(
            f"Cannot use a {type(item).__name__} as an input; pass paths, folders, "
            "globs, URLs or `(name, bytes)` pairs."
        )
    text = os.fspath(item)
    if isinstance(item, str) and _is_url(text):
        yield text
        return
    path = Path(text).expanduser()
    if path.is_dir():
        # the path below the walked folder, so p1/clip.wav and p2/clip.wav differ;
        # files no model can read (README.md, index.csv, *.py) are left out
        skipped = []
        for p in _walk(path):
            if file_kind(p.name) is None:
                skipped.append(p.name)
            else:
                yield _file(p, p.relative_to(path).as_posix())
        if skipped:
            shown = ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else "")
            settings.say(
                f"skipped {len(skipped)} file{'s' if len(skipped) > 1 else ''} in "
                f"{text} that no model reads ({shown}); name a file directly to "
                "send it anyway."
            )
    elif path.is_file():
        yield _file(path)
    elif any(c in text for c in _GLOB_CHARS):
        pattern = os.path.expanduser(text)
        matches = [Path(m) for m in sorted(glob.glob(pattern, recursive=True))]
        # Hidden parts count only below the pattern's fixed prefix, so
        # "../p2/*.wav" and "media/.hid/*.wav" match what they name.
        fixed = len(_fixed_prefix(Path(pattern).parts))
        files = [
            m
            for m in matches
            if m.is_file() and not any(_hidden(p) for p in m.parts[fixed:])
        ]
        if not files:
            raise InputError(
                f"The pattern `{text}` matched no files. Check the folder and the "
                "pattern (use `**` to search subfolders)."
            )
        yield from (_file(p) for p in files)
    else:
        raise InputError(
            f"No such file or folder: `{text}`. Pass an existing path, a glob, or a "
            "URL starting with http:// or https://."
        )


def _as_list(value: Any, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes, os.PathLike)) or (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[1], (bytes, bytearray))
    ):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    raise InputError(f"`{what}` must be a list; got {type(value).__name__}.")


def collect_inputs(
    inputs: Any = None,
    *,
    urls: Iterable[str] | str | None = None,
    files: Iterable[Any] | None = None,
    text: Iterable[str] | str | None = None,
) -> Inputs:
    """Gather files, folders, globs, URLs, in-memory bytes and text into one bundle.

    Parameters
    ----------
    inputs : path, str, (name, bytes) or list of them, optional
        Anything at hand, mixed: file paths, folders (walked recursively, skipping
        hidden files and ``__MACOSX``), glob patterns, ``http(s)://`` URLs and
        ``(name, bytes)`` pairs (``bytes`` or ``bytearray``). A file found by
        walking a folder is named by its path below that folder (``p1/clip.wav``);
        a file given directly or matched by a glob keeps its base name.
    urls : str or list of str, optional
        URLs only.
    files : list, optional
        Paths, folders, globs or ``(name, bytes)`` pairs, uploaded.
    text : str or list of str, optional
        Raw text items for the ``language`` and ``ner`` models.

    Returns
    -------
    Inputs
        Files in a stable order (sorted within each folder), duplicates removed.

    Raises
    ------
    InputError
        A path does not exist, a glob matches nothing, or an item has the wrong type.
    """
    out = Inputs()
    seen_paths: set[Path] = set()
    for item in _as_list(inputs, "inputs") + _as_list(files, "files"):
        for got in _one(item):
            if isinstance(got, str):
                out.urls.append(got)
            elif got.path is not None:
                key = got.path.resolve()
                if key not in seen_paths:
                    seen_paths.add(key)
                    out.files.append(got)
            else:
                out.files.append(got)
    for url in _as_list(urls, "urls"):
        if not isinstance(url, str) or not _is_url(url):
            raise InputError(
                f"`urls` holds `{url!r}`, which is not an http(s) URL; put local "
                "paths in `inputs` or `files`."
            )
        out.urls.append(url)
    for item in _as_list(text, "text"):
        if not isinstance(item, str):
            raise InputError(
                f"`text` items must be str; got {type(item).__name__}. To upload a "
                "text file, pass its path in `inputs`."
            )
        out.text.append(item)
    return out


def preflight(
    inputs: Inputs,
    *,
    max_urls: int = MAX_URLS,
    max_files: int = MAX_FILES,
    max_texts: int = MAX_TEXTS,
    max_file_bytes: int = MAX_FILE_BYTES,
    many_hint: bool = True,
) -> Inputs:
    """Check one job's inputs against the v0 limits, before anything is uploaded.

    Parameters
    ----------
    inputs : Inputs
        The bundle from :func:`collect_inputs`.
    max_urls, max_files, max_texts : int
        Count limits per job (100 each in v0).
    max_file_bytes : int
        Size limit per file (1 GB).
    many_hint : bool
        Mention :meth:`humelab.Client.submit_many` when a count is over its limit.

    Returns
    -------
    Inputs
        The same bundle, unchanged.

    Raises
    ------
    InputError
        Nothing to submit, a count is over its limit, or a file is too large (the
        message names the file and the limit).
    """
    if not len(inputs):
        raise InputError(
            "Nothing to submit: pass files, folders, URLs or `text=`, e.g. "
            "`client.submit(humelab.example_files())`."
        )
    for n, limit, what in (
        (len(inputs.urls), max_urls, "URLs"),
        (len(inputs.files), max_files, "files"),
        (len(inputs.text), max_texts, "texts"),
    ):
        if n > limit:
            hint = (
                " Use `client.submit_many(...)`, which splits them into several jobs "
                "and tracks them together, or put the files in a zip archive."
                if many_hint
                else ""
            )
            raise InputError(f"{n} {what} is over the limit of {limit} per job.{hint}")
    for i, url in enumerate(inputs.urls):
        contract.check_http_url(url, f"urls[{i}]")
    for i, item in enumerate(inputs.text):
        if len(item.encode("utf-8", "surrogatepass")) > max_file_bytes:
            raise InputError(
                f"`text[{i}]` is larger than the {max_file_bytes}-byte limit per "
                "item; split it into several items."
            )
    for f in inputs.files:
        if f.size > max_file_bytes:
            raise InputError(
                f"File `{f.path or f.name}` is {f.size / 1024**3:.2f} GB, over the "
                f"limit of {max_file_bytes / 1024**3:g} GB ({max_file_bytes} bytes) "
                "per file. Split or compress it."
            )
        if f.size == 0:
            raise InputError(f"File `{f.path or f.name}` is empty (0 bytes).")
    return inputs


def chunk_inputs(
    inputs: Inputs,
    *,
    max_urls: int = MAX_URLS,
    max_files: int = MAX_FILES,
    max_texts: int = MAX_TEXTS,
) -> list[Inputs]:
    """Split a bundle into pieces that each fit in one job.

    Parameters
    ----------
    inputs : Inputs
        Any number of URLs, files and texts.
    max_urls, max_files, max_texts : int
        Count limits per job.

    Returns
    -------
    list of Inputs
        Piece ``k`` holds the ``k``-th slice of the files, of the URLs and of the
        texts, in input order; as few pieces as the largest kind needs.
    """

    def slices(items, size):
        return [items[i : i + size] for i in range(0, len(items), size)]

    f, u, t = (
        slices(inputs.files, max_files),
        slices(inputs.urls, max_urls),
        slices(inputs.text, max_texts),
    )
    n = max(len(f), len(u), len(t))
    return [
        Inputs(
            urls=list(u[k]) if k < len(u) else [],
            files=list(f[k]) if k < len(f) else [],
            text=list(t[k]) if k < len(t) else [],
        )
        for k in range(n)
    ]
