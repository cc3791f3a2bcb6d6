"""The on-disk ledger of submitted jobs.

Every job id a :class:`humelab.Client` gets back is recorded here (SQLite, in the
data directory) before ``submit`` returns (should the ledger itself fail, ``submit``
warns with the id instead), with what identifies the request (a hash of
the inputs and the config), the service it went to and the time. Before the request
is sent, a *pending* row (the request's hash, no id yet) is written, and replaced by
the job's row once the id is known; a pending row left behind means a process stopped
(or lost the answer) while the service may have created the job. The ledger is what
lets a notebook find its jobs again after a kernel restart, and what turns an
accidental second ``submit`` of the same inputs into a no-op. It never stores the API
key.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from filelock import FileLock

__all__ = ["Ledger", "ledger_frame"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id      TEXT NOT NULL,
    service     TEXT NOT NULL,
    base_url    TEXT NOT NULL,
    request_key TEXT NOT NULL,
    created_at  REAL NOT NULL,
    group_id    TEXT,
    summary     TEXT NOT NULL,
    config      TEXT NOT NULL,
    inputs      TEXT NOT NULL,
    status      TEXT,
    PRIMARY KEY (service, job_id)
);
CREATE INDEX IF NOT EXISTS jobs_request ON jobs (service, request_key);
CREATE TABLE IF NOT EXISTS pending (
    token       TEXT PRIMARY KEY,
    service     TEXT NOT NULL,
    request_key TEXT NOT NULL,
    created_at  REAL NOT NULL,
    summary     TEXT NOT NULL
);
"""


class Ledger:
    """SQLite ledger of submitted jobs in ``<data_dir>/ledger.sqlite3``.

    Parameters
    ----------
    path : path
        The SQLite file.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.row_factory = sqlite3.Row
        return con

    def claim(self, request_key: str, *, timeout: float = -1) -> FileLock:
        """A lock held while one request is checked and submitted.

        Submitters of the same request (the same inputs and config), in threads or
        processes, take turns: the second finds the first's job in the ledger
        instead of creating another. The lock is a file beside the ledger
        (``locks/<key>.lock``); the operating system releases it when its holder
        dies, so a killed process never leaves it held.

        Parameters
        ----------
        request_key : str
            Hash of the inputs and the config.
        timeout : float
            Seconds to wait for the lock; -1 waits as long as it takes.

        Returns
        -------
        filelock.FileLock
            Use it as a context manager.
        """
        folder = self.path.parent / "locks"
        folder.mkdir(exist_ok=True)
        return FileLock(folder / f"{request_key[:32]}.lock", timeout=timeout)

    def begin(self, *, service: str, request_key: str, summary: str) -> str:
        """Write a pending row for a request about to be sent (no job id yet).

        Parameters
        ----------
        service : str
            The service the request goes to (``Client.service``).
        request_key : str
            Hash of the inputs and the config.
        summary : str
            One-line summary of the inputs.

        Returns
        -------
        str
            A token naming the pending row, for :meth:`record` or :meth:`abandon`.

        Raises
        ------
        sqlite3.Error
            The ledger cannot be written.
        """
        token = secrets.token_hex(8)
        con = self._connect()
        try:
            con.execute(
                "INSERT INTO pending (token, service, request_key, created_at, summary)"
                " VALUES (?, ?, ?, ?, ?)",
                (token, service, request_key, time.time(), summary),
            )
        finally:
            con.close()
        return token

    def abandon(self, token: str) -> None:
        """Drop a pending row (the request surely created no job).

        Parameters
        ----------
        token : str
            From :meth:`begin`.
        """
        con = self._connect()
        try:
            con.execute("DELETE FROM pending WHERE token = ?", (token,))
        finally:
            con.close()

    def pending(self, service: str, request_key: str) -> list[dict[str, Any]]:
        """Pending rows (requests sent without a recorded answer), oldest first.

        Parameters
        ----------
        service : str
            The service.
        request_key : str
            Hash of the inputs and the config.

        Returns
        -------
        list of dict
            ``token``, ``service``, ``request_key``, ``created_at`` (seconds since
            the epoch) and ``summary`` of each.
        """
        con = self._connect()
        try:
            rows = con.execute(
                "SELECT * FROM pending WHERE service = ? AND request_key = ?"
                " ORDER BY created_at",
                (service, request_key),
            ).fetchall()
        finally:
            con.close()
        return [dict(r) for r in rows]

    def record(
        self,
        job_id: str,
        *,
        service: str,
        base_url: str,
        request_key: str,
        summary: str,
        config: dict[str, Any],
        inputs: dict[str, Any],
        group_id: str | None = None,
        pending: str | None = None,
    ) -> None:
        """Write one submitted job, committed before this returns.

        Parameters
        ----------
        job_id : str
            The id the service gave the job.
        service : str
            The service (``Client.service``).
        base_url : str
            Its URL at the time.
        request_key : str
            Hash of the inputs and the config (what :meth:`find` looks up).
        summary : str
            One-line summary of the inputs.
        config : dict
            The job's config (models, transcription, callback, notify).
        inputs : dict
            The inputs' fingerprint (URLs, text hashes, file names and hashes).
        group_id : str, optional
            Shared by the jobs of one :meth:`humelab.Client.submit_many`.
        pending : str, optional
            Token from :meth:`begin`: that pending row is dropped in the same
            transaction.

        Raises
        ------
        sqlite3.Error
            The ledger cannot be written.
        """
        con = self._connect()
        try:
            with con:
                con.execute("BEGIN IMMEDIATE")
                con.execute(
                    "INSERT OR REPLACE INTO jobs (job_id, service, base_url,"
                    " request_key, created_at, group_id, summary, config, inputs,"
                    " status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        service,
                        base_url,
                        request_key,
                        time.time(),
                        group_id,
                        summary,
                        json.dumps(config, sort_keys=True),
                        json.dumps(inputs, sort_keys=True),
                        "QUEUED",
                    ),
                )
                if pending is not None:
                    con.execute("DELETE FROM pending WHERE token = ?", (pending,))
                    con.execute(
                        "DELETE FROM pending WHERE service = ? AND request_key = ?",
                        (service, request_key),
                    )
        finally:
            con.close()

    def find(self, service: str, request_key: str) -> list[str]:
        """Job ids already submitted with this request key, newest first.

        Parameters
        ----------
        service : str
            The service.
        request_key : str
            Hash of the inputs and the config.

        Returns
        -------
        list of str
        """
        con = self._connect()
        try:
            rows = con.execute(
                "SELECT job_id FROM jobs WHERE service = ? AND request_key = ?"
                " ORDER BY created_at DESC",
                (service, request_key),
            ).fetchall()
        finally:
            con.close()
        return [r["job_id"] for r in rows]

    def set_status(self, job_id: str, status: str) -> None:
        """Remember the last status seen for a job (ids are UUIDs: any service).

        Parameters
        ----------
        job_id : str
            The job.
        status : str
            Its status, e.g. ``"COMPLETED"``.
        """
        con = self._connect()
        try:
            con.execute("UPDATE jobs SET status = ? WHERE job_id = ?", (status, job_id))
        finally:
            con.close()

    def rows(self, service: str | None = None) -> list[dict[str, Any]]:
        """All recorded jobs (of one service, or all), oldest first.

        Parameters
        ----------
        service : str, optional
            Only this service's jobs; default every service.

        Returns
        -------
        list of dict
            One dict per job with the ledger's columns (``job_id``, ``service``,
            ``base_url``, ``request_key``, ``created_at``, ``group_id``,
            ``summary``, ``config``, ``inputs``, ``status``).
        """
        con = self._connect()
        try:
            if service is None:
                cur = con.execute("SELECT * FROM jobs ORDER BY created_at")
            else:
                cur = con.execute(
                    "SELECT * FROM jobs WHERE service = ? ORDER BY created_at",
                    (service,),
                )
            return [dict(r) for r in cur.fetchall()]
        finally:
            con.close()


def ledger_frame(rows: list[dict]):
    """The ledger rows as the frame :meth:`Client.jobs` returns."""
    import pandas as pd

    return pd.DataFrame(
        {
            "job_id": [r["job_id"] for r in rows],
            "submitted": pd.to_datetime(
                [r["created_at"] for r in rows], unit="s", utc=True
            ),
            "inputs": [r["summary"] for r in rows],
            "models": [
                ",".join(json.loads(r["config"]).get("models") or ["all"]) for r in rows
            ],
            "status": [r["status"] for r in rows],
            "group": [r["group_id"] for r in rows],
            "service": [r["service"] for r in rows],
        }
    )
