"""The job ledger: pending rows that survive a process dying mid-submit, ledger
errors that never lose a job id, and what counts as "the same job".

Everything runs over real HTTP against the local service; faults come from the
loopback proxy (tests/_loopback.py), which can run a hook once a request has
reached the service and before its answer is sent.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pytest

import humelab
from tests._loopback import FaultProxy
from tests.media import make_image, make_wav

JOBS = "/v0/batch/jobs"

_SUBMIT_CHILD = """
import sys, humelab
url, key, data, path = sys.argv[1:5]
with humelab.Client(url, key, data_dir=data) as c:
    job = c.submit(path, models={"prosody": {}})
print(job.id, flush=True)
"""


@pytest.fixture
def proxy(service):
    p = FaultProxy(service.url)
    yield p
    p.close()


def _child(proxy, service, data, path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _SUBMIT_CHILD, proxy.url, service.api_key, data, path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _service_ids(service, tmp_path) -> set[str]:
    with humelab.Client(service.url, service.api_key, data_dir=tmp_path / "x") as c:
        return {j.id for j in c.list_jobs(limit=10_000)}


def _die_mid_submit(proxy, service, tmp_path, wav) -> str:
    """A child process killed once the service has its job, before the ledger."""
    data = str(tmp_path / "data")
    before = _service_ids(service, tmp_path)
    holder: dict = {}

    def kill_child():
        os.kill(holder["proc"].pid, signal.SIGKILL)
        holder["proc"].wait(timeout=10)

    proxy.fail("POST", JOBS, kill_child)
    holder["proc"] = proc = _child(proxy, service, data, str(wav))
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    created = _service_ids(service, tmp_path) - before
    assert len(created) == 1
    # the ledger holds a pending row for it, and no job
    con = sqlite3.connect(tmp_path / "data" / "ledger.sqlite3")
    try:
        assert con.execute("SELECT count(*) FROM pending").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    finally:
        con.close()
    return created.pop()


def test_a_process_dying_mid_submit_loses_no_job(proxy, service, tmp_path):
    # Given a process killed after the service accepted its job, before the ledger
    wav = make_wav(tmp_path / "die.wav", 1.0, seed=11)
    orphan = _die_mid_submit(proxy, service, tmp_path, wav)
    before = _service_ids(service, tmp_path)
    # When a fresh process submits the same inputs
    proc = _child(proxy, service, str(tmp_path / "data"), str(wav))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    # Then it gets the orphaned job back, says so in one line, and creates none
    assert out.strip() == orphan
    lines = [ln for ln in err.splitlines() if orphan in ln]
    assert len(lines) == 1 and "got no answer recorded" in lines[0]
    assert "resubmit=True" in lines[0]
    assert _service_ids(service, tmp_path) == before
    with humelab.Client(proxy.url, service.api_key, data_dir=tmp_path / "data") as c:
        assert list(c.jobs()["job_id"]) == [orphan]
        # and from then on it is an ordinary duplicate
        assert c.submit(wav, models={"prosody": {}}).id == orphan


def test_an_orphan_the_service_cannot_confirm_is_pointed_at(
    proxy, service, tmp_path, capfd
):
    # Given an orphaned job, and a service whose job list keeps failing
    wav = make_wav(tmp_path / "gone.wav", 1.0, seed=12)
    orphan = _die_mid_submit(proxy, service, tmp_path, wav)
    proxy.fail("GET", JOBS, *["503"] * 6)
    with humelab.Client(
        proxy.url, service.api_key, max_retries=5, data_dir=tmp_path / "data"
    ) as c:
        capfd.readouterr()
        # When the same inputs are submitted again
        job = c.submit(wav, models={"prosody": {}})
        # Then one line says a job may exist and how to find it, before the submit
        err = capfd.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert "may have created a job whose id was never recorded" in err[0]
        assert "client.list_jobs()" in err[0]
        assert job.id != orphan
        assert list(c.jobs()["job_id"]) == [job.id]


def test_a_request_that_never_arrived_leaves_nothing_pending(
    proxy, service, tmp_path, capfd
):
    with humelab.Client(proxy.url, service.api_key, data_dir=tmp_path / "d") as c:
        # Given a POST dropped before it reached the service
        proxy.fail("POST", JOBS, "drop")
        with pytest.raises(humelab.APIError, match=r"may have reached the service"):
            c.submit(text=["Dropped."], models={"language": {}})
        capfd.readouterr()
        # When it is submitted again, the service's list shows no such job
        job = c.submit(text=["Dropped."], models={"language": {}})
        # Then it is submitted quietly, once
        assert capfd.readouterr().err == ""
        assert proxy.forwarded[("POST", JOBS)] == 1
        assert list(c.jobs()["job_id"]) == [job.id]
        # A refused POST (4xx, here 429 every time it is sent again) leaves no
        # pending row either
        proxy.fail("POST", JOBS, *["429"] * (c.max_retries + 1))
        with pytest.raises(humelab.RateLimitError):
            c.submit(text=["Refused."], models={"language": {}})
        rows = sqlite3.connect(c.ledger.path).execute("SELECT * FROM pending")
        assert rows.fetchall() == []


def test_a_ledger_error_after_the_post_still_returns_the_job(proxy, service, tmp_path):
    with humelab.Client(proxy.url, service.api_key, data_dir=tmp_path / "d") as c:
        # Given a ledger that breaks while the service creates the job
        def break_ledger():
            con = sqlite3.connect(c.ledger.path)
            con.execute("DROP TABLE jobs")
            con.commit()
            con.close()

        proxy.fail("POST", JOBS, break_ledger)
        # When the job is submitted
        with pytest.warns(humelab.HumelabWarning, match=r"created, but the") as w:
            job = c.submit(text=["Broken ledger."], models={"language": {}})
        # Then the job comes back, and the warning names its id and how to reattach
        assert f"client.job('{job.id}')" in str(w[0].message)
        assert w[0].filename == __file__
        assert job.refresh().status in {"QUEUED", "IN_PROGRESS", "COMPLETED"}


def test_model_defaults_spelled_out_are_the_same_job(client, tmp_path, capfd):
    wav = make_wav(tmp_path / "d.wav", 1.0, seed=13)
    first = client.submit(wav, models={"prosody": {}})
    capfd.readouterr()
    # When the same job is asked for with the default options spelled out
    again = client.submit(wav, models={"prosody": {"granularity": "utterance"}})
    # Then it is the same job, said in one line
    assert again.id == first.id
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and first.id in err[0]
    # and so is a default number written as an int (3 for 3.0)
    img = make_image(tmp_path / "f.png")
    face = client.submit(img, models={"face": {}})
    assert client.submit(img, models={"face": {"fps_pred": 3}}).id == face.id
    # but another granularity is another job
    other = client.submit(wav, models={"prosody": {"granularity": "word"}})
    assert other.id != first.id


def test_a_job_whose_every_input_failed_is_not_reused(client, capfd):
    # Given a completed job in which every input failed
    junk = [("junk.wav", b"not audio at all")]
    first = client.submit(junk, models={"prosody": {}}).wait(timeout=30)
    assert first.status == "COMPLETED"
    assert first.state["num_predictions"] == 0 and first.state["num_errors"] == 1
    capfd.readouterr()
    # When the same inputs are submitted again
    again = client.submit(junk, models={"prosody": {}})
    # Then a new job runs, and one line says why
    assert again.id != first.id
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and first.id in err[0]
    assert "every input failed" in err[0] and "submitting them again" in err[0]


def test_an_orphan_is_not_matched_to_a_job_of_another_config(
    proxy, service, tmp_path, capfd
):
    text = ["Bonjour tout le monde."]
    models = {"language": {}}
    with humelab.Client(proxy.url, service.api_key, data_dir=tmp_path / "a") as a:
        # Given A's POST (French transcription) lost on the way: a pending row
        proxy.fail("POST", JOBS, "drop")
        with pytest.raises(humelab.APIError):
            a.submit(text=text, models=models, transcription={"language": "fr"})
        # and B, elsewhere, submitting the same text with no transcription
        with humelab.Client(service.url, service.api_key, data_dir=tmp_path / "b") as b:
            other = b.submit(text=text, models=models)
        capfd.readouterr()
        # When A submits again
        mine = a.submit(text=text, models=models, transcription={"language": "fr"})
        # Then A gets a job of its own, with its transcription
        assert mine.id != other.id
        assert mine.refresh().details["request"]["transcription"]["language"] == "fr"


def test_a_job_recorded_before_defaults_were_filled_is_still_found(client, tmp_path):
    # Given a ledger row written by an earlier humelab, which hashed the config as
    # given (without the model defaults filled in)
    from humelab.client._submit import _request_key
    from humelab.client.inputs import collect_inputs

    wav = make_wav(tmp_path / "old.wav", 1.0, seed=17)
    job = client.submit(wav, models={"prosody": {}})
    config = {
        "models": {"prosody": {}},
        "transcription": None,
        "callback_url": None,
        "notify": False,
    }
    legacy = _request_key(collect_inputs(wav).fingerprint(), config)
    with sqlite3.connect(client.ledger.path) as db:
        db.execute("UPDATE jobs SET request_key = ? WHERE job_id = ?", (legacy, job.id))
    # When the same inputs are submitted now, Then that job is returned
    assert client.submit(wav, models={"prosody": {}}).id == job.id


def test_max_retries_must_be_a_whole_number(service, tmp_path):
    for bad in (-1, 1.5, None):
        with pytest.raises(humelab.InputError, match=r"`max_retries` must be"):
            humelab.Client(service.url, service.api_key, max_retries=bad)


def test_concurrent_submits_of_the_same_inputs_make_one_job(service, tmp_path):
    # Given ten threads, each with its own client on one ledger, submitting the
    # same inputs at the same moment
    import threading

    wav = make_wav(tmp_path / "same.wav", 0.5)
    barrier = threading.Barrier(10)
    ids, errors = [], []

    def submit():
        try:
            with humelab.Client(
                service.url, service.api_key, data_dir=tmp_path / "data"
            ) as c:
                barrier.wait()
                ids.append(c.submit(wav, models={"prosody": {}}).id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Then the service got one job, and every thread was handed it
    assert not errors, errors
    assert len(ids) == 10 and len(set(ids)) == 1


def test_concurrent_processes_share_one_job(service, tmp_path):
    # Given three processes submitting the same inputs on one ledger at once
    import subprocess
    import sys

    wav = make_wav(tmp_path / "proc.wav", 0.5)
    code = (
        "import sys, humelab; "
        f"c = humelab.Client({service.url!r}, {service.api_key!r}, "
        f"data_dir={str(tmp_path / 'data')!r}); "
        f"print(c.submit({str(wav)!r}, models={{'prosody': {{}}}}).id)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    ids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(ids) == 1
