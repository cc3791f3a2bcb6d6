"""The tidy contract: CSV layouts against real artifacts, and `validate` on long and
wide frames."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

import humelab
from humelab import schema


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
            if not name.endswith(".csv"):
                continue
            model = name.rsplit("/", 1)[-1].removesuffix(".csv")
            header = zf.read(name).split(b"\r\n", 1)[0].decode()
            assert tuple(pd.read_csv(pd.io.common.StringIO(header)).columns) == (
                schema.csv_columns(model)
            )


def test_wide_meta_table_drives_the_csv_layout():
    # Every CSV metadata header that holds a per-prediction value is in WIDE_META
    csv_meta = {c for cols in schema.CSV_META_COLUMNS.values() for c, _ in cols}
    listed = {c.csv for c in schema.WIDE_META if c.csv}
    assert listed <= csv_meta
    assert csv_meta - listed == {"Id", "Frame", "Time", "Text", "BeginTime", "EndTime"}


def test_csv_columns_unknown_model():
    with pytest.raises(humelab.SchemaError, match="Unknown model 'faces'"):
        schema.csv_columns("faces")


def test_validate_accepts_long_wide_null_and_empty_frames(
    tidy_df, wide_df, null_df, empty_df
):
    for df in (tidy_df, null_df, empty_df):
        assert humelab.validate(df) is df
    assert humelab.validate(wide_df) is wide_df
    assert humelab.validate(humelab.to_wide(tidy_df), shape="wide") is not None


def test_frame_is_nullable_int32(tidy_df):
    assert str(tidy_df["frame"].dtype) == "Int32"
    assert tidy_df["frame"].notna().any() and tidy_df["frame"].isna().any()


def test_validate_names_every_problem(tidy_df):
    df = tidy_df.drop(columns=["frame"]).astype({"segment": "int64"})
    with pytest.raises(
        humelab.SchemaError,
        match=r"missing columns: `frame`.*`segment` has dtype int64, expected int32",
    ):
        humelab.validate(df)


def test_validate_checks_wide_metadata_and_dimensions(wide_df):
    bad = wide_df.astype({"prob": "object", "Joy": "object"})
    with pytest.raises(humelab.SchemaError, match=r"wide contract") as err:
        humelab.validate(bad)
    assert "`prob` has dtype object, expected float64" in str(err.value)
    assert "`Joy` (object)" in str(err.value)


def test_validate_explains_wide_frames_and_non_frames(wide_df):
    with pytest.raises(humelab.SchemaError, match="looks like a wide frame"):
        humelab.validate(wide_df, shape="long")
    with pytest.raises(
        humelab.SchemaError, match="expects a pandas DataFrame, got dict"
    ):
        humelab.validate({"a": 1})


def test_errors_name_the_function_called(client, tidy_df):
    # Given a Job where a frame is expected
    job = client.submit(text=["A calm sentence."], models={"language": {}}).wait()
    with pytest.raises(humelab.SchemaError, match=r"`to_wide` expects a pandas"):
        humelab.to_wide(job)
    with pytest.raises(humelab.ReadError, match=r"`read_artifacts\(predictions=\)`"):
        humelab.read_artifacts(job.download_artifacts(), predictions=job)


def test_validate_rejects_nulls_in_required_columns(tidy_df):
    df = tidy_df.copy()
    df["score"] = df["score"].astype("float32")
    df.loc[0, "score"] = np.nan
    with pytest.raises(humelab.SchemaError, match="`score` has 1 missing values"):
        humelab.validate(df)
