"""Hume's own SDK (hume==0.13.13, unchanged) and curl against the local service."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import zipfile

import pytest

from tests.media import make_image, make_video, make_wav

hume = pytest.importorskip("hume")
from hume import HumeClient  # noqa: E402
from hume.core.api_error import ApiError  # noqa: E402
from hume.expression_measurement.batch import (  # noqa: E402
    Face,
    InferenceBaseRequest,
    Language,
    Models,
    Ner,
    Prosody,
)


@pytest.fixture(scope="module")
def hosted(static_server, tmp_path_factory):
    base, folder = static_server
    make_video(folder / "talk.mp4", 1.0)
    make_wav(folder / "hi.wav", 1.0, seed=3)
    d = tmp_path_factory.mktemp("sdk-media")
    return {
        "video": f"{base}/talk.mp4",
        "wav": f"{base}/hi.wav",
        "png": make_image(d / "face.png"),
        "wav_path": make_wav(d / "local.wav", 1.0, seed=4),
    }


@pytest.fixture(scope="module")
def batch(service):
    client = HumeClient(api_key=service.api_key, base_url=service.url)
    return client.expression_measurement.batch


def _wait(batch, job_id, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        job = batch.get_job_details(id=job_id)
        if job.state.status in ("COMPLETED", "FAILED"):
            return job
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_sdk_urls_and_text_all_six_models(batch, hosted):
    t0 = int(time.time() * 1000)
    models = Models(
        face=Face(facs={}, descriptions={}, identify_faces=True),
        burst={},
        prosody=Prosody(granularity="utterance"),
        language=Language(sentiment={}, toxicity={}, granularity="sentence"),
        ner=Ner(),
        facemesh={},
    )
    job_id = batch.start_inference_job(
        urls=[hosted["video"], hosted["wav"]],
        text=["I am thrilled to meet Ada Lovelace in London."],
        models=models,
        notify=False,
    )
    job = _wait(batch, job_id)
    assert job.state.status == "COMPLETED", job.state
    assert job.type == "INFERENCE" and job.job_id == job_id
    # the two media have speech but no transcript: language and ner say so
    assert job.state.num_errors == 2 and job.state.num_predictions == 3
    assert job.request.urls == [hosted["video"], hosted["wav"]]
    assert job.request.models.face.identify_faces is True
    # The typed predictions parse without error, for every model
    results = batch.get_job_predictions(id=job_id)
    assert [r.source.type for r in results] == ["url", "url", "text"]
    seen = {}
    errors = [e.message for r in results for e in r.results.errors]
    assert len(errors) == 2 and all("needs a transcript" in m for m in errors)
    for r in results:
        assert r.results is not None
        for p in r.results.predictions:
            for name in ("face", "burst", "prosody", "language", "ner", "facemesh"):
                mp = getattr(p.models, name)
                if mp is not None and mp.grouped_predictions:
                    seen[name] = mp
    assert sorted(seen) == sorted(
        ["face", "burst", "prosody", "language", "ner", "facemesh"]
    )
    face0 = seen["face"].grouped_predictions[0].predictions[0]
    assert len(face0.emotions) == 48 and len(face0.facs) == 36
    assert len(face0.descriptions) == 27
    lang0 = seen["language"].grouped_predictions[0].predictions[0]
    assert len(lang0.emotions) == 53 and len(lang0.sentiment) == 9
    assert len(lang0.toxicity) == 6
    # list_jobs with filters
    jobs = batch.list_jobs(
        limit=10,
        status=["COMPLETED", "FAILED"],
        when="created_after",
        timestamp_ms=t0 - 1,
        sort_by="created",
        direction="asc",
    )
    assert job_id in [j.job_id for j in jobs]
    assert all(j.state.status in ("COMPLETED", "FAILED") for j in jobs)
    # artifacts stream as zip bytes
    data = b"".join(batch.get_job_artifacts(id=job_id))
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert any(n.startswith("url-0-talk.mp4/csv/talk.mp4/") for n in names)


def test_sdk_local_files(batch, hosted, tmp_path):
    png = hosted["png"].read_bytes()
    with open(hosted["wav_path"], "rb") as fh:
        job_id = batch.start_inference_job_from_local_file(
            file=[("face.png", png, "image/png"), fh],
            json=InferenceBaseRequest(
                models=Models(face=Face(), prosody=Prosody()),
                transcription={"language": "en"},
            ),
        )
    job = _wait(batch, job_id)
    assert job.state.status == "COMPLETED"
    assert [f.filename for f in job.request.files] == ["face.png", "local.wav"]
    results = batch.get_job_predictions(id=job_id)
    assert [r.source.type for r in results] == ["file", "file"]
    assert results[0].results.predictions[0].file == "face.png"
    assert results[0].results.predictions[0].models.face is not None
    out = tmp_path / "artifacts.zip"
    batch.get_and_write_job_artifacts(id=job_id, file_name=str(out))
    assert zipfile.is_zipfile(out)
    # without a json part: all models run
    job_id = batch.start_inference_job_from_local_file(file=[("again.png", png)])
    job = _wait(batch, job_id)
    assert job.request.models.burst is not None and job.state.status == "COMPLETED"


def test_sdk_errors(batch, service):
    with pytest.raises(ApiError) as info:
        batch.get_job_details(id="00000000-0000-0000-0000-000000000000")
    assert info.value.status_code == 404
    assert "job not found" in info.value.body["message"]
    bad = HumeClient(api_key="nope", base_url=service.url).expression_measurement.batch
    with pytest.raises(ApiError) as info:
        bad.list_jobs()
    assert info.value.status_code == 401
    assert info.value.body["error"] == "InvalidApiKey"
    with pytest.raises(ApiError) as info:
        batch.start_inference_job(
            text=["x"], models=Models(face=Face(prob_threshold=2))
        )
    assert info.value.status_code == 400
    assert "prob_threshold" in info.value.body["message"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_product_doc_requests(service, api, hosted, tmp_path):
    # Submit with curl as the docs show (multipart, file[] and a json field)
    out = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--request", "POST",
            "--url", f"{service.url}/v0/batch/jobs",
            "--header", f"X-Hume-Api-Key: {service.api_key}",
            "--form", f"file[]=@{hosted['png']}",
            "--form", 'json={"models": {"face": {}}}',
        ],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    job_id = json.loads(out.stdout)["job_id"]
    api.wait(job_id)
    # GET predictions with accept: application/json; charset=utf-8
    out = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--fail", "--request", "GET",
            "--url", f"{service.url}/v0/batch/jobs/{job_id}/predictions",
            "--header", f"X-Hume-Api-Key: {service.api_key}",
            "--header", "accept: application/json; charset=utf-8",
        ],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    preds = json.loads(out.stdout)
    assert preds[0]["source"]["filename"] == "face.png"
    assert preds[0]["results"]["predictions"][0]["file_type"] == "image"
    # GET artifacts with accept: application/octet-stream
    dest = tmp_path / "artifacts.zip"
    subprocess.run(
        [
            "curl", "--silent", "--show-error", "--fail", "--request", "GET",
            "--url", f"{service.url}/v0/batch/jobs/{job_id}/artifacts",
            "--header", f"X-Hume-Api-Key: {service.api_key}",
            "--header", "accept: application/octet-stream",
            "--output", str(dest),
        ],
        check=True, timeout=30,
    )  # fmt: skip
    assert "file-0-face.png/csv/face.png/face.csv" in zipfile.ZipFile(dest).namelist()
