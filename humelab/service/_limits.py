"""The service's caps (:class:`Limits`) and the expansion budget of one request.

Below both intake (uploads, URL fetching) and archive expansion, which read them;
``humelab.service.intake`` re-exports them under its own name as before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .. import contract

__all__ = ["GB", "Limits", "ExpandBudget"]

GB = 1024**3


@dataclass(frozen=True)
class Limits:
    """Caps of the service; every one can be set through ``humelab.serve(**limits)``.

    Attributes
    ----------
    max_urls, max_files, max_texts : int
        Items per request (100 each, as Hume's service).
    max_file_bytes : int
        Any single upload, URL download or text item (1 GB).
    max_json_bytes : int
        A JSON body or the multipart ``json`` part (64 MB).
    max_archive_members : int
        Members expanded from one archive.
    max_archive_bytes : int
        Total expanded size of one archive (4 GB).
    max_expanded_bytes : int
        Total expanded size of all the archives of one request (4 GB): a small
        upload cannot fill the disk by being many archives.
    fetch_timeout : float
        Seconds to connect to a URL and between received bytes (30 s).
    fetch_total_timeout : float
        Seconds for a whole URL download, wall clock (1 hour): a sender trickling
        bytes is cut off when it passes.
    upload_idle_timeout : float
        Seconds an upload may send nothing before the service answers ``408`` and
        closes the connection (60 s).
    min_free_bytes : int
        Free space the service keeps on the disk of its data folder (1 GB): a new
        job is refused with ``507`` below it, and uploads, downloads and archive
        expansion stop before crossing it.
    """

    max_urls: int = contract.MAX_URLS
    max_files: int = contract.MAX_FILES
    max_texts: int = contract.MAX_TEXTS
    max_file_bytes: int = contract.MAX_FILE_BYTES
    max_json_bytes: int = 64 * 1024**2
    max_archive_members: int = 10_000
    max_archive_bytes: int = 4 * GB
    fetch_timeout: float = 30.0
    fetch_total_timeout: float = 3600.0
    max_expanded_bytes: int = 4 * GB
    upload_idle_timeout: float = 60.0
    min_free_bytes: int = GB


class ExpandBudget:
    """Expanded bytes left for the archives of one request (shared across threads)."""

    def __init__(self, total: int):
        self.total = int(total)
        self.left = int(total)
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        """Use ``n`` bytes; False (and nothing used) when fewer are left."""
        with self._lock:
            if n > self.left:
                return False
            self.left -= n
            return True
