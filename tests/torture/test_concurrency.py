"""Many clients, threads and processes sharing one ledger and one service.

Threads in this process and child processes each submit their own jobs through
``humelab.Client`` with the same data folder (one ledger), and all of them also
submit one identical request at the same moment. Every distinct job must complete
and be in the ledger; the identical request should make one job (the atomic
duplicate check is the client engineer's issue 11 item 7: until it lands, more than
one is reported and the test is marked xfail naming the count).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

import humelab
from tests.torture._harness import KEY, ROOT, Raw, record, scaled

_CHILD = """
import json, sys, humelab
url, key, data, tag, n = sys.argv[1:6]
with humelab.Client(url, key, data_dir=data, poll_interval=0.05) as c:
    ids = []
    for i in range(int(n)):
        ids.append(c.submit(text=[f"{tag} job {i}"], models={"language": {}},
                            progress=False).job_id)
    same = c.submit(text=["the same words for everyone"], models={"language": {}},
                    progress=False).job_id
print(json.dumps({"ids": ids, "same": same}), flush=True)
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with humelab.serve(
        data_dir=tmp_path_factory.mktemp("conc"), api_key=KEY, quiet=True, workers=2
    ) as server:
        yield server


def test_threads_and_processes_share_one_ledger(service, tmp_path):
    data = tmp_path / "shared"
    # Long runs grow the work per client more than the number of processes (two
    # cores: dozens of interpreters starting at once would only measure the CPU).
    n_threads, n_procs, per = min(scaled(8), 32), min(scaled(3), 6), scaled(3)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD,
                service.url,
                KEY,
                str(data),
                f"p{k}",
                str(per),
                "",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for k in range(n_procs)
    ]
    ids: list[str] = []
    same: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(n_threads)

    def worker(k):
        try:
            with humelab.Client(
                service.url, KEY, data_dir=data, poll_interval=0.05
            ) as c:
                start.wait()
                mine = [
                    c.submit(
                        text=[f"t{k} job {i}"], models={"language": {}}, progress=False
                    ).job_id
                    for i in range(per)
                ]
                s = c.submit(
                    text=["the same words for everyone"],
                    models={"language": {}},
                    progress=False,
                ).job_id
            with lock:
                ids.extend(mine)
                same.append(s)
        except Exception as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for p in procs:
        out, err = p.communicate(timeout=300)
        if p.returncode != 0:
            errors.append(err[-500:])
            continue
        got = json.loads(out.strip().splitlines()[-1])
        ids.extend(got["ids"])
        same.append(got["same"])
    assert errors == [], errors
    expected = (n_threads + n_procs) * per
    assert len(ids) == len(set(ids)) == expected
    api = Raw(service.url)
    jobs = api.wait_all(ids + same, timeout=300)
    api.close()
    assert all(j["state"]["status"] == "COMPLETED" for j in jobs.values())
    with humelab.Client(service.url, KEY, data_dir=data) as c:
        in_ledger = set(c.jobs()["job_id"])
    assert set(ids) <= in_ledger
    distinct_same = len(set(same))
    record(
        "concurrency",
        clients=n_threads + n_procs,
        jobs=expected,
        lost=0,
        duplicated_same_request=distinct_same - 1,
    )
    if distinct_same > 1:
        pytest.xfail(
            f"one identical request from {n_threads + n_procs} clients at once made "
            f"{distinct_same} jobs (issue 11 item 7, the ledger's duplicate check)"
        )
