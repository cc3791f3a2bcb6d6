"""Intake of job inputs on the service: streamed uploads, URL fetching, archives.

Nothing here holds a whole upload or download in memory: multipart bodies are parsed
with python-multipart's streaming parser and written to disk as they arrive, URLs are
streamed to disk, archives are expanded member by member. Every byte counts against
the caps of :class:`Limits` as it arrives, and going over a cap stops the transfer.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ._archive import (
    ARCHIVE_SUFFIXES,
    ArchiveError,
    _describe_bytes,
    check_zip_upload,
    expand_archive,
    is_archive,
    pair_transcripts,
)
from ._disk import DiskReserve, LowDisk
from ._limits import ExpandBudget, Limits
from ._netguard import FetchFailed, NetGuard, Refused, retry_policy
from ._request import RequestRejected, check_http_url, parse_json_bytes

__all__ = [
    "Limits",
    "Upload",
    "DiskReserve",
    "LowDisk",
    "ExpandBudget",
    "receive_multipart",
    "fetch_url",
    "FetchError",
    "ArchiveError",
    "is_archive",
    "expand_archive",
    "check_zip_upload",
    "pair_transcripts",
    "safe_filename",
    "url_filename",
]

log = logging.getLogger(__name__)


@dataclass
class Upload:
    """One received ``file`` part."""

    filename: str | None
    content_type: str | None
    md5sum: str
    size: int
    path: Path


#: Longest on-disk file name, in UTF-8 bytes (Linux allows 255 per component).
_MAX_NAME_BYTES = 200
#: Longest extension kept whole when a name is cut (".tar.gz" and friends fit).
_MAX_EXT_BYTES = 16


def _cut_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _clean_name(name: str) -> str:
    """``name`` without control characters or lone surrogates, stripped."""
    name = name.encode("utf-8", "replace").decode("utf-8")
    return re.sub(r"[\x00-\x1f\x7f]", "", name).strip()


def safe_filename(name: str | None, default: str = "file") -> str:
    """A name safe as one on-disk path component.

    Only the last ``/`` or ``\\`` component is kept, control characters are dropped,
    and a name longer than 200 UTF-8 bytes is cut in its stem so that its extension
    (``.jpg``, ``.tar.gz``) survives. The name the user gave is kept separately (the
    request echo, ``source.filename``, ``prediction.file``); this is only for disk.

    Parameters
    ----------
    name : str or None
        The name as received (an upload's filename, a URL's last segment).
    default : str
        Used when nothing usable is left.

    Returns
    -------
    str
        A non-empty name of at most 200 UTF-8 bytes, without ``/``.

    Examples
    --------
    >>> safe_filename("p1/clip.wav")
    'clip.wav'
    >>> n = safe_filename("\u00e9" * 150 + ".jpg")
    >>> len(n.encode()), n[-4:]
    (200, '.jpg')
    """
    if not name:
        return default
    name = _clean_name(name.replace("\\", "/").rsplit("/", 1)[-1])
    if name in ("", ".", ".."):
        return default
    if len(name.encode("utf-8")) <= _MAX_NAME_BYTES:
        return name
    lower = name.lower()
    ext = next(
        (a for a in ARCHIVE_SUFFIXES if lower.endswith(a) and len(a) < len(name)),
        None,
    )
    if ext is None:
        stem, dot, tail = name.rpartition(".")
        ext = dot + tail if stem and dot else ""
    ext = ext if len(ext.encode("utf-8")) <= _MAX_EXT_BYTES else ""
    stem = name[: len(name) - len(ext)]
    cut = _cut_utf8(stem, _MAX_NAME_BYTES - len(ext.encode("utf-8"))).rstrip()
    return (cut or default) + ext


# -- multipart -------------------------------------------------------------------------


_EXT_VALUE = re.compile(
    rb"""(?:^|;)\s*filename\*\s*=\s*([A-Za-z0-9_-]+)'[^']*'([^;\s]*)""", re.I
)


def _part_filename(disposition: bytes, opts: dict) -> str | None:
    """The file name of a multipart part: RFC 5987 ``filename*`` first, else
    ``filename`` (as UTF-8)."""
    from urllib.parse import unquote_to_bytes

    m = _EXT_VALUE.search(disposition)
    if m:
        charset = m.group(1).decode("ascii").lower()
        raw = unquote_to_bytes(m.group(2))
        try:
            return raw.decode("utf-8" if charset == "utf-8" else charset, "replace")
        except LookupError:  # unknown charset: read it as UTF-8
            return raw.decode("utf-8", "replace")
    filename = opts.get(b"filename")
    return filename.decode("utf-8", "replace") if filename is not None else None


class _MultipartSink:
    """Callbacks for python-multipart that stream ``file`` parts to disk."""

    def __init__(self, staging: Path, limits: Limits, disk: DiskReserve | None = None):
        self.staging = staging
        self.limits = limits
        self._disk_watch = disk.watcher() if disk is not None else None
        self.uploads: list[Upload] = []
        self.json_bytes: bytes | None = None
        self._hname = b""
        self._hval = b""
        self._headers: dict[bytes, bytes] = {}
        self._kind = None  # "file" | "json"
        self._fh = None
        self._md5 = None
        self._size = 0
        self._buf = bytearray()
        self._meta = None

    def on_part_begin(self):
        self._headers = {}
        self._kind = None

    def on_header_field(self, data, start, end):
        self._hname += data[start:end]

    def on_header_value(self, data, start, end):
        self._hval += data[start:end]

    def on_header_end(self):
        self._headers[self._hname.lower()] = self._hval
        self._hname, self._hval = b"", b""

    def on_headers_finished(self):
        from python_multipart.multipart import parse_options_header

        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        ctype = self._headers.get(b"content-type")
        ctype = ctype.decode("latin-1").strip() if ctype else None
        filename = _part_filename(self._headers.get(b"content-disposition", b""), opts)
        if name in ("file", "file[]"):
            n = len(self.uploads)
            if n >= self.limits.max_files:
                raise RequestRejected(
                    f"too many files: more than {self.limits.max_files} `file` parts "
                    "in one request. Send at most "
                    f"{self.limits.max_files} files per job, or pack them into an "
                    "archive (.zip, .tar.gz, .tar.bz2, .tar.xz).",
                    error="LimitExceeded",
                )
            d = self.staging / str(n)
            d.mkdir()
            path = d / safe_filename(filename)
            self._kind = "file"
            self._fh = open(path, "wb")  # noqa: SIM115 - closed in on_part_end
            self._md5 = hashlib.md5(usedforsecurity=False)
            self._size = 0
            self._meta = (filename, ctype, path)
        elif name == "json":
            if self.json_bytes is not None:
                raise RequestRejected(
                    "the multipart body has more than one `json` part; send the job "
                    "options once.",
                )
            self._kind = "json"
            self._buf = bytearray()
        else:
            raise RequestRejected(
                f"unknown multipart part `{name}`; send media as `file` parts and "
                "the job options as one `json` part.",
            )

    def on_part_data(self, data, start, end):
        chunk = data[start:end]
        if self._kind == "file":
            self._size += len(chunk)
            if self._size > self.limits.max_file_bytes:
                fname = self._meta[0] or "(unnamed)"
                raise RequestRejected(
                    f"upload `{fname}` is larger than the "
                    f"{_describe_bytes(self.limits.max_file_bytes)} limit per file; "
                    "split it, or host it and send its URL.",
                    error="LimitExceeded",
                )
            if self._disk_watch is not None:
                try:
                    self._disk_watch(len(chunk))
                except LowDisk as exc:
                    raise RequestRejected(
                        str(exc), status=507, error="InsufficientStorage"
                    ) from None
            self._md5.update(chunk)
            self._fh.write(chunk)
        elif self._kind == "json":
            if len(self._buf) + len(chunk) > self.limits.max_json_bytes:
                raise RequestRejected(
                    "the `json` part is larger than the "
                    f"{_describe_bytes(self.limits.max_json_bytes)} limit.",
                    error="LimitExceeded",
                )
            self._buf += chunk

    def on_part_end(self):
        if self._kind == "file":
            self._fh.close()
            self._fh = None
            filename, ctype, path = self._meta
            self.uploads.append(
                Upload(filename, ctype, self._md5.hexdigest(), self._size, path)
            )
        elif self._kind == "json":
            self.json_bytes = bytes(self._buf)
        self._kind = None

    def close(self):
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class Stalled(RequestRejected):
    """The client sent nothing for ``upload_idle_timeout`` seconds."""

    def __init__(self, seconds: float):
        super().__init__(
            f"the request body stalled: nothing arrived for {seconds:g} s "
            "(`upload_idle_timeout`), so the service closed the connection. Send "
            "the request again.",
            status=408,
            error="RequestTimeout",
        )


async def body_chunks(request, idle: float):
    """The body of ``request`` chunk by chunk; :class:`Stalled` after ``idle`` s of
    silence."""
    import anyio

    stream = request.stream().__aiter__()
    while True:
        try:
            with anyio.fail_after(idle):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise Stalled(idle) from None
        yield chunk


async def receive_multipart(
    request, staging: Path, limits: Limits, disk: DiskReserve | None = None
):
    """Stream a multipart job request to ``staging``.

    Parameters
    ----------
    request : starlette.requests.Request
        The incoming request (``multipart/form-data``).
    staging : Path
        Empty folder that receives ``<n>/<filename>`` per ``file`` part.
    limits : Limits
        Caps checked while bytes arrive; ``upload_idle_timeout`` closes a stalled
        upload.
    disk : DiskReserve, optional
        Free-space reserve checked every 8 MB received (``507`` when crossed).

    Returns
    -------
    (list of Upload, dict or None)
        The uploads in order and the decoded ``json`` part, if any.

    Raises
    ------
    RequestRejected
        On a malformed body, an unknown part, or a cap exceeded. The caller removes
        ``staging``.
    """
    import anyio
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise RequestRejected(
            "the multipart body has no boundary in its Content-Type header."
        )
    sink = _MultipartSink(staging, limits, disk)
    callbacks = {
        k: getattr(sink, k)
        for k in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
        )
    }
    parser = MultipartParser(boundary, callbacks)
    stream = body_chunks(request, limits.upload_idle_timeout)
    try:
        pending = bytearray()
        async for chunk in stream:
            pending += chunk
            if len(pending) >= 1024 * 1024:
                await anyio.to_thread.run_sync(parser.write, bytes(pending))
                pending.clear()
        if pending:
            await anyio.to_thread.run_sync(parser.write, bytes(pending))
        parser.finalize()
    except FormParserError as exc:
        sink.close()
        raise RequestRejected(f"the multipart body is malformed ({exc}).") from None
    except Stalled:
        sink.close()
        raise
    except RequestRejected:
        sink.close()
        # Read and drop the rest of the body (bounded), so the client sees the answer
        # instead of a reset connection.
        drained = 0
        try:
            async for chunk in stream:
                drained += len(chunk)
                if drained > 64 * 1024**2:
                    break
        except Exception:  # noqa: BLE001 - went away or stalled; nothing to answer
            pass
        raise
    except BaseException:
        sink.close()
        raise
    if sink._kind is not None or sink._fh is not None:
        sink.close()
        raise RequestRejected("the multipart body ended in the middle of a part.")
    options = None
    if sink.json_bytes is not None and sink.json_bytes.strip():
        options = parse_json_bytes(sink.json_bytes, where="`json` part")
    return sink.uploads, options


# -- URLs ------------------------------------------------------------------------------


class FetchError(Exception):
    """A URL could not be fetched (message is for the job's results)."""


def url_filename(url: str) -> str:
    """The file name of ``url`` as its sender knows it.

    The last path segment, unquoted and without control characters; the host when
    the path has none. Not cut to any length: the file is stored on disk under
    :func:`safe_filename` of this name.

    Examples
    --------
    >>> url_filename("http://127.0.0.1:8000/media/face%20smile.jpg?x=1")
    'face smile.jpg'
    >>> url_filename("http://127.0.0.1:8000/")
    '127.0.0.1'
    """
    parts = urlsplit(url)
    seg = unquote(parts.path.rsplit("/", 1)[-1]) if parts.path else ""
    seg = _clean_name(seg)
    if seg in ("", ".", ".."):
        return parts.hostname or "download"
    return seg


def fetch_url(
    url: str,
    dest_dir: Path,
    limits: Limits,
    *,
    guard: NetGuard | None = None,
    disk: DiskReserve | None = None,
) -> Path:
    """Download ``url`` into ``dest_dir``, streamed, size-capped and guarded.

    Parameters
    ----------
    url : str
        An http or https URL.
    dest_dir : Path
        Existing folder; the file is named :func:`safe_filename` of the URL's last
        path segment (cut to a length the file system accepts).
    limits : Limits
        ``max_file_bytes``, ``fetch_timeout`` (connect, and between received bytes)
        and ``fetch_total_timeout`` (wall clock, whatever the sender does) apply.
    guard : NetGuard, optional
        Which addresses may be contacted (default: public ones only); the
        connection goes to the address it checked, and every redirect is checked.
    disk : DiskReserve, optional
        Free-space reserve, checked every 8 MB.

    Returns
    -------
    Path
        The downloaded file.

    Raises
    ------
    FetchError
        Not a public address (unless allowed), unreachable, non-2xx status,
        deadline passed, over the size cap, too many redirects, or the file could
        not be stored. No partial file is left behind; the message names the URL,
        never a path of the service, and reads the same for a closed port as for
        an open one.
    """
    try:
        check_http_url(url, "url")
    except RequestRejected as exc:
        raise FetchError(str(exc)) from None
    guard = guard or NetGuard()
    path = dest_dir / safe_filename(url_filename(url), default="download")
    cap = limits.max_file_bytes
    try:
        if disk is not None:
            disk.check()
        with open(path, "wb") as fh:
            guard.fetch_to(
                url,
                fh,
                cap=cap,
                connect_timeout=limits.fetch_timeout,
                read_timeout=limits.fetch_timeout,
                total_timeout=limits.fetch_total_timeout,
                retries=retry_policy(total=2, backoff=0.5, methods=("GET",)),
                on_chunk=disk.watcher() if disk is not None else None,
            )
    except (Refused, FetchFailed, LowDisk) as exc:
        _unlink_quietly(path)
        reason = str(exc)
        if reason == "DEADLINE":
            reason = f"download took longer than {limits.fetch_total_timeout:g} s"
        elif reason.startswith("TOO_LARGE"):
            size = reason.partition(":")[2]
            reason = (
                f"it is {size} bytes, over the {_describe_bytes(cap)} limit per file"
                if size
                else f"larger than the {_describe_bytes(cap)} limit per file"
            )
        raise FetchError(f"could not fetch {url}: {reason.rstrip('.')}.") from None
    except OSError as exc:  # the service could not write it (disk full, ...)
        _unlink_quietly(path)
        reason = exc.strerror or type(exc).__name__
        raise FetchError(
            f"could not fetch {url}: the service could not store it ({reason}). "
            "Free space in the service's data folder, or resubmit later."
        ) from None
    return path


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
