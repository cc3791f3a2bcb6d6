"""The Batch service over loopback HTTP: jobs, shapes, filters, errors, callbacks."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import humelab
from humelab.schema import MODELS
from tests.media import make_image, make_wav


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    return {
        "wav": make_wav(d / "voice.wav", 1.0),
        "png": make_image(d / "face.png"),
        "png2": make_image(d / "face2.png", seed=1),
    }


def _multipart(parts, boundary="humelabBOUNDARY"):
    """Raw multipart body: parts are (name, filename|None, content_type|None, bytes)."""
    out = io.BytesIO()
    for name, filename, ctype, data in parts:
        out.write(f"--{boundary}\r\n".encode())
        disp = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            disp += f'; filename="{filename}"'
        out.write(disp.encode() + b"\r\n")
        if ctype:
            out.write(f"Content-Type: {ctype}\r\n".encode())
        out.write(b"\r\n" + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def test_text_job_lifecycle_echo_and_shape(api, service):
    # Given a JSON request with two texts and no models
    before = int(time.time() * 1000)
    job_id = api.submit(json={"text": ["I love this.", "That was awful."]})
    assert len(job_id) == 36
    # When it finishes
    job = api.wait(job_id)
    # Then the job object follows the v0 shape with our extensions
    assert job["type"] == "INFERENCE" and job["job_id"] == job_id
    assert job["engine"] == "simulated" and job["simulated"] is True
    st = job["state"]
    assert st["status"] == "COMPLETED"
    assert before <= st["created_timestamp_ms"] <= st["started_timestamp_ms"]
    assert st["started_timestamp_ms"] <= st["ended_timestamp_ms"]
    assert st["num_predictions"] == 2 and st["num_errors"] == 0
    assert st["progress"] == {"done": 2, "total": 2}
    req = job["request"]
    assert sorted(req["models"]) == sorted(MODELS)  # omitted models -> all six
    assert req["models"]["face"]["prob_threshold"] == 0.99
    assert req["models"]["language"]["granularity"] == "word"
    assert req["models"]["prosody"] == {
        "granularity": "utterance",
        "identify_speakers": False,
        "window": None,
    }
    assert req["files"] == [] and req["urls"] == [] and req["notify"] is False
    assert req["callback_url"] is None
    assert req["text"] == ["I love this.", "That was awful."]
    # And the predictions are one text source with files "0" and "1"
    preds = api.predictions(job_id)
    assert len(preds) == 1 and preds[0]["source"] == {"type": "text"}
    files = [p["file"] for p in preds[0]["results"]["predictions"]]
    assert files == ["0", "1"]
    first = preds[0]["results"]["predictions"][0]
    assert list(first) == ["file", "file_type", "models"]
    assert first["file_type"] == "text"
    lang = first["models"]["language"]["grouped_predictions"][0]["predictions"]
    assert lang[0]["text"] == "I"  # word granularity of "I love this."
    assert preds[0]["results"]["errors"] == []


def test_request_echo_keys_are_alphabetical_at_every_level(api, media):
    # Given a multipart job with options at several levels
    options = {
        "models": {"prosody": {"window": {"step": 1.0, "length": 2.0}}, "face": {}},
        "transcription": {"language": "en", "confidence_threshold": 0.2},
        "notify": False,
    }
    files = [("file", ("voice.wav", media["wav"].read_bytes(), "audio/wav"))]
    job_id = api.submit(files=files, data={"json": json.dumps(options)})
    # When its job object is read (details and list alike)
    details = api.get(f"/v0/batch/jobs/{job_id}").json()
    [listed] = [
        j for j in api.get("/v0/batch/jobs?limit=100").json() if j["job_id"] == job_id
    ]

    # Then every dict of `request` lists its keys alphabetically, as Hume's do
    def check(value, where):
        if isinstance(value, dict):
            assert list(value) == sorted(value), where
            for k, v in value.items():
                check(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                check(v, f"{where}[{i}]")

    for job in (details, listed):
        check(job["request"], "request")
    req = details["request"]
    assert list(req["models"]["face"])[:2] == ["descriptions", "facs"]
    assert list(req["models"]["prosody"]["window"]) == ["length", "step"]
    assert list(req["files"][0]) == ["content_type", "filename", "md5sum"]
    assert api.wait(job_id)["state"]["status"] == "COMPLETED"


def test_only_requested_models_echoed_others_null(api):
    job_id = api.submit(
        json={"text": ["Hi"], "models": {"language": {"sentiment": {}}}, "notify": True}
    )
    job = api.wait(job_id)
    models = job["request"]["models"]
    assert models["language"]["sentiment"] == {}
    assert all(models[m] is None for m in MODELS if m != "language")
    assert job["request"]["notify"] is True


@pytest.mark.parametrize(
    "encoding", ["sdk-file-style", "form-field", "legacy-filename-json", "file[]"]
)
def test_multipart_encodings(api, media, encoding):
    png = media["png"].read_bytes()
    wav = media["wav"].read_bytes()
    opts = json.dumps({"models": {"face": {}, "prosody": {}}}).encode()
    fname = "file[]" if encoding == "file[]" else "file"
    ctype = None if encoding == "legacy-filename-json" else "image/png"
    parts = [
        (fname, "face.png", ctype, png),
        (fname, "voice.wav", None if ctype is None else "audio/wav", wav),
    ]
    if encoding == "sdk-file-style":
        parts.append(("json", "upload", "application/octet-stream", opts))
    elif encoding == "legacy-filename-json":
        parts.append(("json", "json", None, opts))
    else:
        parts.append(("json", None, None, opts))
    body, ct = _multipart(parts)
    job_id = api.submit(data=body, headers={"Content-Type": ct})
    job = api.wait(job_id)
    assert job["state"]["status"] == "COMPLETED", job["state"]
    assert job["request"]["files"] == [
        {
            "filename": "face.png",
            "content_type": ctype,
            "md5sum": hashlib.md5(png).hexdigest(),
        },
        {
            "filename": "voice.wav",
            "content_type": None if ctype is None else "audio/wav",
            "md5sum": hashlib.md5(wav).hexdigest(),
        },
    ]
    assert job["request"]["models"]["face"] is not None
    assert job["request"]["models"]["language"] is None
    preds = api.predictions(job_id)
    assert [p["source"]["type"] for p in preds] == ["file", "file"]
    assert list(preds[0]["source"]) == ["type", "filename", "content_type", "md5sum"]
    p0 = preds[0]["results"]["predictions"][0]
    assert p0["file"] == "face.png" and p0["file_type"] == "image"
    assert "face" in p0["models"] and "prosody" not in p0["models"]
    p1 = preds[1]["results"]["predictions"][0]
    assert p1["file"] == "voice.wav" and p1["file_type"] == "audio"


def test_multipart_without_json_runs_all_models_and_unnamed_upload(api, media):
    body, ct = _multipart([("file", None, None, media["png"].read_bytes())])
    job = api.wait(api.submit(data=body, headers={"Content-Type": ct}))
    assert all(job["request"]["models"][m] is not None for m in MODELS)
    assert job["request"]["files"][0]["filename"] is None
    pred = api.predictions(job["job_id"])[0]["results"]["predictions"][0]
    assert pred["file"] == "file"  # Hume named unnamed uploads "file"


def test_urls_fetched_and_failures_become_errors(api, static_server, media):
    base, folder = static_server
    (folder / "clip.wav").write_bytes(media["wav"].read_bytes())
    (folder / "pic.png").write_bytes(media["png"].read_bytes())
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}/gone.wav"
    s.close()  # nothing listens there any more
    urls = [f"{base}/clip.wav", f"{base}/pic.png", f"{base}/missing.png", dead]
    job = api.wait(api.submit(json={"urls": urls, "models": {"face": {}, "burst": {}}}))
    st = job["state"]
    assert st["status"] == "COMPLETED"
    assert st["num_predictions"] == 2 and st["num_errors"] == 2
    preds = api.predictions(job["job_id"])
    assert [p["source"] for p in preds] == [{"type": "url", "url": u} for u in urls]
    assert preds[0]["results"]["predictions"][0]["file"] == "clip.wav"
    assert preds[1]["results"]["predictions"][0]["file"] == "pic.png"
    assert "HTTP 404" in preds[2]["error"]
    assert preds[2]["results"]["errors"] == [
        {"file": "missing.png", "message": preds[2]["error"]}
    ]
    assert "could not fetch" in preds[3]["error"]


def test_archive_upload_members_transcripts_hidden(api, media):
    # Given a zip with a wav + its transcript, an image, hidden files and __MACOSX
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("talks/voice.wav", media["wav"].read_bytes())
        zf.writestr("talks/voice.txt", "hello there my friend")
        zf.writestr("faces/face.png", media["png"].read_bytes())
        zf.writestr("notes.txt", "a lone text file is measured as text")
        zf.writestr(".DS_Store", b"x")
        zf.writestr("__MACOSX/faces/._face.png", b"x")
    files = [("file", ("batch.zip", buf.getvalue(), "application/zip"))]
    opts = {"models": {"prosody": {}, "face": {}, "language": {}}}
    job_id = api.submit(files=files, data={"json": json.dumps(opts)})
    job = api.wait(job_id)
    preds = api.predictions(job_id)
    # Then one source, one prediction per member; the transcript is not its own file
    assert len(preds) == 1 and preds[0]["source"]["filename"] == "batch.zip"
    got = {p["file"]: p for p in preds[0]["results"]["predictions"]}
    assert sorted(got) == ["faces/face.png", "notes.txt", "talks/voice.wav"]
    assert job["state"]["num_predictions"] == 3
    prosody = got["talks/voice.wav"]["models"]["prosody"]["grouped_predictions"]
    words = " ".join(p["text"] or "" for g in prosody for p in g["predictions"])
    assert "hello" in words  # the sibling transcript was used
    assert got["notes.txt"]["file_type"] == "text"


def test_list_jobs_filters_sort_and_limit(api):
    ids = [
        api.submit(json={"text": [f"t{i}"], "models": {"language": {}}})
        for i in range(3)
    ]
    for j in ids:
        api.wait(j)
    jobs = api.get("/v0/batch/jobs", params={"limit": 500}).json()
    listed = [j["job_id"] for j in jobs]
    assert listed.index(ids[2]) < listed.index(ids[1]) < listed.index(ids[0])  # desc
    asc = api.get(
        "/v0/batch/jobs",
        params={"limit": 500, "sort_by": "created", "direction": "asc"},
    ).json()
    asc_ids = [j["job_id"] for j in asc]
    assert asc_ids.index(ids[0]) < asc_ids.index(ids[2])
    created = [j["state"]["created_timestamp_ms"] for j in asc]
    assert created == sorted(created)
    assert len(api.get("/v0/batch/jobs", params={"limit": 2}).json()) == 2
    first = api.get(f"/v0/batch/jobs/{ids[0]}").json()["state"]["created_timestamp_ms"]
    before = api.get(
        "/v0/batch/jobs",
        params={"when": "created_before", "timestamp_ms": first, "limit": 500},
    ).json()
    assert all(j["state"]["created_timestamp_ms"] < first for j in before)
    assert ids[0] not in [j["job_id"] for j in before]
    after = api.get(
        "/v0/batch/jobs",
        params={"when": "created_after", "timestamp_ms": first, "limit": 500},
    ).json()
    assert {ids[1], ids[2]} <= {j["job_id"] for j in after}
    done = api.get(
        "/v0/batch/jobs?status=COMPLETED&status=FAILED&limit=500&sort_by=ended"
    ).json()
    assert {j["state"]["status"] for j in done} <= {"COMPLETED", "FAILED"}
    ended = [j["state"]["ended_timestamp_ms"] for j in done]
    assert ended == sorted(ended, reverse=True)
    assert api.get("/v0/batch/jobs?status=QUEUED&type=TRAINING").json() == []


def test_auth_required(service, api):
    import requests

    n = len(api.get("/v0/batch/jobs", params={"limit": 1000}).json())
    for headers in ({}, {"X-Hume-Api-Key": "wrong"}, {"X-Hume-Api-Key": ""}):
        r = requests.post(
            service.url + "/v0/batch/jobs", json={"text": ["x"]}, headers=headers
        )
        assert r.status_code == 401
        body = r.json()
        assert body["status"] == 401 and body["error"] == "InvalidApiKey"
        assert "X-Hume-Api-Key" in body["message"]
        assert service.api_key not in r.text
        r = requests.get(service.url + "/v0/batch/jobs", headers=headers)
        assert r.status_code == 401
    assert len(api.get("/v0/batch/jobs", params={"limit": 1000}).json()) == n


def test_hume_api_key_env_is_not_used(monkeypatch, tmp_path):
    monkeypatch.setenv("HUME_API_KEY", "hume-secret")
    monkeypatch.delenv("HUMELAB_API_KEY", raising=False)
    with humelab.serve(data_dir=tmp_path, quiet=True) as s:
        assert s.api_key != "hume-secret" and len(s.api_key) >= 20
        assert s.api_key not in repr(s)
        assert "simulated" in repr(s)
    monkeypatch.setenv("HUMELAB_API_KEY", "lab-key-123")
    with humelab.serve(data_dir=tmp_path, quiet=True) as s:
        assert s.api_key == "lab-key-123" and "lab-key-123" not in repr(s)


@pytest.mark.parametrize("sub", ["", "/predictions", "/artifacts"])
def test_unknown_job_404(api, sub):
    r = api.get(f"/v0/batch/jobs/00000000-0000-0000-0000-000000000000{sub}")
    assert r.status_code == 404
    body = r.json()
    assert body["status"] == 404 and body["error"] == "JobNotFound"
    assert "job not found" in body["message"]
    assert "00000000-0000-0000-0000-000000000000" in body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ["x"], "models": {"voice": {}}}, "models.voice"),
        (
            {"text": ["x"], "models": {"face": {"prob_threshold": 1.5}}},
            "prob_threshold",
        ),
        (
            {"text": ["x"], "models": {"face": {"prob_threshold": "high"}}},
            "prob_threshold",
        ),
        (
            {"text": ["x"], "transcription": {"confidence_threshold": -0.1}},
            "confidence",
        ),
        ({"text": ["x"], "models": {"prosody": {"window": {"length": 0.2}}}}, "length"),
        ({"text": ["x"], "models": {"prosody": {"window": {"step": 0.1}}}}, "step"),
        (
            {"text": ["x"], "models": {"language": {"granularity": "page"}}},
            "granularity",
        ),
        ({"text": ["x"], "transcription": {"language": "xx"}}, "language"),
        ({"text": ["x"], "models": {"face": {"fps": 3}}}, "models.face.fps"),
        ({"text": ["x"], "models": {}}, "models"),
        ({"text": ["x"], "notify": "yes"}, "notify"),
        ({"text": "just a string"}, "text"),
        ({"urls": ["ftp://example.org/a.mp4"]}, "urls[0]"),
        ({"urls": ["file:///etc/passwd"]}, "urls[0]"),
        ({"text": ["x"], "callback_url": "javascript:alert(1)"}, "callback_url"),
        ({"text": ["x"], "colour": "red"}, "colour"),
        ({}, "no inputs"),
    ],
)
def test_invalid_requests_400_name_the_field(api, body, field):
    r = api.post(json=body)
    assert r.status_code == 400, r.text
    err = r.json()
    assert err["status"] == 400 and err["error"]
    assert field in err["message"]


def test_malformed_json_and_content_type(api):
    r = api.post(data=b'{"text": [', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "MalformedJSON"
    assert "not valid JSON" in r.json()["message"]
    r = api.post(data=b"[1, 2]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON object" in r.json()["message"]
    r = api.post(data=b"text=hi", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "Content-Type" in r.json()["message"]
    body, ct = _multipart([("files", "a.png", None, b"x")])
    r = api.post(data=body, headers={"Content-Type": ct})
    assert r.status_code == 400 and "`files`" in r.json()["message"]
    body, ct = _multipart([("file", "a.png", None, b"x"), ("json", None, None, b"{")])
    r = api.post(data=body, headers={"Content-Type": ct})
    assert r.status_code == 400 and "`json` part" in r.json()["message"]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": "many"}, "limit"),
        ({"limit": 0}, "limit"),
        ({"status": "DONE"}, "status"),
        ({"sort_by": "name"}, "sort_by"),
        ({"direction": "up"}, "direction"),
        ({"when": "yesterday"}, "when"),
        ({"when": "created_before", "timestamp_ms": "noon"}, "timestamp_ms"),
    ],
)
def test_list_jobs_bad_params(api, params, name):
    r = api.get("/v0/batch/jobs", params=params)
    assert r.status_code == 400 and name in r.json()["message"]


def test_unknown_route_is_json_404(api):
    r = api.get("/v0/batch/nothing")
    assert r.status_code == 404 and r.json()["error"] == "NotFound"


@pytest.fixture(scope="module")
def slow_service(tmp_path_factory):
    with humelab.serve(
        data_dir=tmp_path_factory.mktemp("slow"),
        workers=1,
        item_delay=0.25,
        quiet=True,
        callback_backoff=0.05,
    ) as s:
        yield s


def test_results_of_unfinished_job_409(slow_service):
    from tests.conftest import ServiceAPI

    api = ServiceAPI(slow_service)
    job_id = api.submit(json={"text": ["a", "b", "c", "d"], "models": {"language": {}}})
    job = api.wait(job_id, statuses=("IN_PROGRESS",))
    assert job["state"]["progress"]["total"] == 4
    assert "started_timestamp_ms" in job["state"]
    for what in ("predictions", "artifacts"):
        r = api.get(f"/v0/batch/jobs/{job_id}/{what}")
        assert r.status_code == 409
        msg = r.json()["message"]
        assert job_id in msg and "IN_PROGRESS" in msg and what in msg
    # a queued job behind it reports QUEUED with only the creation time
    queued = api.submit(json={"text": ["e"], "models": {"language": {}}})
    qjob = api.get(f"/v0/batch/jobs/{queued}").json()
    assert qjob["state"]["status"] == "QUEUED"
    assert set(qjob["state"]) == {"created_timestamp_ms", "status", "progress"}
    mid = api.get(f"/v0/batch/jobs/{job_id}").json()["state"]["progress"]
    assert 0 <= mid["done"] <= 4
    assert api.wait(queued)["state"]["status"] == "COMPLETED"


class _FlakyReceiver:
    """A callback receiver that answers 500 ``fails`` times, then 200."""

    def __init__(self, fails):
        self.fails = fails
        self.calls = []
        self.done = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers["Content-Length"])
                body = self.rfile.read(n)
                outer.calls.append((self.path, self.headers["Content-Type"], body))
                ok = len(outer.calls) > outer.fails
                self.send_response(200 if ok else 500)
                self.end_headers()
                if ok:
                    outer.done.set()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook?sid=7"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_callback_retried_until_receiver_accepts(api):
    rx = _FlakyReceiver(fails=2)
    try:
        job_id = api.submit(
            json={
                "text": ["so good"],
                "models": {"language": {}},
                "callback_url": rx.url,
            }
        )
        job = api.wait(job_id)
        assert job["request"]["callback_url"] == rx.url
        assert rx.done.wait(10), "callback never accepted"
        assert len(rx.calls) == 3
        path, ctype, body = rx.calls[-1]
        assert path == "/hook?sid=7" and ctype.startswith("application/json")
        payload = json.loads(body)
        assert payload["job_id"] == job_id and payload["status"] == "COMPLETED"
        assert payload["predictions"] == api.predictions(job_id)
        # the job's result never depends on the callback
        assert job["state"]["status"] == "COMPLETED"
    finally:
        rx.close()


def test_predictions_and_artifacts_read_to_same_frame(api, media):
    import pandas as pd

    files = [
        ("file", ("face.png", media["png"].read_bytes())),
        ("file", ("voice.wav", media["wav"].read_bytes())),
    ]
    opts = {"models": {"face": {}, "prosody": {}, "burst": {}}}
    job_id = api.submit(files=files, data={"json": json.dumps(opts)})
    api.wait(job_id)
    pred_bytes = api.get(f"/v0/batch/jobs/{job_id}/predictions").content
    r = api.get(f"/v0/batch/jobs/{job_id}/artifacts")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zbytes = r.content
    names = zipfile.ZipFile(io.BytesIO(zbytes)).namelist()
    assert "file-0-face.png/csv/face.png/face.csv" in names
    # cached: a second download gives the same bytes
    assert api.get(f"/v0/batch/jobs/{job_id}/artifacts").content == zbytes
    a = humelab.read_predictions(pred_bytes)
    b = humelab.read_artifacts(zbytes)
    cols = ["source", "file", "model", "group", "segment", "family", "name"]
    a = a.sort_values(cols).reset_index(drop=True)
    b = b.sort_values(cols).reset_index(drop=True)
    assert len(a) > 0 and len(a) == len(b)
    for c in cols:
        assert list(a[c].astype(str)) == list(b[c].astype(str)), c
    pd.testing.assert_series_equal(
        a["score"].astype("float64"), b["score"].astype("float64"), check_names=False
    )


def test_serve_inside_running_event_loop_like_jupyter(tmp_path):
    import asyncio
    import signal

    import requests

    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))

    async def notebook_cell():
        # Jupyter runs cells inside a running asyncio loop in the main thread
        with humelab.serve(data_dir=tmp_path, quiet=True) as server:
            r = requests.get(
                server.url + "/v0/batch/jobs",
                headers={"X-Hume-Api-Key": server.api_key},
                timeout=10,
            )
            return r.status_code, server

    status, server = asyncio.run(notebook_cell())
    assert status == 200 and not server.running
    assert (
        signal.getsignal(signal.SIGINT),
        signal.getsignal(signal.SIGTERM),
    ) == handlers
    # the folder is released: a new service can use it at once
    with humelab.serve(data_dir=tmp_path, quiet=True) as again:
        assert again.running


def test_start_message_labels_simulated_scores(tmp_path, capsys):
    with humelab.serve(data_dir=tmp_path) as server:
        out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert server.url in out and "engine: simulated" in out
    assert "scores are simulated" in out and server.api_key not in out


def test_unreadable_upload_is_an_error_entry_not_a_failed_job(api, media):
    files = [
        ("file", ("broken.mp4", b"\x00\x01 definitely not a video" * 20)),
        ("file", ("face.png", media["png"].read_bytes())),
    ]
    job = api.wait(api.submit(files=files))
    assert job["state"]["status"] == "COMPLETED"
    assert job["state"]["num_errors"] == 1 and job["state"]["num_predictions"] == 1
    broken, ok = api.predictions(job["job_id"])
    assert broken["results"]["predictions"] == []
    [err] = broken["results"]["errors"]
    assert err["file"] == "broken.mp4" and err["message"]
    assert ok["results"]["predictions"][0]["file"] == "face.png"


def test_concurrent_submissions_all_complete_in_order(api):
    from concurrent.futures import ThreadPoolExecutor

    def submit(i):
        return api.submit(json={"text": [f"item {i}"], "models": {"language": {}}})

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(submit, range(16)))
    assert len(set(ids)) == 16
    jobs = [api.wait(j) for j in ids]
    assert all(j["state"]["status"] == "COMPLETED" for j in jobs)
    # jobs run one after another in creation order
    listed = api.get(
        "/v0/batch/jobs", params={"limit": 10_000, "direction": "asc"}
    ).json()
    mine = [j for j in listed if j["job_id"] in set(ids)]
    started = [j["state"]["started_timestamp_ms"] for j in mine]
    assert len(mine) == 16 and started == sorted(started)


def test_archive_without_extension_is_sniffed(api, static_server, media):
    base, folder = static_server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.png", media["png"].read_bytes())
        zf.writestr("b.png", media["png2"].read_bytes())
    (folder / "bundle").write_bytes(buf.getvalue())
    job = api.wait(api.submit(json={"urls": [f"{base}/bundle?id=3"]}))
    preds = api.predictions(job["job_id"])[0]["results"]["predictions"]
    assert [p["file"] for p in preds] == ["a.png", "b.png"]


def test_without_the_service_extra_the_install_command_is_given(monkeypatch, tmp_path):
    # Given an install without PyAV (the core install has none of the service extra)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "av" else real(name, *a),
    )
    # Then starting a service, or a client that would start one, names the fix
    with pytest.raises(
        humelab.HumelabError, match=r"av is not installed.*humelab\[service\]"
    ):
        humelab.serve(data_dir=tmp_path / "d")
    monkeypatch.delenv("HUMELAB_URL", raising=False)
    with pytest.raises(humelab.InputError, match=r"HUMELAB_URL is not set.*service\]"):
        humelab.Client(data_dir=tmp_path / "e")
