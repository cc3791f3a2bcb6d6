"""The job subcommands of the ``humelab`` command: submit, wait, fetch, jobs, demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    proc = subprocess.run(
        [sys.executable, "-m", "humelab", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then it ran the example media through the embedded service
    assert proc.returncode == 0, proc.stderr
    err_lines = [ln for ln in proc.stderr.splitlines() if "started the local" in ln]
    assert len(err_lines) == 1 and "simulated" in err_lines[0]
    out = proc.stdout
    for p in humelab.example_files():
        assert p.name in out
    assert "faces.zip / faces/face_smile.jpg" in out
    # 7 files + the 3 members of the zip, said before the count comes back
    assert "8 example files (" in out
    assert "COMPLETED: 10/10 files measured (the service counts each file inside" in out
    assert "COMPLETED: 10/10 files measured (" in out
    assert "SIMULATED" in out and "perceived expression" in out
    assert "not felt emotion" in out
    for model in ("face", "prosody", "language", "burst"):
        assert f"  {model} " in out
    # and the scripts make the story coherent: a smile reads as Joy, a frown as
    # Sadness (scores follow each example's script; still labelled simulated)
    assert "face_smile.jpg\n  face      Joy" in out
    assert "face_frown.png\n  face      Sadness" in out
    # and it drew pictures: a timeline per source and a one-page report
    demo = tmp_path / "data" / "demo"
    assert f"one-page report in {demo}" in out
    assert len(list(demo.glob("timeline-*.png"))) >= 6
    page = (demo / "report.html").read_text()
    assert "SIMULATED" in page and "not felt emotion" in page
    assert "<script src=" not in page and "data:image/png;base64," in page
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


@pytest.fixture
def slow_cli(tmp_path, monkeypatch):
    """The CLI pointed at a service whose items take 0.3 s each."""
    with humelab.serve(
        data_dir=tmp_path / "slow", workers=1, item_delay=0.3, quiet=True
    ) as server:
        monkeypatch.setenv("HUMELAB_URL", server.url)
        monkeypatch.setenv("HUMELAB_API_KEY", server.api_key)
        monkeypatch.setenv("HUMELAB_DATA_DIR", str(tmp_path / "data"))
        yield server


def test_timeout_exits_124_and_says_humelab_wait(slow_cli, capsys):
    texts = [arg for i in range(6) for arg in ("--text", f"Slow {i}.")]
    # When the wait gives up
    code = main(
        ["submit", *texts, "--models", "language", "--wait", "--timeout", "0.2"]
    )
    captured = capsys.readouterr()
    job_id = captured.out.strip()
    # Then the exit code tells a timeout, and the hint is a command, not Python
    assert code == 124
    err = captured.err
    assert f"Job `{job_id}` did not finish within 0.2 s" in err
    assert f"`humelab wait {job_id}`" in err and "client.job" not in err
    assert "still running" in err
    # fetch of the running job points at `humelab wait` too
    assert main(["fetch", job_id, "--out", str(slow_cli.data_dir / "o")]) == 1
    err = capsys.readouterr().err
    assert f"not ready yet. Wait for it with `humelab wait {job_id}`" in err
    assert main(["wait", job_id, "--timeout", "0.1"]) == 124
    assert f"`humelab wait {job_id}`" in capsys.readouterr().err
    assert main(["wait", job_id, "--timeout", "30"]) == 0


def test_help_documents_the_timeout_exit_code(capsys):
    with pytest.raises(SystemExit):
        main(["wait", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "exits with code 124" in out and "humelab wait ID" in out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "124 a --timeout passed" in " ".join(capsys.readouterr().out.split())


def test_bad_models_and_inputs_start_no_service(tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("HUMELAB_URL", raising=False)
    img = make_image(tmp_path / "m.png")
    data = ["--data-dir", str(tmp_path / "d")]
    assert main(["submit", str(img), "--models", "voice", *data]) == 1
    assert "models.voice" in capfd.readouterr().err
    assert main(["submit", str(tmp_path / "missing.wav"), *data]) == 1
    assert "No such file or folder" in capfd.readouterr().err
    assert main(["submit", str(img), "--models", '["prosody"]', *data]) == 1
    err = capfd.readouterr().err
    assert "`--models` got a JSON list" in err and "--models prosody,face" in err
    assert "started the local" not in err
    assert not (tmp_path / "d" / "service").exists()


def test_relative_data_dir_names_one_folder(tmp_path, capfd, monkeypatch):
    from humelab import stop_embedded as _stop_embedded

    # Given no service URL, and a relative --data-dir
    monkeypatch.delenv("HUMELAB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    img = make_image(tmp_path / "rel.png")
    try:
        assert main(["submit", "rel.png", "--models", "face", "--data-dir", "rel"]) == 0
        job_id = capfd.readouterr().out.strip()
        # When the jobs of that folder are listed
        assert main(["jobs", "--data-dir", "rel"]) == 0
        # Then the job is there
        assert job_id in capfd.readouterr().out
        assert (tmp_path / "rel" / "ledger.sqlite3").is_file() and img.is_file()
    finally:
        _stop_embedded((tmp_path / "rel").resolve())


def test_version_and_help_show_defaults_choices_and_descriptions(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"humelab {humelab.__version__}"
    for command in ("serve", "read", "submit", "wait", "fetch", "jobs", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        # a description beyond the usage line, and --data-dir where data lives
        assert len(text.split("\n\n")) >= 3, command
        if command not in ("read",):
            assert "--data-dir" in text, command
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "simulated}" in text and "(default: 8000)" in text
    assert "(default: None)" not in text
    assert "--api-key-file" in text and "ps" in text


def test_data_is_an_alias_of_data_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HUMELAB_URL", raising=False)
    assert main(["jobs", "--data", str(tmp_path)]) == 0
    assert "No jobs in the ledger yet" in capsys.readouterr().out


def test_jobs_of_other_services_are_counted(cli_env, capsys, monkeypatch):
    # Given a ledger with a job of the session service
    img = make_image(cli_env / "face.jpg")
    assert main(["submit", str(img), "--models", "face", "--wait"]) == 0
    capsys.readouterr()
    # When listing the jobs of another service
    monkeypatch.setenv("HUMELAB_URL", "http://127.0.0.1:9")
    assert main(["jobs"]) == 0
    out = capsys.readouterr().out
    # Then the jobs of the other service are counted, and --all is named
    assert "No jobs for http://127.0.0.1:9" in out
    assert "1 job of 1 other service" in out and "humelab jobs --all" in out


def test_url_without_scheme_is_explained(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("HUMELAB_URL", "127.0.0.1:8765")
    assert main(["wait", "abc"]) == 1
    err = capsys.readouterr().err
    assert "HUMELAB_URL = '127.0.0.1:8765'" in err and "http://HOST:PORT" in err


def test_demo_advice_is_command_line_advice(cli_env, capsys):
    assert main(["demo"]) == 0
    capsys.readouterr()
    assert main(["demo"]) == 0
    err = capsys.readouterr().err
    assert "already submitted" in err and "--resubmit" in err


def test_fetched_files_get_the_usual_mode(cli_env, capsys):
    img = make_image(cli_env / "face.jpg")
    assert main(["submit", str(img), "--models", "face", "--wait"]) == 0
    job_id = capsys.readouterr().out.split()[0]
    out = cli_env / "out"
    assert main(["fetch", job_id, "--out", str(out)]) == 0
    modes = {p.suffix: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert modes[".zip"] == modes[".json"]


def test_report_of_a_job_and_of_a_file(cli_env, capsys, real_samples):
    img = make_image(cli_env / "face.jpg")
    assert main(["submit", str(img), "--models", "face", "--wait"]) == 0
    job_id = capsys.readouterr().out.split()[0]
    out = cli_env / "r" / "job.html"
    assert main(["report", job_id, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert "SIMULATED" in out.read_text()
    real = real_samples / "interreviewer_face-prosody-language" / "predictions.json"
    assert main(["report", str(real), "--out", str(cli_env / "r")]) == 0
    page = (cli_env / "r" / "report.html").read_text()
    assert "bad_interview.mp4" in page and "SIMULATED" not in page
