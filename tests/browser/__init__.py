"""Helpers of the real-browser test: a Voila server and headless Chromium.

Chromium and its driver are Debian's (``apt-get install chromium chromium-driver``,
done by .ci/run); nothing is downloaded. The browser resolves only 127.0.0.1, so a
page that tried to load anything from the internet would fail to, and the test can
list what it tried.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

#: Where the browser test keeps its screenshots (git ignores it; CI keeps it).
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
DRIVER_NAMES = ("chromedriver",)
INSTALL_HINT = "apt-get install -y chromium chromium-driver"


def find_browser() -> tuple[str, str] | None:
    """Paths of Chromium and chromedriver, or None when either is missing."""
    browser = next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    driver = next(filter(None, map(shutil.which, DRIVER_NAMES)), None)
    return (browser, driver) if browser and driver else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    """Wait until something listens on 127.0.0.1:``port`` (or the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited early with code {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"voila did not listen on port {port} within {timeout} s")


def start_voila(notebook: Path, home: Path, log) -> tuple[subprocess.Popen, str]:
    """Serve ``notebook`` with Voila on 127.0.0.1; returns the process and its URL.

    Jupyter's folders point into ``home`` so the run leaves nothing in the user's.
    """
    port = free_port()
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        env[var] = str(home / var.lower())
    env.update(
        IPYTHONDIR=str(home / "ipython"),
        MPLBACKEND="Agg",
        HUMELAB_DATA_DIR=str(home / "humelab-data"),
    )
    env.pop("HUMELAB_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            str(notebook),
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--Voila.port={port}",
            "--Voila.port_retries=0",
        ],
        cwd=notebook.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, timeout=30)
    except BaseException:
        stop(proc)
        raise
    return proc, f"http://127.0.0.1:{port}/"


def stop(proc: subprocess.Popen) -> None:
    """Stop a process this test started (its own handle, never by name)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def chromium(browser: str, driver: str, profile: Path, *, size=(1280, 1000)):
    """A headless Chromium under selenium that resolves only 127.0.0.1."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={size[0]},{size[1]}",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(driver))
