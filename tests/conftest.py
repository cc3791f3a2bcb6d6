"""Shared fixtures. Each part of humelab adds its fixtures in its own section."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
#: Real outputs of Hume's v0 service, beside the project (read-only, never copied).
REAL = ROOT.parent / "shared" / "samples" / "real"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def real_samples() -> Path:
    """The folder of real Hume samples; skips only where it is absent (a user's clone).

    In CI (``CI`` set) a missing folder is an error, never a skip.
    """
    if not REAL.is_dir():
        if os.environ.get("CI"):
            raise RuntimeError(
                f"{REAL} is missing; CI must have ../shared beside the project"
            )
        pytest.skip(f"real Hume samples not found at {REAL} (they live in ../shared)")
    return REAL


@pytest.fixture(autouse=True)
def close_figs():
    """Close every matplotlib figure a test opened."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(autouse=True)
def no_leaked_bars():
    """Fail a test that leaves a tqdm progress bar open."""
    from tqdm import tqdm

    before = set(getattr(tqdm, "_instances", set()))
    yield
    leaked = set(getattr(tqdm, "_instances", set())) - before
    for bar in leaked:
        bar.close()
    assert not leaked, f"test left {len(leaked)} tqdm bar(s) open"


# -- frames by shape --


@pytest.fixture
def rng():
    """A seeded numpy Generator (the same numbers in every run)."""
    import numpy as np

    return np.random.default_rng(20261202)


@pytest.fixture(scope="session")
def _all_shapes_long():
    import humelab

    return humelab.read_predictions(FIXTURES / "v0_all_shapes.json", errors="ignore")


@pytest.fixture
def tidy_df(_all_shapes_long):
    """A tidy long frame of every model and family (from the v0 fixture JSON)."""
    return _all_shapes_long.copy()


@pytest.fixture
def wide_df():
    """The same predictions as a wide frame (one row per prediction, metadata)."""
    import humelab

    return humelab.read_predictions(
        FIXTURES / "v0_all_shapes.json", shape="wide", errors="ignore"
    )


@pytest.fixture
def null_df(_all_shapes_long):
    """A long frame whose nullable columns hold missing values: text input rows
    (no job id, no frame, no times)."""
    df = _all_shapes_long
    out = df[df["begin"].isna() & df["frame"].isna()].reset_index(drop=True)
    assert len(out) and out["job_id"].isna().all()
    return out


@pytest.fixture
def empty_df(_all_shapes_long):
    """A tidy long frame with no rows and the contract's dtypes."""
    return _all_shapes_long.iloc[:0].copy()


# -- readers --


@pytest.fixture(scope="session")
def v0_fixtures() -> Path:
    """Folder of the small v0 fixtures written by tests/fixtures/make_fixtures.py."""
    return FIXTURES


# -- service --


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    """A Batch service on 127.0.0.1 (free port), simulated engine, fresh data folder.

    Shared by the whole session; fast callback backoff for tests.
    """
    import humelab

    with humelab.serve(
        data_dir=tmp_path_factory.mktemp("service-data"),
        workers=2,
        callback_backoff=0.05,
        quiet=True,
        allow_private_urls=True,  # tests serve media and receive callbacks on loopback
    ) as server:
        yield server


class ServiceAPI:
    """Tiny raw-HTTP helper for service tests (requests, the key header, polling)."""

    def __init__(self, server):
        import requests

        self.server = server
        self.url = server.url
        self.http = requests.Session()
        self.http.headers["X-Hume-Api-Key"] = server.api_key

    def get(self, path, **kw):
        return self.http.get(self.url + path, timeout=30, **kw)

    def post(self, path="/v0/batch/jobs", **kw):
        return self.http.post(self.url + path, timeout=30, **kw)

    def submit(self, **kw):
        r = self.post(**kw)
        assert r.status_code == 200, r.text
        return r.json()["job_id"]

    def wait(self, job_id, timeout=30.0, statuses=("COMPLETED", "FAILED")):
        import time

        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/v0/batch/jobs/{job_id}").json()
            if job["state"]["status"] in statuses:
                return job
            assert time.monotonic() < deadline, f"job {job_id} stuck: {job['state']}"
            time.sleep(0.02)

    def predictions(self, job_id):
        r = self.get(f"/v0/batch/jobs/{job_id}/predictions")
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="session")
def api(service):
    """:class:`ServiceAPI` bound to the session ``service``."""
    a = ServiceAPI(service)
    yield a
    a.http.close()


@pytest.fixture(scope="session")
def static_server(tmp_path_factory):
    """A loopback http.server serving a temp folder: yields ``(base_url, folder)``."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    folder = tmp_path_factory.mktemp("static")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    httpd.shutdown()
    httpd.server_close()


# -- client and jobs --


class FakeClock:
    """A monotonic clock that only moves when ``sleep`` is called (records pauses)."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_clock():
    """A :class:`FakeClock`; assign it to ``client.clock`` and its ``sleep`` to
    ``client.sleep``."""
    return FakeClock()


@pytest.fixture
def client(service, tmp_path):
    """A :class:`humelab.Client` bound to the session ``service``, polling fast.

    Its ledger and download cache live in a fresh temp folder per test.
    """
    import humelab

    with humelab.Client(
        service.url, service.api_key, poll_interval=0.05, data_dir=tmp_path / "data"
    ) as c:
        yield c
