"""Results of the `hume` engine (v1 names, sparse, voice attributes) read like any
v0 results: the predictions JSON and the artifacts zip give the same frame."""

from __future__ import annotations

import pandas as pd

import humelab
from humelab.service.v1_standin import V1StandIn
from tests.media import make_video, make_wav


def test_hume_job_reads_the_same_from_json_and_zip(tmp_path, monkeypatch):
    # Given a job measured by the hume engine (against the local v1 stand-in)
    with V1StandIn(api_key="hume-key") as standin:
        monkeypatch.setenv("HUME_API_KEY", "hume-key")
        monkeypatch.setenv("HUME_V1_URL", standin.url)
        with (
            humelab.serve(engine="hume", data_dir=tmp_path / "svc", quiet=True) as srv,
            humelab.Client(srv.url, srv.api_key, data_dir=tmp_path) as client,
        ):
            wav = make_wav(tmp_path / "talk.wav", 3.0)
            video = make_video(tmp_path / "clip.mp4", 2.0)
            job = client.submit([wav, video], models={"prosody": {}, "face": {}})
            job.wait(timeout=60)
            preds = job.predictions()
            zip_path = job.download_artifacts()
    # When both result formats are read
    df = humelab.read_predictions(preds)
    from_zip = humelab.read_artifacts(zip_path, predictions=preds)
    # Then voice attributes are a family of their own, nothing is filled with 0,
    # and the zip holds every score the JSON holds (within a prediction, the zip
    # lists v1's sparse names in one column order, so rows are compared sorted)
    families = set(df["family"].astype(str))
    assert {"emotions", "voice_attributes", "descriptions"} <= families
    assert df.attrs["engine"] == "hume" and df.attrs["simulated"] is False
    assert (df["score"] > 0).all()
    keys = ["source", "file", "model", "group", "segment", "family", "name"]

    def ordered(frame):
        return frame.sort_values(keys, key=lambda c: c.astype(str)).reset_index(
            drop=True
        )

    pd.testing.assert_frame_equal(
        ordered(from_zip), ordered(df), check_categorical=False
    )
