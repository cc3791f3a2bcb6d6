"""Example media, their simulation scripts, and the ready-made example frames."""

from __future__ import annotations

import gzip
import importlib.util
import warnings
from pathlib import Path

import pytest

import humelab
from humelab.datasets import EXAMPLES, results_path
from humelab.service.engines._script import read_script

ROOT = Path(__file__).resolve().parent.parent


def _make_datasets():
    spec = importlib.util.spec_from_file_location(
        "make_datasets", ROOT / "datasets" / "make_datasets.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _top(df, by):
    emo = df[df["family"] == "emotions"]
    means = emo.groupby([*by, "name"], observed=True)["score"].mean()
    return {k: v[-1] for k, v in means.groupby(level=by).idxmax().items()}


def test_examples_ship_inside_the_package():
    folder = humelab.example_files()[0].parent
    assert folder == Path(humelab.__file__).resolve().parent / "examples"
    for name in EXAMPLES:
        assert results_path(name).is_file()


def test_example_files_with_scripts():
    names = [p.name for p in humelab.example_files("image", with_scripts=True)]
    assert names == [
        "face_smile.jpg", "face_smile.expressions.csv",
        "face_frown.png", "face_frown.expressions.csv",
        "face_neutral.jpg", "face_neutral.expressions.csv",
    ]  # fmt: skip
    scripts = humelab.example_files("script")
    # every file but transcripts and the zip has a script of its stem
    media = humelab.example_files(["audio", "video", "image", "text"])
    assert sorted(p.name for p in scripts) == sorted(
        f"{p.stem}.expressions.csv" for p in media
    )
    # asking for scripts as a kind and with_scripts does not list them twice
    both = humelab.example_files(["text", "script"], with_scripts=True)
    assert len(both) == len({p.name for p in both})
    # default unchanged: no transcripts, no scripts
    assert not any(
        p.name.endswith((".expressions.csv",)) for p in humelab.example_files()
    )


def test_every_script_reads_and_names_real_dimensions():
    for path in humelab.example_files("script"):
        script = read_script(path, name=path.name)
        assert script.rows, path.name
        assert all(0 <= r.level <= 1 for r in script.rows)


def test_zip_carries_the_scripts_of_its_members():
    import zipfile

    (zpath,) = humelab.example_files("archive")
    names = zipfile.ZipFile(zpath).namelist()
    for member in [n for n in names if not n.endswith(".expressions.csv")]:
        stem = member.rsplit(".", 1)[0]
        assert f"{stem}.expressions.csv" in names


def test_list_and_load_every_example():
    assert humelab.list_examples() == ["faces", "talking", "speech", "text", "demo"]
    for name in humelab.list_examples():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no failed files in a shipped example
            df = humelab.load_example(name)
        humelab.validate(df)
        assert len(df) > 0
        assert df.attrs["simulated"] is True
        assert df.attrs["engine"] == "simulated"
        assert df.attrs["example"] == name
        assert df.attrs["scripts"], name
        assert df["job_id"].isna().all()
    wide = humelab.load_example("faces", shape="wide")
    assert len(wide) == 3 and wide.attrs["simulated"] is True


def test_load_example_unknown_name():
    with pytest.raises(humelab.InputError, match=r"Unknown example 'face'.*'faces'"):
        humelab.load_example("face")


def test_faces_follow_their_scripts():
    # Given the scripts: smile -> Joy 0.85, frown -> Sadness 0.8, neutral -> Calmness
    df = humelab.load_example("faces")
    assert _top(df, ["file"]) == {
        "face_smile.jpg": "Joy",
        "face_frown.png": "Sadness",
        "face_neutral.jpg": "Calmness",
    }
    desc = df[(df["family"] == "descriptions") & (df["name"] == "Smile")]
    smile = desc.astype({"file": str}).set_index("file")["score"]
    assert smile["face_smile.jpg"] == pytest.approx(0.8, abs=0.1)
    assert smile["face_frown.png"] < 0.3


def test_talking_face_frowns_then_smiles():
    df = humelab.load_example("talking")
    face = df[(df["model"] == "face") & (df["family"] == "emotions")]
    top = (
        face.loc[face.groupby("begin")["score"].idxmax(), ["begin", "name"]]
        .astype({"name": str})
        .itertuples(index=False)
    )
    seen = {"early": set(), "late": set()}
    for t, name in top:
        if t < 1.25:
            seen["early"].add(name)
        elif t > 2.75:
            seen["late"].add(name)
    assert seen == {"early": {"Disappointment"}, "late": {"Joy"}}
    prosody = _top(df[df["model"] == "prosody"], ["file"])
    assert prosody == {"face_talking.mp4": "Interest"}


def test_text_scripts_count_characters():
    df = humelab.load_example("text")
    assert _top(df[df["model"] == "language"], ["segment"]) == {
        0: "Gratitude",
        1: "Doubt",
        2: "Calmness",
    }


def test_speech_language_follows_the_transcript_script():
    df = humelab.load_example("speech")
    lang = _top(df[df["model"] == "language"], ["file"])
    assert lang == {
        "speech_greeting.wav": "Joy",
        "speech_complaint.wav": "Annoyance",
    }


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_shipped_results_match_the_engine(service, name):
    # The shipped JSON is what the service computes today; if the engine changes,
    # regenerate with `python datasets/make_datasets.py --only results`.
    fresh = _make_datasets().example_predictions(name, service.url, service.api_key)
    shipped = gzip.decompress(results_path(name).read_bytes())
    assert fresh == shipped, (
        f"example {name!r} is stale: run python datasets/make_datasets.py --only "
        "results"
    )


def test_real_samples_have_no_simulated_marker(real_samples):
    jsons = sorted(real_samples.glob("*/predictions.json"))
    zips = sorted(real_samples.glob("*/artifacts.zip"))
    assert jsons and zips
    for path in jsons:
        df = humelab.read_predictions(path, errors="ignore")
        assert "simulated" not in df.attrs and "engine" not in df.attrs, path
    for path in zips:
        df = humelab.read_artifacts(path)
        assert "simulated" not in df.attrs, path


def test_attrs_survive_wide_and_back():
    df = humelab.load_example("faces")
    wide = humelab.to_wide(df)
    assert wide.attrs == df.attrs and wide.attrs["simulated"] is True
    back = humelab.to_long(wide)
    assert back.attrs == df.attrs and back.equals(df)


def test_examples_with_scripts_through_the_client(service, tmp_path):
    # Given the example images with their scripts, sent by the public Client
    files = humelab.example_files("image", with_scripts=True)
    with humelab.Client(service.url, service.api_key, data_dir=tmp_path) as client:
        job = client.submit(files, models={"face": {}})
        job.wait(timeout=60, progress=False)
        df = job.frame()
    # Then the frame is labelled and follows the scripts, as the shipped example
    assert df.attrs["simulated"] is True and df.attrs["engine"] == "simulated"
    assert df.attrs["scripts"] == {
        "face_smile.jpg": "face_smile.expressions.csv",
        "face_frown.png": "face_frown.expressions.csv",
        "face_neutral.jpg": "face_neutral.expressions.csv",
    }
    shipped = humelab.load_example("faces")
    assert _top(df, ["file"]) == _top(shipped, ["file"])
    # the scripts are sources of their own with nothing measured
    assert set(df["source"].astype(str)) == {p.name for p in files[::2]}
