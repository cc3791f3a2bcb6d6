"""The ``hume`` engine against the local v1 stand-in, through the Batch service.

Every test runs real HTTP over loopback: a Batch service (``humelab.serve``) whose
``hume`` engine talks to :class:`~humelab.service.v1_standin.V1StandIn`. Scores
from the stand-in are synthetic; these tests check the plumbing (requests, mapping,
errors, billing figures, resume), not the values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf
from PIL import Image

import humelab
from humelab.service.engines import EngineFatal, MediaInput, get_engine
from humelab.service.engines.hume import HumeEngine
from humelab.service.media import frame_indices
from humelab.service.v1_standin import V1StandIn
from tests.media import make_image, make_video, make_wav, speech_signal

#: Hume's key in these tests: a string that cannot appear anywhere by chance.
KEY = "hk-TEST-5f1e9c0b7a2d4e61-SECRET"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def standin():
    with V1StandIn(api_key=KEY) as s:
        yield s


@pytest.fixture
def fresh(standin):
    standin.clear()
    standin.latency_ms = 0
    standin.fail_rate = 0
    yield standin
    standin.clear()


def _engine(standin, **options) -> HumeEngine:
    options.setdefault("backoff", 0.01)
    return HumeEngine(api_key=KEY, hume_url=standin.url, **options)


class Service:
    """A Batch service on the ``hume`` engine with small helpers."""

    def __init__(self, server):
        self.server = server
        self.s = requests.Session()
        self.s.headers["X-Hume-Api-Key"] = server.api_key

    def submit(self, paths, models, **extra) -> str:
        files = [("file", (Path(p).name, Path(p).read_bytes())) for p in paths]
        body = {"models": models, **extra}
        files.append(("json", (None, json.dumps(body), "application/json")))
        r = self.s.post(f"{self.server.url}/v0/batch/jobs", files=files, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["job_id"]

    def details(self, job_id) -> dict:
        return self.s.get(
            f"{self.server.url}/v0/batch/jobs/{job_id}", timeout=30
        ).json()

    def wait(self, job_id, timeout=120.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.details(job_id)
            if job["state"]["status"] in ("COMPLETED", "FAILED"):
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not end: {job['state']}")

    def predictions(self, job_id) -> list:
        url = f"{self.server.url}/v0/batch/jobs/{job_id}/predictions"
        return self.s.get(url, timeout=30).json()


@pytest.fixture
def service(tmp_path):
    """Start a Batch service with a given hume engine; stopped at the end."""
    started = []

    def start(engine, **options):
        options.setdefault("workers", 2)
        server = humelab.serve(
            engine=engine, data_dir=tmp_path / "data", quiet=True, **options
        )
        started.append(server)
        return Service(server)

    yield start
    for server in started:
        server.stop()


def _results(preds):
    """(predictions by file, errors) over every source of a predictions array."""
    found = [p for src in preds for p in src["results"]["predictions"]]
    errors = [e for src in preds for e in src["results"]["errors"]]
    return {p["file"]: p for p in found}, errors


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- construction ---------------------------------------------------------------------


def test_missing_key_fails_at_construction_saying_where_it_goes(monkeypatch, tmp_path):
    monkeypatch.delenv("HUME_API_KEY", raising=False)
    with pytest.raises(humelab.InputError, match=r"HUME_API_KEY.*`api_key=`"):
        HumeEngine()
    # the service never starts without it (no job can start with a missing key)
    with pytest.raises(humelab.InputError, match="HUME_API_KEY"):
        humelab.serve(engine="hume", data_dir=tmp_path / "d", quiet=True)
    assert not (tmp_path / "d").exists()


def test_key_and_url_from_environment_never_in_repr(monkeypatch):
    monkeypatch.setenv("HUME_API_KEY", KEY)
    monkeypatch.setenv("HUME_V1_URL", "http://127.0.0.1:9/")
    engine = get_engine("hume")
    assert engine.url == "http://127.0.0.1:9"
    assert KEY not in repr(engine) and KEY not in str(vars(engine).get("url"))
    assert engine.name == "hume" and engine.simulated is False
    monkeypatch.delenv("HUME_V1_URL")
    assert get_engine("hume").url == "https://api.cloud.hume.ai"
    with pytest.raises(humelab.InputError, match="max_concurrency"):
        HumeEngine(api_key=KEY, max_concurrency=0)


def test_serve_by_name_labels_jobs_as_hume_not_simulated(fresh, tmp_path):
    wav = make_wav(tmp_path / "a.wav", 1.0)
    options = {"api_key": KEY, "hume_url": fresh.url, "max_concurrency": 1}
    with humelab.serve(
        engine="hume", engine_options=options, data_dir=tmp_path / "d", quiet=True
    ) as server:
        assert server.engine == "hume" and server.simulated is False
        assert KEY not in repr(server)
        api = Service(server)
        job = api.wait(api.submit([wav], {"prosody": {}}))
        preds = api.predictions(job["job_id"])
    assert (job["engine"], job["simulated"]) == ("hume", False)
    assert preds[0]["humelab"] == {"engine": "hume", "simulated": False}
    assert job["usage"]["requests"] == 1


# -- audio ----------------------------------------------------------------------------


def test_long_audio_takes_two_requests_with_times_rebased(fresh, service, tmp_path):
    # Given 14 minutes of speech-like audio, more than one 25 MB request holds
    sig = np.tile(speech_signal(20.0, seed=2), 42)  # 840 s
    path = tmp_path / "long.wav"
    sf.write(path, sig, 16000, subtype="PCM_16")
    api = service(_engine(fresh))
    # When measured for prosody
    job = api.wait(api.submit([path], {"prosody": {}}))
    # Then two audio requests were sent, each below 25,000,000 bytes
    assert job["state"]["status"] == "COMPLETED"
    ups = fresh.uploads(status=200)
    assert [u.path for u in ups] == ["/v1/expression/audio/file"] * 2
    assert all(u.bytes <= 25_000_000 for u in ups)
    # and the second chunk's measurements are re-based onto the whole file
    preds, errors = _results(api.predictions(job["job_id"]))
    assert errors == []
    (group,) = preds["long.wav"]["models"]["prosody"]["grouped_predictions"]
    assert group["id"] == "unknown"
    rows = group["predictions"]
    first = [r for r in rows if r["chunk"] == 0]
    second = [r for r in rows if r["chunk"] == 1]
    assert first and second
    # the split is within the last 30 s before 781.1 s (the request limit)
    split = min(r["time"]["begin"] for r in second)
    assert 750 < split < 841
    assert max(r["time"]["end"] for r in first) <= split + 1e-6
    assert max(r["time"]["end"] for r in second) == pytest.approx(840.0, abs=1.0)
    # ids run on across the chunks
    ids = [r["measurement_id"] for r in rows]
    assert ids == list(range(len(rows)))
    utts = [r["utterance_id"] for r in rows]
    assert (
        utts == sorted(utts) and second[0]["utterance_id"] > first[-1]["utterance_id"]
    )
    # v1 fields mapped: sparse scores, voice attributes as their own family
    r0 = rows[0]
    assert r0["text"] is None and r0["trigger"] in ("interval", "speech_ended")
    assert all(set(e) == {"name", "score"} for e in r0["emotions"])
    assert isinstance(r0["voice_attributes"], list)
    # billed: the audio's length (both chunks over 10 s)
    usage = job["usage"]
    assert usage["requests"] == 2 and usage["retries"] == 0
    assert usage["media_seconds"] == pytest.approx(840.0)
    assert usage["billed_seconds"] == pytest.approx(840.0, abs=0.01)
    assert usage["images"] == 0 and usage["engine"] == "hume"


def test_measurement_times_are_hume_ms_in_seconds(fresh, tmp_path):
    # One short file: each v1 measurement's ms become v0 seconds, nothing else
    path = make_wav(tmp_path / "a.wav", 6.0, seed=4)
    engine = _engine(fresh)
    out = engine.measure(
        humelab.service.engines.MediaInput("a.wav", path=path),
        models={"prosody": {}},
        transcription={},
    )
    (group,) = out.entry["models"]["prosody"]["grouped_predictions"]
    sent = fresh.uploads(status=200)[-1]
    assert sent.files[0].sha256 == _sha(path.read_bytes())  # a 16 kHz wav goes as is
    assert out.usage == {
        "requests": 1,
        "retries": 0,
        "media_seconds": 6.0,
        "images": 0,
        "billed_seconds": 10.0,  # the 10 s minimum
    }
    # the same bytes straight to the stand-in give the same (deterministic)
    # response: each measurement is one prediction, ms -> s, names and order kept
    raw = requests.post(
        f"{fresh.url}/v1/expression/audio/file",
        files=[("file", ("a.wav", path.read_bytes(), "audio/wav"))],
        headers={"X-Hume-Api-Key": KEY},
        timeout=30,
    ).json()
    preds = group["predictions"]
    assert len(preds) == len(raw["measurements"]) > 0
    for p, m in zip(preds, raw["measurements"], strict=True):
        assert p["time"] == {
            "begin": m["audio_start_ms"] / 1000,
            "end": m["audio_end_ms"] / 1000,
        }
        assert p["emotions"] == [
            {"name": e["name"], "score": e["probability"]} for e in m["expressions"]
        ]
        assert p["voice_attributes"] == [
            {"name": e["name"], "score": e["probability"]}
            for e in m["voice_attributes"]
        ]
        assert (p["trigger"], p["utterance_id"], p["measurement_id"]) == (
            m["trigger"],
            m["utterance_id"],
            m["measurement_id"],
        )


def test_faces_map_bbox_confidence_and_scores(fresh, tmp_path):
    # A face's v1 bbox [x0, y0, x1, y1] becomes the v0 box, confidence its prob
    img = make_image(tmp_path / "a.jpg", (320, 240), seed=4)
    out = _engine(fresh).measure(
        humelab.service.engines.MediaInput("a.jpg", path=img),
        models={"face": {"identify_faces": True}},
        transcription={},
    )
    raw = requests.post(
        f"{fresh.url}/v1/expression/video/file",
        files=[("file", ("a.jpg", img.read_bytes(), "image/jpeg"))],
        headers={"X-Hume-Api-Key": KEY},
        timeout=30,
    ).json()
    faces = raw["measurements"][0]["faces"]
    groups = out.entry["models"]["face"]["grouped_predictions"]
    got = [p for g in groups for p in g["predictions"]]
    assert len(got) == len(faces) > 0
    for p, f in zip(got, faces, strict=True):
        x0, y0, x1, y1 = f["bbox"]
        assert p["box"] == pytest.approx({"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0})
        assert p["prob"] == f["confidence"]
        assert p["emotions"] == [
            {"name": e["name"], "score": e["probability"]} for e in f["expressions"]
        ]
        assert p["descriptions"] == [
            {"name": e["name"], "score": e["probability"]} for e in f["descriptions"]
        ]
    assert [g["id"] for g in groups] == [f"face_{f['face_id']}" for f in faces]
    assert out.entry["file_type"] == "image"


# -- video and images -----------------------------------------------------------------


def test_video_frames_over_several_requests_keep_face_ids(fresh, service, tmp_path):
    # Given a 10 s, 25 fps video of one face and requests of at most 8 frames
    video = make_video(tmp_path / "clip.mp4", 10.0, fps=25, size=(320, 240))
    api = service(_engine(fresh, frames_per_request=8))
    # When measured for face at 3 fps with identify_faces
    job = api.wait(api.submit([video], {"face": {"identify_faces": True}}))
    assert job["state"]["status"] == "COMPLETED"
    # Then the 30 sampled frames went in 4 requests (8, 8, 8, 6) ...
    ups = [u for u in fresh.uploads(status=200) if "video" in u.path]
    assert [len(u.files) for u in ups] == [8, 8, 8, 6]
    # ... each after the first continuing the previous face_state
    assert "face_state" not in ups[0].config
    assert all(u.config.get("face_state") for u in ups[1:])
    assert all(u.config["face"]["return_face_state"] is True for u in ups)
    # and the one face keeps one id across all of them
    preds, errors = _results(api.predictions(job["job_id"]))
    assert errors == []
    groups = preds["clip.mp4"]["models"]["face"]["grouped_predictions"]
    assert [g["id"] for g in groups] == ["face_0"]
    rows = groups[0]["predictions"]
    expected = frame_indices(250, 25.0, 3.0)
    assert [r["frame"] for r in rows] == expected
    assert [r["time"] for r in rows] == pytest.approx([f / 25 for f in expected])
    for r in rows:
        box = r["box"]
        assert 0 <= box["x"] and box["x"] + box["w"] <= 320 + 1e-6
        assert box["h"] == pytest.approx(0.64 * 240, rel=0.15)
        assert 0.9 <= r["prob"] <= 1.0 and r["facs"] is None
        assert r["emotions"] and isinstance(r["descriptions"], list)
    # its soundtrack was not sent: prosody was not asked for
    assert not [u for u in fresh.uploads() if "audio" in u.path]
    # billing: 30 images in 4 requests, each at least 10 s
    assert job["usage"]["images"] == 30
    assert job["usage"]["billed_seconds"] == pytest.approx(40.0)


def test_video_with_prosody_sends_its_soundtrack_too(fresh, service, tmp_path):
    video = make_video(tmp_path / "talk.mp4", 3.0, fps=25, size=(320, 240))
    api = service(_engine(fresh))
    job = api.wait(api.submit([video], {"face": {}, "prosody": {}}))
    preds, errors = _results(api.predictions(job["job_id"]))
    assert errors == []
    entry = preds["talk.mp4"]
    assert entry["file_type"] == "video"
    assert set(entry["models"]) == {"face", "prosody"}
    # without identify_faces every measured face is in one `unknown` group, as v0
    assert [g["id"] for g in entry["models"]["face"]["grouped_predictions"]] == [
        "unknown"
    ]
    paths = sorted(u.path for u in fresh.uploads(status=200))
    assert paths == ["/v1/expression/audio/file", "/v1/expression/video/file"]


def test_soundtrack_rejected_keeps_the_faces(fresh, service, tmp_path):
    # Given a video whose soundtrack request Hume rejects (415)
    video = make_video(tmp_path / "talk.mp4", 2.0, fps=25, size=(320, 240))
    fresh.fail_next(415, endpoint="audio")
    api = service(_engine(fresh))
    job = api.wait(api.submit([video], {"face": {}, "prosody": {}}))
    # Then its faces (already billed) are kept, and the file also says what failed
    preds, (err,) = _results(api.predictions(job["job_id"]))
    assert set(preds["talk.mp4"]["models"]) == {"face"}
    assert err["file"] == "talk.mp4" and "HTTP 415" in err["message"]
    assert (job["state"]["num_predictions"], job["state"]["num_errors"]) == (1, 1)
    assert job["usage"]["requests"] == 2 and job["usage"]["images"] == 6


def test_images_unmeasured_faces_and_big_images(tmp_path):
    # Given a stand-in that measures only the largest face, a 2-face image, and a
    # 4000x2200 image (over the 8,294,400-pixel limit)
    with V1StandIn(api_key=KEY, faces_measured=1) as one_face:
        two = make_image(tmp_path / "two.png", (480, 200), seed=1)
        small = make_image(tmp_path / "small.png", (1000, 550), seed=2)
        big = tmp_path / "big.png"  # drawn small and enlarged: quick to make
        Image.open(small).resize((4000, 2200), Image.BILINEAR).save(big)
        jpg = make_image(tmp_path / "one.jpg", (320, 240), seed=4)
        with humelab.serve(
            engine=_engine(one_face), data_dir=tmp_path / "d", quiet=True
        ) as server:
            api = Service(server)
            job = api.wait(api.submit([two, big, jpg], {"face": {}}))
            preds, errors = _results(api.predictions(job["job_id"]))
        sent = one_face.uploads(status=200)
    assert errors == []
    # Then each image is one request of one JPEG within the limits
    assert len(sent) == 3 and all(len(u.files) == 1 for u in sent)
    by_sha = {u.files[0].sha256 for u in sent}
    assert _sha(jpg.read_bytes()) in by_sha  # an upright JPEG goes unchanged
    # the face v1 listed without measuring it is kept, with no scores
    face = preds["two.png"]["models"]["face"]
    groups = {g["id"]: g for g in face["grouped_predictions"]}
    assert set(groups) == {"unknown", "unmeasured"}
    (unmeasured,) = groups["unmeasured"]["predictions"]
    assert unmeasured["emotions"] is None and unmeasured["descriptions"] is None
    assert unmeasured["frame"] == 0 and unmeasured["time"] == 0.0
    (measured,) = groups["unknown"]["predictions"]
    assert measured["emotions"]
    # the big image's boxes are in its own pixels (scaled back from the JPEG sent)
    (g,) = preds["big.png"]["models"]["face"]["grouped_predictions"]
    for r in g["predictions"]:
        assert r["box"]["x"] + r["box"]["w"] <= 4000 + 1e-6
        assert r["box"]["h"] == pytest.approx(0.7 * 2200, rel=0.15)
    assert job["usage"]["images"] == 3
    assert job["usage"]["billed_seconds"] == pytest.approx(30.0)


def test_exif_rotated_photo_boxes_match_what_users_see(fresh, tmp_path):
    # Given a 320x160 photo stored sideways with EXIF orientation 8 (users see it
    # 160 wide and 320 tall)
    src = make_image(tmp_path / "a.png", (160, 320), seed=0)
    upright = Image.open(src).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_270)  # what the camera wrote
    exif = Image.Exif()
    exif[0x0112] = 8
    path = tmp_path / "photo.jpg"
    stored.save(path, format="JPEG", exif=exif.tobytes())
    out = _engine(fresh).measure(
        humelab.service.engines.MediaInput("photo.jpg", path=path),
        models={"face": {}},
        transcription={},
    )
    # Then the JPEG sent is upright and the boxes fit the upright image
    sent = fresh.uploads(status=200)[-1]
    assert sent.files[0].sha256 != _sha(path.read_bytes())
    (g,) = out.entry["models"]["face"]["grouped_predictions"]
    for r in g["predictions"]:
        assert r["box"]["x"] + r["box"]["w"] <= 160 + 1e-6
        assert r["box"]["h"] > r["box"]["w"]


# -- models v1 cannot measure ---------------------------------------------------------


def test_unsupported_models_are_error_entries_never_silent(fresh, service, tmp_path):
    wav = make_wav(tmp_path / "voice.wav", 3.0)
    img = make_image(tmp_path / "pic.png")
    api = service(_engine(fresh))
    job = api.wait(
        api.submit(
            [wav, img],
            {
                "prosody": {},
                "burst": {},
                "language": {},
                "face": {"facs": {}},
                "facemesh": {},
            },
        )  # fmt: skip
    )
    assert job["state"]["status"] == "COMPLETED"
    preds, errors = _results(api.predictions(job["job_id"]))
    # the measurable parts are measured ...
    assert set(preds["voice.wav"]["models"]) == {"prosody"}
    assert set(preds["pic.png"]["models"]) == {"face"}
    # ... and each file says what was not
    by_file = {e["file"]: e["message"] for e in errors}
    assert set(by_file) == {"voice.wav", "pic.png"}
    assert "`burst`, `language`" in by_file["voice.wav"]
    assert "`facemesh`, `facs`" in by_file["pic.png"]
    assert "Hume's v1 API measures only" in by_file["pic.png"]
    assert job["state"]["num_errors"] == 2 and job["state"]["num_predictions"] == 2


def test_text_and_only_unsupported_models_fail_the_file(fresh, service, tmp_path):
    wav = make_wav(tmp_path / "voice.wav", 2.0)
    api = service(_engine(fresh))
    job = api.wait(api.submit([wav], {"burst": {}}, text=["Hello there."]))
    preds = api.predictions(job["job_id"])
    msgs = [e["message"] for p in preds for e in p["results"]["errors"]]
    assert any("cannot measure `burst` for `voice.wav`" in m for m in msgs)
    assert job["state"]["num_predictions"] == 0
    job = api.wait(api.submit([], {"language": {}}, text=["Hello there."]))
    (src,) = api.predictions(job["job_id"])
    (err,) = src["results"]["errors"]
    assert "cannot measure `language` for `0`" in err["message"]
    assert fresh.uploads() == []  # nothing was sent to Hume for any of it


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_fails_the_job_about_humes_key(fresh, service, tmp_path, status):
    wavs = [make_wav(tmp_path / f"a{i}.wav", 1.0, seed=i) for i in range(3)]
    if status == 401:  # a key the stand-in does not know
        engine = HumeEngine(api_key="hk-wrong-key-123", hume_url=fresh.url)
    else:
        fresh.fail_next(403, times=10)
        engine = _engine(fresh)
    api = service(engine, workers=1)
    job = api.wait(api.submit(wavs, {"prosody": {}}))
    assert job["state"]["status"] == "FAILED"
    msg = job["state"]["message"]
    assert f"HTTP {status}" in msg and "HUME_API_KEY" in msg and "Hume" in msg
    assert KEY not in msg and "hk-wrong-key-123" not in msg
    # the job stopped at the first refusal rather than trying every file
    assert len(fresh.uploads()) < 3


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "audio_decode_failed"), (413, "audio_too_long"),
     (415, "unsupported_media_type")],
)  # fmt: skip
def test_rejected_file_is_an_error_entry_with_humes_code(
    fresh, service, tmp_path, status, code
):
    bad = make_wav(tmp_path / "bad.wav", 1.0, seed=1)
    good = make_wav(tmp_path / "good.wav", 1.0, seed=2)
    fresh.fail_next(status, code=code, message="as Hume would say it", endpoint="audio")
    api = service(_engine(fresh), workers=1)
    job = api.wait(api.submit([bad, good], {"prosody": {}}))
    assert job["state"]["status"] == "COMPLETED"
    preds, errors = _results(api.predictions(job["job_id"]))
    (err,) = errors
    assert err["file"] == "bad.wav"
    assert f"HTTP {status}: {code}: as Hume would say it" in err["message"]
    assert "request_id" in err["message"]
    assert set(preds) == {"good.wav"}
    # one attempt only: 4xx is not retried
    assert [u.status for u in fresh.uploads()] == [status, 200]


def test_a_file_failing_midway_still_counts_what_was_sent(fresh, service, tmp_path):
    # Given a video sent in 3 requests of 6 frames, the second rejected (413)
    video = make_video(tmp_path / "v.mp4", 6.0, fps=25, size=(320, 240))
    api = service(_engine(fresh, frames_per_request=6))

    def reject_second():
        # The first request is answered; queue the failure for the next one. The
        # stand-in takes injected failures after its latency (300 ms), so the
        # second request, already arriving, gets it.
        while not fresh.uploads(status=200):
            time.sleep(0.005)
        fresh.fail_next(413, endpoint="video", code="image_too_large")

    t = threading.Thread(target=reject_second)
    fresh.latency_ms = 300
    t.start()
    jid = api.submit([video], {"face": {}})
    job = api.wait(jid)
    t.join()
    # Then the file is an error entry with Hume's code, nothing half-measured ...
    preds, (err,) = _results(api.predictions(jid))
    assert preds == {} and "HTTP 413: image_too_large" in err["message"]
    # ... and the job's usage still counts the billed first request
    assert [u.status for u in fresh.uploads()] == [200, 413]
    assert job["usage"]["requests"] == 2
    assert job["usage"]["images"] == 6
    assert job["usage"]["billed_seconds"] == pytest.approx(10.0)


def test_busy_answers_are_retried_honouring_retry_after(fresh, service, tmp_path):
    wav = make_wav(tmp_path / "a.wav", 1.0)
    fresh.fail_next(429, retry_after=0.3, times=1)
    fresh.fail_next(503, retry_after=0.3, times=1)
    fresh.fail_next(500, times=1)
    api = service(_engine(fresh, backoff=0.01))
    t0 = time.monotonic()
    job = api.wait(api.submit([wav], {"prosody": {}}))
    elapsed = time.monotonic() - t0
    assert job["state"]["status"] == "COMPLETED"
    assert [u.status for u in fresh.requests] == [429, 503, 500, 200]
    # Retry-After (0.3 s) was waited both times it was sent (backoff alone: 0.01 s)
    assert elapsed >= 0.6
    assert job["usage"]["retries"] == 3 and job["usage"]["requests"] == 4
    assert job["usage"]["billed_seconds"] == pytest.approx(10.0)  # failures are free


def test_retry_budget_spent_is_a_file_error(fresh, service, tmp_path):
    wav = make_wav(tmp_path / "a.wav", 1.0)
    fresh.fail_next(503, retry_after=0, times=3)
    api = service(_engine(fresh, max_retries=2))
    job = api.wait(api.submit([wav], {"prosody": {}}))
    assert job["state"]["status"] == "COMPLETED"
    _, (err,) = _results(api.predictions(job["job_id"]))
    assert (
        "after 3 attempts" in err["message"]
        and "HTTP 503: server_busy" in err["message"]
    )
    assert "`max_retries`" in err["message"]
    assert len(fresh.uploads()) == 3
    assert job["usage"]["requests"] == 3 and job["usage"]["retries"] == 2


def test_unreachable_hume_is_a_file_error(service, tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    wav = make_wav(tmp_path / "a.wav", 1.0)
    api = service(HumeEngine(api_key=KEY, hume_url=dead, max_retries=1, backoff=0.01))
    job = api.wait(api.submit([wav], {"prosody": {}}))
    _, (err,) = _results(api.predictions(job["job_id"]))
    assert "after 2 attempts" in err["message"] and "ConnectionError" in err["message"]


def test_never_more_requests_in_flight_than_max_concurrency(fresh, service, tmp_path):
    wavs = [make_wav(tmp_path / f"a{i}.wav", 1.0, seed=i) for i in range(6)]
    fresh.latency_ms = 150
    api = service(_engine(fresh, max_concurrency=2), workers=4)
    job = api.wait(api.submit(wavs, {"prosody": {}}))
    assert job["state"]["status"] == "COMPLETED"
    assert len(fresh.uploads(status=200)) == 6
    assert fresh.max_in_flight == 2


# -- pickling (how the engine travels to Dask workers) ---------------------------------


def test_pickled_engine_works_with_its_own_locks_and_sessions(fresh, tmp_path):
    # Given an engine that has already measured (a session open in this thread)
    wavs = [make_wav(tmp_path / f"p{i}.wav", 1.0, seed=20 + i) for i in range(6)]
    items = [MediaInput(w.name, path=w) for w in wavs]
    engine = _engine(fresh, max_concurrency=2, max_retries=3, timeout=30.0)
    first = engine.measure(items[0], models={"prosody": {}}, transcription={})
    # When it is pickled and unpickled
    copy = pickle.loads(pickle.dumps(engine))
    # Then the copy has the configuration and nothing of the original's runtime
    assert repr(copy) == repr(engine) and KEY not in repr(copy)
    state = engine.__getstate__()
    assert all(isinstance(v, (str, int, float)) for v in state.values())
    for name in ("url", "max_concurrency", "max_retries", "backoff", "timeout"):
        assert getattr(copy, name) == getattr(engine, name)
    assert copy._slots is not engine._slots
    assert copy._stats_lock is not engine._stats_lock
    assert getattr(copy._local, "session", None) is None
    assert engine.activity()["requests"] == 1 and copy.activity()["requests"] == 0
    # and it measures as the original did, with the key
    again = copy.measure(items[0], models={"prosody": {}}, transcription={})
    assert (again.entry, again.usage) == (first.entry, first.usage)
    # keeping its own limit of requests in flight across threads
    fresh.clear()
    fresh.latency_ms = 150
    with ThreadPoolExecutor(4) as pool:
        done = list(
            pool.map(
                lambda it: copy.measure(it, models={"prosody": {}}, transcription={}),
                items,
            )
        )
    assert len(done) == 6 and fresh.max_in_flight == 2
    assert copy.activity()["requests"] == 7


def test_pickled_engine_with_a_refused_key_never_shows_it(fresh, tmp_path):
    wrong = "hk-wrong-key-pickled-456"
    engine = HumeEngine(api_key=wrong, hume_url=fresh.url)
    copy = pickle.loads(pickle.dumps(engine))
    assert wrong not in repr(copy)
    item = MediaInput("a.wav", path=make_wav(tmp_path / "a.wav", 1.0))
    with pytest.raises(EngineFatal, match="HTTP 401") as info:
        copy.measure(item, models={"prosody": {}}, transcription={})
    assert wrong not in str(info.value) and wrong not in repr(info.value)


# -- the key stays secret -------------------------------------------------------------


def test_key_absent_from_data_folder_logs_and_errors(fresh, service, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    wav = make_wav(tmp_path / "a.wav", 1.0)
    img = make_image(tmp_path / "b.png")
    fresh.fail_next(503, retry_after=0, times=1)
    fresh.fail_next(415, endpoint="video")
    api = service(_engine(fresh))
    job = api.wait(api.submit([wav, img], {"prosody": {}, "face": {}, "burst": {}}))
    assert job["state"]["status"] == "COMPLETED"
    api.predictions(job["job_id"])
    r = api.s.get(
        f"{api.server.url}/v0/batch/jobs/{job['job_id']}/artifacts", timeout=30
    )
    assert r.status_code == 200
    assert KEY not in json.dumps(api.details(job["job_id"]))
    assert caplog.records  # the engine logged its retry, the service its work
    for rec in caplog.records:
        assert KEY not in rec.getMessage()
    api.server.stop()
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert KEY.encode() not in p.read_bytes(), p


# -- kill and resume ------------------------------------------------------------------

_SERVE = """
import logging, sys, time
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
import humelab
from humelab.service.engines.hume import HumeEngine
engine = HumeEngine(hume_url=sys.argv[2], max_concurrency=1)
server = humelab.serve(engine=engine, data_dir=sys.argv[1], workers=1,
                       api_key="svc-key", quiet=True)
print(server.url, flush=True)
while True:
    time.sleep(1)
"""


def _spawn(data: Path, url: str, log: Path):
    env = dict(os.environ, HUME_API_KEY=KEY, PYTHONPATH=str(ROOT))
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(data), url],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            cwd=str(ROOT),
        )
    line = proc.stdout.readline().decode().strip()
    assert line.startswith("http://"), f"service did not start; see {log}"
    return proc, line


def test_killed_job_resumes_without_sending_a_file_twice(fresh, tmp_path):
    # Given a service in a subprocess measuring 6 files one at a time, slowly
    wavs = [make_wav(tmp_path / f"f{i}.wav", 1.0, seed=10 + i) for i in range(6)]
    sha = {_sha(w.read_bytes()): w.name for w in wavs}
    fresh.latency_ms = 300
    data, log = tmp_path / "data", tmp_path / "service.log"
    proc, url = _spawn(data, fresh.url, log)
    try:
        s = requests.Session()
        s.headers["X-Hume-Api-Key"] = "svc-key"
        files = [("file", (w.name, w.read_bytes())) for w in wavs]
        files.append(("json", (None, json.dumps({"models": {"prosody": {}}}), "")))
        job_id = s.post(f"{url}/v0/batch/jobs", files=files, timeout=30).json()[
            "job_id"
        ]
        # When it is killed (SIGKILL) after 2 files were measured and stored
        deadline = time.monotonic() + 60
        while (
            s.get(f"{url}/v0/batch/jobs/{job_id}", timeout=30).json()["state"][
                "progress"
            ]["done"]
            < 2
        ):
            assert time.monotonic() < deadline, "job made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        before = [u.files[0].sha256 for u in fresh.uploads(status=200)]
        # and started again on the same data folder
        proc, url = _spawn(data, fresh.url, log)
        deadline = time.monotonic() + 60
        while True:
            job = s.get(f"{url}/v0/batch/jobs/{job_id}", timeout=30).json()
            if job["state"]["status"] in ("COMPLETED", "FAILED"):
                break
            assert time.monotonic() < deadline, job["state"]
            time.sleep(0.05)
        preds = s.get(f"{url}/v0/batch/jobs/{job_id}/predictions", timeout=30).json()
    finally:
        proc.kill()
        proc.wait(10)
    # Then the job completed with every file ...
    assert job["state"]["status"] == "COMPLETED"
    found, errors = _results(preds)
    assert sorted(found) == sorted(w.name for w in wavs) and errors == []
    # ... the files measured before the kill were not sent again ...
    sent = [u.files[0].sha256 for u in fresh.uploads(status=200)]
    assert set(sent) == set(sha)
    for h in before[:2]:
        assert sent.count(h) == 1, sha[h]
    # ... and at most the one file in flight at the kill went twice
    assert len(sent) - len(set(sent)) <= 1
    assert job["usage"]["requests"] == 6  # what the stored results say was sent
    # The key is in no file of the data folder and no log line
    assert KEY not in log.read_text(errors="replace")
    assert "POST /v1/expression/audio/file" in log.read_text(errors="replace")
    for p in data.rglob("*"):
        if p.is_file():
            assert KEY.encode() not in p.read_bytes(), p


# -- activity bookkeeping (the bench reads it) ----------------------------------------


def test_activity_counts_conversion_and_requests(fresh, tmp_path):
    video = make_video(tmp_path / "v.mp4", 6.0, fps=25, size=(320, 240))
    fresh.latency_ms = 100
    engine = _engine(fresh, frames_per_request=6)
    engine.activity(reset=True)
    out = engine.measure(
        humelab.service.engines.MediaInput("v.mp4", path=video),
        models={"face": {}},
        transcription={},
    )
    act = engine.activity(reset=True)
    # 18 frames in 3 requests of at least the stand-in's 100 ms each
    assert act["requests"] == 3
    assert act["http_seconds"] >= 0.3 and act["http_busy_seconds"] >= 0.3
    assert act["convert_seconds"] > 0
    rows = out.entry["models"]["face"]["grouped_predictions"][0]["predictions"]
    assert len(rows) == 18
    assert engine.activity()["requests"] == 0  # reset
