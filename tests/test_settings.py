"""Settings resolved in one place: argument, then environment, then default."""

from __future__ import annotations

import subprocess
import sys

import pytest

import humelab
from humelab import settings


def test_argument_then_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.setenv("HUMELAB_DATA_DIR", str(tmp_path / "env"))
    assert settings.default_data_dir() == (tmp_path / "env").resolve()
    assert settings.default_data_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()
    monkeypatch.delenv("HUMELAB_DATA_DIR")
    assert settings.default_data_dir(create=False).name == "humelab"
    monkeypatch.setenv("HUME_V1_URL", "http://127.0.0.1:1234/")
    assert settings.hume_url() == "http://127.0.0.1:1234"
    monkeypatch.delenv("HUME_V1_URL")
    assert settings.hume_url() == "https://api.cloud.hume.ai"


def test_service_folder_follows_humelab_data_dir(monkeypatch, tmp_path):
    # `humelab serve` and the embedded service use one folder: <data dir>/service
    monkeypatch.setenv("HUMELAB_DATA_DIR", str(tmp_path))
    with humelab.serve(quiet=True) as server:
        assert server.data_dir == (tmp_path / "service").resolve()


@pytest.mark.parametrize("url", ["127.0.0.1:8765", "localhost", "http://", "ftp://x"])
def test_url_without_scheme_or_host_is_an_input_error(monkeypatch, tmp_path, url):
    monkeypatch.setenv("HUMELAB_URL", url)
    with pytest.raises(humelab.InputError, match=r"HUMELAB_URL .*http://HOST:PORT"):
        humelab.Client(data_dir=tmp_path)
    with pytest.raises(humelab.InputError, match=r"`base_url` .*http://HOST:PORT"):
        humelab.Client(url, data_dir=tmp_path)


def test_no_key_is_reported_as_missing(service, tmp_path, monkeypatch):
    monkeypatch.delenv("HUMELAB_API_KEY", raising=False)
    with humelab.Client(service.url, data_dir=tmp_path) as client:
        with pytest.raises(humelab.AuthError, match=r"No key was given") as err:
            client.list_jobs()
    assert "HUMELAB_API_KEY" in str(err.value) and "--api-key" in str(err.value)
    with humelab.Client(service.url, "wrong", data_dir=tmp_path) as client:
        with pytest.raises(humelab.AuthError, match=r"The key was refused"):
            client.list_jobs()


def test_notices_go_through_say_and_can_be_silenced(capfd, monkeypatch):
    settings.say("hello")
    assert capfd.readouterr().err == "humelab: hello\n"
    monkeypatch.setenv("HUMELAB_QUIET", "1")
    settings.say("hello")
    assert capfd.readouterr().err == ""


def test_namespace_is_clean():
    public = [n for n in dir(humelab) if not n.startswith("_")]
    assert "annotations" not in public and "logging" not in public
    for name in humelab.__all__:
        assert hasattr(humelab, name), name


def test_core_import_loads_no_web_stack():
    # Reading results never imports the service (or its web framework)
    code = (
        "import sys, humelab; "
        "humelab.read_predictions('tests/fixtures/v0_all_shapes.json', "
        "errors='ignore'); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn') "
        "or m.startswith('humelab.service')]; print(bad); sys.exit(bool(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
