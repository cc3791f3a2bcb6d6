"""Measurement on a Dask cluster (serve(dask_scheduler=...)) against the thread runner.

A real ``distributed.LocalCluster`` with two worker processes (one thread each) is
started once for the module; jobs go through the service's HTTP API. The ``hume``
engine's jobs call a local v1 stand-in over loopback from the worker processes.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time

import pytest
import requests

import humelab
from humelab.service import _dask_runner
from humelab.service.engines.simulated import SimulatedEngine
from humelab.service.v1_standin import V1StandIn
from tests.media import make_image, make_video, make_wav
from tests.service.test_engine_hume import KEY

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


@pytest.fixture(scope="module")
def standin():
    with V1StandIn(api_key=KEY) as s:
        yield s


def _serve(tmp_path, name, **options):
    return humelab.serve(
        data_dir=tmp_path / name, quiet=True, allow_private_urls=True, **options
    )


def _hume(standin, api_key=KEY):
    """``serve`` options of a ``hume`` engine calling the stand-in."""
    options = {"api_key": api_key, "hume_url": standin.url, "backoff": 0.01}
    return {"engine": "hume", "engine_options": options}


_MODELS = {"prosody": {}, "burst": {}, "face": {}}


def _run_job(server, files, *, extra=(), models=None, timeout=90.0):
    """Upload ``files`` (plus ``extra`` (name, bytes) pairs) and wait; (job, bytes)."""
    http = requests.Session()
    http.headers["X-Hume-Api-Key"] = server.api_key
    uploads = [("file", (p.name, p.read_bytes())) for p in files]
    uploads += [("file", pair) for pair in extra]
    r = http.post(
        server.url + "/v0/batch/jobs",
        files=uploads,
        data={"json": json.dumps({"models": models or _MODELS})},
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
                sizes = server.runner._measurer._batcher.sizes
        assert job["state"]["status"] == "COMPLETED"
        # Then measurement tasks ran on the worker processes, every file in one
        tasks = [t for t in stream.data if "_measure_batch" in str(t["key"])]
        assert len(tasks) == len(sizes) and sum(sizes) == 3
        assert {t["worker"] for t in tasks} <= set(client.scheduler_info()["workers"])
        pids = set(client.run(os.getpid).values())
        assert os.getpid() not in pids and len(pids) == 2
    finally:
        client.close()


def test_files_wait_and_go_in_batches_while_the_cluster_is_busy(
    cluster, media, tmp_path
):
    # Given a job of 30 files, more than the cluster's 4 task slots
    folder, _ = media
    many = [make_wav(folder / f"batch{i}.wav", 1.0, seed=200 + i) for i in range(30)]
    with _serve(tmp_path, "threads", workers=2) as local:
        _, expected = _run_job(local, many, models={"prosody": {}})
    # When it is measured on the cluster
    address = cluster.scheduler_address
    with _serve(tmp_path, "cluster", dask_scheduler=address) as server:
        job, body = _run_job(server, many, models={"prosody": {}})
        sizes = list(server.runner._measurer._batcher.sizes)
    # Then files that waited went several to a task, each file exactly once
    assert job["state"]["status"] == "COMPLETED"
    assert sum(sizes) == 30 and len(sizes) < 30
    assert max(sizes) <= _dask_runner.BATCH_FILES
    # And the predictions are the thread runner's, byte for byte
    assert body == expected


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


class _LockedEngine(SimulatedEngine):
    """A simulated engine holding a lock: it cannot be pickled."""

    def __init__(self):
        self.lock = threading.Lock()


def test_an_engine_that_cannot_travel_is_refused(tmp_path):
    with pytest.raises(
        humelab.HumelabError,
        match=r"cannot be sent to Dask workers \(TypeError: .*lock.*thread runner",
    ):
        _serve(
            tmp_path, "h", engine=_LockedEngine(), dask_scheduler="tcp://127.0.0.1:9"
        )


# -- the hume engine on the workers ---------------------------------------------------


def test_hume_engine_on_worker_processes_matches_the_thread_runner(
    cluster, standin, tmp_path
):
    # Given audio, a talking video, an image and a broken file for prosody and face
    folder = tmp_path / "in"
    folder.mkdir()
    files = [make_wav(folder / f"talk{i}.wav", 1.5 + i / 2, seed=i) for i in range(3)]
    files.append(make_video(folder / "face.mp4", 2.0, size=(320, 240)))
    files.append(make_image(folder / "pic.png", (320, 240), seed=4))
    broken = [("broken.wav", b"RIFF....not audio")]
    models = {"prosody": {}, "face": {"identify_faces": True}, "burst": {}}
    standin.clear()
    # When one service measures it with threads, one on the cluster's processes
    with _serve(tmp_path, "threads", workers=2, **_hume(standin)) as local:
        job_a, body_a = _run_job(local, files, extra=broken, models=models)
    sent_by_threads = len(standin.uploads(status=200))
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        client.wait_for_workers(2, timeout=60)
        with _serve(
            tmp_path, "cluster", dask_scheduler=client, **_hume(standin)
        ) as remote:
            job_b, body_b = _run_job(remote, files, extra=broken, models=models)
            sizes = remote.runner._measurer._batcher.sizes
        # (one paid file per task: a re-run after a lost worker re-bills one file)
        assert sizes and set(sizes) == {1}
        # (the engine was rebuilt in the worker processes, not in this one)
        rebuilt = client.run(lambda: [repr(e) for e in _dask_runner._ENGINES.values()])
    finally:
        client.close()
    assert any("HumeEngine" in r for reprs in rebuilt.values() for r in reprs)
    # Then both completed, with byte-identical predictions and the same usage
    assert job_a["state"]["status"] == job_b["state"]["status"] == "COMPLETED"
    assert (job_a["engine"], job_b["engine"]) == ("hume", "hume")
    assert body_a == body_b
    assert job_a["usage"] == job_b["usage"] and job_a["usage"]["requests"] > 0
    # and the workers did send the cluster's requests to the stand-in
    assert len(standin.uploads(status=200)) == 2 * sent_by_threads
    frame = humelab.read_predictions(body_b, errors="ignore")
    assert set(frame["file"]) == {p.name for p in files}
    assert {"prosody", "face"} <= set(frame["model"])
    errors = humelab.read_errors(body_b)
    assert any("broken.wav" in f for f in errors["file"])
    assert errors["message"].str.contains("cannot measure `burst`").sum() == 4


class _Lines(logging.Handler):
    """Keeps every formatted ``humelab`` log line of a worker process."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def _watch_humelab_log() -> None:
    logger = logging.getLogger("humelab")
    if not any(isinstance(h, _Lines) for h in logger.handlers):
        logger.addHandler(_Lines())
    logger.setLevel(logging.DEBUG)


def _humelab_log() -> list[str]:
    handlers = logging.getLogger("humelab").handlers
    return [line for h in handlers if isinstance(h, _Lines) for line in h.lines]


def test_humes_key_stays_out_of_reprs_logs_and_errors_on_a_cluster(
    cluster, standin, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    wrong = "hk-WRONG-0c4e7d1a9b3f5e28-SECRET"
    wavs = [make_wav(tmp_path / f"k{i}.wav", 1.0, seed=40 + i) for i in range(3)]
    img = make_image(tmp_path / "k.png")
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        client.wait_for_workers(2, timeout=60)
        client.run(_watch_humelab_log)
        # Given a job on the workers where Hume is busy once and rejects a file
        standin.clear()
        standin.fail_next(503, retry_after=0, times=1)
        standin.fail_next(415, endpoint="video")
        with _serve(tmp_path, "good", dask_scheduler=client, **_hume(standin)) as s:
            assert KEY not in repr(s) and KEY not in repr(s.runner._measurer._blob)
            good, _ = _run_job(
                s, [*wavs, img], models={"prosody": {}, "face": {}, "burst": {}}
            )
        # and a job whose key the stand-in refuses (HTTP 401)
        with _serve(
            tmp_path, "bad", dask_scheduler=client, **_hume(standin, api_key=wrong)
        ) as s:
            bad, body = _run_job(s, wavs, models={"prosody": {}})
        worker_lines = [line for v in client.run(_humelab_log).values() for line in v]
        dask_logs = [client.get_scheduler_logs(), client.get_worker_logs()]
    finally:
        client.close()
    # Then the first completed (a retry logged on a worker, a file error) ...
    assert good["state"]["status"] == "COMPLETED"
    assert good["usage"]["retries"] == 1 and good["state"]["num_errors"] >= 2
    assert any("retry 1" in line for line in worker_lines)
    assert any(r.name.startswith("humelab") for r in caplog.records)
    # ... the second failed, saying so without the key
    assert bad["state"]["status"] == "FAILED"
    msg = bad["state"]["message"]
    assert "HTTP 401" in msg and "HUME_API_KEY" in msg
    # And neither key is in any job detail, result, log line or data file
    everything = [
        json.dumps([good, bad]),
        body.decode(),
        *worker_lines,
        repr(dask_logs),
        *(r.getMessage() for r in caplog.records),
    ]
    files = [p for name in ("good", "bad") for p in (tmp_path / name).rglob("*")]
    files = [p for p in files if p.is_file()]
    assert len(files) > 4
    for key in (KEY, wrong):
        for text in everything:
            assert key not in text
        for p in files:
            assert key.encode() not in p.read_bytes(), p


def test_a_batch_measures_each_file_as_if_alone(media, tmp_path):
    # Given one batch of three different wavs all named talk.wav (archive members
    # from different folders), as a worker receives it
    import pickle

    from humelab.service.engines.base import MediaInput

    engine = SimulatedEngine()
    blob = _dask_runner._Sealed(pickle.dumps(engine))
    _, files = media
    models = {"prosody": {}}
    tasks = [
        (
            MediaInput,
            {"file": f"{d}/talk.wav", "path": ("bytes", "talk.wav", p.read_bytes())},
            models,
            None,
        )
        for d, p in zip("abc", files[:3], strict=True)
    ]
    # When the worker measures it
    got = _dask_runner._measure_batch_on_worker("same-name", blob, tasks)
    # Then each file is measured from its own bytes, as if measured alone
    for (_, fields, _, _), p, result in zip(tasks, files[:3], got, strict=True):
        alone = engine.measure(
            MediaInput(file=fields["file"], path=p), models=models, transcription=None
        )
        assert result == ("ok", alone)
    assert got[0] != got[1]


def test_a_file_gone_before_its_batch_leaves_fails_alone(cluster, media, tmp_path):
    # Given a measurer on the cluster, a file that exists and one that was removed
    from humelab.service.engines.base import MediaInput

    _, files = media
    measurer = _dask_runner.DaskMeasure(cluster.scheduler_address, SimulatedEngine())
    gone = tmp_path / "gone.wav"
    try:
        # When both are measured (their bytes are read as their batch leaves)
        ok = measurer.measure(
            MediaInput(file="talk.wav", path=files[0]),
            models={"prosody": {}},
            transcription=None,
        )
        with pytest.raises(Exception, match="FileNotFoundError") as err:
            measurer.measure(
                MediaInput(file="gone.wav", path=gone),
                models={"prosody": {}},
                transcription=None,
            )
    finally:
        measurer.close()
    # Then the missing file fails alone, and the other is measured
    assert ok["models"]["prosody"]["grouped_predictions"]
    assert type(err.value).__name__ == "_WorkerBug"
