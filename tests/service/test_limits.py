"""Limits, hostile archives, restarts and the data-folder lock of the Batch service."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import humelab
from tests.conftest import ServiceAPI
from tests.media import make_image, make_wav

LIMITS = dict(
    max_urls=3,
    max_files=2,
    max_texts=2,
    max_file_bytes=20_000,
    max_archive_members=4,
    max_archive_bytes=60_000,
    fetch_timeout=0.5,
    allow_private_urls=True,  # media and callbacks are served on loopback here
)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    with humelab.serve(
        data_dir=tmp_path_factory.mktemp("small"), workers=2, quiet=True, **LIMITS
    ) as server:
        yield server, ServiceAPI(server)


@pytest.fixture(scope="module")
def tiny_media(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return {
        "wav": make_wav(d / "v.wav", 0.3).read_bytes(),  # ~9.6 KB
        "png": make_image(d / "f.png", size=(32, 24)).read_bytes(),
    }


def _job_count(api):
    return len(api.get("/v0/batch/jobs", params={"limit": 10_000}).json())


def _nothing_half_created(server, api, before):
    assert _job_count(api) == before
    assert list((server.data_dir / "tmp").iterdir()) == []


def test_too_many_items_rejected_whole(small, tiny_media):
    server, api = small
    before = _job_count(api)
    r = api.post(json={"urls": [f"http://127.0.0.1/{i}.wav" for i in range(4)]})
    assert r.status_code == 400 and r.json()["error"] == "LimitExceeded"
    assert "at most 3 URLs" in r.json()["message"] and "`urls`" in r.json()["message"]
    r = api.post(json={"text": ["a", "b", "c"]})
    assert r.status_code == 400 and "at most 2 text items" in r.json()["message"]
    files = [("file", (f"f{i}.png", tiny_media["png"])) for i in range(3)]
    r = api.post(files=files)
    assert r.status_code == 400
    assert "more than 2 `file` parts" in r.json()["message"]
    _nothing_half_created(server, api, before)


def test_oversize_upload_stopped_while_streaming(small, tiny_media):
    server, api = small
    before = _job_count(api)
    big = os.urandom(3 * 1024 * 1024)  # far over the 20 KB cap
    files = [
        ("file", ("ok.png", tiny_media["png"])),
        ("file", ("huge.bin", big)),
    ]
    r = api.post(files=files, data={"json": json.dumps({"models": {"face": {}}})})
    assert r.status_code == 400, r.text
    msg = r.json()["message"]
    assert "`huge.bin`" in msg and "20000 bytes" in msg and "limit" in msg
    _nothing_half_created(server, api, before)
    r = api.post(json={"text": ["x" * 20_001]})
    assert r.status_code == 400 and "`text[0]`" in r.json()["message"]
    _nothing_half_created(server, api, before)


def test_oversize_url_becomes_error(small, static_server):
    server, api = small
    base, folder = static_server
    (folder / "big.wav").write_bytes(b"\0" * 50_000)
    job = api.wait(api.submit(json={"urls": [f"{base}/big.wav"]}))
    assert job["state"]["status"] == "COMPLETED" and job["state"]["num_errors"] == 1
    pred = api.predictions(job["job_id"])[0]
    assert "limit" in pred["error"] and pred["results"]["predictions"] == []


def test_slow_url_times_out(small):
    server, api = small
    release = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def do_GET(self):
            release.wait(5)  # never answers within the 0.5 s fetch timeout

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/slow.wav"
        t0 = time.monotonic()
        job = api.wait(api.submit(json={"urls": [url]}))
        assert time.monotonic() - t0 < 4
        pred = api.predictions(job["job_id"])[0]
        assert "no response within 0.5 s" in pred["error"]
        assert job["state"]["num_errors"] == 1
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()


def _zip(members, links=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symlink entry
            zf.writestr(info, target)
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def test_zip_slip_and_absolute_paths_are_refused(small, tiny_media, tmp_path):
    server, api = small
    tag = uuid.uuid4().hex
    data = _zip(
        [
            (f"../escape-{tag}.png", tiny_media["png"]),
            (f"/tmp/abs-{tag}.png", tiny_media["png"]),
            ("good/face.png", tiny_media["png"]),
        ],
        links=[("link.png", "/etc/passwd")],
    )
    job = api.wait(api.submit(files=[("file", ("evil.zip", data))]))
    assert job["state"]["status"] == "COMPLETED"
    res = api.predictions(job["job_id"])[0]["results"]
    assert [p["file"] for p in res["predictions"]] == ["good/face.png"]
    msgs = {e["file"]: e["message"] for e in res["errors"]}
    assert "leaves the archive" in msgs[f"../escape-{tag}.png"]
    assert "absolute path" in msgs[f"/tmp/abs-{tag}.png"]
    assert "links are not expanded" in msgs["link.png"]
    assert job["state"]["num_errors"] == 3
    # nothing was written outside the job folder
    hits = [p for p in server.data_dir.rglob(f"*{tag}*")]
    assert hits == [] and not os.path.exists(f"/tmp/abs-{tag}.png")


def _tar_gz(add):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        add(tf)
    return buf.getvalue()


def _tar_file(tf, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def test_tar_links_are_not_followed(small, tiny_media):
    server, api = small

    def add(tf):
        link = tarfile.TarInfo("passwd.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
        hard = tarfile.TarInfo("hard.png")
        hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/hosts"
        tf.addfile(hard)
        _tar_file(tf, "ok/face.png", tiny_media["png"])
        _tar_file(tf, ".hidden.png", tiny_media["png"])

    job = api.wait(api.submit(files=[("file", ("links.tar.gz", add and _tar_gz(add)))]))
    res = api.predictions(job["job_id"])[0]["results"]
    assert [p["file"] for p in res["predictions"]] == ["ok/face.png"]
    assert {e["file"] for e in res["errors"]} == {"passwd.png", "hard.png"}
    assert all("links are not expanded" in e["message"] for e in res["errors"])


def test_too_many_members_and_bombs(small, static_server, tiny_media):
    server, api = small
    before = _job_count(api)
    # zip uploads are checked from their directory at submission
    many = _zip([(f"m{i}.png", tiny_media["png"][:100]) for i in range(5)])
    r = api.post(files=[("file", ("many.zip", many))])
    assert r.status_code == 400 and "`many.zip` has 5 members" in r.json()["message"]
    bomb = _zip([("zeros.wav", b"\0" * 200_000)])
    assert len(bomb) < 20_000
    r = api.post(files=[("file", ("bomb.zip", bomb))])
    assert r.status_code == 400
    assert "`bomb.zip` expands to 200000 bytes" in r.json()["message"]
    _nothing_half_created(server, api, before)
    # tar archives (no directory to read) are capped while expanding, in the worker
    base, folder = static_server
    (folder / "bomb.tar.gz").write_bytes(
        _tar_gz(lambda tf: _tar_file(tf, "zeros.wav", b"\0" * 200_000))
    )
    (folder / "many.tar.gz").write_bytes(
        _tar_gz(lambda tf: [_tar_file(tf, f"m{i}.txt", b"hi") for i in range(6)])
    )
    urls = [f"{base}/bomb.tar.gz", f"{base}/many.tar.gz"]
    job = api.wait(api.submit(json={"urls": urls}))
    assert job["state"]["status"] == "COMPLETED"
    bomb_res, many_res = api.predictions(job["job_id"])
    assert "expands past the 60000 bytes limit" in bomb_res["error"]
    assert "more than 4 members" in many_res["error"]
    assert (
        bomb_res["results"]["predictions"] == many_res["results"]["predictions"] == []
    )


def test_data_dir_lock(small):
    server, _ = small
    with pytest.raises(humelab.HumelabError, match="in use by another running"):
        humelab.serve(data_dir=server.data_dir, quiet=True)
    assert server.running


def test_unknown_limit_option(tmp_path):
    with pytest.raises(humelab.InputError, match="max_file_size"):
        humelab.serve(data_dir=tmp_path, max_file_size=3)


def _wait_progress(api, job_id, done=1, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = api.get(f"/v0/batch/jobs/{job_id}").json()["state"]
        if st["status"] == "IN_PROGRESS" and st["progress"]["done"] >= done:
            return st
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never progressed: {st}")


def test_killed_service_resumes_jobs(tmp_path):
    # Given `humelab serve` running a slow job, with another queued behind it
    data = tmp_path / "data"
    env = dict(os.environ, HUMELAB_API_KEY="restart-key")
    proc = subprocess.Popen(
        [sys.executable, "-m", "humelab", "serve", "--port", "0", "--data", str(data),
         "--workers", "1", "--item-delay", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert "scores are simulated" in line and "engine: simulated" in line
        assert "restart-key" not in line
        url = line.split(" at ", 1)[1].split(" ", 1)[0]

        class _S:
            api_key = "restart-key"

        _S.url = url
        api = ServiceAPI(_S)
        texts = [f"sentence number {i}." for i in range(6)]
        first = api.submit(json={"text": texts, "models": {"language": {}}})
        second = api.submit(json={"text": ["later"], "models": {"language": {}}})
        started = _wait_progress(api, first)["started_timestamp_ms"]
        # When the service is killed mid-job
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    # Then a new service on the same folder lists both jobs and finishes them
    with humelab.serve(data_dir=data, api_key="restart-key", quiet=True) as server:
        api = ServiceAPI(server)
        listed = [j["job_id"] for j in api.get("/v0/batch/jobs").json()]
        assert first in listed and second in listed
        job = api.wait(first)
        assert job["state"]["status"] == "COMPLETED"
        # the resumed job keeps the time it first started
        assert job["state"]["started_timestamp_ms"] == started
        preds = api.predictions(first)
        assert [p["file"] for p in preds[0]["results"]["predictions"]] == [
            str(i) for i in range(6)
        ]
        assert api.wait(second)["state"]["status"] == "COMPLETED"


class _Receiver:
    def __init__(self, port: int = 0):
        self.bodies = []
        self.got = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()
                outer.got.set()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cb"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_stopped_job_fails_with_message_when_resume_off(tmp_path, tiny_media):
    rx = _Receiver()
    try:
        data = tmp_path / "data"
        with humelab.serve(
            data_dir=data,
            workers=1,
            item_delay=0.3,
            quiet=True,
            api_key="k",
            allow_private_urls=True,
        ) as server:
            api = ServiceAPI(server)
            job_id = api.submit(
                files=[("file", (f"f{i}.png", tiny_media["png"])) for i in range(4)],
                data={"json": json.dumps({"callback_url": rx.url})},
            )
            _wait_progress(api, job_id)
        # the upload is kept until the job ends
        assert any((data / "jobs" / job_id / "uploads").iterdir())
        with humelab.serve(
            data_dir=data,
            resume=False,
            quiet=True,
            api_key="k",
            callback_backoff=0.05,
            allow_private_urls=True,
        ) as server:
            api = ServiceAPI(server)
            job = api.get(f"/v0/batch/jobs/{job_id}").json()
            st = job["state"]
            assert st["status"] == "FAILED"
            assert "stopped while this job was running" in st["message"]
            assert st["ended_timestamp_ms"] >= st["started_timestamp_ms"]
            r = api.get(f"/v0/batch/jobs/{job_id}/predictions")
            assert r.status_code == 409 and "FAILED" in r.json()["message"]
            assert rx.got.wait(10)
            assert rx.bodies[0] == {
                "job_id": job_id,
                "status": "FAILED",
                "message": st["message"],
            }
            assert not (data / "jobs" / job_id / "uploads").exists()
    finally:
        rx.httpd.shutdown()
        rx.httpd.server_close()


def _free_loopback_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_callback_owed_at_stop_is_delivered_once_after_restart(tmp_path):
    # Given a receiver that is down and a service retrying slowly
    port = _free_loopback_port()
    url = f"http://127.0.0.1:{port}/cb"
    data = tmp_path / "data"
    with humelab.serve(
        data_dir=data,
        api_key="k",
        quiet=True,
        callback_backoff=30.0,
        allow_private_urls=True,
    ) as server:
        api = ServiceAPI(server)
        job_id = api.submit(
            json={"text": ["hi"], "models": {"language": {}}, "callback_url": url}
        )
        assert api.wait(job_id)["state"]["status"] == "COMPLETED"
        predictions = api.predictions(job_id)
        deadline = time.monotonic() + 10
        while not any(p["attempts"] for p in server.store.pending_callbacks()):
            assert time.monotonic() < deadline, "first callback attempt never failed"
            time.sleep(0.02)
        # When the service stops during the backoff
        started = time.monotonic()
    assert time.monotonic() - started < 5, "stop waited for the backoff"
    rx = _Receiver(port)
    try:
        # And the receiver comes up, and a service starts on the same folder
        with humelab.serve(
            data_dir=data, api_key="k", quiet=True, allow_private_urls=True
        ) as server:
            # Then the callback arrives, once, with the job's predictions
            assert rx.got.wait(10), "the pending callback was never delivered"
            deadline = time.monotonic() + 5
            while server.store.pending_callbacks():
                assert time.monotonic() < deadline, "pending callback not cleared"
                time.sleep(0.02)
        with humelab.serve(
            data_dir=data, api_key="k", quiet=True, allow_private_urls=True
        ):
            time.sleep(0.3)
        assert rx.bodies == [
            {"job_id": job_id, "status": "COMPLETED", "predictions": predictions}
        ]
    finally:
        rx.httpd.shutdown()
        rx.httpd.server_close()


def test_cli_serve_generated_key_and_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HUMELAB_API_KEY"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "humelab", "serve", "--port", "0",
         "--data", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        banner = proc.stdout.readline()
        key_line = proc.stdout.readline()
        url = banner.split(" at ", 1)[1].split(" ", 1)[0]
        key = key_line.split("API key for this run: ", 1)[1].split()[0]
        import requests

        r = requests.get(f"{url}/v0/batch/jobs", headers={"X-Hume-Api-Key": key})
        assert r.status_code == 200 and r.json() == []
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
