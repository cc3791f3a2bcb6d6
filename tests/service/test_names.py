"""The Batch service over loopback HTTP: input names as users give them.

Long and non-ASCII names, names with folders, names that do not fit the file system,
names whose extension lies about the content. Every name is echoed and reported as
given, and no message shows a path of the service.
"""

from __future__ import annotations

import io
import json
import zipfile
from urllib.parse import quote

import pytest

from tests.media import make_image, make_wav


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("names-media")
    return {
        "jpg": make_image(d / "face.jpg").read_bytes(),
        "wav": make_wav(d / "voice.wav", 1.0).read_bytes(),
    }


def _messages(predictions) -> list[str]:
    out = []
    for element in predictions:
        if element.get("error"):
            out.append(element["error"])
        out += [e["message"] for e in element["results"]["errors"]]
    return out


def _assert_no_service_paths(service, predictions):
    data_dir = str(service.data_dir)
    for message in _messages(predictions):
        assert data_dir not in message, message
        assert "/tmp/" not in message and "uploads/" not in message, message


def test_long_non_ascii_upload_name_is_stored_and_echoed_whole(api, media):
    # Given an upload whose name is 304 UTF-8 bytes (Linux allows 255 per name)
    name = "é" * 150 + ".jpg"
    r = api.post(files=[("file", (name, media["jpg"]))])
    # Then the job is accepted and completes
    assert r.status_code == 200, r.text
    job = api.wait(r.json()["job_id"])
    assert job["state"]["status"] == "COMPLETED"
    assert job["state"]["num_errors"] == 0
    # And the echo, the source and the prediction all carry the name as sent
    assert [f["filename"] for f in job["request"]["files"]] == [name]
    [element] = api.predictions(job["job_id"])
    assert element["source"]["filename"] == name
    [pred] = element["results"]["predictions"]
    assert pred["file"] == name and pred["file_type"] == "image"


def test_upload_name_with_folder_is_kept_as_given(api, service, media):
    # Given uploads named with a folder, as found in subfolders by the client
    files = [
        ("file", ("p1/clip.wav", media["wav"])),
        ("file", ("p2/clip.wav", media["wav"])),
    ]
    job = api.wait(api.submit(files=files, data={"json": '{"models": {"burst": {}}}'}))
    assert job["state"]["status"] == "COMPLETED", job["state"]
    # Then the echo and the predictions name them as sent
    assert [f["filename"] for f in job["request"]["files"]] == [
        "p1/clip.wav",
        "p2/clip.wav",
    ]
    preds = api.predictions(job["job_id"])
    assert [p["source"]["filename"] for p in preds] == ["p1/clip.wav", "p2/clip.wav"]
    assert [p["results"]["predictions"][0]["file"] for p in preds] == [
        "p1/clip.wav",
        "p2/clip.wav",
    ]
    # And nothing was written outside the job's own folder
    assert not (service.data_dir / "p1").exists()
    assert not (service.data_dir / "jobs" / job["job_id"] / "p1").exists()
    # And the artifacts put each source in its own folder, "/" replaced by "_"
    r = api.get(f"/v0/batch/jobs/{job['job_id']}/artifacts")
    assert r.status_code == 200, r.text
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert "file-0-p1_clip.wav/csv/p1/clip.wav/burst.csv" in names, names
    assert "file-1-p2_clip.wav/csv/p2/clip.wav/burst.csv" in names, names


def test_bad_url_name_is_one_error_entry_not_a_failed_job(
    api, service, static_server, media
):
    # Given a URL whose name is too long for any file system, and a good URL
    base, folder = static_server
    (folder / "names_face.jpg").write_bytes(media["jpg"])
    bad = f"{base}/{quote('é' * 150)}.jpg"
    good = f"{base}/names_face.jpg"
    job = api.wait(api.submit(json={"urls": [bad, good], "models": {"face": {}}}))
    # Then the job completes; the bad URL is one error, the good one is measured
    assert job["state"]["status"] == "COMPLETED", job["state"]
    assert job["state"]["num_errors"] == 1 and job["state"]["num_predictions"] == 1
    first, second = api.predictions(job["job_id"])
    assert first["source"] == {"type": "url", "url": bad}
    assert first["results"]["predictions"] == []
    [err] = first["results"]["errors"]
    assert err["file"] == "é" * 150 + ".jpg"
    assert bad in err["message"]
    assert second["results"]["predictions"][0]["file"] == "names_face.jpg"
    _assert_no_service_paths(service, [first, second])


def test_archive_member_name_too_long_to_store_is_skipped(api, service, media):
    # Given a zip with a member whose name the file system refuses, and a good one
    buf = io.BytesIO()
    long_name = "d/" + "é" * 150 + ".jpg"
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(long_name, media["jpg"])
        zf.writestr("ok.jpg", media["jpg"])
    files = [("file", ("faces.zip", buf.getvalue()))]
    job = api.wait(api.submit(files=files, data={"json": '{"models": {"face": {}}}'}))
    # Then only that member is an error; the archive and the job go on
    assert job["state"]["status"] == "COMPLETED", job["state"]
    [element] = api.predictions(job["job_id"])
    assert [p["file"] for p in element["results"]["predictions"]] == ["ok.jpg"]
    [err] = element["results"]["errors"]
    assert err["file"] == long_name
    assert "could not store it" in err["message"]
    _assert_no_service_paths(service, [element])


def test_garbage_upload_message_names_only_the_file(api, service):
    # Given random bytes uploaded as bad.wav
    files = [("file", ("bad.wav", bytes(range(256)) * 12))]
    job = api.wait(api.submit(files=files))
    assert job["state"]["status"] == "COMPLETED"
    [element] = api.predictions(job["job_id"])
    # Then the error names bad.wav and no path of the service
    [err] = element["results"]["errors"]
    assert err["file"] == "bad.wav"
    assert err["message"].startswith("could not decode bad.wav")
    _assert_no_service_paths(service, [element])


def test_text_named_as_media_is_an_error_entry(api, service, static_server):
    # Given text uploaded as f.jpg, and a URL ending f.jpg that serves text
    base, folder = static_server
    (folder / "names_f.jpg").write_text("plain words, not pixels", encoding="utf-8")
    files = [
        ("file", ("f.jpg", b"plain words, not pixels")),
        ("file", ("notes.txt", b"plain words, really")),
    ]
    options = {"urls": [f"{base}/names_f.jpg"]}
    job = api.wait(api.submit(files=files, data={"json": json.dumps(options)}))
    assert job["state"]["status"] == "COMPLETED"
    url_el, upload_el, text_el = api.predictions(job["job_id"])
    # Then neither is scored as text: each is an error saying what was expected
    for element, name in ((url_el, "names_f.jpg"), (upload_el, "f.jpg")):
        assert element["results"]["predictions"] == []
        [err] = element["results"]["errors"]
        assert err["file"] == name
        assert err["message"].startswith(f"could not decode {name} as an image")
    # And a real text file is still text
    assert text_el["results"]["predictions"][0]["file_type"] == "text"
    _assert_no_service_paths(service, [url_el, upload_el, text_el])
