"""HTTP transport of humelab.Client against the real local service.

Faults come from a real reverse proxy on loopback (tests/_loopback.py) that answers
503 or 429, or drops the connection, on scripted requests; nothing in humelab is
mocked.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sqlite3
import threading
import time

import pytest

import humelab
from tests._loopback import FaultProxy

JOBS = "/v0/batch/jobs"


@pytest.fixture
def proxy(service):
    p = FaultProxy(service.url)
    yield p
    p.close()


@pytest.fixture
def pclient(proxy, service, tmp_path):
    """A client that talks to the service through the fault proxy."""
    with humelab.Client(
        proxy.url, service.api_key, poll_interval=0.05, data_dir=tmp_path / "data"
    ) as c:
        yield c


def _service_job_ids(service, tmp_path) -> set[str]:
    with humelab.Client(
        service.url, service.api_key, data_dir=tmp_path / "lister"
    ) as direct:
        return {j.id for j in direct.list_jobs(limit=1000)}


def test_api_key_never_in_repr_errors_logs_or_files(service, tmp_path, caplog):
    # Given a client holding the real key, and one holding a wrong key
    key = service.api_key
    assert key, "the test service must require a key"
    caplog.set_level(logging.DEBUG)
    with humelab.Client(service.url, key, data_dir=tmp_path / "d") as client:
        job = client.submit(text=["A quiet day."], models={"language": {}}).wait()
        job.frame()
        text = repr(client) + str(client.__dict__.get("ledger"))
        assert key not in text and "api_key=***" in repr(client)
    with humelab.Client(service.url, "wrong-" + key, data_dir=tmp_path / "d") as bad:
        with pytest.raises(humelab.AuthError) as info:
            bad.list_jobs()
    # Then the key shows up in no message, log record or file humelab wrote
    err = info.value
    assert key not in str(err) and key not in repr(err)
    # not even in the request the error carries (the wrong key, here)
    for request in (err.request, err.response.request):
        assert request.headers["X-Hume-Api-Key"] == "***"
    assert err.status_code == 401
    assert "GET /v0/batch/jobs failed with HTTP 401" in str(err)
    assert "HUMELAB_API_KEY" in str(err)
    assert all(key not in r.getMessage() for r in caplog.records)
    for path in (tmp_path / "d").rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_env_vars_resolve_url_and_key(service, tmp_path, monkeypatch):
    monkeypatch.setenv("HUMELAB_URL", service.url)
    monkeypatch.setenv("HUMELAB_API_KEY", service.api_key)
    monkeypatch.setenv("HUMELAB_DATA_DIR", str(tmp_path / "envdata"))
    with humelab.Client() as client:
        assert client.base_url == service.url.rstrip("/")
        assert not client.embedded
        assert client.data_dir == tmp_path / "envdata"
        assert isinstance(client.list_jobs(limit=1), list)


def test_not_found_names_method_path_and_message(client):
    with pytest.raises(humelab.NotFoundError, match=r"GET /v0/batch/jobs/nope .*404.*"):
        client.job("nope")
    with pytest.raises(humelab.NotFoundError, match=r"job not found") as info:
        client.job("nope")
    assert ".." not in str(info.value) and "Check the job id" in str(info.value)


def test_models_checked_before_anything_is_sent(pclient, proxy):
    with pytest.raises(
        humelab.InputError, match=r"`models.voice` is not a model.*face"
    ):
        pclient.submit(text=["hi"], models={"voice": {}})
    with pytest.raises(humelab.InputError, match=r"models.face.fps\b.*fps_pred"):
        pclient.submit(text=["hi"], models={"face": {"fps": 3}})
    with pytest.raises(humelab.InputError, match=r"101 files .*submit_many"):
        pclient.submit([(f"{i}.txt", b"x") for i in range(101)])
    assert proxy.total() == 0


def test_get_retried_on_503_429_and_dropped_connections(pclient, proxy):
    job = pclient.submit(text=["Retry me."], models={"language": {}})
    path = f"{JOBS}/{job.id}"
    # Given the next three GETs of the job fail in three different ways
    proxy.fail("GET", path, "503", "429", "drop")
    # When the client reads the job
    job.refresh()
    # Then it retried until the fourth attempt got through
    assert job.status in {"QUEUED", "IN_PROGRESS", "COMPLETED"}
    assert proxy.counts[("GET", path)] == 4
    assert proxy.forwarded[("GET", path)] == 1


def test_retry_after_is_honoured(pclient, proxy):
    proxy.fail("GET", JOBS, "429:1")
    start = time.monotonic()
    assert isinstance(pclient.list_jobs(limit=1), list)
    # the retry waited the second the service asked for
    assert time.monotonic() - start >= 1.0
    assert proxy.counts[("GET", JOBS)] == 2


def test_get_gives_up_after_max_retries(service, proxy, tmp_path):
    with humelab.Client(
        proxy.url, service.api_key, max_retries=2, data_dir=tmp_path / "d"
    ) as c:
        proxy.fail("GET", JOBS, "503", "503", "503")
        with pytest.raises(humelab.APIError, match=r"GET /v0/batch/jobs .*HTTP 503"):
            c.list_jobs()
        assert proxy.counts[("GET", JOBS)] == 3
        proxy.fail("GET", JOBS, "429", "429", "429")
        with pytest.raises(humelab.RateLimitError, match=r"HTTP 429: injected"):
            c.list_jobs()


def test_post_never_retried_once_it_may_have_arrived(pclient, proxy, service, tmp_path):
    before = _service_job_ids(service, tmp_path)
    # A POST answered 503 is not retried
    proxy.fail("POST", JOBS, "503")
    with pytest.raises(
        humelab.APIError, match=r"POST /v0/batch/jobs failed .*HTTP 503"
    ):
        pclient.submit(text=["one"], models={"language": {}})
    # A POST whose connection drops before the proxy forwards it is not retried
    proxy.fail("POST", JOBS, "drop")
    with pytest.raises(humelab.APIError, match=r"may have reached the service"):
        pclient.submit(text=["two"], models={"language": {}})
    # A POST that reached the service but lost its answer is not retried either
    proxy.fail("POST", JOBS, "lose")
    with pytest.raises(humelab.APIError, match=r"no response from"):
        pclient.submit(text=["three"], models={"language": {}})
    assert proxy.counts[("POST", JOBS)] == 3
    assert proxy.forwarded[("POST", JOBS)] == 1
    created = _service_job_ids(service, tmp_path) - before
    # exactly one job was created (the lost answer), never a duplicate
    assert len(created) == 1
    # and the next submit is accepted once
    job = pclient.submit(text=["four"], models={"language": {}})
    assert proxy.counts[("POST", JOBS)] == 4
    assert _service_job_ids(service, tmp_path) - before == created | {job.id}


def test_post_retried_when_the_connection_was_refused(service, tmp_path):
    # Given a port where nothing listens yet
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    before = _service_job_ids(service, tmp_path)
    holder = {}

    def start_proxy_later():
        time.sleep(0.3)
        # A proxy that binds that very port once the client has been refused
        p = FaultProxy.__new__(FaultProxy)
        FaultProxy.__init__(p, service.url)
        p.close()
        from http.server import ThreadingHTTPServer

        handler = p.server.RequestHandlerClass
        p.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        p.server.daemon_threads = True
        threading.Thread(target=p.server.serve_forever, daemon=True).start()
        holder["proxy"] = p

    t = threading.Thread(target=start_proxy_later)
    t.start()
    try:
        with humelab.Client(
            f"http://127.0.0.1:{port}", service.api_key, data_dir=tmp_path / "d"
        ) as c:
            # When the client submits while the port is still closed
            job = c.submit(text=["refused first"], models={"language": {}})
    finally:
        t.join()
    proxy = holder["proxy"]
    try:
        # Then the POST went through exactly once, after connect retries
        assert proxy.counts[("POST", JOBS)] == 1
        assert _service_job_ids(service, tmp_path) - before == {job.id}
    finally:
        proxy.close()


def test_no_service_at_all_is_explained(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with humelab.Client(
        f"http://127.0.0.1:{port}", "k", max_retries=1, data_dir=tmp_path
    ) as c:
        with pytest.raises(humelab.APIError, match=r"Is the service running\?"):
            c.list_jobs()


def test_embedded_service_starts_once_and_says_so(tmp_path, monkeypatch, capfd):
    monkeypatch.delenv("HUMELAB_URL", raising=False)
    monkeypatch.delenv("HUMELAB_API_KEY", raising=False)
    a = humelab.Client(data_dir=tmp_path)
    b = humelab.Client(data_dir=tmp_path)
    try:
        assert a.embedded and b.embedded and a.base_url == b.base_url
        assert a.base_url.startswith("http://127.0.0.1:")
        assert a.engine == "simulated"
        err = capfd.readouterr().err
        lines = [ln for ln in err.splitlines() if "started the local" in ln]
        assert len(lines) == 1
        assert a.base_url in lines[0] and "simulated" in lines[0]
        assert str(tmp_path / "service") in lines[0]
        job = a.submit(text=["Embedded."], models={"language": {}}).wait()
        assert job.simulated is True
        # the service keeps its jobs under the data dir
        assert any((tmp_path / "service").iterdir())
    finally:
        a.close()
        b.close()
        from humelab import stop_embedded as _stop_embedded

        _stop_embedded(tmp_path)


def test_embedded_jobs_survive_a_restart(tmp_path, monkeypatch, capfd):
    from humelab import stop_embedded as _stop_embedded

    monkeypatch.delenv("HUMELAB_URL", raising=False)
    monkeypatch.delenv("HUMELAB_API_KEY", raising=False)
    # Given a job run by the embedded service, then the "kernel" stops
    with humelab.Client(data_dir=tmp_path) as first:
        job = first.submit(text=["Survive."], models={"language": {}}).wait()
        old_url = first.base_url
    _stop_embedded(tmp_path)
    # When a new embedded service starts on the same data folder (new port)
    try:
        with humelab.Client(data_dir=tmp_path) as again:
            assert again.base_url != old_url
            # Then the ledger and the job are still there
            assert list(again.jobs()["job_id"]) == [job.id]
            back = again.job(job.id)
            assert back.status == "COMPLETED"
            assert back.frame()["text"].astype(str).str.contains("Survive").any()
    finally:
        _stop_embedded(tmp_path)


def test_second_process_on_the_same_data_folder(tmp_path, monkeypatch, capfd):
    import subprocess
    import sys

    from humelab import stop_embedded as _stop_embedded

    monkeypatch.delenv("HUMELAB_URL", raising=False)
    env = {k: v for k, v in __import__("os").environ.items() if k != "HUMELAB_URL"}
    env["HUMELAB_DATA_DIR"] = str(tmp_path)
    # Given another process (another kernel) holding the folder's embedded service
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import humelab, time; humelab.Client(); print('up', flush=True); "
            "time.sleep(60)",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "up"
        # When this process starts its own embedded service there
        with humelab.Client(data_dir=tmp_path) as c:
            line = [
                ln for ln in capfd.readouterr().err.splitlines() if "started" in ln
            ][0]
            # Then it uses the next free folder and says why
            assert str(tmp_path / "service-2") in line
            assert "in use by another process" in line
            assert c.submit(text=["Two."], models={"language": {}}).wait().status == (
                "COMPLETED"
            )
    finally:
        other.kill()
        other.wait()
        _stop_embedded(tmp_path)


_UPLOAD_CHILD = """
import sys, humelab

def hwm():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024

url, key, path, data = sys.argv[1:5]
with humelab.Client(url, key, data_dir=data) as c:
    c.list_jobs(limit=1)  # warm up: imports and connection done
    before = hwm()
    job = c.submit(path, models={"burst": {}})
print(job.id, round(hwm() - before, 1))
"""


@pytest.mark.skipif(
    not __import__("os").path.exists("/proc/self/status"), reason="needs Linux /proc"
)
def test_upload_streams_from_disk(tmp_path):
    import subprocess
    import sys

    # Given a 96 MiB file (sparse: no disk used on our side), and a service busy
    # with a slow job, so the big one stays queued and is never measured
    big = tmp_path / "big.wav"
    with open(big, "wb") as fh:
        fh.truncate(96 * 1024**2)
    with humelab.serve(
        data_dir=tmp_path / "svc", workers=1, item_delay=30, quiet=True
    ) as server:
        with humelab.Client(server.url, server.api_key, data_dir=tmp_path) as c:
            c.submit(text=["Busy."], models={"language": {}})
        # When a fresh process uploads it
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _UPLOAD_CHILD,
                server.url,
                server.api_key,
                str(big),
                str(tmp_path / "d"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    job_id, growth = proc.stdout.split()
    # Then its peak memory grew by far less than the file
    assert float(growth) < 32, f"peak RSS grew {growth} MB for a 96 MB upload"
    assert len(job_id) == 36


class _Recorder:
    """A loopback HTTP server that records requests and answers via ``reply``."""

    def __init__(self, host, reply):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.seen: list[tuple[str, str, dict]] = []
        self.reply = reply
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                recorder.seen.append((self.command, self.path, dict(self.headers)))
                status, headers, body = recorder.reply(self.command, self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://{host}:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_redirects_are_never_followed_and_the_key_stays_home(tmp_path):
    import json

    # Given a second host (127.0.0.2) that records what it receives
    other = _Recorder("127.0.0.2", lambda m, p: (200, {}, b"[]"))
    done = {"job_id": "done", "state": {"status": "COMPLETED"}}

    def reply(method, path):
        if method == "GET" and path == f"{JOBS}/done":
            return 200, {"Content-Type": "application/json"}, json.dumps(done).encode()
        return 302, {"Location": other.url + path}, b""

    # and a "service" that answers with a redirect to it
    service = _Recorder("127.0.0.1", reply)
    key = "secret-key-123"
    try:
        with humelab.Client(service.url, key, data_dir=tmp_path) as c:
            # When the client lists, submits, and streams a download
            with pytest.raises(humelab.APIError) as info:
                c.list_jobs()
            with pytest.raises(humelab.APIError, match=r"POST /v0/batch/jobs .*302"):
                c.submit(text=["hi"], models={"language": {}})
            # (a redirect created no job: no pending ledger entry is left)
            with contextlib.closing(sqlite3.connect(c.ledger.path)) as db:
                assert db.execute("SELECT COUNT(*) FROM pending").fetchone() == (0,)
            job = humelab.Job("done", client=c)
            with pytest.raises(
                humelab.APIError, match=r"GET /v0/batch/jobs/done/predictions .*302"
            ):
                job.predictions()
        # Then the error names method, path, status and where it pointed
        msg = str(info.value)
        assert msg.startswith("GET /v0/batch/jobs was answered with a redirect")
        assert "HTTP 302" in msg and other.url in msg and key not in msg
        assert info.value.status_code == 302
        assert other.url in info.value.response.headers["Location"]
        # a Location that echoes the key is masked in the response it carries too
        service.reply = lambda m, p: (302, {"Location": f"{other.url}/?k={key}"}, b"")
        with humelab.Client(service.url, key, data_dir=tmp_path) as c:
            with pytest.raises(humelab.APIError) as echoed:
                c.list_jobs()
        assert key not in str(echoed.value)
        assert key not in echoed.value.response.headers["Location"]
        # and the other host never heard from the client, let alone the key
        assert other.seen == []
        assert all(h.get("X-Hume-Api-Key") == key for _, _, h in service.seen)
        assert not (job.cache_dir / "predictions.json").exists()
    finally:
        service.close()
        other.close()


def test_timeout_none_means_the_default_and_bad_ones_are_named(service, tmp_path):
    with humelab.Client(
        service.url, service.api_key, timeout=None, data_dir=tmp_path
    ) as c:
        assert c.timeout == (10.0, 60.0)
        assert isinstance(c.list_jobs(limit=1), list)
    with humelab.Client(service.url, "k", timeout=(3, 7), data_dir=tmp_path) as c:
        assert c.timeout == (3.0, 7.0)
    for bad in (0, -1, "60", (1, 2, 3), True):
        with pytest.raises(humelab.InputError, match=r"`timeout` must be .* got"):
            humelab.Client(service.url, "k", timeout=bad, data_dir=tmp_path)


def test_submit_shows_upload_progress_and_honours_timeout(tmp_path, capfd):
    # Given a "service" that reads the upload slowly and never answers
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    stop = threading.Event()

    def slow_reader():
        conn, _ = srv.accept()
        with conn:
            while not stop.is_set():
                if not conn.recv(256 * 1024):
                    break
                stop.wait(0.1)

    threading.Thread(target=slow_reader, daemon=True).start()
    data = ("big.wav", bytes(8 * 1024 * 1024))
    url = f"http://127.0.0.1:{srv.getsockname()[1]}"
    try:
        with humelab.Client(url, "k", data_dir=tmp_path) as client:
            # When a file is submitted with a progress bar and a short timeout
            with pytest.raises(humelab.APIError, match=r"no answer .* within 0.5 s"):
                client.submit(data, models={"prosody": {}}, progress=True, timeout=0.5)
    finally:
        stop.set()
        srv.close()
    # Then a bar in bytes was drawn while the body went out
    err = capfd.readouterr().err
    assert "uploading 1 file" in err and "MB" in err
