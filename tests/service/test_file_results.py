"""Per-file results the job store keeps while a job runs (resume, no re-measuring)."""

from __future__ import annotations

import sqlite3
import time

import requests

import humelab
from humelab.service.store import JobStore
from tests.media import make_wav


def test_store_keeps_file_results_per_job(tmp_path):
    store = JobStore(tmp_path / "d")
    try:
        assert store.file_result("j1", "file-0/a.wav") is None
        store.save_file_result(
            "j1", "file-0/a.wav", [{"file": "a.wav"}, True, [], None]
        )
        store.save_file_result(
            "j1", "file-1/b.wav", [{"file": "b.wav"}, False, [], {"requests": 2}]
        )
        store.save_file_result("j2", "file-0/a.wav", ["other job"])
        assert store.file_result("j1", "file-0/a.wav") == [
            {"file": "a.wav"},
            True,
            [],
            None,
        ]
        assert len(store.file_results("j1")) == 2
        # saving again replaces
        store.save_file_result("j1", "file-0/a.wav", ["new"])
        assert store.file_result("j1", "file-0/a.wav") == ["new"]
        store.clear_file_results("j1")
        assert store.file_results("j1") == []
        assert store.file_result("j2", "file-0/a.wav") == ["other job"]
    finally:
        store.close()
    # they survive a reopen (a restart of the service)
    store = JobStore(tmp_path / "d")
    try:
        assert store.file_result("j2", "file-0/a.wav") == ["other job"]
    finally:
        store.close()


def test_finished_jobs_leave_no_file_results(tmp_path):
    wavs = [make_wav(tmp_path / f"a{i}.wav", 0.5, seed=i) for i in range(3)]
    with humelab.serve(data_dir=tmp_path / "d", quiet=True, workers=2) as server:
        s = requests.Session()
        s.headers["X-Hume-Api-Key"] = server.api_key
        files = [("file", (w.name, w.read_bytes())) for w in wavs]
        job_id = s.post(f"{server.url}/v0/batch/jobs", files=files, timeout=30).json()[
            "job_id"
        ]
        for _ in range(600):
            job = s.get(f"{server.url}/v0/batch/jobs/{job_id}", timeout=30).json()
            if job["state"]["status"] == "COMPLETED":
                break
            time.sleep(0.05)
        assert job["state"]["status"] == "COMPLETED"
        assert "usage" not in job  # the simulated engine sends nothing anywhere
    db = sqlite3.connect(tmp_path / "d" / "jobs.sqlite3")
    try:
        assert db.execute("SELECT COUNT(*) FROM file_results").fetchone()[0] == 0
    finally:
        db.close()
