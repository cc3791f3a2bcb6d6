"""Jobs from a notebook: submit, wait, groups, ledger, cache, callbacks, failures.

Everything runs over real HTTP against the local service (simulated engine) with
media the project generates; request counts come from a loopback proxy.
"""

from __future__ import annotations

import json
import time
import zipfile

import pandas as pd
import pytest

import humelab
from humelab.client.jobs import FIRST_POLL, POLL_GROWTH
from tests._loopback import FaultProxy, FileServer
from tests.media import make_image, make_wav


@pytest.fixture
def slow_service(tmp_path):
    """A second service whose files take 0.2 s each, to watch jobs in progress."""
    with humelab.serve(
        data_dir=tmp_path / "slow", workers=1, item_delay=0.2, quiet=True
    ) as server:
        yield server


def _client(server, data_dir, **kw):
    kw.setdefault("poll_interval", 0.05)
    return humelab.Client(server.url, server.api_key, data_dir=data_dir, **kw)


def test_notebook_flow_end_to_end(client, tmp_path):
    # Given every kind of example media, a URL served from loopback, and raw text
    files = humelab.example_files()
    web = FileServer(files[0].parent)
    try:
        url = web.url("face_frown.png")
        job = client.submit(
            [*files, url],
            text=["What a lovely morning."],
            models={"face": {}, "prosody": {}, "language": {}, "burst": {}},
        )
        # When we wait and load the tidy frame
        assert job.wait(timeout=60) is job
    finally:
        web.close()
    assert job.status == "COMPLETED" and job.simulated is True
    df = job.frame()
    # Then every input is there, with the job id filled in
    humelab.validate(df)
    assert set(df["job_id"].unique()) == {job.id}
    sources = set(df["source"].astype(str))
    for p in files:
        assert p.name in sources
    assert url in sources and "text" in sources
    assert set(df["model"].unique()) >= {"face", "prosody", "language", "burst"}
    # archive members become files of their source
    zipped = df[df["source"] == "faces.zip"]["file"].astype(str).unique()
    assert {"faces/face_smile.jpg", "faces/sentences.txt"} <= set(zipped)
    done, total = job.progress
    assert done == total and total >= len(files) + 2
    # wide shape comes from the same cached download
    wide = job.frame("wide")
    assert len(wide) < len(df) and "Joy" in wide.columns
    # predictions and artifacts are there too
    preds = job.predictions()
    assert isinstance(preds, list) and len(preds) == len(files) + 2
    zpath = job.download_artifacts(tmp_path / "out")
    assert zpath == tmp_path / "out" / f"artifacts-{job.id}.zip"
    with zipfile.ZipFile(zpath) as zf:
        assert any(n.endswith("/face.csv") for n in zf.namelist())


def test_group_of_250_files(client, tmp_path):
    # Given 250 tiny text files on disk
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(250):
        (folder / f"note_{i:03d}.txt").write_text(f"Note number {i} is fine.")
    # submit refuses and points to submit_many
    with pytest.raises(humelab.InputError, match=r"250 files .*submit_many"):
        client.submit(folder, models={"language": {}})
    # When they go through submit_many
    group = client.submit_many(folder, models={"language": {}})
    assert len(group) == 3
    assert group.wait(timeout=60) is group
    # Then all jobs are done and the frame holds every file once
    assert len(group.done) == 3 and group.failed == []
    df = group.frame()
    humelab.validate(df)
    assert df["source"].nunique() == 250
    assert df["job_id"].nunique() == 3
    assert isinstance(df["job_id"].dtype, pd.CategoricalDtype)
    ledger = client.jobs()
    assert set(ledger["job_id"]) == set(group.ids)
    assert ledger["group"].nunique() == 1
    assert "JobGroup(3 jobs; COMPLETED: 3)" == repr(group)


def test_timeout_then_reattach(slow_service, tmp_path):
    # Given a job of 8 files that takes about 1.6 s
    c = _client(slow_service, tmp_path / "d")
    job = c.submit([(f"t{i}.txt", b"Slowly does it.") for i in range(8)])
    # When waiting gives up after 0.3 s
    with pytest.raises(humelab.JobTimeoutError) as info:
        job.wait(timeout=0.3)
    err = info.value
    msg = str(err)
    # Then the message names the job, its last state and how to resume
    assert f"Job `{job.id}` did not finish within 0.3 s" in msg
    assert err.status in ("QUEUED", "IN_PROGRESS") and f"`{err.status}`" in msg
    assert f"client.job('{job.id}').wait()" in msg
    assert isinstance(err, TimeoutError) and err.job_id == job.id
    c.close()
    # And a new client (as after a kernel restart) reattaches and finishes the wait
    with _client(slow_service, tmp_path / "d") as again:
        assert list(again.jobs()["job_id"]) == [job.id]
        back = again.job(job.id).wait(timeout=30)
        assert back.status == "COMPLETED"
        assert back.progress == (8, 8)


def test_failed_job_raises_with_the_service_message(tmp_path):
    # Given a job interrupted by a service stop, and a service restarted with
    # resume=False: the job really ends FAILED on the service.
    data = tmp_path / "svc"
    with humelab.serve(data_dir=data, workers=1, item_delay=0.5, quiet=True) as s1:
        with _client(s1, tmp_path / "d") as c:
            job = c.submit([(f"f{i}.txt", b"Never finishes.") for i in range(6)])
            job_id = job.id
            deadline = time.monotonic() + 10
            while c.job(job_id).status == "QUEUED" and time.monotonic() < deadline:
                time.sleep(0.05)
    with humelab.serve(data_dir=data, resume=False, quiet=True) as s2:
        with _client(s2, tmp_path / "d") as c:
            job = c.job(job_id)
            # When we wait for it
            with pytest.raises(humelab.JobFailedError, match=job_id) as info:
                job.wait(timeout=10)
            assert info.value.job_id == job_id
            assert info.value.detail == job.state["message"] != ""
            # raise_on_failure=False returns it instead
            assert job.wait(raise_on_failure=False).status == "FAILED"
            # a failure is never dropped from a group
            ok = c.submit(text=["Fine."], models={"language": {}})
            group = humelab.JobGroup([ok, c.job(job_id)])
            with pytest.raises(humelab.JobFailedError, match=r"1 of 2 jobs failed"):
                group.wait(timeout=10)
            assert [j.id for j in group.failed] == [job_id]
            assert [j.id for j in group.done] == [ok.id]
            done, failed = humelab.wait_all([ok, job], raise_on_failure=False)
            assert [j.id for j in failed] == [job_id] and done == [ok]
            # results of a failed job are refused with its message
            with pytest.raises(humelab.JobFailedError, match=job_id):
                job.frame()
            ledger = c.jobs(all_services=True).set_index("job_id")
            assert ledger.loc[job_id, "status"] == "FAILED"


def test_ledger_prevents_duplicates(client, capfd, tmp_path):
    wav = make_wav(tmp_path / "a.wav", 1.0)
    models = {"prosody": {}}
    first = client.submit(wav, models=models)
    capfd.readouterr()
    # When the same inputs and config are submitted again
    again = client.submit(tmp_path / "a.wav", models=models)
    # Then the existing job comes back, and the user is told in one line
    assert again.id == first.id
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and first.id in err[0] and "resubmit=True" in err[0]
    # A different config is a different job; resubmit=True forces a new one
    other = client.submit(wav, models={"prosody": {}, "burst": {}})
    forced = client.submit(wav, models=models, resubmit=True)
    assert len({first.id, other.id, forced.id}) == 3
    assert list(client.jobs()["job_id"]) == [first.id, other.id, forced.id]
    # Changing the file's content changes the job
    make_wav(tmp_path / "a.wav", 1.0, seed=7)
    assert client.submit(wav, models=models).id not in {first.id, forced.id}
    # and the ledger is on disk in the data dir
    assert (client.data_dir / "ledger.sqlite3").is_file()


def test_second_frame_makes_no_request(service, tmp_path):
    proxy = FaultProxy(service.url)
    try:
        with humelab.Client(
            proxy.url, service.api_key, poll_interval=0.05, data_dir=tmp_path / "d"
        ) as c:
            img = make_image(tmp_path / "face.png")
            job = c.submit(img, models={"face": {}}).wait(timeout=30)
            first = job.frame()
            seen = proxy.total()
            # When the frame is loaded again, by the same job or after a restart
            second = job.frame()
            third = humelab.Job(job.id, client=c).frame()
            preds = job.predictions()
            # Then no request reached the service
            assert proxy.total() == seen
            pd.testing.assert_frame_equal(first, second)
            pd.testing.assert_frame_equal(first, third)
            assert preds[0]["source"]["filename"] == "face.png"
            path = job.cache_dir / "predictions.json"
            assert json.loads(path.read_text()) == preds
            # the artifacts download happens once as well
            job.download_artifacts()
            seen = proxy.total()
            job.download_artifacts()
            assert proxy.total() == seen
            assert not list(job.cache_dir.glob("*.tmp"))
    finally:
        proxy.close()


def test_results_before_completion_are_refused(slow_service, tmp_path):
    with _client(slow_service, tmp_path / "d") as c:
        job = c.submit([(f"r{i}.txt", b"Wait for me.") for i in range(4)])
        with pytest.raises(humelab.JobError, match=r"not ready yet.*job.wait\(\)"):
            job.frame()
        assert not (job.cache_dir / "predictions.json").exists()
        job.wait(timeout=30)


def test_damaged_download_is_retried_and_never_cached(service, tmp_path):
    proxy = FaultProxy(service.url)
    try:
        with humelab.Client(
            proxy.url, service.api_key, data_dir=tmp_path, max_retries=2
        ) as c:
            c.sleep = lambda s: None
            job = c.submit(text=["Cut me."], models={"language": {}}).wait(timeout=30)
            preds = f"/v0/batch/jobs/{job.id}/predictions"
            arts = f"/v0/batch/jobs/{job.id}/artifacts"
            # Given the next answers are damaged (half a body, as when an answer is
            # cut inside its headers) once each
            proxy.fail("GET", preds, "truncate")
            proxy.fail("GET", arts, "truncate")
            # Then each download is tried again and verified
            assert job.predictions()[0]["source"]["type"] == "text"
            assert zipfile.is_zipfile(job.download_artifacts())
            assert proxy.counts[("GET", preds)] == 2
            assert proxy.counts[("GET", arts)] == 2
            # Given a download damaged every time, it fails with an APIError and
            # nothing half-written is kept
            job2 = c.submit(text=["Cut again."], models={"language": {}}).wait(30)
            proxy.fail("GET", f"/v0/batch/jobs/{job2.id}/", *["truncate"] * 3)
            with pytest.raises(humelab.APIError, match=r"arrived damaged.*3 times"):
                job2.predictions()
            assert sorted(p.name for p in job2.cache_dir.iterdir()) == []
    finally:
        proxy.close()


def test_cut_answers_never_raise_raw_requests_errors(service, tmp_path):
    proxy = FaultProxy(service.url)
    try:
        with humelab.Client(proxy.url, service.api_key, data_dir=tmp_path) as c:
            # Given the answer to the POST is cut mid-body, and then a poll's
            job_text = ["A cut answer."]
            proxy.fail("POST", "/v0/batch/jobs", "cut")
            # Then the submit raises humelab's own error, not ChunkedEncodingError
            with pytest.raises(humelab.APIError, match=r"broke off or was garbled"):
                c.submit(text=job_text, models={"language": {}})
            # and the next submit finds the job the service did create (ledger)
            job = c.submit(text=job_text, models={"language": {}})
            assert proxy.forwarded[("POST", "/v0/batch/jobs")] == 1
            # and a poll cut mid-body is retried like any GET
            proxy.fail("GET", f"/v0/batch/jobs/{job.id}", "cut")
            assert job.wait(timeout=30).status == "COMPLETED"
    finally:
        proxy.close()


def test_wait_via_callback_returns_quickly(client, tmp_path):
    # Given a client polling rarely (5 s cap) and a job submitted with a callback
    client.poll_interval = 5.0
    wav = make_wav(tmp_path / "b.wav", 1.0, seed=3)
    job = client.submit(wav, models={"prosody": {}}, callback=True)
    start = time.monotonic()
    job.wait(via="callback", timeout=20)
    # Then the wait ended on the callback, long before a 5 s poll would have
    assert job.status == "COMPLETED"
    assert time.monotonic() - start < 2.5
    # (a poll may see COMPLETED a moment before the callback lands)
    assert client._receiver.event(job.id).wait(5)
    assert client._receiver.bodies[job.id]["status"] == "COMPLETED"
    # via="callback" without a receiver is explained
    plain = client.submit(text=["No callback."], models={"language": {}})
    with pytest.raises(humelab.InputError, match=r"callback=True"):
        plain.wait(via="callback")
    with pytest.raises(humelab.InputError, match=r"not both"):
        client.submit(text=["x"], callback=True, callback_url="http://x/")


def test_polling_grows_and_is_capped_with_an_injected_clock(
    slow_service, tmp_path, fake_clock
):
    # Given a client whose clock only moves when it sleeps
    with _client(slow_service, tmp_path / "d", poll_interval=2.0) as c:
        c.clock, c.sleep = fake_clock, fake_clock.sleep
        job = c.submit([(f"p{i}.txt", b"Poll me.") for i in range(10)])
        # When it waits 12 (fake) seconds for a job that takes 2 real seconds
        with pytest.raises(humelab.JobTimeoutError, match=r"within 12 s"):
            job.wait(timeout=12)
        # Then pauses start at 0.1 s, grow by 1.5x, and never pass the 2 s cap
        sleeps = fake_clock.sleeps
        assert sleeps[0] == pytest.approx(FIRST_POLL)
        assert sleeps[1] == pytest.approx(FIRST_POLL * POLL_GROWTH)
        assert max(sleeps) <= 2.0 and sleeps[-2] == pytest.approx(2.0)
        assert sum(sleeps) == pytest.approx(12.0)
        c.clock, c.sleep = time.monotonic, time.sleep
        job.wait(timeout=30)


def test_progress_bar_is_drawn_and_closed(slow_service, tmp_path, capsys):
    with _client(slow_service, tmp_path / "d") as c:
        job = c.submit([(f"b{i}.txt", b"Bar.") for i in range(6)])
        job.wait(timeout=30, progress=True)
    err = capsys.readouterr().err
    # tqdm draws after its 1 s delay: the job id, files done and the state
    assert f"job {job.id[:8]}" in err
    assert "6/6" in err and "COMPLETED" in err


def test_quick_jobs_draw_no_bar(client, capsys):
    job = client.submit(text=["Quick."], models={"language": {}})
    job.wait(timeout=30, progress=True)
    assert job.status == "COMPLETED"
    assert capsys.readouterr().err == ""


def test_run_in_one_call(service, tmp_path):
    with _client(service, tmp_path / "d") as c:
        df = humelab.run(humelab.example_files("image"), models={"face": {}}, client=c)
        assert set(df["source"].astype(str)) == {
            p.name for p in humelab.example_files("image")
        }
        assert df["job_id"].nunique() == 1
        wide = humelab.run(text=["Short."], models={"language": {}}, client=c,
                           shape="wide")  # fmt: skip
        assert len(wide) == 1


def test_bad_arguments(client):
    with pytest.raises(humelab.InputError, match=r"`via` must be"):
        humelab.JobGroup([]).wait() or humelab.Job("x", client=client).wait(via="x")
    with pytest.raises(humelab.InputError, match=r"`transcription` must be an object"):
        client.submit(text=["x"], transcription="en")
    with pytest.raises(humelab.InputError, match=r"transcription.language"):
        client.submit(text=["x"], transcription={"language": "xx"})
    with pytest.raises(humelab.InputError, match=r"`job_id` must be"):
        client.job("")


def test_same_name_in_two_subfolders_stays_apart(client, tmp_path):
    # Given media/p1/clip.wav and media/p2/clip.wav
    for i, sub in enumerate(("p1", "p2")):
        (tmp_path / "media" / sub).mkdir(parents=True)
        make_wav(tmp_path / "media" / sub / "clip.wav", 1.0, seed=20 + i)
    # When the folder is submitted and measured
    job = client.submit(tmp_path / "media", models={"prosody": {}}).wait(timeout=60)
    # Then the sources say which file is which
    sources = [p["source"]["filename"] for p in job.predictions()]
    assert sources == ["p1/clip.wav", "p2/clip.wav"]
    assert set(job.frame()["source"].astype(str)) == {"p1/clip.wav", "p2/clip.wav"}


def test_bytearray_upload(client):
    job = client.submit(("x.txt", bytearray(b"Hi there.")), models={"language": {}})
    assert job.wait(timeout=30).predictions()[0]["source"]["filename"] == "x.txt"


def test_interrupted_download_is_retried_then_explained(service, tmp_path):
    proxy = FaultProxy(service.url)
    try:
        with humelab.Client(
            proxy.url, service.api_key, max_retries=2, data_dir=tmp_path
        ) as c:
            job = c.submit(text=["Cut off."], models={"language": {}}).wait(timeout=30)
            path = f"/v0/batch/jobs/{job.id}/predictions"
            # Given the service sends 10 bytes of the body, then closes, once
            proxy.fail("GET", path, "cut")
            # Then the download is retried and succeeds
            assert job.predictions()[0]["source"]["type"] == "text"
            assert proxy.counts[("GET", path)] == 2
            # Given it breaks off every time
            proxy.fail("GET", f"/v0/batch/jobs/{job.id}/artifacts", *["cut"] * 3)
            with pytest.raises(
                humelab.APIError,
                match=rf"GET /v0/batch/jobs/{job.id}/artifacts: the download broke "
                r"off .*3 times; nothing was cached",
            ):
                job.download_artifacts()
            # Then the cache holds only the complete predictions
            assert sorted(p.name for p in job.cache_dir.iterdir()) == [
                "predictions.json"
            ]
            assert zipfile.is_zipfile(job.download_artifacts())
    finally:
        proxy.close()


@pytest.mark.parametrize("bad", [-1, 0, "2", True])
def test_wait_rejects_a_bad_poll_interval(client, bad):
    job = client.submit(text=["Poll interval."], models={"language": {}})
    with pytest.raises(humelab.InputError, match=r"`poll_interval` must be .* got"):
        job.wait(poll_interval=bad)
    job.wait(timeout=30, poll_interval=0.01)


def test_old_names_still_work_and_warn(service, monkeypatch, tmp_path):
    # humelab.jobs / humelab.inputs moved into humelab.client: kept one release
    import humelab.inputs
    import humelab.jobs

    with pytest.warns(humelab.HumelabDeprecationWarning, match=r"humelab\.Job"):
        assert humelab.jobs.Job is humelab.Job
    with pytest.warns(humelab.HumelabDeprecationWarning, match=r"client\.inputs"):
        assert humelab.inputs.collect_inputs is not None
    # a Job without a client gets a default one, with a warning naming client.job()
    monkeypatch.setenv("HUMELAB_URL", service.url)
    monkeypatch.setenv("HUMELAB_API_KEY", service.api_key)
    monkeypatch.setenv("HUMELAB_DATA_DIR", str(tmp_path))
    with pytest.warns(humelab.HumelabDeprecationWarning, match=r"client\.job\("):
        job = humelab.Job("some-id")
    assert job.client.base_url == service.url
    job.client.close()


def test_a_post_the_service_did_not_take_is_sent_again(service, tmp_path):
    proxy = FaultProxy(service.url)
    try:
        with humelab.Client(proxy.url, service.api_key, data_dir=tmp_path) as c:
            pauses = []
            c.sleep = pauses.append
            # Given the service answers the job's POST with 429 twice (Retry-After
            # 1, then none): it did not take the request either time
            proxy.fail("POST", "/v0/batch/jobs", "429:1", "429:x")
            job = c.submit(text=["Busy, then free."], models={"language": {}})
            # Then it was sent again after the pauses asked for, and one job exists
            assert proxy.counts[("POST", "/v0/batch/jobs")] == 3
            assert proxy.forwarded[("POST", "/v0/batch/jobs")] == 1
            assert pauses == [1.0, 0.4]
            assert job.wait(timeout=30).status == "COMPLETED"
        # and a service that stays busy ends in humelab's own error (a 503 is
        # never sent again: it may come after the service took the job)
        with humelab.Client(
            proxy.url, service.api_key, data_dir=tmp_path, max_retries=1
        ) as c:
            c.sleep = lambda s: None
            proxy.fail("POST", "/v0/batch/jobs", "429", "429")
            with pytest.raises(humelab.RateLimitError, match=r"HTTP 429"):
                c.submit(text=["Still busy."], models={"language": {}})
            assert proxy.counts[("POST", "/v0/batch/jobs")] == 5
    finally:
        proxy.close()
