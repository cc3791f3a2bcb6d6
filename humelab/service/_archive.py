"""Safe expansion of archives (.zip, .tar.gz, .tar.bz2, .tar.xz) for the Batch service.

Members with absolute paths, ``..`` components or links are never written; hidden
files and ``__MACOSX`` are skipped; member count and expanded bytes are capped while
expanding, whatever the archive declares. Media files are paired with sibling
transcripts of the same stem.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ._request import RequestRejected

if TYPE_CHECKING:
    from .intake import Limits

__all__ = [
    "ARCHIVE_SUFFIXES",
    "TRANSCRIPT_SUFFIXES",
    "ArchiveError",
    "is_archive",
    "archive_kind",
    "check_zip_upload",
    "expand_archive",
    "pair_transcripts",
]

#: File name endings treated as archives.
ARCHIVE_SUFFIXES: tuple[str, ...] = (".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
#: Transcript file endings paired with a media file of the same stem.
TRANSCRIPT_SUFFIXES: tuple[str, ...] = (".txt", ".srt", ".vtt")
_MEDIA_SUFFIXES = frozenset(
    ".wav .mp3 .m4a .aac .flac .ogg .oga .opus .wma .aif .aiff .webm .mp4 .m4v .mov "
    ".avi .mkv .mpg .mpeg .wmv .3gp .flv .png .jpg .jpeg .gif .bmp .tif .tiff .webp "
    ".heic".split()
)


def _describe_bytes(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


class ArchiveError(Exception):
    """An archive was refused as a whole (over a cap, unreadable)."""


def is_archive(name: str, path: Path | None = None) -> bool:
    """Whether ``name`` ends like a supported archive.

    With ``path``, a file whose name has no known media, transcript or archive
    ending (a URL like ``.../download?id=3``) is also sniffed for zip or tar content.
    """
    low = name.lower()
    if any(low.endswith(s) for s in ARCHIVE_SUFFIXES):
        return True
    if path is None:
        return False
    suffix = PurePosixPath(low).suffix
    if suffix in _MEDIA_SUFFIXES or suffix in TRANSCRIPT_SUFFIXES:
        return False
    try:
        return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)
    except (OSError, EOFError, tarfile.TarError):
        return False


def archive_kind(name: str, path: Path) -> str:
    """``"zip"`` or ``"tar"`` for an archive (by name, else by content)."""
    if name.lower().endswith(".zip"):
        return "zip"
    if any(name.lower().endswith(s) for s in ARCHIVE_SUFFIXES):
        return "tar"
    return "zip" if zipfile.is_zipfile(path) else "tar"


def _member_path(name: str) -> tuple[str | None, str | None]:
    """(safe relative posix path, None) or (None, reason) or (None, None) to skip."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        return None, "absolute path"
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if not parts:
        return None, None
    if ".." in parts:
        return None, "path leaves the archive (`..`)"
    if parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
        return None, None  # hidden files and macOS resource forks: skipped silently
    if any(re.search(r"[\x00-\x1f]", p) for p in parts):
        return None, "control characters in the name"
    return "/".join(parts), None


def check_zip_upload(path: Path, name: str, limits: Limits) -> None:
    """Cheap check of an uploaded zip from its directory (declared sizes and count).

    Raises
    ------
    RequestRejected
        When the declared member count or expanded size is over a cap.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # reported per file when the job runs
    files = [i for i in infos if not i.is_dir()]
    if len(files) > limits.max_archive_members:
        raise RequestRejected(
            f"archive `{name}` has {len(files)} members; at most "
            f"{limits.max_archive_members} are expanded per archive. Split it.",
            error="LimitExceeded",
        )
    total = sum(i.file_size for i in files)
    if total > limits.max_archive_bytes:
        raise RequestRejected(
            f"archive `{name}` expands to {total} bytes, over the "
            f"{_describe_bytes(limits.max_archive_bytes)} limit per archive. Split it.",
            error="LimitExceeded",
        )


def _store_failed(exc: OSError) -> _MemberSkip:
    # A member the file system refuses (name too long, disk full): skip it, and say
    # why without the service's own paths.
    reason = exc.strerror or type(exc).__name__
    return _MemberSkip(f"skipped: the service could not store it ({reason}).")


def _copy_capped(src, dst_path: Path, budget: list, limits: Limits, name: str, archive):
    per_file = 0
    try:
        out = open(dst_path, "wb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _store_failed(exc) from None
    with out:
        while True:
            chunk = src.read(1024 * 1024)
            if not chunk:
                break
            per_file += len(chunk)
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise ArchiveError(
                    f"archive `{archive}` expands past the "
                    f"{_describe_bytes(limits.max_archive_bytes)} limit per archive; "
                    "nothing was measured from it. Split it into smaller archives."
                )
            if per_file > limits.max_file_bytes:
                raise _MemberSkip(
                    f"skipped: larger than the {_describe_bytes(limits.max_file_bytes)}"
                    " limit per file."
                )
            try:
                out.write(chunk)
            except OSError as exc:
                raise _store_failed(exc) from None


class _MemberSkip(Exception):
    pass


def expand_archive(
    path: Path, dest: Path, limits: Limits, *, name: str | None = None
) -> tuple[list[tuple[str, Path]], list[dict]]:
    """Expand an archive safely into ``dest``.

    Members with absolute paths, ``..`` components, links, or device entries are not
    written; each becomes an error entry. Hidden files and ``__MACOSX`` are skipped
    silently. Expansion stops with :class:`ArchiveError` past ``max_archive_members``
    members or ``max_archive_bytes`` expanded bytes (counted while writing, whatever
    the archive declares).

    Parameters
    ----------
    path : Path
        The archive file.
    dest : Path
        Folder to expand into (created).
    limits : Limits
        The archive caps.
    name : str, optional
        Archive name for messages (default: file name).

    Returns
    -------
    (list of (str, Path), list of dict)
        ``(member path, extracted file)`` in archive order, and error entries
        ``{"file", "message"}`` for refused members.
    """
    name = name or path.name
    dest.mkdir(parents=True, exist_ok=True)
    members: list[tuple[str, Path]] = []
    errors: list[dict] = []
    budget = [limits.max_archive_bytes]
    count = 0
    seen: set[str] = set()

    def admit(raw_name):
        nonlocal count
        rel, reason = _member_path(raw_name)
        if rel is None:
            if reason:
                errors.append({"file": raw_name, "message": f"skipped: {reason}."})
            return None
        if rel in seen:
            errors.append({"file": rel, "message": "skipped: duplicate member name."})
            return None
        count += 1
        if count > limits.max_archive_members:
            raise ArchiveError(
                f"archive `{name}` has more than {limits.max_archive_members} members; "
                "nothing was measured from it. Split it into smaller archives."
            )
        seen.add(rel)
        target = dest.joinpath(*rel.split("/"))
        # Defence in depth: the resolved target must stay inside dest.
        if not str(target.resolve()).startswith(str(dest.resolve()) + os.sep):
            errors.append(
                {"file": raw_name, "message": "skipped: path leaves the archive."}
            )
            return None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            errors.append({"file": rel, "message": str(_store_failed(exc))})
            return None
        return rel, target

    try:
        if archive_kind(name, path) == "zip":
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    mode = info.external_attr >> 16
                    if stat.S_ISLNK(mode):
                        errors.append(
                            {
                                "file": info.filename,
                                "message": "skipped: links are not expanded.",
                            }
                        )
                        continue
                    got = admit(info.filename)
                    if got is None:
                        continue
                    rel, target = got
                    try:
                        with zf.open(info) as src:
                            _copy_capped(src, target, budget, limits, rel, name)
                    except _MemberSkip as exc:
                        with contextlib.suppress(OSError):
                            target.unlink(missing_ok=True)
                        errors.append({"file": rel, "message": str(exc)})
                        continue
                    members.append((rel, target))
        else:
            with tarfile.open(path, mode="r:*") as tf:
                for info in tf:
                    if info.isdir():
                        continue
                    if info.issym() or info.islnk():
                        errors.append(
                            {
                                "file": info.name,
                                "message": "skipped: links are not expanded.",
                            }
                        )
                        continue
                    if not info.isfile():
                        errors.append(
                            {
                                "file": info.name,
                                "message": "skipped: not a regular file.",
                            }
                        )
                        continue
                    got = admit(info.name)
                    if got is None:
                        continue
                    rel, target = got
                    src = tf.extractfile(info)
                    try:
                        _copy_capped(src, target, budget, limits, rel, name)
                    except _MemberSkip as exc:
                        with contextlib.suppress(OSError):
                            target.unlink(missing_ok=True)
                        errors.append({"file": rel, "message": str(exc)})
                        continue
                    members.append((rel, target))
    except ArchiveError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        reason = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, OSError) and exc.strerror:  # keep the service's paths out
            reason = f"{type(exc).__name__}: {exc.strerror}"
        raise ArchiveError(
            f"could not read archive `{name}` ({reason}); check "
            "that it is a complete .zip, .tar.gz, .tar.bz2 or .tar.xz file."
        ) from None
    return members, errors


def pair_transcripts(
    files: list[tuple[str, Path]],
) -> list[tuple[str, Path, Path | None]]:
    """Attach sibling transcripts (same folder and stem, .txt/.srt/.vtt) to media files.

    Parameters
    ----------
    files : list of (str, Path)
        ``(relative path, file)`` of one source.

    Returns
    -------
    list of (str, Path, Path or None)
        ``(relative path, file, transcript)``; a transcript attached to a media file is
        not listed on its own. Order follows ``files``.
    """
    media_keys = set()
    for rel, _ in files:
        p = PurePosixPath(rel)
        if p.suffix.lower() in _MEDIA_SUFFIXES:
            media_keys.add((str(p.parent), p.stem))
    transcripts: dict[tuple[str, str], Path] = {}
    for rel, path in files:
        p = PurePosixPath(rel)
        if (
            p.suffix.lower() in TRANSCRIPT_SUFFIXES
            and (str(p.parent), p.stem) in media_keys
        ):
            transcripts.setdefault((str(p.parent), p.stem), path)
    out = []
    attached = set(map(str, transcripts.values()))
    for rel, path in files:
        p = PurePosixPath(rel)
        if str(path) in attached:
            continue
        tr = None
        if p.suffix.lower() in _MEDIA_SUFFIXES:
            tr = transcripts.get((str(p.parent), p.stem))
        out.append((rel, path, tr))
    return out
