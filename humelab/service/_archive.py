"""Safe expansion of archives (.zip, .tar.gz, .tar.bz2, .tar.xz) for the Batch service.

Members with absolute paths, ``..`` components or links are never written; hidden
files and ``__MACOSX`` are skipped; member count and expanded bytes are capped while
expanding, whatever the archive declares. Media files are paired with sibling
transcripts of the same stem.
"""

from __future__ import annotations

import contextlib
import lzma
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .. import contract
from ._disk import DiskReserve, LowDisk
from ._limits import ExpandBudget, Limits
from ._request import RequestRejected

#: What reading a damaged member or stream raises, besides OSError.
_READ_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    NotImplementedError,  # unsupported compression method
    RuntimeError,  # encrypted member, no password
    ValueError,
    OSError,
)

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
ARCHIVE_SUFFIXES: tuple[str, ...] = contract.SUFFIXES["archive"]
#: Transcript file endings paired with a media file of the same stem.
TRANSCRIPT_SUFFIXES: tuple[str, ...] = contract.SUFFIXES["transcript"]
_MEDIA_SUFFIXES = frozenset(
    contract.SUFFIXES["audio"] + contract.SUFFIXES["video"] + contract.SUFFIXES["image"]
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


def member_name(name: str) -> str:
    """A member name as text: bytes that were not UTF-8 are read as Latin-1.

    tarfile keeps undecodable name bytes as surrogate escapes, which cannot be
    stored or shown; archives written on older systems use Latin-1 (or cp437)
    names, so those bytes are decoded as Latin-1 instead.

    Examples
    --------
    >>> member_name("caf\udce9.wav")
    'café.wav'
    """
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


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


def check_zip_upload(path: Path, name: str, limits: Limits) -> int:
    """Cheap check of an uploaded zip from its directory (declared sizes and count).

    Returns
    -------
    int
        The declared expanded size (0 for a zip that cannot be read: it is
        reported as an error entry when the job runs).

    Raises
    ------
    RequestRejected
        When the declared member count or expanded size is over a cap.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except Exception:  # noqa: BLE001 - any unreadable zip: reported when the job runs
        return 0
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
    return total


def _store_failed(exc: OSError) -> _MemberSkip:
    # A member the file system refuses (name too long, disk full): skip it, and say
    # why without the service's own paths.
    reason = exc.strerror or type(exc).__name__
    return _MemberSkip(f"skipped: the service could not store it ({reason}).")


class _Corrupt(Exception):
    """Reading a member's data failed (the archive is damaged there)."""


def _copy_capped(
    src, dst_path: Path, budget: list, limits: Limits, name: str, archive, shared, disk
):
    per_file = 0
    try:
        out = open(dst_path, "wb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _store_failed(exc) from None
    watch = disk.watcher() if disk is not None else None
    with out:
        while True:
            try:
                chunk = src.read(1024 * 1024)
            except _READ_ERRORS as exc:
                raise _Corrupt(_read_reason(exc)) from None
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
            if shared is not None and not shared.take(len(chunk)):
                raise ArchiveError(
                    f"archive `{archive}` expands past the "
                    f"{_describe_bytes(shared.total)} limit per request for all "
                    "archives together (`max_expanded_bytes`); nothing was measured "
                    "from it. Send fewer or smaller archives per job."
                )
            if watch is not None:
                try:
                    watch(len(chunk))
                except LowDisk as exc:
                    raise ArchiveError(
                        f"archive `{archive}` was not expanded: {exc}"
                    ) from None
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


def _read_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:  # keep the service's paths out
        return f"{type(exc).__name__}: {exc.strerror}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def expand_archive(
    path: Path,
    dest: Path,
    limits: Limits,
    *,
    name: str | None = None,
    budget: ExpandBudget | None = None,
    disk: DiskReserve | None = None,
) -> tuple[list[tuple[str, Path]], list[dict]]:
    """Expand an archive safely into ``dest``.

    Members with absolute paths, ``..`` components, links, or device entries are not
    written; each becomes an error entry. Hidden files and ``__MACOSX`` are skipped
    silently. Expansion stops with :class:`ArchiveError` past ``max_archive_members``
    members or ``max_archive_bytes`` expanded bytes (counted while writing, whatever
    the archive declares), past the request's shared ``budget``, or when the disk
    reserve would be crossed.

    Damage stays local: a member whose data is corrupt (bad CRC, a broken deflate,
    gzip, bzip2 or xz stream, an unsupported method, encryption) becomes an error
    entry and the others are kept; in a compressed tarball, where nothing after
    the damage can be read, the members before it are kept and the rest is one
    error entry. Names that are not UTF-8 are read as Latin-1.

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
    budget : ExpandBudget, optional
        Expanded bytes left for all the archives of the request.
    disk : DiskReserve, optional
        Free-space reserve, checked every 8 MB written.

    Returns
    -------
    (list of (str, Path), list of dict)
        ``(member path, extracted file)`` in archive order, and error entries
        ``{"file", "message"}`` for refused members.
    """
    name = name or path.name
    budget_arg = budget
    dest.mkdir(parents=True, exist_ok=True)
    members: list[tuple[str, Path]] = []
    errors: list[dict] = []
    budget = [limits.max_archive_bytes]
    shared = budget_arg
    count = 0
    seen: set[str] = set()

    def admit(raw_name):
        nonlocal count
        raw_name = member_name(raw_name)
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

    if disk is not None:
        try:
            disk.check()
        except LowDisk as exc:
            raise ArchiveError(f"archive `{name}` was not expanded: {exc}") from None
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
                                "file": member_name(info.filename),
                                "message": "skipped: links are not expanded.",
                            }
                        )
                        continue
                    got = admit(info.filename)
                    if got is None:
                        continue
                    rel, target = got
                    try:
                        try:
                            src = zf.open(info)
                        except _READ_ERRORS as exc:
                            raise _Corrupt(_read_reason(exc)) from None
                        with src:
                            _copy_capped(src, target, budget, limits, rel, name,
                                         shared, disk)  # fmt: skip
                    except (_MemberSkip, _Corrupt) as exc:
                        with contextlib.suppress(OSError):
                            target.unlink(missing_ok=True)
                        message = str(exc)
                        if isinstance(exc, _Corrupt):
                            message = (
                                f"skipped: its data in the archive is corrupt "
                                f"({exc}); the other members were expanded."
                            )
                        errors.append({"file": rel, "message": message})
                        continue
                    members.append((rel, target))
        else:
            with tarfile.open(path, mode="r:*") as tf:
                members_iter = iter(tf)
                lost = False
                while True:
                    try:
                        info = next(members_iter)
                    except StopIteration:
                        break
                    except _READ_ERRORS as exc:
                        if not members and not errors:
                            raise  # nothing readable: the archive as a whole
                        errors.append(_rest_lost(name, exc, members))
                        lost = True
                        break
                    if info.isdir():
                        continue
                    if info.issym() or info.islnk():
                        errors.append(
                            {
                                "file": member_name(info.name),
                                "message": "skipped: links are not expanded.",
                            }
                        )
                        continue
                    if not info.isfile():
                        errors.append(
                            {
                                "file": member_name(info.name),
                                "message": "skipped: not a regular file.",
                            }
                        )
                        continue
                    got = admit(info.name)
                    if got is None:
                        continue
                    rel, target = got
                    try:
                        try:
                            src = tf.extractfile(info)
                        except _READ_ERRORS as exc:
                            raise _Corrupt(_read_reason(exc)) from None
                        _copy_capped(src, target, budget, limits, rel, name, shared,
                                     disk)  # fmt: skip
                    except _MemberSkip as exc:
                        with contextlib.suppress(OSError):
                            target.unlink(missing_ok=True)
                        errors.append({"file": rel, "message": str(exc)})
                        continue
                    except _Corrupt as exc:
                        # A compressed tar is one stream: nothing after this point
                        # can be read. Keep what came before.
                        with contextlib.suppress(OSError):
                            target.unlink(missing_ok=True)
                        errors.append(
                            {
                                "file": rel,
                                "message": "skipped: the archive is corrupt from "
                                f"this member on ({exc}); the members before it "
                                "were expanded.",
                            }
                        )
                        lost = True
                        break
                    members.append((rel, target))
                if not lost:
                    _check_tail(tf, name, members, errors)
    except ArchiveError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (*_READ_ERRORS, UnicodeDecodeError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        reason = _read_reason(exc)
        if isinstance(exc, UnicodeDecodeError):
            reason = "a member name is marked UTF-8 but is not"
        raise ArchiveError(
            f"could not read archive `{name}` ({reason}); check "
            "that it is a complete .zip, .tar.gz, .tar.bz2 or .tar.xz file."
        ) from None
    return members, errors


def _check_tail(tf, name: str, members: list, errors: list) -> None:
    """Read a tarball's stream to its end after the last member.

    tarfile stops quietly at a damaged header in the middle of an archive, as if it
    had ended; reading the rest of a compressed stream (bounded) shows whether it
    was whole: a broken stream or a failed checksum means members were lost.
    """
    fileobj = getattr(tf, "fileobj", None)
    if fileobj is None or not hasattr(fileobj, "read"):
        return
    left = 64 * 1024**2  # trailing padding is small; do not read an endless tail
    try:
        while left > 0:
            chunk = fileobj.read(min(left, 1024 * 1024))
            if not chunk:
                return
            left -= len(chunk)
    except _READ_ERRORS as exc:
        errors.append(_rest_lost(name, exc, members))


def _rest_lost(name: str, exc: BaseException, members: list) -> dict:
    last = members[-1][0] if members else None
    after = f" after `{last}`" if last else ""
    return {
        "file": name,
        "message": f"skipped: the rest of archive `{name}`{after} is corrupt "
        f"({_read_reason(exc)}); the members before it were expanded.",
    }


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


def attach_transcripts(groups: list[list]) -> list[list]:
    """Pair transcripts uploaded as their own sources with media of another source.

    Inside one source (an archive, a folder) :func:`pair_transcripts` pairs a media
    file with the ``.txt``/``.srt``/``.vtt`` of the same folder and stem; this does
    the same across the sources of a job (files uploaded one by one), for media that
    have no transcript yet. A transcript paired so is not measured on its own.

    Parameters
    ----------
    groups : list of list of MediaInput
        The items of each source of a job, in order.

    Returns
    -------
    list of list of MediaInput
        The items per source: paired media carry their transcript, paired
        transcripts are left out.
    """

    def key(name: str) -> tuple[str, str]:
        p = PurePosixPath(name)
        return str(p.parent), p.stem

    wanting = {}  # (folder, stem) -> (source, item) of media without a transcript
    for si, items in enumerate(groups):
        for it in items:
            suffix = PurePosixPath(it.file).suffix.lower()
            if (
                it.path is not None
                and it.transcript is None
                and suffix in _MEDIA_SUFFIXES
            ):
                wanting.setdefault(key(it.file), (si, it))
    if not wanting:
        return groups
    used: set[int] = set()
    for si, items in enumerate(groups):
        for it in items:
            suffix = PurePosixPath(it.file).suffix.lower()
            if it.path is None or suffix not in TRANSCRIPT_SUFFIXES:
                continue
            target = wanting.pop(key(it.file), None)
            if target is not None and target[0] != si:
                target[1].transcript = it.path
                used.add(id(it))
    return [[it for it in items if id(it) not in used] for items in groups]
