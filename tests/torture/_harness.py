"""Helpers of the torture suite: scale, figures, a killable service process, media.

``HUMELAB_TORTURE_SCALE`` multiplies every loop count (1 = the bounded CI run, a few
minutes in all; ``bench/torture_long.py`` runs it at a larger scale), and
``HUMELAB_TORTURE_REPORT`` names a JSON-lines file that each test appends its
figures to (kills survived, requests fuzzed, hostile inputs tried, faults injected,
lost, duplicated, 5xx).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

SCALE = max(0.1, float(os.environ.get("HUMELAB_TORTURE_SCALE", "1") or 1))
KEY = "torture-key"
ROOT = Path(__file__).resolve().parents[2]


def scaled(n: int) -> int:
    """``n`` times the torture scale, at least 1."""
    return max(1, int(round(n * SCALE)))


def record(section: str, **figures) -> None:
    """Append ``figures`` of one torture test to the report file, if one is set."""
    path = os.environ.get("HUMELAB_TORTURE_REPORT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"section": section, "scale": SCALE, **figures}) + "\n")


_SERVE = """
import sys, time, humelab
s = humelab.serve(data_dir=sys.argv[1], api_key=sys.argv[2], quiet=True, workers=2,
                  item_delay=float(sys.argv[3]), allow_private_urls=True)
print(s.url, flush=True)
while True:
    time.sleep(3600)
"""


class ServiceProcess:
    """A real ``humelab.serve`` in a child Python process, killable with SIGKILL."""

    def __init__(self, data_dir: Path, *, item_delay: float = 0.0):
        self.data_dir = Path(data_dir)
        self.item_delay = item_delay
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 60.0) -> str:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(self.data_dir), KEY,
             str(self.item_delay)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        line = ""
        while not line:
            line = self.proc.stdout.readline().strip()
            if not line and (
                self.proc.poll() is not None or time.monotonic() > deadline
            ):
                err = self.proc.stderr.read() if self.proc.poll() is not None else ""
                raise RuntimeError(f"service process did not start: {err[-2000:]}")
        self.url = line
        return line

    def kill(self) -> None:
        """SIGKILL: no cleanup, no atexit, as a power cut or OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        if self.proc is not None:
            for f in (self.proc.stdout, self.proc.stderr):
                if f is not None:
                    f.close()
        self.proc = None


class Raw:
    """requests with the torture key, 10 s timeouts (a hang is a failure)."""

    def __init__(self, url: str, key: str = KEY):
        self.url = url
        self.http = requests.Session()
        self.http.headers["X-Hume-Api-Key"] = key

    def get(self, path, **kw):
        kw.setdefault("timeout", 10)
        return self.http.get(self.url + path, **kw)

    def post(self, path="/v0/batch/jobs", **kw):
        kw.setdefault("timeout", 30)
        return self.http.post(self.url + path, **kw)

    def wait_all(self, job_ids, timeout: float = 120.0) -> dict:
        """Poll until every job is COMPLETED or FAILED; return {job_id: job}."""
        deadline = time.monotonic() + timeout
        done: dict = {}
        while True:
            for job_id in set(job_ids) - set(done):
                job = self.get(f"/v0/batch/jobs/{job_id}").json()
                if job["state"]["status"] in ("COMPLETED", "FAILED"):
                    done[job_id] = job
            if len(done) == len(set(job_ids)):
                return done
            if time.monotonic() > deadline:
                left = sorted(set(job_ids) - set(done))
                raise AssertionError(f"{len(left)} jobs never ended: {left[:5]}")
            time.sleep(0.05)

    def close(self):
        self.http.close()


def temp_files(data_dir: Path) -> list[Path]:
    """Temp files left in job folders and half-received uploads."""
    found = list((Path(data_dir) / "jobs").glob("*/.*.tmp"))
    tmp = Path(data_dir) / "tmp"
    if tmp.is_dir():
        found += list(tmp.iterdir())
    return found
