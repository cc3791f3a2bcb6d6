import json
import zipfile

import numpy as np
import pandas as pd
import pytest

import humelab
from humelab import schema


def test_vocabulary_sizes():
    assert len(schema.EXPRESSIONS) == 48
    assert len(schema.LANGUAGE_EXPRESSIONS) == 53
    assert len(schema.FACS) == 36
    assert len(schema.FACE_DESCRIPTIONS) == 27
    assert len(schema.BURST_DESCRIPTIONS) == 67
    assert schema.SENTIMENT == tuple("123456789")
    assert len(schema.TOXICITY) == 6
    for families in schema.VOCABULARY.values():
        for names in families.values():
            assert len(set(names)) == len(names)


def test_csv_orders_are_permutations_of_json_orders():
    assert sorted(schema.EXPRESSIONS_CSV) == sorted(schema.EXPRESSIONS)
    assert sorted(schema.LANGUAGE_EXPRESSIONS_CSV) == sorted(
        schema.LANGUAGE_EXPRESSIONS
    )
    for model in schema.MODELS:
        for family, names in schema.csv_families(model):
            assert sorted(names) == sorted(schema.VOCABULARY[model][family])


def test_json_order_matches_real_predictions(real_samples):
    # Given real predictions with face, prosody and language (all 53 names)
    data = json.loads(
        (
            real_samples / "interreviewer_face-prosody-language/predictions.json"
        ).read_text()
    )
    models = data[0]["results"]["predictions"][0]["models"]
    for model in ("face", "prosody", "language"):
        pred = models[model]["grouped_predictions"][0]["predictions"][0]
        # Then the emotions come in the schema's JSON order
        assert (
            tuple(e["name"] for e in pred["emotions"])
            == schema.VOCABULARY[model]["emotions"]
        )
    lang = models["language"]["grouped_predictions"][0]["predictions"][0]
    assert tuple(e["name"] for e in lang["sentiment"]) == schema.SENTIMENT


@pytest.mark.parametrize(
    "sample",
    [
        "humegradio_face_image",
        "interreviewer_face-prosody-language",
        "interreviewer_defaults",
        "interviewiq_face-prosody_url",
        "calhacks-vihk_prosody_audio_url",
        "calhacks-vihk_prosody_mp4_url",
    ],
)
def test_csv_headers_match_real_artifacts(real_samples, sample):
    with zipfile.ZipFile(real_samples / sample / "artifacts.zip") as zf:
        for name in zf.namelist():
            model = name.rsplit("/", 1)[-1].removesuffix(".csv")
            header = zf.read(name).split(b"\r\n", 1)[0].decode()
            assert tuple(pd.read_csv(pd.io.common.StringIO(header)).columns) == (
                schema.csv_columns(model)
            )


def test_csv_columns_unknown_model():
    with pytest.raises(humelab.SchemaError, match="Unknown model 'faces'"):
        schema.csv_columns("faces")


def _tiny_long():
    cat = lambda v: pd.Categorical(v)  # noqa: E731
    return pd.DataFrame(
        {
            "job_id": cat([None, None]),
            "source": cat(["a.png", "a.png"]),
            "file": cat(["a.png", "a.png"]),
            "model": cat(["face", "face"]),
            "group": cat(["unknown", "unknown"]),
            "segment": np.array([0, 0], dtype="int32"),
            "frame": pd.array([0, 0], dtype="Int64"),
            "begin": [0.0, 0.0],
            "end": [0.0, 0.0],
            "text": cat([None, None]),
            "family": cat(["emotions", "emotions"]),
            "name": cat(["Joy", "Awe"]),
            "score": np.array([0.5, 0.25], dtype="float32"),
        }
    )


def test_validate_accepts_contract_frame():
    df = _tiny_long()
    assert humelab.validate(df) is df


def test_validate_names_every_problem():
    df = _tiny_long().drop(columns=["frame"]).astype({"segment": "int64"})
    with pytest.raises(
        humelab.SchemaError,
        match=r"missing columns: `frame`.*`segment` has dtype int64, expected int32",
    ):
        humelab.validate(df)


def test_validate_explains_wide_frames_and_non_frames():
    wide = pd.DataFrame({"source": ["a"], "Joy": [0.1], "Awe": [0.2]})
    with pytest.raises(humelab.SchemaError, match="wide frame"):
        humelab.validate(wide)
    with pytest.raises(
        humelab.SchemaError, match="expects a pandas DataFrame, got dict"
    ):
        humelab.validate({"a": 1})


def test_validate_rejects_nulls_in_required_columns():
    df = _tiny_long()
    df["score"] = np.array([np.nan, 0.1], dtype="float32")
    with pytest.raises(humelab.SchemaError, match="`score` has 1 missing values"):
        humelab.validate(df)
