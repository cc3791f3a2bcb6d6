"""`humelab serve` from the command line: the hume engine and the key options."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import humelab
from humelab.service.v1_standin import V1StandIn
from tests.media import make_wav


def _env(tmp_path, **extra) -> dict:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("HUMELAB_", "HUME_"))
    }
    env["HUMELAB_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def test_serve_hume_engine_with_a_key_file(tmp_path):
    # Given Hume's API (the stand-in), Hume's key in the environment, and the
    # service's own key in a file
    key_file = tmp_path / "service.key"
    key_file.write_text("service-key-123\n")
    key_file.chmod(0o600)
    with V1StandIn(api_key="hume-key") as standin:
        proc = subprocess.Popen(
            [sys.executable, "-m", "humelab", "serve", "--engine", "hume",
             "--hume-url", standin.url, "--port", "0",
             "--api-key-file", str(key_file)],
            env=_env(tmp_path, HUME_API_KEY="hume-key"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            banner = proc.stdout.readline()
            url = re.search(r"http://127\.0\.0\.1:\d+", banner).group(0)
            assert "engine: hume" in banner and "measured scores" in banner
            # When a job is sent with the key from the file
            with humelab.Client(url, "service-key-123", data_dir=tmp_path) as c:
                job = c.submit(
                    make_wav(tmp_path / "a.wav", 1.0), models={"prosody": {}}
                )
                job.wait(timeout=60)
            # Then Hume's API measured it
            assert job.status == "COMPLETED" and job.engine == "hume"
            assert len(standin.uploads()) == 1
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=30)
    # and neither key was printed
    assert "service-key-123" not in out + err and "hume-key" not in out + err


def test_serve_hume_without_key_says_where_it_goes(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "humelab", "serve", "--engine", "hume", "--port", "0"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "HUME_API_KEY" in proc.stderr and proc.stderr.count("\n") == 1
