"""Measurement on a Dask cluster (serve(dask_scheduler=...)) against the thread runner.

A real ``distributed.LocalCluster`` with two worker processes (one thread each) is
started once for the module; jobs go through the service's HTTP API.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

import humelab
from tests.media import make_video, make_wav

distributed = pytest.importorskip("distributed", reason="needs the `dask` extra")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    ) as cl:
        yield cl


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    files = [make_wav(folder / f"talk{i}.wav", 1.0 + i / 4, seed=i) for i in range(6)]
    files.append(make_video(folder / "face.mp4", 1.0))
    (folder / "talk0.txt").write_text("hello there, how are you today")
    return folder, files


def _serve(tmp_path, name, **options):
    return humelab.serve(
        data_dir=tmp_path / name, quiet=True, allow_private_urls=True, **options
    )


def _run_job(server, files, *, extra=(), timeout=90.0):
    """Upload ``files`` (plus ``extra`` (name, bytes) pairs) and wait; (job, bytes)."""
    http = requests.Session()
    http.headers["X-Hume-Api-Key"] = server.api_key
    uploads = [("file", (p.name, p.read_bytes())) for p in files]
    uploads += [("file", pair) for pair in extra]
    r = http.post(
        server.url + "/v0/batch/jobs",
        files=uploads,
        data={"json": '{"models": {"prosody": {}, "burst": {}, "face": {}}}'},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + timeout
    while True:
        job = http.get(f"{server.url}/v0/batch/jobs/{job_id}", timeout=30).json()
        if job["state"]["status"] in ("COMPLETED", "FAILED"):
            break
        assert time.monotonic() < deadline, f"job stuck: {job['state']}"
        time.sleep(0.05)
    body = http.get(f"{server.url}/v0/batch/jobs/{job_id}/predictions", timeout=30)
    return job, body.content


@pytest.mark.parametrize("inputs", ["bytes", "shared"])
def test_cluster_gives_byte_identical_predictions(cluster, media, tmp_path, inputs):
    # Given the same upload (audio, a transcript sidecar, a video, a broken file)
    folder, files = media
    uploads = [*files, folder / "talk0.txt"]
    broken = [("broken.wav", b"RIFF....not audio")]
    # When one service measures it with threads and one on the cluster's workers
    with _serve(tmp_path, "threads", workers=2) as local:
        job_a, body_a = _run_job(local, uploads, extra=broken)
    with _serve(
        tmp_path,
        "cluster",
        dask_scheduler=cluster.scheduler_address,
        dask_inputs=inputs,
    ) as remote:
        assert remote.workers >= 8  # threads that wait on the cluster
        job_b, body_b = _run_job(remote, uploads, extra=broken)
    assert job_a["state"]["status"] == job_b["state"]["status"] == "COMPLETED"
    # And the predictions are byte-identical, errors included
    assert body_a == body_b
    preds = humelab.read_errors(body_b)
    assert len(preds) == 1 and "broken.wav" in preds["file"].iloc[0]
    assert str(tmp_path) not in body_b.decode()
    frame = humelab.read_predictions(body_b, errors="ignore")
    assert set(frame["file"]) == {p.name for p in files}


def test_tasks_run_on_worker_processes(cluster, media, tmp_path):
    # Given a client of the cluster recording its task stream
    _, files = media
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        with distributed.get_task_stream(client) as stream:
            with _serve(tmp_path, "s", dask_scheduler=client) as server:
                job, _ = _run_job(server, files[:3])
        assert job["state"]["status"] == "COMPLETED"
        # Then one measurement task per file ran, on the worker processes
        tasks = [t for t in stream.data if "_measure_on_worker" in str(t["key"])]
        assert len(tasks) == 3
        assert {t["worker"] for t in tasks} <= set(client.scheduler_info()["workers"])
        pids = set(client.run(os.getpid).values())
        assert os.getpid() not in pids and len(pids) == 2
    finally:
        client.close()


def test_killing_a_worker_mid_job_still_completes_it(cluster, media, tmp_path):
    # Given a job of 24 files on the cluster, and its result measured by threads
    folder, files = media
    many = [make_wav(folder / f"many{i}.wav", 3.0, seed=100 + i) for i in range(24)]
    with _serve(tmp_path, "threads", workers=2) as local:
        _, expected = _run_job(local, many)
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        with _serve(tmp_path, "cluster", dask_scheduler=client) as server:
            http = requests.Session()
            http.headers["X-Hume-Api-Key"] = server.api_key
            # When a worker process is killed (SIGKILL) while files are measured
            killed = {}

            def kill_when_busy():
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    processing = client.processing()
                    busy = [w for w, tasks in processing.items() if tasks]
                    if busy:
                        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                        os.kill(pid, signal.SIGKILL)
                        killed["pid"] = pid
                        return
                    time.sleep(0.01)

            killer = threading.Thread(target=kill_when_busy)
            killer.start()
            job, body = _run_job(server, many, timeout=120)
            killer.join()
        # Then a worker was killed mid-task, and the job still completed
        assert killed, "no worker was ever busy"
        assert job["state"]["status"] == "COMPLETED"
        # And no file was lost or counted twice: the same bytes as the thread runner
        assert body == expected
        frame = humelab.read_predictions(body)
        assert sorted(set(frame["file"])) == sorted(p.name for p in many)
    finally:
        client.close()


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    with pytest.raises(
        humelab.HumelabError, match="Could not reach the Dask scheduler"
    ):
        _serve(tmp_path, "x", dask_scheduler="tcp://127.0.0.1:9")


def test_scheduler_from_the_environment(cluster, media, tmp_path, monkeypatch):
    monkeypatch.setenv("HUMELAB_DASK_SCHEDULER", cluster.scheduler_address)
    with _serve(tmp_path, "env") as server:
        assert server.runner._measurer is not server.runner.engine
        job, _ = _run_job(server, media[1][:1])
    assert job["state"]["status"] == "COMPLETED"


def test_an_engine_that_cannot_travel_is_refused(tmp_path, monkeypatch):
    # The hume engine holds locks and connection pools: it is not sent to workers
    monkeypatch.setenv("HUME_API_KEY", "not-a-real-key")
    with pytest.raises(humelab.HumelabError, match="cannot be sent to Dask workers"):
        _serve(tmp_path, "h", engine="hume", dask_scheduler="tcp://127.0.0.1:9")
