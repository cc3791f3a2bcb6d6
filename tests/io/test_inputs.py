"""Readers: what users hand them beyond files (SDK objects, strings), and damaged or
mismatched artifacts that must not lose scores silently."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import numpy as np
import pytest

import humelab
from humelab import ReadError, SchemaError

PAIR = "interreviewer_face-prosody-language"  # face, prosody and language


def _rezip(path, *, drop=(), edit=None) -> bytes:
    """A copy of the zip at ``path`` without the members ending in ``drop``, and with
    ``edit(name, text) -> text`` applied to every CSV."""
    out = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if any(info.filename.endswith(d) for d in drop):
                continue
            data = src.read(info)
            if edit is not None and info.filename.endswith(".csv"):
                data = edit(info.filename, data.decode()).encode()
            dst.writestr(info.filename, data)
    return out.getvalue()


def test_hume_sdk_objects_read_like_the_json(real_samples):
    # Given what hume==0.13.13's get_job_predictions returns: pydantic objects
    from hume.expression_measurement.batch.types import InferenceSourcePredictResult

    path = real_samples / PAIR / "predictions.json"
    objects = [
        InferenceSourcePredictResult.model_validate(x)
        for x in json.loads(path.read_text())
    ]
    # When they are read, alone or in a list, Then the frame is the file's frame
    assert humelab.read_predictions(objects).equals(humelab.read_predictions(path))
    one = humelab.read_predictions(objects[0], shape="wide")
    assert one.equals(humelab.read_predictions(path, shape="wide"))


def test_numpy_scores_in_parsed_json():
    pred = {
        "text": "hi",
        "position": {"begin": 0, "end": 2},
        "emotions": [{"name": "Joy", "score": np.float32(0.25)}],
    }
    src = {
        "source": {"type": "text"},
        "results": {
            "predictions": [{"file": "0", "models": {"language": {
                "metadata": None,
                "grouped_predictions": [{"id": "unknown", "predictions": [pred]}],
            }}}],
            "errors": [],
        },
    }  # fmt: skip
    df = humelab.read_predictions([src])
    assert df["score"].tolist() == [0.25] and df["score"].dtype == np.float32
    src["results"]["predictions"][0]["models"]["language"]["metadata"] = object()
    with pytest.raises(ReadError, match=r"a value JSON cannot carry.*object"):
        humelab.read_predictions([src])


def test_json_text_given_to_read_artifacts_is_explained(real_samples):
    text = (real_samples / PAIR / "predictions.json").read_text()
    with pytest.raises(ReadError) as err:
        humelab.read_artifacts(text)
    message = str(err.value)
    assert "JSON text, not a path" in message and "read_predictions" in message
    assert len(message) < 300  # never the whole text
    with pytest.raises(ReadError, match=r"Could not read 'xxx.* \.\.\. 'xxx"):
        humelab.read_artifacts("x" * 5000)  # too long for a file name


def test_a_path_that_starts_like_json_is_a_path(real_samples, tmp_path, monkeypatch):
    folder = tmp_path / "[pilot]"
    folder.mkdir()
    shutil.copy(real_samples / PAIR / "predictions.json", folder / "p.json")
    monkeypatch.chdir(tmp_path)
    assert len(humelab.read_predictions("[pilot]/p.json")) == 27408


def test_csv_missing_a_score_column_is_refused(real_samples):
    # Given a prosody.csv whose Joy column was deleted
    def drop_joy(name, text):
        if not name.endswith("prosody.csv"):
            return text
        rows = [r.split(",") for r in text.split("\r\n")]
        j = rows[0].index("Joy")
        return "\r\n".join(",".join(r[:j] + r[j + 1 :]) for r in rows)

    data = _rezip(real_samples / PAIR / "artifacts.zip", edit=drop_joy)
    # Then reading it names the missing column instead of dropping its scores
    with pytest.raises(ReadError, match=r"prosody\.csv' lacks 1 of the 48 .*'Joy'"):
        humelab.read_artifacts(data)


def test_zip_lacking_a_csv_the_predictions_list(real_samples):
    preds = real_samples / PAIR / "predictions.json"
    data = _rezip(real_samples / PAIR / "artifacts.zip", drop=("face.csv",))
    # Without predictions= the zip reads as what it holds (no face)
    assert "face" not in set(humelab.read_artifacts(data)["model"])
    # With them, the missing face scores are named
    with pytest.raises(ReadError, match=r"lacks 1 CSV\(s\).*face\.csv of"):
        humelab.read_artifacts(data, predictions=preds)


def test_zip_and_predictions_of_different_jobs(real_samples):
    zip_a = real_samples / "interviewiq_face-prosody_url/artifacts.zip"
    json_b = real_samples / PAIR / "predictions.json"
    with pytest.raises(ReadError, match=r"do not list: they are probably of another"):
        humelab.read_artifacts(zip_a, predictions=json_b)


def test_wide_metadata_that_is_not_numeric(real_samples):
    def spoil(name, text):
        if not name.endswith("face.csv"):
            return text
        lines = text.split("\r\n")
        cells = lines[1].split(",")
        cells[3] = "abc"  # Probability
        lines[1] = ",".join(cells)
        return "\r\n".join(lines)

    data = _rezip(real_samples / PAIR / "artifacts.zip", edit=spoil)
    with pytest.raises(ReadError, match=r"face\.csv' has a non-numeric Probability"):
        humelab.read_artifacts(data, shape="wide")


def test_wide_metadata_dtypes_follow_the_schema(real_samples):
    wide = humelab.read_predictions(
        real_samples / PAIR / "predictions.json", shape="wide"
    )
    from humelab.io._frame import META_COLUMNS

    for col, dtype in META_COLUMNS.items():
        if col in wide:
            assert str(wide[col].dtype) == dtype, col
    face = wide["model"] == "face"
    assert wide.loc[face, "prob"].notna().all() and wide.loc[~face, "prob"].isna().all()


def test_to_long_names_a_column_that_is_not_a_dimension(real_samples):
    df = humelab.read_predictions(real_samples / PAIR / "predictions.json")
    wide = humelab.to_wide(df)
    wide["participant"] = "p1"
    with pytest.raises(SchemaError, match=r"`participant` is not numeric.*drop"):
        humelab.to_long(wide)
    assert humelab.to_long(wide.drop(columns=["participant"])).equals(df)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"null", r"JSON, but a single value"),
        (b"42", r"JSON, but a single value"),
        (b"nonsense", r"does not start like JSON"),
        ("[]".encode("utf-16"), r"UTF-16 text.*UTF-8"),
    ],
)
def test_not_predictions_json_is_named(data, match):
    with pytest.raises(ReadError, match=match):
        humelab.read_predictions(data)
