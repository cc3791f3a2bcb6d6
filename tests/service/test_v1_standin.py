"""The v1 stand-in (humelab.service.v1_standin) against reference/v1-api.md.

Every test talks to a real stand-in over loopback, with real media made here or by
tests/media.py; expectations are worked out by hand from the reference's rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import struct
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest
import requests
from PIL import Image

from humelab.service.v1_standin import V1StandIn
from tests.media import _draw_faces, make_image, make_video, make_wav

KEY = "standin-test-key-5d1f"
SR = 16000


@pytest.fixture(scope="module")
def standin():
    with V1StandIn(api_key=KEY) as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh(request):
    if "standin" in request.fixturenames:
        s = request.getfixturevalue("standin")
        s.clear()
        s.latency_ms = 0
    yield


# -- helpers ---------------------------------------------------------------------------


def speech(spans_ms, total_ms, *, amp=0.3, seed=0):
    """int16 samples: a 200 Hz tone during each (start, end) ms span, faint noise
    elsewhere (the VAD works on 20 ms frames, so spans on 20 ms steps are exact)."""
    rng = np.random.default_rng(seed)
    n = total_ms * SR // 1000
    x = rng.normal(0, 0.0005, n)
    t = np.arange(n) / SR
    for a, b in spans_ms:
        sl = slice(a * SR // 1000, b * SR // 1000)
        x[sl] += amp * np.sin(2 * np.pi * 200 * t[sl])
    return (np.clip(x, -1, 1) * 32767).astype("<i2")


def wav_bytes(samples, *, rate=SR, channels=1, bits=16, tag=1):
    """A WAV file with the basic 16-byte ``fmt `` chunk (or any tag/rate/channels)."""
    data = np.asarray(samples).astype("<i2").tobytes()
    if channels == 2:
        data = np.repeat(np.asarray(samples, dtype="<i2"), 2).tobytes()
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def jpeg(rgb, quality=90):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def faces_jpeg(faces, *, size=(640, 240), bg=40.0):
    """A JPEG of drawn faces ``(cx, cy, rx, ry)`` on a flat background."""
    w, h = size
    return jpeg(_draw_faces(np.full((h, w), bg), [(*f, 0.5) for f in faces]))


def post(s, kind, files, *, config=None, key=KEY, headers=None):
    parts = []
    if config is not None:
        raw = config if isinstance(config, bytes | str) else json.dumps(config)
        parts.append(("config", (None, raw, "application/json")))
    for f in files:
        parts.append(("file", f if isinstance(f, tuple) else (None, f, "audio/wav")))
    h = dict(headers or {})
    if key is not None:
        h["X-Hume-Api-Key"] = key
    return requests.post(
        f"{s.url}/v1/expression/{kind}/file", files=parts, headers=h, timeout=60
    )


def get(s, path, *, key=KEY, **params):
    h = {"X-Hume-Api-Key": key} if key is not None else {}
    return requests.get(f"{s.url}/v1/expression{path}", params=params, headers=h)


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"type", "code", "message", "request_id"}
    assert body["type"] == "error" and body["code"] == code
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    return body


def windows(body):
    return [
        (m["utterance_id"], m["audio_start_ms"], m["audio_end_ms"], m["trigger"])
        for m in body["measurements"]
    ]


# -- audio: measurement windows (section 3.4) ------------------------------------------


def test_worked_timeline_of_the_reference(standin):
    # Given speech from 100 ms to 26000 ms at the default 3000 ms timer
    r = post(standin, "audio", [wav_bytes(speech([(100, 26000)], 27000))])
    assert r.status_code == 200, r.text
    body = r.json()
    # Then: 8 interval measurements ending 3100 ... 24100, each the last <= 10 s,
    # and a speech_ended one over 16000-26000 (24100 -> 26000 is >= 1 s).
    expected = [
        (0, max(100, e - 10000), e, "interval") for e in range(3100, 24101, 3000)
    ]
    expected.append((0, 16000, 26000, "speech_ended"))
    assert windows(body) == expected
    assert body["utterances"] == [
        {"utterance_id": 0, "audio_start_ms": 100, "audio_end_ms": 26000}
    ]
    assert [m["measurement_id"] for m in body["measurements"]] == list(range(9))
    assert body["received"] == {"audio_duration_ms": 27000}
    assert list(body)[:5] == [
        "request_id",
        "run_id",
        "received",
        "utterances",
        "measurements",
    ]


def test_timer_speech_ended_rule_and_ids_across_utterances(standin):
    # Utterance 0: 300-6900 at 5000 ms: interval at 5300, then 1.6 s later
    # speech_ended (example 10.1). Utterance 1: 8000-13500: interval at 13000,
    # speech ends 0.5 s later: no speech_ended. Utterance 2: 15000-16000, shorter
    # than the timer: one speech_ended measurement.
    samples = speech([(300, 6900), (8000, 13500), (15000, 16000)], 17000)
    r = post(
        standin, "audio", [wav_bytes(samples)], config={"measurement_timer_ms": 5000}
    )
    assert r.status_code == 200, r.text
    assert windows(r.json()) == [
        (0, 300, 5300, "interval"),
        (0, 300, 6900, "speech_ended"),
        (1, 8000, 13000, "interval"),
        (2, 15000, 16000, "speech_ended"),
    ]
    assert [m["measurement_id"] for m in r.json()["measurements"]] == [0, 1, 2, 3]


def test_interval_windows_at_10000_meet_end_to_end(standin):
    samples = speech([(0, 30000)], 30500)
    r = post(
        standin, "audio", [wav_bytes(samples)], config={"measurement_timer_ms": 10000}
    )
    assert windows(r.json()) == [
        (0, 0, 10000, "interval"),
        (0, 10000, 20000, "interval"),
        (0, 20000, 30000, "interval"),
    ]


def test_silence_is_a_normal_empty_result(standin):
    r = post(standin, "audio", [wav_bytes(speech([], 3000))])
    assert r.status_code == 200
    body = r.json()
    assert body["utterances"] == [] and body["measurements"] == []
    assert body["received"]["audio_duration_ms"] == 3000


def test_scores_are_sparse_sorted_rounded_and_labelled(standin, tmp_path):
    r = post(standin, "audio", [make_wav(tmp_path / "a.wav", 12.0).read_bytes()])
    body = r.json()
    assert body["simulated"] is True
    assert r.headers["X-Humelab-Simulated"] == "true"
    assert body["measurements"]
    seen = set()
    for m in body["measurements"]:
        for key, ok in (
            ("voice_attributes", lambda p: p >= 0.725),
            ("expressions", lambda p: p >= 0.2),
        ):
            arr = m[key]
            probs = [x["probability"] for x in arr]
            assert all(ok(p) and p <= 1 for p in probs)
            assert all(round(p, 4) == p for p in probs)
            keys = [(-x["probability"], x["name"]) for x in arr]
            assert keys == sorted(keys)
            assert len({x["name"] for x in arr}) == len(arr)
            seen.update(x["name"] for x in arr)
    assert seen  # something passed the cutoffs somewhere
    assert all(n == n.lower() for n in seen)


def test_same_bytes_same_scores_new_ids(standin):
    data = wav_bytes(speech([(200, 4000)], 5000))
    a, b = post(standin, "audio", [data]).json(), post(standin, "audio", [data]).json()
    assert a["measurements"] == b["measurements"]
    assert a["request_id"] != b["request_id"] and a["run_id"] != b["run_id"]
    run = uuid.UUID(a["run_id"])
    assert run.version == 7
    # v7: the first 48 bits are the Unix time in ms
    ms = run.int >> 80
    assert abs(ms / 1000 - time.time()) < 60


# -- audio: formats (section 3.3) ------------------------------------------------------


def test_compressed_and_foreign_containers_are_415(standin, tmp_path):
    flac = make_wav(tmp_path / "a.flac", 1.0).read_bytes()
    ogg = make_wav(tmp_path / "a.ogg", 1.0).read_bytes()
    mp4 = make_video(tmp_path / "v.mp4", 0.5).read_bytes()
    mp3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(400)
    bare_mp3 = b"\xff\xfb\x90\x64" + bytes(400)  # an MPEG-1 layer III frame header
    avi = b"RIFF" + struct.pack("<I", 100) + b"AVI " + bytes(100)
    aiff = b"FORM" + struct.pack(">I", 100) + b"AIFF" + bytes(100)
    for data, name in [
        (flac, "FLAC"),
        (ogg, "Ogg"),
        (mp4, "MP4"),
        (mp3, "MP3"),
        (bare_mp3, "MP3"),
        (avi, "AVI"),
        (aiff, "AIFF"),
    ]:
        # the declared type and file name say WAV: the content decides
        r = post(standin, "audio", [("clip.wav", data, "audio/wav")])
        body = assert_error(r, 415, "unsupported_media_type")
        assert name in body["message"]


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"rate": 44100}, "44100 Hz"),
        ({"channels": 2}, "2 channels"),
        ({"bits": 24}, "24-bit"),
        ({"tag": 3}, "format tag 3"),
        ({"tag": 0xFFFE}, "WAVE_FORMAT_EXTENSIBLE"),
    ],
)
def test_wav_of_the_wrong_kind_is_400(standin, kwargs, said):
    data = wav_bytes(speech([(100, 900)], 1000), **kwargs)
    body = assert_error(post(standin, "audio", [data]), 400, "audio_decode_failed")
    assert said in body["message"]


def test_real_wav_files_of_other_rates_are_400(standin, tmp_path):
    data = make_wav(tmp_path / "hi.wav", 1.0, sr=22050).read_bytes()
    body = assert_error(post(standin, "audio", [data]), 400, "audio_decode_failed")
    assert "22050 Hz" in body["message"]


def test_truncated_and_empty_audio_are_400(standin):
    good = wav_bytes(speech([(100, 900)], 1000))
    for data in (good[:30], good[:44] + b"\x00"):
        assert_error(post(standin, "audio", [data]), 400, "audio_decode_failed")
    assert_error(post(standin, "audio", [b""]), 400, "audio_decode_failed")
    odd = speech([(100, 900)], 1000).tobytes() + b"\x01"
    body = assert_error(post(standin, "audio", [odd]), 400, "audio_decode_failed")
    assert "odd" in body["message"]


def test_headerless_samples_are_measured_like_the_wav(standin):
    samples = speech([(200, 2200)], 3000)
    raw = post(
        standin, "audio", [(None, samples.tobytes(), "application/octet-stream")]
    )
    wav = post(standin, "audio", [wav_bytes(samples)])
    assert raw.status_code == 200 and wav.status_code == 200
    assert raw.json()["received"] == {"audio_duration_ms": 3000}
    assert raw.json()["measurements"] == wav.json()["measurements"]


# -- multipart and config --------------------------------------------------------------


def test_part_order_and_declared_types_do_not_matter(standin):
    data = wav_bytes(speech([(100, 3000)], 4000))
    a = post(standin, "audio", [("x.png", data, "image/png")], config={})
    parts = [
        ("file", (None, data, "text/plain")),
        ("config", (None, "{}", "application/json")),
    ]
    b = requests.post(
        f"{standin.url}/v1/expression/audio/file",
        files=parts,
        headers={"X-Hume-Api-Key": KEY},
    )
    assert a.status_code == b.status_code == 200
    assert a.json()["measurements"] == b.json()["measurements"]


def test_bad_multipart_bodies_are_message_invalid(standin):
    data = wav_bytes(speech([(100, 900)], 1000))
    # no file
    assert_error(post(standin, "audio", [], config={}), 400, "message_invalid")
    # two audio files
    body = assert_error(post(standin, "audio", [data, data]), 400, "message_invalid")
    assert "exactly one" in body["message"]
    # an unknown part
    r = requests.post(
        f"{standin.url}/v1/expression/audio/file",
        files=[("file", (None, data)), ("audio", (None, data))],
        headers={"X-Hume-Api-Key": KEY},
    )
    assert "'audio'" in assert_error(r, 400, "message_invalid")["message"]
    # not multipart at all
    r = requests.post(
        f"{standin.url}/v1/expression/audio/file",
        json={"file": "x"},
        headers={"X-Hume-Api-Key": KEY},
    )
    assert_error(r, 400, "message_invalid")
    # a body cut before its closing boundary
    req = requests.Request(
        "POST",
        f"{standin.url}/v1/expression/audio/file",
        files=[("file", (None, data))],
        headers={"X-Hume-Api-Key": KEY},
    ).prepare()
    cut = req.body[:-40]
    r = requests.post(
        req.url,
        data=cut,
        headers={"Content-Type": req.headers["Content-Type"], "X-Hume-Api-Key": KEY},
    )
    assert_error(r, 400, "message_invalid")


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"timer_ms": 5000}, "unknown field timer_ms"),
        ({"measurement_timer_ms": 2999}, "3000-10000"),
        ({"measurement_timer_ms": 10001}, "3000-10000"),
        ({"measurement_timer_ms": 4000.5}, "integer"),
        (b"{not json", "not valid JSON"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_audio_config_is_config_invalid(standin, config, said):
    data = wav_bytes(speech([(100, 900)], 1000))
    raw = config if isinstance(config, bytes) else json.dumps(config)
    body = assert_error(
        post(standin, "audio", [data], config=raw), 400, "config_invalid"
    )
    assert said in body["message"]


@pytest.mark.parametrize(
    "config",
    [
        {"face": {"threshold": 1.5}},
        {"face": {"min_size": 0}},
        {"face": {"return_face_state": "yes"}},
        {"face": {"size": 3}},
        {"faces": {}},
        {"face_state": 7},
    ],
)
def test_bad_video_config_is_config_invalid(standin, config):
    img = faces_jpeg([(320, 120, 70, 90)])
    assert_error(post(standin, "video", [img], config=config), 400, "config_invalid")


# -- size limits -----------------------------------------------------------------------


def test_body_over_25_mb_is_413(standin):
    big = bytes(25_000_001)
    body = assert_error(post(standin, "audio", [big]), 413, "audio_too_long")
    assert "25 MB" in body["message"]
    assert_error(post(standin, "video", [big]), 413, "image_too_large")
    assert standin.requests[-1].bytes > 25_000_000


def test_image_limits_bytes_pixels_format_decode(standin):
    good = faces_jpeg([(320, 120, 70, 90)])
    rng = np.random.default_rng(0)
    noisy = jpeg(rng.integers(0, 256, (1000, 1400, 3), dtype=np.uint8), quality=100)
    assert len(noisy) > 2_000_000
    wide = jpeg(np.zeros((2100, 4000, 3), dtype=np.uint8), quality=50)
    assert len(wide) < 2_000_000
    png = io.BytesIO()
    Image.fromarray(np.zeros((10, 10, 3), dtype=np.uint8)).save(png, format="PNG")
    cases = [
        (noisy, 413, "image_too_large", "2000000-byte"),
        (wide, 413, "image_too_large", "8294400-pixel"),
        (png.getvalue(), 415, "unsupported_media_type", "JPEG"),
        (good[:200], 400, "image_decode_failed", "image 1"),
    ]
    for bad, status, code, said in cases:
        # one bad image after a good one fails the whole request, with no results
        r = post(standin, "video", [good, ("b.jpg", bad, "image/jpeg")])
        body = assert_error(r, status, code)
        assert said in body["message"]
        assert "measurements" not in body
    # exactly at the pixel limit is fine
    edge = jpeg(np.zeros((2160, 3840, 3), dtype=np.uint8), quality=50)
    assert post(standin, "video", [edge]).status_code == 200


# -- faces (section 4.4) ---------------------------------------------------------------


def test_two_largest_measured_the_rest_listed(standin):
    img = faces_jpeg([(110, 120, 70, 90), (330, 120, 55, 70), (530, 120, 40, 50)])
    r = post(standin, "video", [img, faces_jpeg([])])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["received"] == {"frames": 2}
    f0, f1 = body["measurements"]
    assert f0["frame_id"] == 0 and f1 == {"frame_id": 1, "faces": []}
    faces = f0["faces"]
    assert [f["face_id"] for f in faces] == [0, 1, None]
    centres = [((f["bbox"][0] + f["bbox"][2]) / 2) for f in faces]
    # largest first: the face drawn at x=110, then x=330; the smallest is listed only
    assert [round(c / 10) for c in centres] == [11, 33, 53]
    for f in faces:
        x0, y0, x1, y1 = f["bbox"]
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 240
        assert f["confidence"] >= 0.9
    assert faces[2]["expressions"] is None and faces[2]["descriptions"] is None
    for f in faces[:2]:
        for key in ("expressions", "descriptions"):
            assert all(x["probability"] > 0.1 for x in f[key])


def test_threshold_and_min_size(standin):
    # A face on a light background has low contrast: confidence below 0.9.
    dim = faces_jpeg([(320, 120, 70, 90)], bg=150.0)
    assert post(standin, "video", [dim]).json()["measurements"][0]["faces"] == []
    low = post(standin, "video", [dim], config={"face": {"threshold": 0.85}}).json()
    (face,) = low["measurements"][0]["faces"]
    assert 0.85 <= face["confidence"] < 0.9
    # min_size: the shorter side of the box
    x0, y0, x1, y1 = face["bbox"]
    side = min(x1 - x0, y1 - y0)
    cfg = {"threshold": 0.85, "min_size": int(side)}
    kept = post(standin, "video", [dim], config={"face": cfg}).json()
    assert len(kept["measurements"][0]["faces"]) == 1
    cfg["min_size"] = int(side) + 1
    gone = post(standin, "video", [dim], config={"face": cfg}).json()
    assert gone["measurements"][0]["faces"] == []


def test_at_most_32_faces_listed(standin):
    grid = [(40 + 80 * i, 40 + 80 * j, 25, 32) for i in range(8) for j in range(5)]
    img = faces_jpeg(grid, size=(640, 400))
    r = post(standin, "video", [img], config={"face": {"min_size": 30}})
    faces = r.json()["measurements"][0]["faces"]
    assert len(faces) == 32
    assert sum(f["face_id"] is not None for f in faces) == 2
    conf = [f["confidence"] for f in faces[2:]]
    assert conf == sorted(conf, reverse=True)


def test_face_ids_follow_a_face_across_images_and_requests(standin):
    # A face moving right over 4 images keeps id 0; a second face appearing far
    # away in image 3 gets id 1.
    frames = [faces_jpeg([(120 + 30 * i, 120, 70, 90)]) for i in range(3)]
    frames.append(faces_jpeg([(210, 120, 70, 90), (540, 120, 60, 80)]))
    r = post(standin, "video", frames, config={"face": {"return_face_state": True}})
    ids = [[f["face_id"] for f in m["faces"]] for m in r.json()["measurements"]]
    assert ids == [[0], [0], [0], [0, 1]]
    state = r.json()["face_state"]
    # The next request continues with the state: the face at x=540 keeps id 1, and
    # a new face far from both remembered ones gets the next id, 2.
    later = [
        faces_jpeg([(540, 120, 60, 80)]),
        faces_jpeg([(1100, 120, 70, 90)], size=(1280, 240)),
    ]
    with_state = post(standin, "video", later, config={"face_state": state}).json()
    ids = [[f["face_id"] for f in m["faces"]] for m in with_state["measurements"]]
    assert ids == [[1], [2]]
    assert "face_state" not in with_state  # only when asked for
    # Without it, or with an altered one, numbering restarts at 0.
    fresh = post(standin, "video", later[:1]).json()
    assert fresh["measurements"][0]["faces"][0]["face_id"] == 0
    bad = state[:-2] + ("A" if state[-2] != "A" else "B") + state[-1]
    tampered = post(standin, "video", later[:1], config={"face_state": bad}).json()
    assert tampered["measurements"][0]["faces"][0]["face_id"] == 0


def test_face_state_expires_after_24_hours():
    from humelab.service._v1standin_measure import FaceTracker

    secret = b"s" * 32
    tracker = FaceTracker()
    tracker.assign([(0, 0, 100, 100), (300, 0, 400, 100)])
    token = tracker.to_state(secret, now=1_000_000)
    day = 24 * 3600
    assert FaceTracker.from_state(token, secret, now=1_000_000 + day).next_id == 2
    assert FaceTracker.from_state(token, secret, now=1_000_001 + day).next_id == 0
    assert FaceTracker.from_state(token, b"x" * 32, now=1_000_000).next_id == 0


def test_faces_measured_can_be_raised():
    img = faces_jpeg([(110, 120, 70, 90), (330, 120, 55, 70), (530, 120, 40, 50)])
    with V1StandIn(api_key=KEY, faces_measured=3) as s:
        faces = post(s, "video", [img]).json()["measurements"][0]["faces"]
    assert [f["face_id"] for f in faces] == [0, 1, 2]


def test_project_test_media_faces_are_found(standin, tmp_path):
    one = make_image(tmp_path / "one.jpg", size=(256, 192), seed=0).read_bytes()
    two = make_image(tmp_path / "two.jpg", size=(512, 192), seed=1).read_bytes()
    r = post(standin, "video", [one, two]).json()
    assert [len(m["faces"]) for m in r["measurements"]] == [1, 2]


# -- runs (section 5) ------------------------------------------------------------------


def test_runs_record_each_upload(standin):
    ok = post(standin, "audio", [wav_bytes(speech([(100, 900)], 12_000))]).json()
    short = post(standin, "audio", [wav_bytes(speech([(100, 900)], 7_400))]).json()
    imgs = [faces_jpeg([(320, 120, 70, 90)])] * 40
    vid = post(standin, "video", imgs, config={"face": {"threshold": 0.123456}}).json()
    bad = post(standin, "audio", [b"fLaC" + bytes(100)])
    assert bad.status_code == 415
    run = get(standin, f"/run/{ok['run_id']}").json()
    assert run["status"] == "ended" and run["endpoint"] == "audio"
    assert run["mode"] == "file" and run["metered_seconds"] == 12.0
    assert run["config"] == {
        "schema": "v4",
        "audio": {
            "type": "audio/pcm",
            "encoding": "s16le",
            "sample_rate": 16000,
            "channels": 1,
        },
        "measurement_timer_ms": 3000,
    }
    assert "close_code" not in run and "measurements" not in run
    started = dt.datetime.fromisoformat(run["started_at"].replace("Z", "+00:00"))
    assert started <= dt.datetime.fromisoformat(run["ended_at"].replace("Z", "+00:00"))
    assert get(standin, f"/run/{short['run_id']}").json()["metered_seconds"] == 10.0
    vrun = get(standin, f"/run/{vid['run_id']}").json()
    assert vrun["metered_seconds"] == pytest.approx(40 / 3, abs=1e-3)
    assert vrun["config"] == {
        "schema": "v4",
        "image": {"type": "image/jpeg"},
        "face": {"threshold": 0.1235, "min_size": 60},
    }
    assert vrun["bytes_received"] == 40 * len(imgs[0])
    # the failed upload: an errored run, not billed
    failed = [r for r in standin.runs if r["status"] == "errored"][-1]
    assert failed["metered_seconds"] == 0.0


def test_runs_list_pages_newest_first_with_filters():
    with V1StandIn(api_key=KEY) as s:
        data = wav_bytes(speech([(100, 900)], 1000))
        img = faces_jpeg([(320, 120, 70, 90)])
        made = []
        for i in range(5):
            kind = "video" if i % 2 else "audio"
            made.append(post(s, kind, [img if kind == "video" else data]).json())
            time.sleep(0.003)
        newest_first = [m["run_id"] for m in reversed(made)]
        pages, cursor = [], None
        while True:
            params = {"page_size": 2} | ({"cursor": cursor} if cursor else {})
            page = get(s, "/run", **params).json()
            pages.append([r["run_id"] for r in page["runs"]])
            cursor = page.get("next_cursor")
            if cursor is None:
                break
        assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]
        page = get(s, "/run").json()
        assert [r["run_id"] for r in page["runs"]] == newest_first
        assert "next_cursor" not in page
        assert all("config" not in r for r in page["runs"])
        videos = get(s, "/run", endpoint="video").json()["runs"]
        assert [r["run_id"] for r in videos] == [made[3]["run_id"], made[1]["run_id"]]
        assert get(s, "/run", status="errored").json()["runs"] == []
        assert (
            len(get(s, "/run", mode="file", user_id="usr_standin").json()["runs"]) == 5
        )
        assert get(s, "/run", user_id="someone").json()["runs"] == []
        # started_after is inclusive, started_before exclusive: they split cleanly
        mid = get(s, f"/run/{made[2]['run_id']}").json()["started_at"]
        after = [r["run_id"] for r in get(s, "/run", started_after=mid).json()["runs"]]
        before = [
            r["run_id"] for r in get(s, "/run", started_before=mid).json()["runs"]
        ]
        assert after == newest_first[:3] and before == newest_first[3:]


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 0},
        {"page_size": 201},
        {"page_size": "x"},
        {"cursor": "not-a-cursor"},
        {"status": "done"},
        {"mode": "batch"},
        {"endpoint": "text"},
        {"started_after": "yesterday"},
        {"started_before": "2026-11-01T00:00:00"},
    ],
)
def test_bad_run_queries_are_invalid_request(standin, params):
    assert_error(get(standin, "/run", **params), 400, "invalid_request")


def test_run_events_and_unknown_runs(standin):
    made = post(standin, "audio", [wav_bytes(speech([(100, 900)], 1000))]).json()
    events = get(standin, f"/run/{made['run_id']}/events", page_size=10)
    assert events.json() == {
        "events": [],
        "at_cap": False,
        "capped_kinds": [],
        "gaps": False,
    }
    assert_error(
        get(standin, f"/run/{made['run_id']}/events", page_size=0),
        400,
        "invalid_request",
    )
    missing = str(uuid.uuid4())
    assert_error(get(standin, f"/run/{missing}"), 404, "not_found")
    assert_error(get(standin, f"/run/{missing}/events"), 404, "not_found")


# -- auth, routes, error bodies (section 6) --------------------------------------------


def test_auth_header_and_401_bodies(standin):
    data = wav_bytes(speech([(100, 900)], 1000))
    r = post(standin, "audio", [data], key=None)
    assert r.status_code == 401 and set(r.json()) == {"message"}
    r = post(standin, "audio", [data], key="wrong")
    assert r.status_code == 401 and set(r.json()) == {"message", "request_id"}
    r = get(standin, "/run", key="wrong")
    assert r.status_code == 401
    bearer = post(
        standin, "audio", [data], key=None, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert bearer.status_code == 200


def test_wrong_method_and_unknown_path(standin):
    r = requests.get(
        f"{standin.url}/v1/expression/audio/file", headers={"X-Hume-Api-Key": KEY}
    )
    assert_error(r, 405, "method_not_allowed")
    r = requests.delete(
        f"{standin.url}/v1/expression/run", headers={"X-Hume-Api-Key": KEY}
    )
    assert_error(r, 405, "method_not_allowed")
    r = requests.get(
        f"{standin.url}/v1/expression/runs", headers={"X-Hume-Api-Key": KEY}
    )
    assert r.status_code == 404 and set(r.json()) == {"message"}


# -- fault injection and latency -------------------------------------------------------


def test_fail_next_statuses_and_bodies(standin):
    data = wav_bytes(speech([(100, 900)], 1000))
    standin.fail_next(429, retry_after=1)
    r = post(standin, "audio", [data])
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert set(r.json()) == {"message"}
    assert post(standin, "audio", [data]).status_code == 200  # only the next one
    standin.fail_next(503, times=2)
    for _ in range(2):
        assert_error(post(standin, "audio", [data]), 503, "server_busy")
    assert post(standin, "audio", [data]).status_code == 200
    standin.fail_next(500)
    assert_error(post(standin, "audio", [data]), 500, "internal_error")
    standin.fail_next(401)
    r = post(standin, "audio", [data])
    assert r.status_code == 401 and "type" not in r.json()
    standin.fail_next(403)
    assert_error(post(standin, "audio", [data]), 403, "forbidden")
    # endpoint filter: a video-only failure leaves audio and runs alone
    standin.fail_next(503, endpoint="video")
    assert post(standin, "audio", [data]).status_code == 200
    assert get(standin, "/run").status_code == 200
    assert_error(post(standin, "video", [faces_jpeg([])]), 503, "server_busy")
    with pytest.raises(Exception, match="endpoint"):
        standin.fail_next(503, endpoint="text")


def test_a_dropped_connection(standin):
    data = wav_bytes(speech([(100, 900)], 1000))
    standin.fail_next("drop")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        post(standin, "audio", [data])
    assert post(standin, "audio", [data]).status_code == 200
    assert [r.code for r in standin.uploads()] == ["dropped", None]
    assert standin.uploads()[0].run_id is None  # dropped before it was measured
    for bad in (200, 302, "reset"):
        with pytest.raises(Exception, match="status"):
            standin.fail_next(bad)


def test_random_failures_are_seeded_and_spare_the_runs_endpoints():
    data = wav_bytes(speech([(100, 900)], 1000))
    seqs = []
    for _ in range(2):
        with V1StandIn(api_key=KEY, fail_rate=0.5, retry_after=0, seed=7) as s:
            seqs.append([post(s, "audio", [data]).status_code for _ in range(12)])
            assert all(get(s, "/run").status_code == 200 for _ in range(5))
    assert seqs[0] == seqs[1]
    assert set(seqs[0]) == {200, 429, 503}
    with V1StandIn(api_key=KEY, fail_rate=1.0, retry_after=0) as s:
        codes = {post(s, "audio", [data]).status_code for _ in range(8)}
        assert codes <= {429, 503}
        assert s.runs == []


def test_latency_is_added_and_requests_overlap(standin):
    data = wav_bytes(speech([(100, 900)], 1000))
    standin.latency_ms = 300
    t0 = time.monotonic()
    assert post(standin, "audio", [data]).status_code == 200
    assert time.monotonic() - t0 >= 0.3
    standin.clear()
    standin.latency_ms = 500
    threads = [
        threading.Thread(target=post, args=(standin, "audio", [data])) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert standin.max_in_flight == 4
    assert len(standin.uploads(status=200)) == 4


# -- what the stand-in records ---------------------------------------------------------


def test_requests_are_recorded_without_the_key(standin):
    a = wav_bytes(speech([(100, 900)], 1000))
    imgs = [faces_jpeg([(320, 120, 70, 90)]), faces_jpeg([(200, 120, 70, 90)])]
    post(standin, "audio", [("a.wav", a, "audio/wav")], config={})
    standin.fail_next(429)
    post(standin, "video", imgs, config={"face": {"min_size": 40}})
    recs = standin.requests
    assert [(r.path, r.status) for r in recs] == [
        ("/v1/expression/audio/file", 200),
        ("/v1/expression/video/file", 429),
    ]
    audio, video = recs
    assert [(p.name, p.filename, p.size) for p in audio.parts] == [
        ("config", None, 2),
        ("file", "a.wav", len(a)),
    ]
    assert audio.files[0].sha256 == hashlib.sha256(a).hexdigest()
    assert [p.sha256 for p in video.files] == [
        hashlib.sha256(i).hexdigest() for i in imgs
    ]
    assert audio.headers["x-hume-api-key"] == "***"
    assert audio.run_id and audio.config == {}
    assert video.run_id is None  # refused before it was measured
    assert standin.bytes_received == sum(r.bytes for r in recs)
    assert audio.bytes > len(a)
    assert [r.path for r in standin.uploads(status=200)] == [
        "/v1/expression/audio/file"
    ]
    for text in (repr(standin), str(recs), str(standin.runs)):
        assert KEY not in text


# -- the official SDK ------------------------------------------------------------------


def test_official_sdk_parses_every_endpoint(standin, tmp_path):
    from hume_expression_measurement import (
        ExpressionMeasurementClient,
        ExpressionMeasurementClientEnvironment,
    )
    from hume_expression_measurement.types import (
        AudioFileConfig,
        AudioFileResponse,
        Run,
        RunEventsPage,
        RunsPage,
        VideoFileConfig,
        VideoFileConfigFace,
        VideoFileResponse,
    )

    env = ExpressionMeasurementClientEnvironment(
        base=standin.url, production=standin.url.replace("http", "ws", 1)
    )
    client = ExpressionMeasurementClient(api_key=KEY, environment=env, max_retries=0)
    wav = make_wav(tmp_path / "talk.wav", 8.0)
    with open(wav, "rb") as fh:
        audio = client.audio.measure(
            file=fh, config=AudioFileConfig(measurement_timer_ms=4000)
        )
    assert isinstance(audio, AudioFileResponse)
    assert audio.received.audio_duration_ms == 8000
    assert audio.measurements and audio.model_extra == {"simulated": True}
    assert all(m.audio_end_ms - m.audio_start_ms <= 10000 for m in audio.measurements)
    imgs = [
        ("a.jpg", faces_jpeg([(120, 120, 70, 90), (450, 120, 60, 80)]), "image/jpeg"),
        faces_jpeg([(130, 120, 70, 90), (210 + 240, 120, 20, 26)]),
    ]
    video = client.video.measure(
        file=imgs,
        config=VideoFileConfig(face=VideoFileConfigFace(return_face_state=True)),
    )
    assert isinstance(video, VideoFileResponse)
    assert video.received.frames == 2 and video.face_state
    assert [f.face_id for f in video.measurements[0].faces] == [0, 1]
    assert (
        video.measurements[0].faces[0].bbox[2] > video.measurements[0].faces[0].bbox[0]
    )
    page = client.runs.list(page_size=1, mode="file")
    assert isinstance(page, RunsPage) and len(page.runs) == 1 and page.next_cursor
    assert page.runs[0].run_id == video.run_id
    page2 = client.runs.list(page_size=1, cursor=page.next_cursor)
    assert page2.runs[0].run_id == audio.run_id
    run = client.runs.get(audio.run_id)
    assert isinstance(run, Run) and run.config.measurement_timer_ms == 4000
    vrun = client.runs.get(video.run_id)
    assert vrun.config.face.threshold == 0.9 and vrun.config.face.min_size == 60
    events = client.runs.list_events(audio.run_id)
    assert isinstance(events, RunEventsPage) and events.events == []
    # typed errors
    from hume_expression_measurement.errors import (
        BadRequestError,
        NotFoundError,
        UnauthorizedError,
        UnsupportedMediaTypeError,
    )

    with pytest.raises(UnsupportedMediaTypeError) as info:
        client.audio.measure(file=b"fLaC" + bytes(64))
    assert info.value.body.code == "unsupported_media_type"
    with pytest.raises(NotFoundError):
        client.runs.get(str(uuid.uuid4()))
    with pytest.raises(BadRequestError):
        client.runs.list(page_size=500)
    bad = ExpressionMeasurementClient(api_key="nope", environment=env, max_retries=0)
    with pytest.raises(UnauthorizedError):
        bad.runs.list()


def test_official_sdk_retries_on_429_with_retry_after(standin):
    from hume_expression_measurement import (
        ExpressionMeasurementClient,
        ExpressionMeasurementClientEnvironment,
    )

    env = ExpressionMeasurementClientEnvironment(base=standin.url, production="ws://x")
    client = ExpressionMeasurementClient(api_key=KEY, environment=env, max_retries=2)
    data = wav_bytes(speech([(100, 900)], 1000))
    standin.fail_next(429, retry_after=0)
    standin.fail_next(503, retry_after=0)
    out = client.audio.measure(file=data)
    assert out.received.audio_duration_ms == 1000
    statuses = [r.status for r in standin.uploads()]
    assert statuses == [429, 503, 200]
    # the same file went three times: the record shows it
    assert len({r.files[0].sha256 for r in standin.uploads()}) == 1


# -- command line ----------------------------------------------------------------------


def test_main_serves_until_stopped():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "humelab.service.v1_standin",
            "--port",
            "0",
            "--latency",
            "10",
            "--api-key",
            KEY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "scores are simulated" in line and KEY not in line
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        r = requests.get(f"{url}/v1/expression/run", headers={"X-Hume-Api-Key": KEY})
        assert r.status_code == 200 and r.json() == {"runs": []}
    finally:
        proc.terminate()
        proc.wait(10)


def test_main_rejects_bad_options():
    from humelab.service.v1_standin import main

    with pytest.raises(SystemExit) as info:
        main(["--fail-rate", "2"])
    assert info.value.code == 2
