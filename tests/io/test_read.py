"""Readers: real Hume v0 samples and fixtures into the tidy frame (humelab.io)."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import humelab
from humelab import HumelabError, HumelabWarning, ReadError, SchemaError

FAMILIES = ("emotions", "facs", "descriptions", "sentiment", "toxicity")
KEYS = ["job_id", "source", "file", "model", "group", "segment", "family", "name"]

PREDICTIONS = [
    "calhacks-vihk_prosody_audio_url/predictions.json",
    "calhacks-vihk_prosody_mp4_url/predictions.json",
    "calhacks23-openai_face_upload/predictions.json",
    "hume-api-examples_visualization/predictions.json",
    "humegradio_face_image/predictions.json",
    "interreviewer_defaults/predictions.json",
    "interreviewer_face-prosody-language/predictions.json",
    "interviewiq_face-prosody_url/predictions.json",
    "twilio-vintel_language_text/predictions_item.json",
]
PAIRS = [
    "calhacks-vihk_prosody_audio_url",
    "calhacks-vihk_prosody_mp4_url",
    "humegradio_face_image",
    "interreviewer_defaults",
    "interreviewer_face-prosody-language",
    "interviewiq_face-prosody_url",
]
SDK_FIXTURES = {
    "details-response-completed.json": "job details body",
    "details-response-failed.json": "job details body",
    "details-response-queued.json": "job details body",
    "result-response-completed.json": "pre-May-2023",
    "result-response-failed.json": "usage limit",
    "result-response-queued.json": "pre-May-2023",
}


# -- helpers: an independent count of the input, with plain json -----------------------


def plain_scores(obj) -> list[float]:
    """Every score of a predictions JSON, in reading order, counted with plain json."""
    if isinstance(obj, dict) and "source" not in obj:
        obj = obj["predictions"]  # callback body
    if isinstance(obj, dict):
        obj = [obj]
    out = []
    for element in obj:
        for fp in (element.get("results") or {}).get("predictions") or []:
            for result in (fp.get("models") or {}).values():
                for group in (result or {}).get("grouped_predictions") or []:
                    for pred in group["predictions"]:
                        for fam in FAMILIES:
                            out.extend(s["score"] for s in pred.get(fam) or [])
    return out


def plain_predictions(obj) -> int:
    if isinstance(obj, dict):
        obj = [obj]
    return sum(
        len(g["predictions"])
        for e in obj
        for fp in (e.get("results") or {}).get("predictions") or []
        for r in (fp.get("models") or {}).values()
        for g in (r or {}).get("grouped_predictions") or []
    )


def canon(df: pd.DataFrame) -> pd.DataFrame:
    """Plain object columns, rows sorted by key: compare frames row for row."""
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(object)
    return out.sort_values(KEYS, kind="stable").reset_index(drop=True)


def read_quiet(src, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HumelabWarning)
        return humelab.read_predictions(src, **kw)


# -- real samples ----------------------------------------------------------------------


@pytest.mark.parametrize("name", PREDICTIONS)
def test_real_predictions_one_row_per_score(real_samples, name):
    # Given a real predictions file and its scores counted with plain json
    path = real_samples / name
    raw = json.loads(path.read_text())
    expected = plain_scores(raw)
    # When it is read
    df = humelab.read_predictions(path)
    # Then there is exactly one row per score, same values, exact, contract dtypes
    humelab.validate(df)
    assert len(df) == len(expected) > 0
    assert df["score"].dtype == np.float32
    np.testing.assert_array_equal(df["score"].to_numpy(np.float64), expected)
    assert df["job_id"].isna().all()
    assert list(df.columns) == list(humelab.schema.CORE_COLUMNS)


def test_real_sources_and_files(real_samples):
    url = humelab.read_predictions(
        real_samples / "calhacks-vihk_prosody_audio_url/predictions.json"
    )
    assert list(url["source"].cat.categories) == [
        "https://tmpfiles.org/dl/2981881/newrecording27.m4a"
    ]
    assert list(url["file"].cat.categories) == ["newrecording27.m4a"]
    upload = humelab.read_predictions(
        real_samples / "humegradio_face_image/predictions.json"
    )
    assert list(upload["source"].cat.categories) == ["webcam.png"]
    # 2023 shape: the upload is named "file", no file_type, keys in another order
    old = humelab.read_predictions(
        real_samples / "calhacks23-openai_face_upload/predictions.json", shape="wide"
    )
    assert set(old["source"]) == {"file"} and set(old["file"]) == {"file"}
    assert old["file_type"].isna().all()
    text = humelab.read_predictions(
        real_samples / "twilio-vintel_language_text/predictions_item.json"
    )
    assert set(text["source"]) == {"text"}
    assert list(text["file"].cat.categories[:3]) == ["2", "9", "20"]  # input order
    assert text["begin"].isna().all() and text["text"].notna().all()


def test_real_face_frame_and_time(real_samples):
    df = humelab.read_predictions(
        real_samples / "hume-api-examples_visualization/predictions.json"
    )
    face1 = df[(df["group"] == "face_1") & (df["segment"] == 0)]
    raw = json.loads(
        (real_samples / "hume-api-examples_visualization/predictions.json").read_text()
    )
    first = raw[0]["results"]["predictions"][0]["models"]["face"]
    pred = first["grouped_predictions"][0]["predictions"][0]
    assert first["grouped_predictions"][0]["id"] == "face_1"
    assert (face1["frame"] == pred["frame"]).all()
    assert (face1["begin"] == pred["time"]).all() and (
        face1["end"] == pred["time"]
    ).all()
    assert list(df["group"].cat.categories) == ["face_1", "face_0", "face_2", "face_3"]
    assert df.loc[df["model"] == "face", "text"].isna().all()


@pytest.mark.parametrize("pair", PAIRS)
def test_real_pairs_agree_row_for_row(real_samples, pair):
    # Given the predictions JSON and artifacts zip of one real job
    js = real_samples / pair / "predictions.json"
    zp = real_samples / pair / "artifacts.zip"
    # When both are read (the zip told where its URL sources came from)
    from_json = humelab.read_predictions(js)
    from_zip = humelab.read_artifacts(zp, predictions=js)
    # Then they agree row for row: same keys, same times and texts, same scores,
    # same row order and categories
    humelab.validate(from_zip)
    pd.testing.assert_frame_equal(from_zip, from_json)
    # and the frame returned by read_predictions works as `predictions` too
    again = humelab.read_artifacts(zp, predictions=from_json)
    pd.testing.assert_frame_equal(again, from_zip)


def test_zip_follows_json_group_order_with_predictions(real_samples):
    # Given Hume's JSON listing groups face_1, face_0, face_2, face_3 and a zip of it
    # (CSV rows are chronological, so the zip alone cannot know that order)
    import io as _io

    from humelab.service.artifacts import write_artifacts

    path = real_samples / "hume-api-examples_visualization/predictions.json"
    buf = _io.BytesIO()
    write_artifacts(json.loads(path.read_text()), buf)
    from_json = humelab.read_predictions(path)
    # Then with `predictions` the zip gives the very same frame, rows in JSON order
    pd.testing.assert_frame_equal(
        humelab.read_artifacts(buf.getvalue(), predictions=path), from_json
    )
    alone = humelab.read_artifacts(buf.getvalue())
    assert list(alone["group"].cat.categories)[:2] != ["face_1", "face_0"]
    assert len(alone) == len(from_json)


def test_real_zip_without_predictions_names_url_by_last_segment(real_samples):
    df = humelab.read_artifacts(
        real_samples / "interviewiq_face-prosody_url/artifacts.zip"
    )
    assert list(df["source"].cat.categories) == ["IMG_4648.mp4"]
    upload = humelab.read_artifacts(
        real_samples / "interreviewer_defaults/artifacts.zip"
    )
    assert list(upload["source"].cat.categories) == ["video1124829211.mp4"]
    # models come in schema order, whatever the order of the zip entries
    assert list(upload["model"].cat.categories) == ["face", "prosody", "language"]


@pytest.mark.parametrize("name,what", sorted(SDK_FIXTURES.items()))
def test_sdk_job_bodies_are_explained(real_samples, name, what):
    path = real_samples / "hume-python-sdk_fixtures" / name
    with pytest.raises(ReadError, match=what) as info:
        humelab.read_predictions(path)
    assert "not predictions" in str(info.value)
    assert name in str(info.value)


@pytest.mark.parametrize("name", PREDICTIONS)
def test_real_long_wide_long_is_lossless(real_samples, name):
    df = humelab.read_predictions(real_samples / name)
    wide = humelab.to_wide(df)
    raw = json.loads((real_samples / name).read_text())
    assert len(wide) == plain_predictions(raw)
    pd.testing.assert_frame_equal(humelab.to_long(wide), df)
    # the reader's own wide frame (with metadata) melts back to the same frame
    pd.testing.assert_frame_equal(
        humelab.to_long(humelab.read_predictions(real_samples / name, shape="wide")), df
    )


def test_real_wide_metadata(real_samples):
    path = real_samples / "interreviewer_face-prosody-language/predictions.json"
    raw = json.loads(path.read_text())
    wide = humelab.read_predictions(path, shape="wide")
    face = wide[wide["model"] == "face"].iloc[0]
    first = raw[0]["results"]["predictions"][0]["models"]["face"]
    pred = first["grouped_predictions"][0]["predictions"][0]
    assert face["prob"] == pred["prob"]
    assert (face["box_x"], face["box_y"], face["box_w"], face["box_h"]) == tuple(
        pred["box"][k] for k in "xywh"
    )
    assert face["Admiration"] == np.float32(pred["emotions"][0]["score"])
    lang = wide[wide["model"] == "language"].iloc[0]
    lpred = raw[0]["results"]["predictions"][0]["models"]["language"]
    lpred = lpred["grouped_predictions"][0]["predictions"][0]
    assert lang["position_begin"] == lpred["position"]["begin"]
    assert lang["text"] == lpred["text"]
    assert lang["1"] == np.float32(lpred["sentiment"][0]["score"])
    assert "toxic" not in wide.columns  # toxicity null throughout this job
    assert set(wide["file_type"]) == {"video"}
    key_cols = ["job_id", "source", "file", "model", "group", "segment", "frame"]
    assert list(wide.columns[: len(key_cols)]) == key_cols


# -- fixtures: shapes no real sample covers --------------------------------------------


def test_fixture_all_shapes_counts_and_models(v0_fixtures):
    path = v0_fixtures / "v0_all_shapes.json"
    raw = json.loads(path.read_text())
    df = read_quiet(path)
    humelab.validate(df)
    np.testing.assert_array_equal(df["score"].to_numpy(np.float64), plain_scores(raw))
    fams = df.groupby("model", observed=True)["family"].unique()
    assert set(fams["face"]) == {"emotions", "facs", "descriptions"}
    assert set(fams["burst"]) == {"emotions", "descriptions"}
    assert set(fams["language"]) == {"emotions", "sentiment", "toxicity"}
    assert set(fams["ner"]) == {"emotions"} and set(fams["facemesh"]) == {"emotions"}
    assert list(df["source"].cat.categories) == [
        "https://example.org/data/clips.zip?sig=abc",
        "talk.mp4",
        "file",
        "text",
    ]
    files = df.loc[df["source"] == "text", "file"].unique()
    assert list(files) == ["2", "0", "1"]
    clips = df.loc[df["source"].str.startswith("https"), "file"].unique()
    assert list(clips) == ["clips/a.mp4", "clips/b.wav", "clips/c.jpg"]


def test_fixture_nulls(v0_fixtures):
    wide = read_quiet(v0_fixtures / "v0_all_shapes.json", shape="wide")
    prosody = wide[(wide["model"] == "prosody") & (wide["group"] == "spk_0")]
    # text null and confidence null stay missing
    assert pd.isna(prosody.iloc[1]["text"]) and pd.isna(prosody.iloc[1]["confidence"])
    # time null (raw text) leaves begin/end missing
    text_rows = wide[wide["source"] == "text"]
    assert text_rows["begin"].isna().all() and text_rows["end"].isna().all()
    # sentiment null on one word: no sentiment scores for that word only
    words = wide[(wide["model"] == "language") & (wide["file"] == "clips/a.mp4")]
    assert words["1"].isna().tolist() == [False, False, True, False]
    # facs/descriptions null on the image face
    img = wide[(wide["file"] == "clips/c.jpg") & (wide["model"] == "face")]
    assert img["AU1 Inner Brow Raise"].isna().all() and img["Smile"].isna().all()
    # NER entity fields; frame only on face rows
    ner = wide[wide["model"] == "ner"].iloc[0]
    assert (ner["entity"], ner["support"], ner["link_word"]) == ("Paris", 12.5, "paris")
    assert ner["uri"] == "https://en.wikipedia.org/wiki/Paris"
    assert wide.loc[wide["model"] != "face", "frame"].isna().all()
    assert wide.loc[wide["model"] == "face", "frame"].notna().all()


def test_fixture_pair_agrees_and_roundtrips(v0_fixtures):
    js = v0_fixtures / "v0_all_shapes.json"
    zp = v0_fixtures / "v0_all_shapes_artifacts.zip"
    from_json = read_quiet(js)
    from_zip = humelab.read_artifacts(zp, predictions=js)
    pd.testing.assert_frame_equal(from_zip, from_json)
    # without `predictions` the archive URL is named by its last path segment, and
    # rows come in the zip's order (groups by first appearance in the CSVs)
    plain = humelab.read_artifacts(zp)
    renamed = plain.assign(
        source=plain["source"].cat.rename_categories(
            {"clips.zip": "https://example.org/data/clips.zip?sig=abc"}
        )
    )
    pd.testing.assert_frame_equal(canon(renamed), canon(from_json))
    assert "clips.zip" in set(plain["source"]) and "text" in set(plain["source"])
    for df in (from_json, from_zip):
        pd.testing.assert_frame_equal(humelab.to_long(humelab.to_wide(df)), df)
    wide_zip = humelab.read_artifacts(zp, shape="wide")
    assert wide_zip["file_type"].isna().all()
    assert wide_zip["entity"].dropna().tolist() == ["Paris", "Berlin"]


def test_errors_warn_once_raise_ignore(v0_fixtures):
    path = v0_fixtures / "v0_all_shapes.json"
    with pytest.warns(HumelabWarning, match=r"3 of 11 files or sources failed") as rec:
        humelab.read_predictions(path)
    assert len(rec) == 1
    assert rec[0].filename == __file__  # points at the caller, not humelab
    message = str(rec[0].message)
    assert "clips/d.mp4" in message and "404 Not Found" in message
    assert "read_errors" in message
    with pytest.raises(ReadError, match=r"3 of 11 .*below threshold"):
        humelab.read_predictions(path, errors="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = humelab.read_predictions(path, errors="ignore")
    assert len(df) == len(plain_scores(json.loads(path.read_text())))


def test_read_errors_frame(v0_fixtures, real_samples):
    errs = humelab.read_errors(v0_fixtures / "v0_all_shapes.json")
    assert list(errs.columns) == ["job_id", "source", "file", "message"]
    assert errs["file"].tolist()[:2] == ["clips/d.mp4", "clips/e.txt"]
    assert pd.isna(errs["file"].iloc[2])
    assert errs["source"].iloc[2] == "https://example.org/missing.mp4"
    assert errs["message"].iloc[0].startswith("transcript confidence (0.0)")
    none = humelab.read_errors(real_samples / "humegradio_face_image/predictions.json")
    assert len(none) == 0 and list(none.columns) == list(errs.columns)


def test_callback_body_fills_job_id(v0_fixtures):
    path = v0_fixtures / "v0_callback.json"
    df = humelab.read_predictions(path)
    assert set(df["job_id"]) == {"2f1c0a1e-6d0b-4b8e-9a51-0c7d3e2b9f10"}
    assert len(df) == len(plain_scores(json.loads(path.read_text())))
    other = humelab.read_predictions(path, job_id="mine")
    assert set(other["job_id"]) == {"mine"}
    zp = v0_fixtures / "v0_all_shapes_artifacts.zip"
    assert set(humelab.read_artifacts(zp, job_id="j1")["job_id"]) == {"j1"}


def test_failed_callback_body_is_an_error():
    body = {"job_id": "abc", "status": "FAILED", "message": "out of credits"}
    with pytest.raises(ReadError, match=r"job `abc`.*FAILED.*out of credits"):
        humelab.read_predictions(body)


# -- input kinds -----------------------------------------------------------------------


def test_every_input_kind_gives_the_same_frame(real_samples):
    path = real_samples / "interviewiq_face-prosody_url/predictions.json"
    expected = humelab.read_predictions(path)
    data = path.read_bytes()
    parsed = json.loads(data)
    for src in (str(path), data, io.BytesIO(data), parsed, data.decode()):
        pd.testing.assert_frame_equal(humelab.read_predictions(src), expected)
    single = humelab.read_predictions(parsed[0])
    pd.testing.assert_frame_equal(single, expected)
    with open(path, "rb") as f:
        pd.testing.assert_frame_equal(humelab.read_predictions(f), expected)
    zp = real_samples / "interviewiq_face-prosody_url/artifacts.zip"
    zexp = humelab.read_artifacts(zp)
    for src in (str(zp), zp.read_bytes(), io.BytesIO(zp.read_bytes())):
        pd.testing.assert_frame_equal(humelab.read_artifacts(src), zexp)


def test_empty_predictions_give_empty_contract_frame():
    df = humelab.read_predictions([])
    humelab.validate(df)
    assert len(df) == 0
    assert len(humelab.to_wide(df)) == 0


# -- bad input -------------------------------------------------------------------------


def test_malformed_json_names_file_line_and_column(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text(
        '[\n  {"source": {"type": "url"},\n   "results": {"predictions": [}\n]'
    )
    with pytest.raises(
        ReadError, match=r"broken\.json.*line 3, column 32 \(JSON is malformed"
    ):
        humelab.read_predictions(bad)


def test_truncated_json(real_samples, tmp_path):
    data = (real_samples / "humegradio_face_image/predictions.json").read_bytes()
    bad = tmp_path / "cut.json"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ReadError,
        match=r"cut\.json' is not valid JSON at line 1, column \d+ .*truncated",
    ):
        humelab.read_predictions(bad)


def test_wrong_reader_says_which_to_use(real_samples):
    with pytest.raises(ReadError, match=r"artifacts\.zip.*humelab\.read_artifacts"):
        humelab.read_predictions(real_samples / "humegradio_face_image/artifacts.zip")
    with pytest.raises(
        ReadError, match=r"predictions\.json.*humelab\.read_predictions"
    ):
        humelab.read_artifacts(real_samples / "humegradio_face_image/predictions.json")


def test_truncated_zip(real_samples, tmp_path):
    data = (real_samples / "interviewiq_face-prosody_url/artifacts.zip").read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReadError, match=r"cut\.zip.*truncated"):
        humelab.read_artifacts(cut)


def test_empty_files(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(ReadError, match=r"empty\.json.* is empty"):
        humelab.read_predictions(empty)
    with pytest.raises(ReadError, match=r"empty\.json.* is empty"):
        humelab.read_artifacts(empty)
    with pytest.raises(ReadError, match="is empty"):
        humelab.read_predictions(b"  \n")


def _zip(entries: dict[str, str]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in entries.items():
            zf.writestr(name, text)
    return buf.getvalue()


def test_csv_with_unexpected_columns():
    header = list(humelab.schema.csv_columns("prosody"))
    header[8] = "Bogus"
    data = _zip({"url-0-a.mp3/csv/a.mp3/prosody.csv": ",".join(header) + "\r\n"})
    with pytest.raises(ReadError, match=r"prosody\.csv.*unexpected columns 'Bogus'"):
        humelab.read_artifacts(data)
    meta = _zip({"url-0-a.mp3/csv/a.mp3/face.csv": "Id,Frame,Oops\r\n"})
    with pytest.raises(ReadError, match=r"unexpected metadata columns"):
        humelab.read_artifacts(meta)
    short = ",".join(humelab.schema.csv_columns("burst")) + "\r\nunknown,1.0\r\n"
    with pytest.raises(ReadError, match=r"row 2 has 2 cells"):
        humelab.read_artifacts(_zip({"file-0-a/csv/a/burst.csv": short}))
    cols = humelab.schema.csv_columns("burst")
    word = ",".join(cols) + "\r\nunknown,0.0,1.0," + ",".join(["x"] * (len(cols) - 3))
    with pytest.raises(ReadError, match=r"burst\.csv' has a non-numeric score"):
        humelab.read_artifacts(_zip({"file-0-a/csv/a/burst.csv": word + "\r\n"}))
    with pytest.raises(ReadError, match=r"unknown model 'gaze'"):
        humelab.read_artifacts(_zip({"file-0-a/csv/a/gaze.csv": "Id\r\n"}))
    with pytest.raises(ReadError, match=r"holds no model CSVs"):
        humelab.read_artifacts(_zip({"readme.txt": "hi"}))


def test_json_in_the_wrong_shape_is_a_read_error():
    for bad, match in [
        ([1, 2], r"Expected `object`, got `int` - at `\$\[0\]`"),
        ({"hello": "world"}, r"none of the keys"),
        (
            [{"source": {"type": "url"}, "results": {"predictions": "x"}}],
            r"predictions",
        ),
        ("[{]", r"not valid JSON"),
        (b"\x00\x01binary", r"does not start like JSON"),
    ]:
        with pytest.raises(ReadError, match=match):
            humelab.read_predictions(bad)
    grp = {"id": "x", "predictions": [{"emotions": [{"name": "Joy", "score": "hi"}]}]}
    src = {
        "source": {"type": "text"},
        "results": {
            "predictions": [{"file": "0", "models": {"language": {
                "metadata": None, "grouped_predictions": [grp]}}}],
            "errors": [],
        },
    }  # fmt: skip
    with pytest.raises(
        ReadError, match=r"model `language`, group `x`.*Expected `float`"
    ):
        humelab.read_predictions([src])


def test_bad_options_and_objects(tmp_path):
    with pytest.raises(ReadError, match=r"`shape` must be one of 'long', 'wide'"):
        humelab.read_predictions([], shape="tall")
    with pytest.raises(ReadError, match=r"`errors` must be one of"):
        humelab.read_predictions([], errors="explode")
    with pytest.raises(ReadError, match=r"cannot read a int"):
        humelab.read_predictions(42)
    with pytest.raises(ReadError, match=r"No such file: '.*nope\.json'"):
        humelab.read_predictions(tmp_path / "nope.json")
    text_file = tmp_path / "t.json"
    text_file.write_text("[]")
    with open(text_file) as f, pytest.raises(ReadError, match=r"text mode.*'rb'"):
        humelab.read_predictions(f)
    assert issubclass(ReadError, HumelabError)


def test_conversion_errors(real_samples):
    df = humelab.read_predictions(
        real_samples / "humegradio_face_image/predictions.json"
    )
    with pytest.raises(SchemaError, match="already long"):
        humelab.to_long(df)
    with pytest.raises(SchemaError, match="wide frame"):
        humelab.to_wide(humelab.to_wide(df))
    dup = pd.concat([df, df], ignore_index=True)
    with pytest.raises(SchemaError, match="two scores with the same `name`"):
        humelab.to_wide(dup)
    with pytest.raises(SchemaError, match="missing `segment`"):
        humelab.to_long(humelab.to_wide(df).drop(columns=["segment"]))


def test_to_long_families_for_unknown_names(real_samples):
    df = humelab.read_predictions(
        real_samples / "humegradio_face_image/predictions.json"
    )
    wide = humelab.to_wide(df).assign(Sparkle=np.float32(0.5))
    long = humelab.to_long(wide, families={"Sparkle": "descriptions"})
    row = long[long["name"] == "Sparkle"]
    assert row["family"].tolist() == ["descriptions"] and row["score"].tolist() == [0.5]
    assert humelab.to_long(wide).query("name == 'Sparkle'")["family"].tolist() == [
        "emotions"
    ]


# -- command line ----------------------------------------------------------------------


def test_cli_read_summarises(real_samples, capsys):
    from humelab.cli import main

    path = real_samples / "interreviewer_face-prosody-language/predictions.json"
    assert main(["read", str(path)]) == 0
    out = capsys.readouterr().out
    assert "predictions JSON" in out and "27,408 rows" in out
    assert "face (" in out and "language (" in out and "not felt emotion" in out
    zp = real_samples / "interreviewer_face-prosody-language/artifacts.zip"
    assert main(["read", str(zp), "--shape", "wide"]) == 0
    out = capsys.readouterr().out
    assert "artifacts zip, shape wide" in out and "564 rows" in out
    bad = real_samples / "hume-python-sdk_fixtures/details-response-queued.json"
    assert main(["read", str(bad)]) == 1
    assert "job details body" in capsys.readouterr().err


def _text_source(preds, model="language"):
    group = {"id": "unknown", "predictions": preds}
    models = {model: {"metadata": None, "grouped_predictions": [group]}}
    return {
        "source": {"type": "text"},
        "results": {"predictions": [{"file": "0", "models": models}], "errors": []},
    }


@pytest.mark.parametrize("first", ["Sparkle", "Anger"])
def test_names_outside_vocabulary_or_order_are_kept_as_given(first):
    # Given lists whose names differ from prediction to prediction (and, once, a
    # name outside the v0 vocabulary, keys in another order)
    preds = [
        {"emotions": [{"score": 0.5, "name": first}, {"name": "Joy", "score": 0.25}]},
        {"emotions": [{"name": "Joy", "score": 0.75}], "sentiment": None},
        {"emotions": [{"name": "Joy", "score": 0.125}, {"name": first, "score": 1.0}]},
    ]
    df = humelab.read_predictions([_text_source(preds)])
    assert df["name"].tolist() == [first, "Joy", "Joy", "Joy", first]
    assert df["score"].tolist() == [0.5, 0.25, 0.75, 0.125, 1.0]
    assert df["segment"].tolist() == [0, 0, 1, 2, 2]
    assert df["score"].dtype == np.float32


def test_scores_that_are_not_float32_stay_float64():
    preds = [{"emotions": [{"name": "Joy", "score": 0.1}]}]
    df = humelab.read_predictions([_text_source(preds)])
    assert df["score"].dtype == np.float64 and df["score"].tolist() == [0.1]


def test_source_error_repeating_a_file_error_is_reported_once():
    msg = "could not fetch http://127.0.0.1:9/a.mp4: ConnectionError."
    element = {
        "source": {"type": "url", "url": "http://127.0.0.1:9/a.mp4"},
        "results": {"predictions": [], "errors": [{"file": "a.mp4", "message": msg}]},
        "error": msg,
    }
    other = dict(element, error="the whole source failed")
    errs = humelab.read_errors([element, other])
    assert errs["file"].tolist()[:1] == ["a.mp4"] and len(errs) == 3
    assert pd.isna(errs["file"].iloc[1]) and errs["message"].iloc[1].startswith("the")
    with pytest.warns(HumelabWarning, match=r"1 of 1 files or sources failed"):
        assert len(humelab.read_predictions([element])) == 0


def test_bench_file_is_valid_predictions(tmp_path):
    # the benchmark's one-hour generator, on 20 s: plain json agrees with the reader
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "bench_read.py"
    spec = importlib.util.spec_from_file_location("bench_read", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "short.json"
    bench.write_hour(out, seconds=20)
    raw = json.loads(out.read_text())
    df = humelab.read_predictions(out)
    np.testing.assert_array_equal(df["score"].to_numpy(np.float64), plain_scores(raw))
    assert set(df["group"]) == {"face_0", "face_1", "spk_0", "spk_1", "unknown"}
    assert (df.loc[df["model"] == "face"].groupby("group", observed=True).size()
            == 60 * 48).all()  # fmt: skip


def test_byte_order_mark_and_whitespace(real_samples):
    data = (real_samples / "humegradio_face_image/predictions.json").read_bytes()
    expected = humelab.read_predictions(data)
    bom = b"\xef\xbb\xbf\n  " + data
    pd.testing.assert_frame_equal(humelab.read_predictions(bom), expected)


def test_to_wide_of_shuffled_rows(real_samples):
    df = humelab.read_predictions(
        real_samples / "interreviewer_face-prosody-language/predictions.json"
    )
    shuffled = df.sample(frac=1.0, random_state=0)
    wide = humelab.to_wide(shuffled)
    assert len(wide) == len(humelab.to_wide(df))
    back = humelab.to_long(wide)
    pd.testing.assert_frame_equal(canon(back), canon(df))


def test_common_mistakes_are_explained(real_samples):
    df = humelab.read_predictions(
        real_samples / "humegradio_face_image/predictions.json"
    )
    with pytest.raises(ReadError, match=r"cannot read a DataFrame.*already a frame"):
        humelab.read_artifacts(df)

    class Job:  # what a humelab.Job looks like from outside
        job_id = "abc"

        def frame(self):
            return df

    with pytest.raises(ReadError, match=r"looks like a `Job`.*job\.frame\(\)"):
        humelab.read_predictions(Job())


def test_segment_follows_time_within_group_whatever_the_csv_order(real_samples):
    # Given a real zip whose prosody rows are shuffled (speakers interleaved)
    import zipfile

    src = real_samples / "interreviewer_face-prosody-language/artifacts.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w") as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename.endswith("prosody.csv"):
                head, *rows = body.decode().split("\r\n")
                rows = [r for r in rows if r]
                rows = rows[1::2] + rows[0::2]
                body = "\r\n".join([head, *rows, ""]).encode()
            zout.writestr(info.filename, body)
    # Then segments still count each speaker's utterances in time order
    js = real_samples / "interreviewer_face-prosody-language/predictions.json"
    pd.testing.assert_frame_equal(
        humelab.read_artifacts(buf.getvalue(), predictions=js),
        humelab.read_predictions(js),
    )


def test_same_source_twice_keeps_keys_unique(v0_fixtures):
    # Given a job where the same upload name appears twice (two sources)
    from humelab.service.artifacts import write_artifacts

    data = json.loads((v0_fixtures / "v0_all_shapes.json").read_text())
    twice = [data[1], data[3], data[1]]
    df = humelab.read_predictions(twice)
    # Then the second gets its position appended, and every key is unique
    assert list(df["source"].cat.categories) == ["talk.mp4", "text", "talk.mp4 [2]"]
    pd.testing.assert_frame_equal(humelab.to_long(humelab.to_wide(df)), df)
    buf = io.BytesIO()
    write_artifacts(twice, buf)
    for predictions in (twice, df, None):
        back = humelab.read_artifacts(buf.getvalue(), predictions=predictions)
        pd.testing.assert_frame_equal(canon(back), canon(df))
    errs = humelab.read_errors([data[4], data[4]])
    assert errs["source"].tolist() == [
        "https://example.org/missing.mp4",
        "https://example.org/missing.mp4 [1]",
    ]


@pytest.mark.parametrize("pair", PAIRS)
def test_real_pairs_wide_agree(real_samples, pair):
    js = real_samples / pair / "predictions.json"
    zp = real_samples / pair / "artifacts.zip"
    from_json = humelab.read_predictions(js, shape="wide")
    from_zip = humelab.read_artifacts(zp, shape="wide", predictions=js)
    # the zip does not record file_type; everything else, metadata included, agrees
    assert from_zip["file_type"].isna().all()
    pd.testing.assert_frame_equal(
        from_zip.drop(columns="file_type"), from_json.drop(columns="file_type")
    )
