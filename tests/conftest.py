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
            raise RuntimeError(f"{REAL} is missing; CI must have ../shared beside the project")
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


# -- readers --
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
    ) as server:
        yield server


# -- client and jobs --


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
