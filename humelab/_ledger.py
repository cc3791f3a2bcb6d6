"""The on-disk ledger of submitted jobs, and the per-user data directory.

Every job id a :class:`humelab.Client` gets back is recorded here (SQLite, in the
data directory) before ``submit`` returns, with what identifies the request (a hash of
the inputs and the config), the service it went to and the time. The ledger is what
lets a notebook find its jobs again after a kernel restart, and what turns an
accidental second ``submit`` of the same inputs into a no-op. It never stores the API
key.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

__all__ = ["default_data_dir", "Ledger"]

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
"""


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The per-user data directory of humelab.

    Parameters
    ----------
    data_dir : path, optional
        Explicit directory; wins over everything.

    Returns
    -------
    pathlib.Path
        ``data_dir``, else the env var ``HUMELAB_DATA_DIR``, else the platform's user
        data directory (``platformdirs.user_data_dir("humelab")``). Created if missing.
    """
    if data_dir is None:
        data_dir = os.environ.get("HUMELAB_DATA_DIR") or None
    if data_dir is None:
        import platformdirs

        # the same folder as `humelab serve`'s default (its jobs are in ./service)
        data_dir = platformdirs.user_data_dir("humelab")
    path = Path(data_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


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
    ) -> None:
        """Write one submitted job (committed before this returns)."""
        con = self._connect()
        try:
            con.execute(
                "INSERT OR REPLACE INTO jobs (job_id, service, base_url, request_key,"
                " created_at, group_id, summary, config, inputs, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        finally:
            con.close()

    def find(self, service: str, request_key: str) -> list[str]:
        """Job ids already submitted with this request key, newest first."""
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
        """Remember the last status seen for a job (ids are UUIDs: any service)."""
        con = self._connect()
        try:
            con.execute("UPDATE jobs SET status = ? WHERE job_id = ?", (status, job_id))
        finally:
            con.close()

    def rows(self, service: str | None = None) -> list[dict[str, Any]]:
        """All recorded jobs (of one service, or all), oldest first."""
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


def _ledger_frame(rows: list[dict]):
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
