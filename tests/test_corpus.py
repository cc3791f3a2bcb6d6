"""Tidy Parquet corpora (humelab.to_parquet, read_corpus) and analysis on Dask frames.

Corpora are built from the real Hume v0 samples in ../shared and the example frames
(humelab.load_example); what is read back is compared with the readers' frames.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import humelab
from humelab.schema import COLUMNS, CORE_COLUMNS

pytest.importorskip("dask.dataframe", reason="needs the `dask` extra")
pytest.importorskip("pyarrow", reason="needs the `dask` extra")

EXAMPLES = ("faces", "talking", "speech", "text")
CATS = [c.name for c in COLUMNS if c.dtype == "category"]


def _real_files(real_samples) -> list[Path]:
    return sorted(real_samples.glob("*/predictions.json"))


def _read(path) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", humelab.HumelabWarning)
        return humelab.read_predictions(path)


def _canonical(df: pd.DataFrame, keys=None) -> pd.DataFrame:
    """Categories as plain values, rows sorted by every column: compares contents."""
    out = df.reset_index(drop=True).copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype) or out[c].dtype.kind in "OT":
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    keys = list(out.columns) if keys is None else keys
    sortable = pd.DataFrame(
        {
            c: out[c].astype(float).fillna(-np.inf)
            if out[c].dtype.kind in "iuf" or str(out[c].dtype) in ("Int32", "Int64")
            else out[c].fillna("").astype(str)
            for c in keys
        }
    )
    order = sortable.sort_values(keys, kind="stable").index
    return out.loc[order].reset_index(drop=True)


def _contract_dtypes(df: pd.DataFrame) -> dict:
    return {c: str(df[c].dtype) for c in df.columns}


EXPECTED_DTYPES = {
    c.name: ("float32" if c.name == "score" else c.dtype.split("|")[0]) for c in COLUMNS
}


@pytest.fixture(scope="module")
def sources(real_samples):
    """The real predictions files and the example frames, with their pandas frames."""
    files = _real_files(real_samples)
    frames = [humelab.load_example(name) for name in EXAMPLES]
    return files, frames, [_read(f) for f in files] + frames


@pytest.fixture(scope="module")
def corpus(sources, tmp_path_factory):
    files, frames, _ = sources
    root = tmp_path_factory.mktemp("corpus")
    summary = humelab.to_parquet([*files, *frames], root, workers=2)
    return root, summary


def test_compute_equals_concat_of_the_readers(sources, corpus):
    # Given a corpus of 8 real jobs and 4 example frames, partitioned on model
    files, frames, expected_parts = sources
    root, summary = corpus
    expected = pd.concat(expected_parts, ignore_index=True)
    # Then the summary counts every score of every source once
    assert summary["rows"].tolist() == [len(f) for f in expected_parts]
    assert summary["converted"].all() and (summary["errors"] >= 0).all()
    # When it is read back
    ddf = humelab.read_corpus(root)
    got = ddf.compute()
    # Then it has the contract's dtypes (score float32) and validates
    assert _contract_dtypes(got) == EXPECTED_DTYPES
    assert list(ddf.columns) == list(CORE_COLUMNS)
    assert _contract_dtypes(ddf._meta) == EXPECTED_DTYPES
    humelab.validate(got)
    # And the same rows as pandas.concat of the readers, scores exact
    assert len(got) == len(expected) == int(summary["rows"].sum())
    pd.testing.assert_frame_equal(_canonical(got), _canonical(expected))
    # And one file per source per model folder, one partition per source
    n_files = sum(len(f.groupby("model", observed=True)) for f in expected_parts)
    assert n_files == int(summary["files"].sum())
    assert ddf.npartitions == len(expected_parts)
    layout = {p.parent.name for p in root.rglob("*.parquet")}
    assert layout == {f"model={m}" for m in expected["model"].unique()}


def test_unpartitioned_corpus_keeps_the_readers_row_order(sources, tmp_path):
    files, frames, expected_parts = sources
    humelab.to_parquet([*files[:3], frames[1]], tmp_path, partition_on=(), workers=1)
    got = humelab.read_corpus(tmp_path).compute().reset_index(drop=True)
    expected = pd.concat(expected_parts[:3] + [frames[1]], ignore_index=True)
    for c in CATS:  # categories differ in order only; compare the values
        got[c] = got[c].astype(object)
        expected[c] = expected[c].astype(object)
    pd.testing.assert_frame_equal(got, expected)


def test_rerun_converts_only_new_sources(sources, tmp_path):
    files, frames, _ = sources
    first = humelab.to_parquet(files[:2], tmp_path, workers=1)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")}
    # When the same sources plus one new one (and a duplicate) are given again
    again = humelab.to_parquet([*files[:3], files[0]], tmp_path, workers=1)
    assert again["converted"].tolist() == [False, False, True]
    assert again["digest"].tolist()[:2] == first["digest"].tolist()
    # Then the files of the first run were not rewritten
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    manifest = json.loads((tmp_path / "_humelab_corpus.json").read_text())
    assert len(manifest["sources"]) == 3
    got = humelab.read_corpus(tmp_path).compute()
    assert len(got) == sum(len(_read(f)) for f in files[:3])


def test_a_failed_run_leaves_whole_files_and_a_rerun_completes(sources, tmp_path):
    files, _, _ = sources
    bad = tmp_path / "broken.json"
    bad.write_text('[{"source": ')
    root = tmp_path / "corpus"
    # Given a run that fails on its third source
    with pytest.raises(humelab.ReadError):
        humelab.to_parquet([files[0], files[1], bad, files[2]], root, workers=1)
    # Then the two sources before it are in the manifest, and nothing else is visible
    manifest = json.loads((root / "_humelab_corpus.json").read_text())
    assert len(manifest["sources"]) == 2
    listed = {f["path"] for e in manifest["sources"].values() for f in e["files"]}
    visible = {
        str(p.relative_to(root))
        for p in root.rglob("*.parquet")
        if not p.name.startswith(".")
    }
    assert visible == listed
    assert not list(root.rglob("*.tmp"))
    # When it runs again without the broken file, only the missing source is converted
    again = humelab.to_parquet([files[0], files[1], files[2]], root, workers=1)
    assert again["converted"].tolist() == [False, False, True]


_KILL_SCRIPT = """
import sys, humelab
frame = humelab.load_example("talking")
frames = []
for i in range(400):
    f = frame.copy()
    f["score"] = (f["score"] * (1 + i / 1000)).astype("float32")
    frames.append(f)
humelab.to_parquet(frames, sys.argv[1], workers=1)
"""


def test_a_killed_run_shows_no_partial_file(tmp_path):
    # Given a conversion of many frames killed (SIGKILL) while it writes
    root = tmp_path / "corpus"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(root)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (root / "_humelab_corpus.json").exists():
                n = len(
                    json.loads((root / "_humelab_corpus.json").read_text())["sources"]
                )
                if n >= 3:
                    break
            assert proc.poll() is None, "the conversion ended before it was killed"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    # Then every visible Parquet file is whole and readable, and the manifest parses
    manifest = json.loads((root / "_humelab_corpus.json").read_text())
    assert 3 <= len(manifest["sources"]) < 400
    import pyarrow.parquet as pq

    for p in root.rglob("*.parquet"):
        if not p.name.startswith("."):
            assert pq.read_metadata(p).num_rows > 0
    ddf = humelab.read_corpus(root)
    got = ddf.compute()
    assert len(got) == sum(e["rows"] for e in manifest["sources"].values())


def test_filters_prune_folders_and_rows(corpus):
    root, _ = corpus
    whole = humelab.read_corpus(root).compute()
    face = humelab.read_corpus(root, filters=[("model", "==", "face")])
    # Then only face files are read (one partition per source with a face file)
    assert face.npartitions == len(list(root.glob("model=face/*.parquet")))
    got = face.compute()
    assert set(got["model"]) == {"face"}
    assert len(got) == int((whole["model"] == "face").sum())
    # And a filter on a column inside the files keeps only matching rows
    joy = humelab.read_corpus(
        root, filters=[("name", "==", "Joy"), ("model", "in", ["face", "prosody"])]
    ).compute()
    want = whole[(whole["name"] == "Joy") & whole["model"].isin(["face", "prosody"])]
    assert len(joy) == len(want) > 0
    assert np.isclose(
        joy["score"].astype(float).sum(), want["score"].astype(float).sum()
    )
    # And a filter on a source reads only that source's files, all of their rows
    src = whole["source"].iloc[0]
    one = humelab.read_corpus(root, filters=[("source", "==", src)])
    manifest = json.loads((root / "_humelab_corpus.json").read_text())
    n_sources = sum(
        any(src in f["keys"]["source"] for f in e["files"])
        for e in manifest["sources"].values()
    )
    assert one.npartitions == n_sources < face.npartitions
    assert len(one.compute()) == int((whole["source"] == src).sum())
    # And columns= reads only those columns, in that order
    few = humelab.read_corpus(root, columns=["name", "score"]).compute()
    assert list(few.columns) == ["name", "score"] and len(few) == len(whole)


def test_read_corpus_errors(corpus, tmp_path):
    root, _ = corpus
    with pytest.raises(humelab.ReadError, match="not a humelab corpus"):
        humelab.read_corpus(tmp_path)
    with pytest.raises(humelab.InputError, match="unknown column.*'scores'"):
        humelab.read_corpus(root, columns=["scores"])
    with pytest.raises(humelab.InputError, match="partitioned on"):
        humelab.to_parquet([humelab.load_example("text")], root, partition_on=())
    with pytest.raises(humelab.InputError, match="partition_on.*'score'"):
        humelab.to_parquet([], tmp_path / "x", partition_on=("score",))
    with pytest.raises(humelab.InputError, match="no file or folder"):
        humelab.to_parquet([tmp_path / "missing.json"], tmp_path / "y")


@pytest.mark.parametrize(
    "func,kwargs",
    [
        (humelab.top_emotions, {"k": 3}),
        (humelab.summarize, {}),
        (humelab.resample, {"freq": 0.5}),
    ],
    ids=["top_emotions", "summarize", "resample"],
)
def test_analysis_on_dask_equals_pandas(corpus, sources, func, kwargs):
    # Given the corpus as a Dask frame and the same scores as one pandas frame
    root, _ = corpus
    ddf = humelab.read_corpus(root)
    pdf = pd.concat(sources[2], ignore_index=True)
    for c in CATS:
        pdf[c] = pdf[c].astype(object).astype("category")
    # When the function runs on both (text without times warns in resample: fine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", humelab.HumelabWarning)
        lazy = func(ddf, **kwargs)
        got = lazy.compute()
        expected = func(pdf, **kwargs)
    # Then the Dask result is lazy and has the same rows and numbers
    assert type(lazy).__module__.startswith("dask")
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected) > 0
    keys = [c for c in ("source", "file", "model", "group", "family", "name",
                        "rank", "begin") if c in got.columns]  # fmt: skip
    g, e = _canonical(got, keys), _canonical(expected, keys)
    for c in g.columns:
        if g[c].dtype.kind == "f" or e[c].dtype.kind == "f":
            np.testing.assert_allclose(
                g[c].astype(float), e[c].astype(float), rtol=1e-12, equal_nan=True
            )
        else:
            assert g[c].astype(object).tolist() == e[c].astype(object).tolist(), c


def test_analysis_on_dask_refuses_groups_across_sources(corpus):
    ddf = humelab.read_corpus(corpus[0])
    with pytest.raises(humelab.InputError, match=r"`by` must include `source`"):
        humelab.summarize(ddf, by=("model", "group"))


def test_jobs_write_straight_into_a_corpus(service, tmp_path):
    # Given two finished jobs of the local service
    with humelab.Client(
        service.url, service.api_key, data_dir=tmp_path / "d", poll_interval=0.05
    ) as client:
        jobs = humelab.JobGroup(
            [
                client.submit(text=["A quiet day."], models={"language": {}}),
                client.submit(text=["What a win!"], models={"language": {}}),
            ]
        ).wait()
        # When the group is written, then one of its jobs again
        summary = jobs.to_parquet(tmp_path / "c")
        again = jobs[0].to_parquet(tmp_path / "c")
        expected = jobs.frame()
    # Then both jobs are in it with their job ids, the second write converted nothing
    assert summary["source"].tolist() == jobs.ids and summary["converted"].all()
    assert not again["converted"].any()
    got = humelab.read_corpus(tmp_path / "c").compute()
    assert sorted(set(got["job_id"])) == sorted(jobs.ids)
    pd.testing.assert_frame_equal(_canonical(got), _canonical(expected))


def test_import_humelab_does_not_import_dask():
    # (pyarrow is not checked: pandas 3 imports it itself when it is installed)
    code = (
        "import sys, humelab; humelab.top_emotions; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


def test_cli_fetch_parquet(service, tmp_path, monkeypatch, capsys):
    from humelab.cli import main

    # Given a finished job
    monkeypatch.setenv("HUMELAB_URL", service.url)
    monkeypatch.setenv("HUMELAB_API_KEY", service.api_key)
    monkeypatch.setenv("HUMELAB_DATA_DIR", str(tmp_path / "d"))
    with humelab.Client(poll_interval=0.05) as client:
        job = client.submit(text=["Calm and clear."], models={"language": {}}).wait()
        expected = job.frame()
    # When it is fetched into a corpus twice (the second time with --out too)
    root = tmp_path / "corpus"
    assert main(["fetch", job.id, "--parquet", str(root)]) == 0
    assert main(["fetch", job.id, "--parquet", str(root), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # Then it was added once, and the JSON and zip were written the second time
    assert f"{len(expected)} scores (added)" in out
    assert f"{len(expected)} scores (already there)" in out
    assert (tmp_path / f"predictions-{job.id}.json").exists()
    got = humelab.read_corpus(root).compute()
    pd.testing.assert_frame_equal(_canonical(got), _canonical(expected))
    # And fetch without a destination says what to give
    assert main(["fetch", job.id]) != 0
    assert "--parquet ROOT" in capsys.readouterr().err


def test_failed_files_in_a_source_are_counted_and_warned(v0_fixtures, tmp_path):
    # Given a predictions JSON that records failed files
    path = v0_fixtures / "v0_all_shapes.json"
    n_failed = len(humelab.read_errors(path))
    assert n_failed > 0
    # When it is converted, Then the summary counts them and a warning names it
    with pytest.warns(humelab.HumelabWarning, match="v0_all_shapes.json.*read_errors"):
        summary = humelab.to_parquet(path, tmp_path, workers=1)
    assert summary["errors"].tolist() == [n_failed]
    assert summary["rows"].tolist() == [len(_read(path))]


def test_simulated_scores_stay_labelled(corpus, tmp_path):
    # Given a corpus of simulated example frames only
    frames = [humelab.load_example(name) for name in ("talking", "speech")]
    assert all(f.attrs["simulated"] for f in frames)
    humelab.to_parquet(frames, tmp_path, workers=1)
    # Then what is read back, and analysed, says so (plots stamp it from here)
    ddf = humelab.read_corpus(tmp_path)
    got = ddf.compute()
    assert got.attrs["simulated"] is True and got.attrs["engine"] == "simulated"
    assert humelab.top_emotions(ddf).compute().attrs["simulated"] is True
    # And a corpus mixing real Hume results with simulated ones claims neither
    mixed = humelab.read_corpus(corpus[0]).compute()
    assert "simulated" not in mixed.attrs


def test_conversion_on_a_dask_cluster(sources, tmp_path):
    distributed = pytest.importorskip("distributed")
    files, frames, parts = sources
    # Given a cluster client (in-process workers: the path is the same for processes)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        # When sources are converted on it
        summary = humelab.to_parquet([*files[:3], frames[0]], tmp_path, client=client)
    # Then the corpus is the same as the readers' frames
    assert summary["converted"].all()
    got = humelab.read_corpus(tmp_path).compute()
    expected = pd.concat(parts[:3] + [frames[0]], ignore_index=True)
    pd.testing.assert_frame_equal(_canonical(got), _canonical(expected))


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_local_conversion_uses_every_worker_process():
    # Given 4 tasks for 2 worker processes (the machinery of `to_parquet(workers=2)`)
    from humelab.corpus import in_processes

    # When they run
    batches = list(in_processes(_pid_after, [0.5] * 4, 2))
    # Then results come back in batches of 2x the workers, from two processes (Dask
    # once packed the ready tasks into one submit: one process did all the work)
    assert [len(b) for b in batches] == [4]
    pids = {pid for b in batches for pid in b}
    assert len(pids) == 2 and os.getpid() not in pids


def test_a_large_source_is_split_between_its_files(corpus, monkeypatch):
    # Given sources larger than the rows of one partition
    from humelab import _corpus_read

    root, summary = corpus
    whole = humelab.read_corpus(root).compute()
    monkeypatch.setattr(_corpus_read, "PARTITION_ROWS", 1000)
    # When the corpus is read
    ddf = humelab.read_corpus(root)
    # Then their files become separate partitions (a group still in one of them)
    assert len(summary) < ddf.npartitions <= int(summary["files"].sum())
    got = ddf.compute()
    pd.testing.assert_frame_equal(_canonical(got), _canonical(whole))
