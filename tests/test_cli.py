"""The job subcommands of the ``humelab`` command: submit, wait, fetch, jobs, demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile

import pytest

import humelab
from humelab.cli import main
from tests.media import make_image


@pytest.fixture
def cli_env(service, tmp_path, monkeypatch):
    """The CLI pointed at the session service, with a temp data dir."""
    monkeypatch.setenv("HUMELAB_URL", service.url)
    monkeypatch.setenv("HUMELAB_API_KEY", service.api_key)
    monkeypatch.setenv("HUMELAB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _fresh_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUMELAB_")}
    env["HUMELAB_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_submit_wait_fetch_jobs(cli_env, capsys):
    img = make_image(cli_env / "face.jpg")
    # submit prints the job id on stdout
    assert main(["submit", str(img), "--models", "face", "--text", "Hi."]) == 0
    job_id = capsys.readouterr().out.strip()
    assert len(job_id) == 36
    assert main(["wait", job_id]) == 0
    assert capsys.readouterr().out.startswith(f"{job_id} COMPLETED (2/2 files)")
    out = cli_env / "out"
    assert main(["fetch", job_id, "--out", str(out)]) == 0
    preds = json.loads((out / f"predictions-{job_id}.json").read_text())
    assert {p["source"]["type"] for p in preds} == {"file", "text"}
    assert zipfile.is_zipfile(out / f"artifacts-{job_id}.zip")
    capsys.readouterr()
    assert main(["jobs"]) == 0
    listing = capsys.readouterr().out
    assert job_id in listing and "COMPLETED" in listing and "face" in listing


def test_submit_with_json_models_and_wait(cli_env, capsys):
    img = make_image(cli_env / "a.png", seed=2)
    models = json.dumps({"face": {"identify_faces": True}})
    assert main(["submit", str(img), "--models", models, "--wait"]) == 0
    captured = capsys.readouterr()
    job_id = captured.out.strip()
    assert f"{job_id} COMPLETED" in captured.err
    job = humelab.Client().job(job_id)
    assert job.details["request"]["models"]["face"]["identify_faces"] is True


def test_cli_errors_are_one_line(cli_env, capsys):
    assert main(["wait", "no-such-job"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("humelab: error: GET /v0/batch/jobs/no-such-job failed")
    assert "job not found" in err
    assert main(["submit", str(cli_env / "missing.wav")]) == 1
    assert "No such file or folder" in capsys.readouterr().err
    assert main(["submit", "x.wav", "--models", "{bad"]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    img = make_image(cli_env / "v.png")
    assert main(["submit", str(img), "--models", "voice"]) == 1
    assert "models.voice" in capsys.readouterr().err


def test_jobs_with_empty_ledger_needs_no_service(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HUMELAB_URL", raising=False)
    assert main(["jobs", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "No jobs in the ledger yet" in out.out
    assert "started the local" not in out.err


def test_demo_in_a_fresh_process(tmp_path):
    # Given no HUMELAB_URL and an empty data dir, as on a fresh machine
    env = _fresh_env(tmp_path)
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "humelab", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - start
    # Then it ran the example media through the embedded service, quickly
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 60
    err_lines = [ln for ln in proc.stderr.splitlines() if "started the local" in ln]
    assert len(err_lines) == 1 and "simulated" in err_lines[0]
    out = proc.stdout
    for p in humelab.example_files():
        assert p.name in out
    assert "faces.zip / faces/face_smile.jpg" in out
    # 7 files + the 3 members of the zip
    assert "COMPLETED: 10/10 files measured in" in out
    assert "SIMULATED" in out and "perceived expression" in out
    assert "not felt emotion" in out
    for model in ("face", "prosody", "language", "burst"):
        assert f"  {model} " in out
    # and its job is in the ledger of that data dir
    assert (tmp_path / "data" / "ledger.sqlite3").is_file()


def test_submit_without_service_waits_in_process(tmp_path):
    env = _fresh_env(tmp_path)
    img = make_image(tmp_path / "solo.png")
    proc = subprocess.run(
        [sys.executable, "-m", "humelab", "submit", str(img), "--models", "face"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip()
    assert "lives only as long as this command" in proc.stderr
    assert f"{job_id} COMPLETED" in proc.stderr
