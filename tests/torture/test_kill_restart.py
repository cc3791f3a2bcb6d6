"""Kill-and-restart loop: a real service process SIGKILLed at random points.

A child Python process runs ``humelab.serve`` on a data folder; a submitter thread
keeps posting multi-file jobs (uploads of audio, images, text and an archive) while
the main thread asks for artifacts, then the process is SIGKILLed at a random moment
(mid-upload, mid-measurement, mid-artifacts, idle) and started again on the same
folder. At the end every acknowledged job must be COMPLETED with predictions equal
to an uninterrupted run of the same request, its artifacts zip whole, no job listed
twice, and no temp file left.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
import zipfile

import pytest
import requests

import humelab
from tests.media import make_image, make_wav
from tests.torture._harness import (
    KEY,
    Raw,
    ServiceProcess,
    record,
    scaled,
    temp_files,
)


def _requests(tmp) -> list[dict]:
    """Multipart job requests (files + json part), deterministic content."""
    out = []
    for i in range(6):
        wav = make_wav(tmp / f"s{i}.wav", 0.4 + 0.1 * i, seed=i).read_bytes()
        png = make_image(tmp / f"f{i}.png", size=(48, 36), seed=i).read_bytes()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(f"p{i}/talk.wav", wav)
            zf.writestr(f"p{i}/talk.txt", f"hello number {i}")
            zf.writestr(f"p{i}/face.png", png)
        files = [
            ("file", (f"s{i}.wav", wav)),
            ("file", (f"f{i}.png", png)),
            ("file", (f"n{i}.txt", f"notes {i}: a calm day".encode())),
            ("file", (f"bundle{i}.zip", buf.getvalue())),
            ("file", (f"big{i}.wav", make_wav(tmp / f"b{i}.wav", 3.0).read_bytes())),
        ]
        models = {"prosody": {}, "face": {}, "language": {}, "burst": {}}
        out.append({"files": files, "data": {"json": json.dumps({"models": models})}})
    return out


@pytest.fixture(scope="module")
def reqs(tmp_path_factory):
    return _requests(tmp_path_factory.mktemp("kill-media"))


@pytest.fixture(scope="module")
def baseline(reqs, tmp_path_factory):
    """Predictions of each request from an uninterrupted in-process service."""
    out = []
    with humelab.serve(
        data_dir=tmp_path_factory.mktemp("baseline"), api_key=KEY, quiet=True
    ) as server:
        api = Raw(server.url)
        ids = [api.post(**r).json()["job_id"] for r in reqs]
        jobs = api.wait_all(ids, timeout=120)
        for job_id in ids:
            assert jobs[job_id]["state"]["status"] == "COMPLETED"
            out.append(api.get(f"/v0/batch/jobs/{job_id}/predictions").json())
        api.close()
    return out


def test_sigkill_at_random_points_loses_and_corrupts_nothing(tmp_path, reqs, baseline):
    data = tmp_path / "data"
    rng = random.Random(7)
    cycles = scaled(6)
    acked: dict[str, int] = {}  # job id -> request index
    interrupted: dict[str, int] = {}
    kills = 0
    lost: list = []
    duplicated = None
    svc = ServiceProcess(data, item_delay=0.02)
    try:
        for _ in range(cycles):
            url = svc.start()
            api = Raw(url)
            stop = threading.Event()

            def submit(url=url, stop=stop):
                s = requests.Session()
                s.headers["X-Hume-Api-Key"] = KEY
                while not stop.is_set():
                    k = rng.randrange(len(reqs))
                    try:
                        r = s.post(url + "/v0/batch/jobs", timeout=30, **reqs[k])
                    except requests.RequestException:
                        break  # killed mid-request: not acknowledged
                    if r.status_code == 200:
                        acked[r.json()["job_id"]] = k
                    time.sleep(rng.uniform(0, 0.3))
                s.close()

            t = threading.Thread(target=submit, daemon=True)
            t.start()
            end = time.monotonic() + rng.uniform(0.2, 2.0)
            while time.monotonic() < end:
                done = [j for j in list(acked) if rng.random() < 0.3]
                for job_id in done[:2]:  # artifacts are written on first request
                    try:
                        api.get(f"/v0/batch/jobs/{job_id}/artifacts", timeout=5)
                    except requests.RequestException:
                        pass
                time.sleep(0.05)
            # A job interrupted three times is failed by design (MAX_RUNS): let a
            # job that was already interrupted twice finish before the next kill.
            try:
                running = api.get("/v0/batch/jobs", params={"status": "IN_PROGRESS"})
                for job in running.json():
                    if interrupted.get(job["job_id"], 0) >= 2:
                        api.wait_all([job["job_id"]], timeout=60)
                running = api.get("/v0/batch/jobs", params={"status": "IN_PROGRESS"})
                for job in running.json():
                    interrupted[job["job_id"]] = interrupted.get(job["job_id"], 0) + 1
            except requests.RequestException:
                pass
            svc.kill()
            kills += 1
            stop.set()
            t.join(35)
            api.close()
        # Final run: everything acknowledged must complete, equal to the baseline.
        url = svc.start()
        api = Raw(url)
        jobs = api.wait_all(list(acked), timeout=300)
        listed = [j["job_id"] for j in api.get("/v0/batch/jobs?limit=100000").json()]
        lost = [j for j in acked if jobs[j]["state"]["status"] != "COMPLETED"]
        duplicated = len(listed) - len(set(listed))
        mismatched, corrupt = [], []
        for job_id, k in acked.items():
            if job_id in lost:
                continue
            preds = api.get(f"/v0/batch/jobs/{job_id}/predictions").json()
            if preds != baseline[k]:
                mismatched.append(job_id)
            z = api.get(f"/v0/batch/jobs/{job_id}/artifacts", timeout=30)
            try:
                with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
                    if zf.testzip() is not None:
                        corrupt.append(job_id)
            except zipfile.BadZipFile:
                corrupt.append(job_id)
        api.close()
        svc.stop()
        left = temp_files(data)
    finally:
        svc.kill()
        record(
            "kill-restart",
            kills_survived=kills,
            jobs_acknowledged=len(acked),
            lost=len(lost),
            duplicated=duplicated,
        )
    assert acked, "no job was acknowledged"
    assert lost == [], [jobs[j]["state"] for j in lost]
    assert duplicated == 0
    assert mismatched == [] and corrupt == []
    assert left == [], left
