"""The job store of the Batch service: SQLite (WAL) for jobs, a folder for files.

Layout of a data directory::

    DATA/jobs.sqlite3          one row per job (state, request echo, stored inputs),
                               one per job-end callback not yet delivered, and
                               one per file measured by a job still running
    DATA/service.lock          held while a service uses the directory
    DATA/tmp/                  uploads being received (removed on failure and at start)
    DATA/jobs/<job_id>/uploads/<n>/<filename>   uploaded files, until the job ends
    DATA/jobs/<job_id>/work/                    fetched URLs and expanded archives
    DATA/jobs/<job_id>/predictions.json         written atomically on completion
    DATA/jobs/<job_id>/artifacts.zip            written on first request, then cached
    DATA/jobs/<job_id>/usage.json               what a paid engine sent (on completion)

All result files are written to a temporary name and renamed into place, so a crash
never leaves a half-written result behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from ..contract import STATUSES, TERMINAL
from ..errors import HumelabError

__all__ = ["JobStore", "STATUSES", "TERMINAL", "now_ms", "atomic_write_bytes"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    started_ms INTEGER,
    ended_ms INTEGER,
    request TEXT NOT NULL,
    uploads TEXT NOT NULL,
    engine TEXT NOT NULL,
    simulated INTEGER NOT NULL,
    num_predictions INTEGER,
    num_errors INTEGER,
    message TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    runs INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_ms);
CREATE TABLE IF NOT EXISTS pending_callbacks (
    job_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS file_results (
    job_id TEXT NOT NULL,
    key TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (job_id, key)
);
"""

log = logging.getLogger(__name__)

_SORT_COLUMNS = {"created": "created_ms", "started": "started_ms", "ended": "ended_ms"}


def now_ms() -> int:
    """Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class DataDirBusy(HumelabError):
    """Another running service holds the data directory."""


class JobStore:
    """SQLite job table plus the per-job folders of a data directory.

    Parameters
    ----------
    data_dir : str or Path
        Directory holding ``jobs.sqlite3`` and job folders; created when missing.

    Notes
    -----
    One connection is shared by all threads behind a lock; SQLite runs in WAL mode so
    readers never wait for the writer on disk.
    """

    def __init__(self, data_dir):
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "jobs").mkdir(exist_ok=True)
        self._lock_fh = self._acquire_dir_lock()
        tmp = self.data_dir / "tmp"
        shutil.rmtree(tmp, ignore_errors=True)  # half-received uploads of a dead run
        tmp.mkdir()
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.data_dir / "jobs.sqlite3",
            check_same_thread=False,
            isolation_level=None,
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._remove_orphans()
        self._remove_stale_temp()

    # -- lifecycle --------------------------------------------------------------------

    def _acquire_dir_lock(self):
        path = self.data_dir / "service.lock"
        fh = open(path, "a+")  # noqa: SIM115 - held open for the store's lifetime
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            pass
        except OSError:
            fh.close()
            raise DataDirBusy(
                f"The data directory {self.data_dir} is in use by another running "
                "humelab service. Stop that service, or pass a different `data_dir` "
                "(`--data`)."
            ) from None
        return fh

    def close(self) -> None:
        """Close the database and release the data directory."""
        with self._lock:
            try:
                self._db.close()
            finally:
                if self._lock_fh is not None:
                    self._lock_fh.close()
                    self._lock_fh = None

    def _remove_orphans(self) -> None:
        known = {r[0] for r in self._db.execute("SELECT job_id FROM jobs")}
        for d in (self.data_dir / "jobs").iterdir():
            if d.is_dir() and d.name not in known:
                shutil.rmtree(d, ignore_errors=True)

    def _remove_stale_temp(self) -> None:
        """Remove temp files a killed service left in job folders.

        Results are written as ``.<name>.<hex>.tmp`` and renamed into place; a kill
        between the two leaves the temp file. No other service uses the folder (the
        lock is held), so every one found at start is stale.
        """
        for d in (self.data_dir / "jobs").iterdir():
            if not d.is_dir():
                continue
            for tmp in d.glob(".*.tmp"):
                try:
                    tmp.unlink()
                except OSError:
                    log.warning("could not remove stale temp file %s", tmp.name)

    # -- paths ------------------------------------------------------------------------

    def new_staging_dir(self) -> Path:
        """A fresh folder under ``tmp/`` for an upload being received."""
        d = self.data_dir / "tmp" / uuid.uuid4().hex
        d.mkdir()
        return d

    def job_dir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def predictions_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "predictions.json"

    def artifacts_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "artifacts.zip"

    # -- writes -----------------------------------------------------------------------

    def create(
        self,
        *,
        request: dict,
        uploads: list[dict],
        staging: Path | None,
        engine: str,
        simulated: bool,
        total: int = 0,
    ) -> str:
        """Create a QUEUED job, moving its staged uploads into the job folder.

        Parameters
        ----------
        request : dict
            The request echo (with ``files``).
        uploads : list of dict
            Stored uploads: ``filename``, ``content_type``, ``md5sum``, ``path``
            (relative to the job folder).
        staging : Path or None
            The staging folder holding the uploads (renamed to ``uploads/``).
        engine : str
            Engine name.
        simulated : bool
            Whether the engine's scores are simulated.
        total : int
            Number of inputs (the progress total until the job expands them).

        Returns
        -------
        str
            The new job id.
        """
        job_id = str(uuid.uuid4())
        jdir = self.job_dir(job_id)
        jdir.mkdir()
        try:
            if staging is not None:
                os.replace(staging, jdir / "uploads")
            with self._lock:
                self._db.execute(
                    "INSERT INTO jobs (job_id, status, created_ms, request, uploads, "
                    "engine, simulated, total) VALUES (?, 'QUEUED', ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        now_ms(),
                        json.dumps(request),
                        json.dumps(uploads),
                        engine,
                        int(simulated),
                        int(total),
                    ),
                )
        except BaseException:
            shutil.rmtree(jdir, ignore_errors=True)
            raise
        return job_id

    def _update(self, job_id: str, **cols) -> None:
        sets = ", ".join(f"{k} = ?" for k in cols)
        with self._lock:
            self._db.execute(
                f"UPDATE jobs SET {sets} WHERE job_id = ?", (*cols.values(), job_id)
            )

    def mark_started(self, job_id: str) -> None:
        """QUEUED -> IN_PROGRESS, counting the run.

        ``started_ms`` is stamped on the first run only: a job resumed after the
        service stopped keeps the time it first started.
        """
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = 'IN_PROGRESS', "
                "started_ms = COALESCE(started_ms, ?), done = 0, "
                "runs = runs + 1 WHERE job_id = ?",
                (now_ms(), job_id),
            )

    def set_progress(self, job_id: str, done: int, total: int) -> None:
        self._update(job_id, done=done, total=total)

    def _end(self, job_id: str, sql: str, args: tuple, callback_url: str | None):
        # The end state and its pending callback are written in one transaction, so
        # a job never ends without the callback it owes (or owes one twice).
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(sql, args)
                if callback_url:
                    self._db.execute(
                        "INSERT OR REPLACE INTO pending_callbacks "
                        "(job_id, url, attempts, created_ms) VALUES (?, ?, 0, ?)",
                        (job_id, callback_url, now_ms()),
                    )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def mark_completed(
        self,
        job_id: str,
        *,
        num_predictions: int,
        num_errors: int,
        callback_url: str | None = None,
    ) -> None:
        """-> COMPLETED; with ``callback_url``, a pending callback is recorded too."""
        self._end(
            job_id,
            "UPDATE jobs SET status = 'COMPLETED', ended_ms = ?, num_predictions = ?, "
            "num_errors = ? WHERE job_id = ?",
            (now_ms(), num_predictions, num_errors, job_id),
            callback_url,
        )

    def mark_failed(
        self, job_id: str, message: str, *, callback_url: str | None = None
    ) -> None:
        """Any state -> FAILED with ``message`` (``started_ms`` set if unset).

        With ``callback_url``, a pending callback is recorded in the same
        transaction.
        """
        t = now_ms()
        self._end(
            job_id,
            "UPDATE jobs SET status = 'FAILED', "
            "started_ms = COALESCE(started_ms, ?), ended_ms = ?, message = ? "
            "WHERE job_id = ?",
            (t, t, message, job_id),
            callback_url,
        )

    # -- pending callbacks ------------------------------------------------------------

    def pending_callbacks(self) -> list[dict]:
        """Callbacks of ended jobs not yet delivered: ``job_id``, ``url``,
        ``attempts`` (failed so far), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, url, attempts FROM pending_callbacks "
                "ORDER BY created_ms"
            ).fetchall()
        return [dict(r) for r in rows]

    def callback_failed(self, job_id: str) -> None:
        """Count one failed delivery attempt of a pending callback."""
        with self._lock:
            self._db.execute(
                "UPDATE pending_callbacks SET attempts = attempts + 1 WHERE job_id = ?",
                (job_id,),
            )

    def clear_callback(self, job_id: str) -> None:
        """Forget a pending callback (delivered, or its last attempt failed)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM pending_callbacks WHERE job_id = ?", (job_id,)
            )

    def requeue(self, job_id: str) -> None:
        """IN_PROGRESS -> QUEUED (after an interrupted run); ``started_ms`` is kept."""
        self._update(job_id, status="QUEUED", done=0)

    # -- per-file results of a running job ---------------------------------------------
    #
    # Each measured file's result is kept until its job ends, so a job resumed after
    # the service stopped measures only the files without one (a paid engine is not
    # billed twice for a file).

    def save_file_result(self, job_id: str, key: str, result) -> None:
        """Keep the JSON-able ``result`` of the file ``key`` of a running job."""
        data = json.dumps(result, ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO file_results (job_id, key, result) "
                "VALUES (?, ?, ?)",
                (job_id, key, data),
            )

    def file_result(self, job_id: str, key: str):
        """The stored result of the file ``key`` of a job, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT result FROM file_results WHERE job_id = ? AND key = ?",
                (job_id, key),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def file_results(self, job_id: str) -> list:
        """Every stored file result of a job."""
        with self._lock:
            rows = self._db.execute(
                "SELECT result FROM file_results WHERE job_id = ?", (job_id,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def clear_file_results(self, job_id: str) -> None:
        """Forget a job's per-file results (it ended; its results are written)."""
        with self._lock:
            self._db.execute("DELETE FROM file_results WHERE job_id = ?", (job_id,))

    # -- reads ------------------------------------------------------------------------

    def get(self, job_id: str) -> dict | None:
        """The stored row of a job as a dict, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
        return None if row is None else _row(row)

    def unfinished(self) -> list[dict]:
        """Jobs not in a terminal state, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE status IN ('QUEUED', 'IN_PROGRESS') "
                "ORDER BY seq"
            ).fetchall()
        return [_row(r) for r in rows]

    def list(
        self,
        *,
        limit: int = 50,
        statuses=None,
        when: str | None = None,
        timestamp_ms: int | None = None,
        sort_by: str = "created",
        direction: str = "desc",
    ) -> list[dict]:
        """Jobs matching the list-jobs filters of the v0 API.

        Parameters
        ----------
        limit : int
            Maximum number of jobs.
        statuses : iterable of str, optional
            Keep only these statuses.
        when : {"created_before", "created_after"}, optional
            Compare ``created_ms`` with ``timestamp_ms``.
        timestamp_ms : int, optional
            Reference time for ``when`` (default: now).
        sort_by : {"created", "started", "ended"}
            Timestamp to sort by; jobs without it come last.
        direction : {"asc", "desc"}
            Sort direction.
        """
        where, args = [], []
        if statuses:
            statuses = list(statuses)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args += statuses
        if when:
            ts = now_ms() if timestamp_ms is None else int(timestamp_ms)
            where.append(
                "created_ms < ?" if when == "created_before" else "created_ms > ?"
            )
            args.append(ts)
        col = _SORT_COLUMNS[sort_by]
        d = "ASC" if direction == "asc" else "DESC"
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {col} IS NULL, {col} {d}, seq {d} LIMIT ?"
        args.append(int(limit))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_row(r) for r in rows]


def _row(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["request"] = json.loads(d["request"])
    d["uploads"] = json.loads(d["uploads"])
    d["simulated"] = bool(d["simulated"])
    return d
