"""Issue 11, service side: one test per failure found by the adversarial probe.

Each test reproduces a failure of the service as it was (HTTP 500s, one bad archive
member failing a job, server-side request forgery, an unenforced fetch deadline,
disk amplification, temp files left after a kill, and the smaller items of 9) and
checks the behaviour that replaced it.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import struct
import tarfile
import threading
import time
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

import humelab
from tests.conftest import ServiceAPI
from tests.media import make_wav

# -- helpers --


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """A service with the defaults: private and loopback URLs refused."""
    with humelab.serve(
        data_dir=tmp_path_factory.mktemp("strict"), workers=2, quiet=True
    ) as server:
        api = ServiceAPI(server)
        yield server, api
        api.http.close()


@pytest.fixture(scope="module")
def wav_bytes(tmp_path_factory):
    d = tmp_path_factory.mktemp("wav")
    return make_wav(d / "v.wav", 0.3).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict = {}
    hits: list = []

    def do_GET(self):  # noqa: N802 - http.server API
        type(self).hits.append(self.path)
        route = type(self).routes.get(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        route(self)

    do_POST = do_GET

    def log_message(self, *a):
        pass


def _http_server(routes, host="127.0.0.1", port=0):
    handler = type("H", (_Handler,), {"routes": routes, "hits": []})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, handler


def _send(body: bytes, ctype="application/octet-stream", status=200, headers=()):
    def route(h):
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return route


def _errors_logged(caplog):
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# -- 1. HTTP 500 instead of a 4xx --


MALFORMED_JSON = {
    "deeply nested JSON": (
        b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nested",
    ),
    "lone surrogate in text": (b'{"text": ["\\ud800"]}', "text[0]"),
    "malformed IPv6 URL": (b'{"urls": ["http://[::1"]}', "urls[0]"),
    "malformed IPv6 callback": (
        b'{"text": ["hi"], "callback_url": "http://[::1"}',
        "callback_url",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_JSON))
def test_malformed_json_requests_get_400_naming_the_problem(strict, caplog, case):
    server, api = strict
    body, named = MALFORMED_JSON[case]
    r = api.post(data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert named in r.json()["message"]
    assert _errors_logged(caplog) == []


@pytest.mark.parametrize("param", ["limit", "timestamp_ms"])
def test_huge_integer_query_params_get_400(strict, caplog, param):
    server, api = strict
    params = {param: "99999999999999999999"}
    if param == "timestamp_ms":
        params["when"] = "created_before"
    r = api.get("/v0/batch/jobs", params=params)
    assert r.status_code == 400, r.text
    assert f"`{param}`" in r.json()["message"]
    assert _errors_logged(caplog) == []


def _zip_with_bad_utf8_name(wav: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("good.wav", wav)
        zf.writestr("XXbad.wav", wav)
    data = buf.getvalue()
    # Flag the second member's name as UTF-8 (bit 11) and make it invalid UTF-8.
    data = data.replace(b"XXbad.wav", b"\xff\xfebad.wav")
    cd = data.rfind(b"PK\x01\x02")
    flags = struct.unpack_from("<H", data, cd + 8)[0] | 0x800
    data = data[: cd + 8] + struct.pack("<H", flags) + data[cd + 10 :]
    return data


def test_zip_with_non_utf8_name_flagged_utf8_is_no_500(strict, caplog, wav_bytes):
    server, api = strict
    files = [("file", ("names.zip", _zip_with_bad_utf8_name(wav_bytes)))]
    r = api.post(files=files, data={"json": json.dumps({"models": {"prosody": {}}})})
    assert r.status_code == 200, r.text
    job = api.wait(r.json()["job_id"])
    assert job["state"]["status"] == "COMPLETED"
    (source,) = api.predictions(job["job_id"])
    # The archive cannot be listed: it is this input's error entry, saying why.
    assert source["results"]["predictions"] == []
    assert "names.zip" in source["error"] and "UTF-8" in source["error"]
    assert not [r for r in caplog.records if r.exc_info]


# -- 2. One bad archive member fails the whole job --


def test_tar_member_with_latin1_name_is_measured_with_the_rest(strict, wav_bytes):
    server, api = strict
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT, encoding="latin-1"
    ) as tf:
        for name in ("good.wav", "caf\u00e9.wav"):
            info = tarfile.TarInfo(name)
            info.size = len(wav_bytes)
            tf.addfile(info, io.BytesIO(wav_bytes))
    files = [("file", ("latin.tar.gz", buf.getvalue()))]
    r = api.post(files=files, data={"json": json.dumps({"models": {"prosody": {}}})})
    job = api.wait(r.json()["job_id"])
    assert job["state"]["status"] == "COMPLETED", job["state"]
    (source,) = api.predictions(job["job_id"])
    names = sorted(p["file"] for p in source["results"]["predictions"])
    assert names == ["caf\u00e9.wav", "good.wav"]


def _corrupt_zip(wav: bytes) -> bytes:
    noisy = bytes((i * 7919) % 251 for i in range(200_000))  # compresses a little
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a-good.wav", wav)
        zf.writestr("b-broken.wav", noisy + wav)
        zf.writestr("c-good.wav", wav)
    data = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("b-broken.wav")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    mid = start + info.compress_size // 2
    data[mid : mid + 64] = b"\xff" * 64  # the deflate stream breaks midway
    return bytes(data)


def test_corrupt_member_stream_is_an_error_entry_not_a_failed_job(strict, wav_bytes):
    server, api = strict
    files = [("file", ("corrupt.zip", _corrupt_zip(wav_bytes)))]
    r = api.post(files=files, data={"json": json.dumps({"models": {"prosody": {}}})})
    job = api.wait(r.json()["job_id"])
    assert job["state"]["status"] == "COMPLETED", job["state"]
    (source,) = api.predictions(job["job_id"])
    names = sorted(p["file"] for p in source["results"]["predictions"])
    assert names == ["a-good.wav", "c-good.wav"]
    (err,) = source["results"]["errors"]
    assert err["file"] == "b-broken.wav" and "corrupt" in err["message"]


def test_tar_gz_corrupt_midway_keeps_the_members_before(strict):
    import random

    server, api = strict
    rng = random.Random(0)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for name in ("a.txt", "b.txt", "c.txt"):
            data = bytes(rng.choice(b"abcdefgh ") for _ in range(30_000))
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    gz = bytearray(co.compress(raw.getvalue()) + co.flush())
    cut = len(gz) // 2  # inside b.txt's data or c.txt's header
    gz[cut : cut + 64] = b"\xff" * 64
    files = [("file", ("late.tar.gz", bytes(gz)))]
    models = {"models": {"language": {}}}
    r = api.post(files=files, data={"json": json.dumps(models)})
    job = api.wait(r.json()["job_id"])
    assert job["state"]["status"] == "COMPLETED", job["state"]
    (source,) = api.predictions(job["job_id"])
    names = [p["file"] for p in source["results"]["predictions"]]
    assert "a.txt" in names and "c.txt" not in names
    errors = source["results"]["errors"]
    (rest,) = [e for e in errors if e["file"] == "late.tar.gz"]
    assert "corrupt" in rest["message"] and "after `b.txt`" in rest["message"]


# -- 3. Server-side request forgery --


LOOPBACK_SPELLINGS = [
    "http://127.0.0.1:{port}/x.wav",
    "http://localhost:{port}/x.wav",
    "http://2130706433:{port}/x.wav",
    "http://127.1:{port}/x.wav",
    "http://0x7f.0.0.1:{port}/x.wav",
    "http://0.0.0.0:{port}/x.wav",
    "http://user@127.0.0.1:{port}/x.wav",
    "http://[::1]:{port}/x.wav",
    "http://[::ffff:127.0.0.1]:{port}/x.wav",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1:{port}/x.wav",
]


@pytest.fixture(scope="module")
def loopback_media(wav_bytes):
    httpd, handler = _http_server({"/x.wav": _send(wav_bytes, "audio/wav")})
    yield httpd.server_address[1], handler
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_private_urls_are_refused_by_default(strict, loopback_media, spelling):
    server, api = strict
    port, handler = loopback_media
    url = spelling.format(port=port)
    before = len(handler.hits)
    r = api.post(json={"urls": [url], "models": {"prosody": {}}})
    if r.status_code == 200:  # a name: refused when resolved, as an error entry
        job = api.wait(r.json()["job_id"])
        (source,) = api.predictions(job["job_id"])
        assert source["results"]["predictions"] == []
        assert "not a public address" in source["error"]
    else:
        assert r.status_code == 400, r.text
        assert "not a public address" in r.json()["message"]
        assert "allow_private_urls" in r.json()["message"]
    assert len(handler.hits) == before, "the service connected to a private address"


def test_loopback_callback_refused_by_default(strict):
    server, api = strict
    got = []
    httpd, handler = _http_server({"/cb": lambda h: got.append(1)})
    try:
        port = httpd.server_address[1]
        r = api.post(
            json={"text": ["hi"], "callback_url": f"http://127.0.0.1:{port}/cb"}
        )
        assert r.status_code == 400 and "callback_url" in r.json()["message"]
        r = api.post(
            json={"text": ["hi"], "callback_url": f"http://localhost:{port}/cb"}
        )
        assert r.status_code == 400 and "not a public address" in r.json()["message"]
        time.sleep(0.3)
        assert handler.hits == []
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_fetch_errors_do_not_tell_open_ports_from_closed(strict):
    server, api = strict
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        msgs = []
        for port in (closed, listener.getsockname()[1]):
            r = api.post(json={"urls": [f"http://127.0.0.1:{port}/a.wav"]})
            assert r.status_code == 400
            msgs.append(r.json()["message"].replace(str(port), "PORT"))
        assert msgs[0] == msgs[1]
    finally:
        listener.close()


def test_guard_rechecks_redirects_and_pins_the_checked_address(wav_bytes):
    # An allow-list stands in for the public internet: 127.0.0.2 is "public" here,
    # 127.0.0.1 is not. Linux answers on all of 127.0.0.0/8.
    from humelab.service._netguard import NetGuard

    inner, inner_h = _http_server({"/x.wav": _send(wav_bytes)})
    port = inner.server_address[1]
    outer, outer_h = _http_server(
        {
            "/hop": _send(
                b"",
                status=302,
                headers=[("Location", f"http://127.0.0.1:{port}/x.wav")],
            ),
            "/x.wav": _send(b"pinned"),
        },
        host="127.0.0.2",
        port=port,
    )
    try:
        guard = NetGuard(allow_private=["127.0.0.2/32"])
        with pytest.raises(humelab.service._netguard.Refused) as exc:
            guard.fetch_to(f"http://127.0.0.2:{port}/hop", io.BytesIO(), cap=10**6)
        assert "not a public address" in str(exc.value)
        assert inner_h.hits == []  # the redirect target was never contacted
        # DNS rebinding: the name resolves to an allowed address, then (if asked
        # again) to a forbidden one; the connection goes to the checked address.
        answers = iter(["127.0.0.2", "127.0.0.1", "127.0.0.1"])
        rebinding = NetGuard(
            allow_private=["127.0.0.2/32"],
            resolve=lambda host, port: [next(answers)],
        )
        out = io.BytesIO()
        rebinding.fetch_to(f"http://rebind.test:{port}/x.wav", out, cap=10**6)
        assert out.getvalue() == b"pinned" and inner_h.hits == []
    finally:
        for s in (inner, outer):
            s.shutdown()
            s.server_close()


# -- 4. The total fetch deadline --


def test_trickling_url_is_cut_at_the_deadline_and_does_not_hold_later_jobs(tmp_path):
    stop = threading.Event()

    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(1000):
            if stop.wait(0.3):
                return
            try:
                h.wfile.write(b"x")
                h.wfile.flush()
            except OSError:
                return

    httpd, _ = _http_server({"/slow.wav": trickle})
    url = f"http://127.0.0.1:{httpd.server_address[1]}/slow.wav"
    try:
        with humelab.serve(
            data_dir=tmp_path,
            quiet=True,
            workers=1,
            fetch_timeout=5,
            fetch_total_timeout=2,
            allow_private_urls=True,
        ) as server:
            api = ServiceAPI(server)
            t0 = time.monotonic()
            slow = api.submit(json={"urls": [url], "models": {"prosody": {}}})
            quick = api.submit(json={"text": ["hello"], "models": {"language": {}}})
            api.wait(quick, timeout=20)
            quick_done = time.monotonic() - t0
            job = api.wait(slow, timeout=20)
            slow_done = time.monotonic() - t0
            preds = api.predictions(slow)
        assert quick_done < 1.5, f"the text job waited {quick_done:.1f} s"
        assert slow_done < 5.0, f"the URL job took {slow_done:.1f} s (deadline 2 s)"
        assert job["state"]["status"] == "COMPLETED"
        (source,) = preds
        assert "2 s" in source["error"] and source["results"]["predictions"] == []
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()


def test_stalled_upload_is_closed_after_the_idle_time(tmp_path):
    with humelab.serve(
        data_dir=tmp_path, quiet=True, api_key="k", upload_idle_timeout=1.0
    ) as server:
        host, port = server.url.rsplit("//", 1)[1].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=10)
        try:
            sock.sendall(
                b"POST /v0/batch/jobs HTTP/1.1\r\nHost: x\r\nX-Hume-Api-Key: k\r\n"
                b"Content-Type: multipart/form-data; boundary=BB\r\n"
                b"Content-Length: 100000\r\n\r\n--BB\r\nContent-Disposition: form-data;"
                b' name="file"; filename="a.wav"\r\n\r\nRIFF'
            )
            t0 = time.monotonic()
            answer = b""
            while chunk := sock.recv(65536):  # until the service closes it
                answer += chunk
            waited = time.monotonic() - t0
        finally:
            sock.close()
        assert waited < 5, f"stalled upload held for {waited:.1f} s"
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert b"1 s" in answer
        assert list((server.data_dir / "tmp").iterdir()) == []


# -- 5. Disk amplification --


def _zip_of_zeros(n_members: int, size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n_members):
            zf.writestr(f"z{i}.wav", b"\0" * size)
    return buf.getvalue()


def _tgz_of_zeros(n_members: int, size: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i in range(n_members):
            info = tarfile.TarInfo(f"z{i}.wav")
            info.size = size
            tf.addfile(info, io.BytesIO(b"\0" * size))
    return buf.getvalue()


def test_expanded_bytes_are_capped_per_request(tmp_path):
    caps = dict(max_archive_bytes=60_000, max_expanded_bytes=100_000)
    with humelab.serve(data_dir=tmp_path, quiet=True, **caps) as server:
        api = ServiceAPI(server)
        # Zips declare their sizes: three 50 KB archives are refused at upload.
        zips = [("file", (f"a{i}.zip", _zip_of_zeros(1, 50_000))) for i in range(3)]
        r = api.post(files=zips)
        assert r.status_code == 400, r.text
        assert "per request" in r.json()["message"]
        # Tarballs are counted while expanding: the one that goes over is an error.
        tgzs = [("file", (f"t{i}.tar.gz", _tgz_of_zeros(1, 50_000))) for i in range(3)]
        job = api.wait(api.submit(files=tgzs))
        preds = api.predictions(job["job_id"])
        over = [s for s in preds if "per request" in (s.get("error") or "")]
        assert len(over) == 1
        total = sum(p.stat().st_size for p in server.data_dir.rglob("z*.wav"))
        assert total <= 100_000


def test_request_refused_when_disk_is_under_the_reserve(tmp_path):
    import shutil

    reserve = shutil.disk_usage(tmp_path).free + 10 * 1024**3
    with humelab.serve(data_dir=tmp_path, quiet=True, min_free_bytes=reserve) as s:
        api = ServiceAPI(s)
        r = api.post(json={"text": ["hello"]})
        assert r.status_code == 507, r.text
        assert "free" in r.json()["message"] and "min_free_bytes" in r.json()["message"]
        r = api.post(files=[("file", ("a.txt", b"hello"))])
        assert r.status_code == 507
        assert api.get("/v0/batch/jobs").json() == []


def test_disk_reserve_stops_downloads_and_expansion(tmp_path, wav_bytes):
    import shutil

    from humelab.service._archive import ArchiveError, expand_archive
    from humelab.service._netguard import NetGuard
    from humelab.service.intake import DiskReserve, FetchError, Limits, fetch_url

    full = DiskReserve(tmp_path, shutil.disk_usage(tmp_path).free + 10 * 1024**3)
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip_of_zeros(1, 1000))
    with pytest.raises(ArchiveError, match="min_free_bytes"):
        expand_archive(archive, tmp_path / "x", Limits(), disk=full)
    httpd, handler = _http_server({"/a.wav": _send(wav_bytes)})
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/a.wav"
        guard = NetGuard(allow_private=True)
        with pytest.raises(FetchError, match="min_free_bytes"):
            fetch_url(url, tmp_path, Limits(), guard=guard, disk=full)
        assert handler.hits == [] and not (tmp_path / "a.wav").exists()
        roomy = DiskReserve(tmp_path, 0)
        got = fetch_url(url, tmp_path, Limits(), guard=guard, disk=roomy)
        assert got.read_bytes() == wav_bytes
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- 8. Temp files leaked by a kill --


def test_stale_temp_files_removed_at_start(tmp_path):
    with humelab.serve(data_dir=tmp_path, quiet=True) as server:
        api = ServiceAPI(server)
        job_id = api.submit(json={"text": ["hello"], "models": {"language": {}}})
        api.wait(job_id)
        jdir = server.store.job_dir(job_id)
    leftovers = [
        jdir / ".artifacts.0123abcd.tmp",
        jdir / ".predictions.json.4567ef.tmp",
    ]
    for p in leftovers:
        p.write_bytes(b"half written" * 1000)
    keep = jdir / "predictions.json"
    before = keep.read_bytes()
    with humelab.serve(data_dir=tmp_path, quiet=True) as server:
        assert [p for p in leftovers if p.exists()] == []
        assert keep.read_bytes() == before


# -- 9. Smaller items --


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def test_huge_png_says_it_is_too_large(strict):
    server, api = strict
    files = [("file", ("huge.png", _png_header(60000, 60000)))]
    job = api.wait(api.submit(files=files, data={"json": '{"models": {"face": {}}}'}))
    (source,) = api.predictions(job["job_id"])
    (err,) = source["results"]["errors"]
    assert "60000x60000" in err["message"] and "video" not in err["message"]


def test_rfc5987_filename_is_kept(strict):
    server, api = strict
    body = (
        b'--BB\r\nContent-Disposition: form-data; name="file"; '
        b"filename*=UTF-8''%C3%A9t%C3%A9%20notes.txt\r\n"
        b"Content-Type: text/plain\r\n\r\nhello there\r\n--BB--\r\n"
    )
    r = api.post(
        data=body, headers={"Content-Type": "multipart/form-data; boundary=BB"}
    )
    assert r.status_code == 200, r.text
    job = api.wait(r.json()["job_id"])
    assert job["request"]["files"][0]["filename"] == "\u00e9t\u00e9 notes.txt"


def test_client_disconnect_mid_upload_logs_one_line(strict, caplog):
    server, api = strict
    host, port = server.url.rsplit("//", 1)[1].rsplit(":", 1)
    caplog.set_level(logging.INFO, logger="humelab")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        b"POST /v0/batch/jobs HTTP/1.1\r\nHost: x\r\nX-Hume-Api-Key: "
        + server.api_key.encode()
        + b"\r\nContent-Type: multipart/form-data; boundary=BB\r\n"
        b"Content-Length: 100000\r\n\r\n--BB\r\nContent-Disposition: form-data;"
        b' name="file"; filename="a.wav"\r\n\r\nRIFF' + b"\0" * 5000
    )
    time.sleep(0.3)
    sock.close()
    deadline = time.monotonic() + 5
    while not [r for r in caplog.records if "disconnect" in r.getMessage()]:
        assert time.monotonic() < deadline, "no line about the disconnect"
        time.sleep(0.05)
    time.sleep(0.2)
    assert [r for r in caplog.records if r.exc_info] == []
    assert _errors_logged(caplog) == []
    assert list((server.data_dir / "tmp").iterdir()) == []


def test_api_key_file(tmp_path):
    from humelab.service.server import read_api_key_file

    keyfile = tmp_path / "key"
    keyfile.write_text("s3cret-key\n")
    keyfile.chmod(0o644)
    with pytest.warns(humelab.HumelabWarning, match="chmod 600"):
        assert read_api_key_file(keyfile) == "s3cret-key"
    keyfile.chmod(0o600)
    assert read_api_key_file(keyfile) == "s3cret-key"
    with humelab.serve(data_dir=tmp_path / "d", quiet=True, api_key_file=keyfile) as s:
        assert s.api_key == "s3cret-key"
        r = requests.get(s.url + "/v0/batch/jobs", headers={"X-Hume-Api-Key": "x"})
        assert r.status_code == 401
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "empty").chmod(0o600)
    with pytest.raises(humelab.InputError) as exc:
        read_api_key_file(tmp_path / "empty")
    assert "empty" in str(exc.value)
    with pytest.raises(humelab.InputError) as exc:
        read_api_key_file(tmp_path / "missing")
    assert "s3cret" not in str(exc.value)
