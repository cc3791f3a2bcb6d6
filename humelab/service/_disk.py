"""The free-space reserve of the service's data folder (``min_free_bytes``)."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["DiskReserve", "LowDisk"]


class LowDisk(Exception):
    """The data folder's disk is under the free-space reserve (message for users)."""


class DiskReserve:
    """Checks the free space of the data folder's disk against ``min_free_bytes``.

    Parameters
    ----------
    path : Path
        A folder on the disk to watch (the data folder).
    min_free : int
        Bytes to keep free.
    """

    #: Bytes written between two checks while streaming.
    EVERY = 8 * 1024**2

    def __init__(self, path: Path, min_free: int):
        self.path = Path(path)
        self.min_free = int(min_free)

    def free(self) -> int:
        return shutil.disk_usage(self.path).free

    def check(self, incoming: int = 0) -> None:
        """Raise :class:`LowDisk` if ``incoming`` more bytes would cross the reserve."""
        free = self.free()
        if free - incoming < self.min_free:
            raise LowDisk(
                f"the service's disk has {_describe_size(free)} free, under its "
                f"reserve of {_describe_size(self.min_free)} (`min_free_bytes`); "
                "free space in its data folder, or resubmit later."
            )

    def watcher(self):
        """A callable ``(n_bytes)`` that checks the reserve every 8 MB streamed."""
        seen = [0]

        def on_chunk(n: int) -> None:
            before = seen[0]
            seen[0] += n
            if seen[0] // self.EVERY != before // self.EVERY:
                self.check()

        return on_chunk


def _describe_size(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
