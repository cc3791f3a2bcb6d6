"""Choosing the embedded service's engine, and what a `hume` job would cost."""

from __future__ import annotations

import pytest

import humelab
from humelab.cli import main
from humelab.service.v1_standin import V1StandIn
from tests.media import make_image, make_wav


def test_engine_is_for_the_embedded_service_only(service, tmp_path):
    with pytest.raises(
        humelab.InputError, match=r"`engine='hume'` chooses the embedded"
    ):
        humelab.Client(service.url, service.api_key, data_dir=tmp_path, engine="hume")


def test_embedded_hume_engine_measures_through_v1(tmp_path, monkeypatch, capfd):
    # Given Hume's v1 API (the local stand-in) and Hume's key in the environment
    monkeypatch.delenv("HUMELAB_URL", raising=False)
    with V1StandIn(api_key="hume-secret-key") as standin:
        monkeypatch.setenv("HUME_API_KEY", "hume-secret-key")
        monkeypatch.setenv("HUME_V1_URL", standin.url)
        client = humelab.Client(data_dir=tmp_path, engine="hume")
        try:
            assert client.engine == "hume"
            assert "billed to your Hume key" in capfd.readouterr().err
            wav = make_wav(tmp_path / "talk.wav", 1.5)
            # When a job asks for a model v1 cannot measure, it is said before upload
            with pytest.warns(
                humelab.HumelabWarning, match=r"cannot measure `language`"
            ):
                job = client.submit(wav, models={"prosody": {}, "language": {}})
            job.wait(timeout=60)
            # Then the voice was measured by Hume's API (one upload reached it)
            assert job.engine == "hume" and job.simulated is False
            assert len(standin.requests) >= 1
            assert (job.frame(errors="ignore")["model"] == "prosody").all()
            assert (
                humelab.read_errors(job.predictions())["message"]
                .str.contains("language")
                .any()
            )
            # and the same data folder cannot switch engine silently
            with pytest.raises(humelab.InputError, match=r"runs the `hume` engine"):
                humelab.Client(data_dir=tmp_path, engine="simulated")
        finally:
            client.close()
            humelab.stop_embedded(tmp_path)


def test_estimate_and_dry_run_send_nothing(tmp_path, capsys):
    wav = make_wav(tmp_path / "talk.wav", 2.0)
    img = make_image(tmp_path / "face.png")
    with humelab.Client("http://127.0.0.1:9", "k", data_dir=tmp_path) as client:
        est = client.estimate(
            [wav, img, "https://example.org/a.mp4"],
            models={"prosody": {}, "face": {}, "burst": {}},
        )
    # Then (port 9 answers nothing, so nothing was sent) the cost is counted
    assert est["requests"] == 2 and est["images"] == 1
    assert est["audio_seconds"] == pytest.approx(2.0, abs=0.05)
    assert est["billed_seconds"] >= est["audio_seconds"]
    assert est["unsupported"] == {"burst": ["talk.wav"]}
    assert est["not_estimated"] == ["https://example.org/a.mp4"]
    code = main(
        [
            "submit",
            str(wav),
            "--models",
            "prosody",
            "--dry-run",
            "--url",
            "http://127.0.0.1:9",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "would send 1 request" in out and "Nothing was sent" in out
