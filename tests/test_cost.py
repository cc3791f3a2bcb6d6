"""Cost estimates for the hume engine (humelab._cost), checked by hand and by a job."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
import soundfile as sf

import humelab
from humelab._cost import AUDIO_CHUNK_SECONDS, estimate
from humelab.service.engines.hume import HumeEngine
from humelab.service.v1_standin import V1StandIn
from tests.media import make_image, make_text_file, make_video, make_wav


def test_audio_is_billed_by_length_with_a_10_s_minimum(tmp_path):
    short = make_wav(tmp_path / "short.wav", 4.0)
    long = make_wav(tmp_path / "long.wav", 25.0)
    est = estimate([short, long], models={"prosody": {}})
    by = {f["path"].rsplit("/", 1)[-1]: f for f in est["files"]}
    assert by["short.wav"]["billed_seconds"] == pytest.approx(10.0)
    assert by["long.wav"]["billed_seconds"] == pytest.approx(25.0)
    assert est["requests"] == 2 and est["images"] == 0
    assert est["audio_seconds"] == pytest.approx(29.0)
    assert est["billed_seconds"] == pytest.approx(35.0)
    assert est["unsupported"] == {}


def test_video_frames_and_soundtrack(tmp_path):
    # 10 s at 25 fps: 30 frames at 3 fps, 5 at 0.5 fps; soundtrack 10 s
    video = make_video(tmp_path / "v.mp4", 10.0, fps=25)
    est = estimate(video, models={"face": {}, "prosody": {}})
    (f,) = est["files"]
    assert f["kind"] == "video" and f["images"] == 30
    # 30 images: one request of 150 max, billed max(10, 30/3) = 10; audio 10 s
    assert f["requests"] == 2
    assert f["billed_seconds"] == pytest.approx(20.0, abs=0.1)
    slow = estimate(video, models={"face": {"fps_pred": 0.5}})
    assert slow["images"] == 5 and slow["billed_seconds"] == pytest.approx(10.0)
    # smaller batches: 30 frames in requests of 8 -> 4 requests of >= 10 s
    small = estimate(video, models={"face": {}}, frames_per_request=8)
    assert small["requests"] == 4 and small["billed_seconds"] == pytest.approx(40.0)
    # fps_pred argument when the model config has none
    assert estimate(video, models={"face": {}}, fps_pred=1)["images"] == 10


def test_many_frames_fill_requests_of_150(tmp_path):
    # 120 s at 25 fps and fps_pred 3: 360 images -> 150 + 150 + 60
    video = make_video(tmp_path / "v.mp4", 120.0, fps=5, size=(64, 48), audio=False)
    est = estimate(video, models={"face": {}})
    # at 5 fps the 3 fps sampling keeps floor(k * 5 / 3 + 0.5) < 600: 360 frames
    assert est["images"] == 360
    assert est["requests"] == 3
    assert est["billed_seconds"] == pytest.approx(50 + 50 + 20)


def test_images_text_and_unsupported_models(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    make_image(folder / "a.png")
    make_image(folder / "b.jpg")
    make_wav(folder / "c.wav", 2.0)
    make_text_file(folder / "d.txt", "hello")
    make_text_file(folder / ".hidden.txt", "skipped")
    est = estimate(folder, models=None)  # all six models, as a job without models
    assert [f["kind"] for f in est["files"]] == ["image", "image", "audio", "text"]
    # each image is its own request, billed the 10 s minimum
    assert est["images"] == 2
    assert est["requests"] == 3  # 2 images + 1 audio
    assert est["billed_seconds"] == pytest.approx(30.0)
    assert est["unsupported"] == {
        "facemesh": ["a.png", "b.jpg"],
        "burst": ["c.wav"],
        "language": ["c.wav", "d.txt"],
        "ner": ["c.wav", "d.txt"],
    }


def test_more_than_13_minutes_is_two_requests(tmp_path):
    sig = np.zeros(int(16000 * (AUDIO_CHUNK_SECONDS + 5)), np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, sig, 16000, subtype="PCM_16")
    est = estimate(path, models={"prosody": {}})
    assert est["requests"] == 2
    # the 5 s tail is billed the 10 s minimum
    assert est["billed_seconds"] == pytest.approx(AUDIO_CHUNK_SECONDS + 10, abs=0.01)


def test_missing_path_is_an_input_error(tmp_path):
    with pytest.raises(humelab.InputError, match="No file or folder"):
        estimate(tmp_path / "nope.wav", models={"prosody": {}})


def test_estimate_matches_what_the_engine_sends(tmp_path):
    # Given files of each kind, estimated, then measured through the stand-in
    files = [
        make_wav(tmp_path / "a.wav", 14.0),
        make_video(tmp_path / "v.mp4", 8.0, fps=25, size=(320, 240)),
        make_image(tmp_path / "i.png"),
    ]
    models = {"face": {}, "prosody": {}}
    est = estimate(files, models=models)
    with V1StandIn(api_key="k") as s:
        engine = HumeEngine(api_key="k", hume_url=s.url)
        with humelab.serve(engine=engine, data_dir=tmp_path / "d", quiet=True) as srv:
            h = {"X-Hume-Api-Key": srv.api_key}
            parts = [("file", (f.name, f.read_bytes())) for f in files]
            parts.append(("json", (None, json.dumps({"models": models}), "")))
            url = f"{srv.url}/v0/batch/jobs"
            job_id = requests.post(url, files=parts, headers=h, timeout=30).json()[
                "job_id"
            ]
            for _ in range(1200):
                job = requests.get(f"{url}/{job_id}", headers=h, timeout=30).json()
                if job["state"]["status"] == "COMPLETED":
                    break
                time.sleep(0.05)
    usage = job["usage"]
    # Then the estimate is what was sent and billed
    assert usage["requests"] == est["requests"] == 4
    assert usage["images"] == est["images"] == 25
    assert usage["billed_seconds"] == pytest.approx(est["billed_seconds"], abs=0.2)
    assert usage["media_seconds"] == pytest.approx(est["audio_seconds"], abs=0.2)


def test_estimate_does_not_import_the_service():
    code = (
        "import sys, humelab._cost as c; c.estimate([], models={'face': {}}); "
        "print('humelab.service' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
