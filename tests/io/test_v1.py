"""humelab.read_v1: Hume v1 upload responses into the tidy frame.

The example bodies of reference/v1-api.md section 10 are copied here as literals
(they are documentation, written by the reference's author, not real samples);
the rest come from the v1 stand-in over loopback.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import requests

import humelab
from humelab import ReadError
from humelab.service.v1_standin import V1StandIn
from tests.media import _draw_faces

# reference/v1-api.md 10.1
AUDIO_EXAMPLE = {
    "request_id": "7c41d09e2a5b4f3e8d16b0a9c3e7f215",
    "run_id": "019a2f10-4c7e-7b21-9a3d-5e8f0c1b2d34",
    "received": {"audio_duration_ms": 7400},
    "utterances": [{"utterance_id": 0, "audio_start_ms": 310, "audio_end_ms": 6920}],
    "measurements": [
        {
            "measurement_id": 0,
            "utterance_id": 0,
            "audio_start_ms": 310,
            "audio_end_ms": 5310,
            "trigger": "interval",
            "expressions": [
                {"name": "interest", "probability": 0.5812},
                {"name": "joy", "probability": 0.2204},
            ],
            "voice_attributes": [{"name": "calm", "probability": 0.9031}],
        },
        {
            "measurement_id": 1,
            "utterance_id": 0,
            "audio_start_ms": 310,
            "audio_end_ms": 6920,
            "trigger": "speech_ended",
            "expressions": [],
            "voice_attributes": [
                {"name": "clear", "probability": 0.8876},
                {"name": "calm", "probability": 0.7719},
            ],
        },
    ],
}

# reference/v1-api.md 10.2
VIDEO_EXAMPLE = {
    "request_id": "0e9b3c5d71a84f2c9b6e4d8a2f1c7e03",
    "run_id": "019a2f11-0b3d-7e44-8c2a-1f6d9e3b7a50",
    "received": {"frames": 2},
    "measurements": [
        {
            "frame_id": 0,
            "faces": [
                {
                    "face_id": 0,
                    "bbox": [412.6, 188.0, 655.1, 497.3],
                    "confidence": 0.9984,
                    "expressions": [
                        {"name": "amusement", "probability": 0.6411},
                        {"name": "joy", "probability": 0.4032},
                    ],
                    "descriptions": [{"name": "smile", "probability": 0.8120}],
                },
                {
                    "face_id": 1,
                    "bbox": [801.0, 240.5, 952.3, 431.8],
                    "confidence": 0.9951,
                    "expressions": [{"name": "interest", "probability": 0.3307}],
                    "descriptions": [],
                },
                {
                    "face_id": None,
                    "bbox": [40.2, 51.9, 101.7, 130.4],
                    "confidence": 0.9127,
                    "expressions": None,
                    "descriptions": None,
                },
            ],
        },
        {"frame_id": 1, "faces": []},
    ],
    "face_state": "opaque-token-valid-24h",
}

KEY = "read-v1-test-key"


def rows(df):
    cols = ["model", "group", "segment", "frame", "begin", "end", "family", "name"]
    out = []
    for rec in df[cols + ["score"]].itertuples(index=False):
        vals = [None if pd.isna(v) else v for v in rec]
        vals[-1] = round(float(vals[-1]), 6)
        vals[4] = None if vals[4] is None else round(vals[4], 6)
        vals[5] = None if vals[5] is None else round(vals[5], 6)
        out.append(tuple(vals))
    return out


# -- the reference's example bodies ----------------------------------------------------


def test_audio_example_of_the_reference():
    df = humelab.validate(humelab.read_v1(AUDIO_EXAMPLE))
    assert rows(df) == [
        ("prosody", "unknown", 0, None, 0.31, 5.31, "emotions", "interest", 0.5812),
        ("prosody", "unknown", 0, None, 0.31, 5.31, "emotions", "joy", 0.2204),
        ("prosody", "unknown", 0, None, 0.31, 5.31, "voice_attributes", "calm", 0.9031),
        (
            "prosody",
            "unknown",
            1,
            None,
            0.31,
            6.92,
            "voice_attributes",
            "clear",
            0.8876,
        ),
        ("prosody", "unknown", 1, None, 0.31, 6.92, "voice_attributes", "calm", 0.7719),
    ]
    # sparse: measurement 1 has no `interest` row, not a zero
    assert not ((df["segment"] == 1) & (df["name"] == "interest")).any()
    assert df["job_id"].isna().all() and df["text"].isna().all()
    assert set(df["source"]) == {"response_0"} and set(df["file"]) == {"response_0"}
    assert df.attrs["source_format"] == "v1"
    assert df.attrs["simulated"] is False
    assert df.attrs["run_ids"] == [AUDIO_EXAMPLE["run_id"]]
    assert df.attrs["request_ids"] == [AUDIO_EXAMPLE["request_id"]]


def test_video_example_of_the_reference():
    df = humelab.validate(humelab.read_v1(VIDEO_EXAMPLE))
    assert rows(df) == [
        ("face", "face_0", 0, 0, None, None, "emotions", "amusement", 0.6411),
        ("face", "face_0", 0, 0, None, None, "emotions", "joy", 0.4032),
        ("face", "face_0", 0, 0, None, None, "descriptions", "smile", 0.812),
        ("face", "face_1", 0, 0, None, None, "emotions", "interest", 0.3307),
    ]
    # with the rate the images were taken at, faces get a time: begin == end
    timed = humelab.read_v1(VIDEO_EXAMPLE, fps=3)
    assert (timed["begin"] == 0.0).all() and (timed["end"] == timed["begin"]).all()


def test_video_example_wide_keeps_unmeasured_faces_as_detections():
    wide = humelab.read_v1(VIDEO_EXAMPLE, shape="wide")
    assert list(wide["group"]) == ["face_0", "face_1", "unmeasured"]
    assert list(wide["face_id"]) == [0, 1, pd.NA]
    un = wide.iloc[2]
    assert un["prob"] == 0.9127
    assert (un["box_x"], un["box_y"]) == (40.2, 51.9)
    assert un["box_w"] == pytest.approx(101.7 - 40.2)
    assert un["box_h"] == pytest.approx(130.4 - 51.9)
    assert wide.loc[0, "box_w"] == pytest.approx(655.1 - 412.6)
    assert wide.loc[0, "prob"] == 0.9984
    for name in ("amusement", "joy", "interest", "smile"):
        assert np.isnan(un[name])
    assert wide.loc[0, "smile"] == pytest.approx(0.812)
    assert np.isnan(wide.loc[1, "smile"])  # absent, not zero
    assert wide.loc[1, "interest"] == pytest.approx(0.3307)
    # back to long: drop the v1 id columns, and name the non-emotion families
    back = humelab.to_long(
        wide.drop(columns=["face_id"]), families={"smile": "descriptions"}
    )
    assert rows(back) == rows(humelab.read_v1(VIDEO_EXAMPLE))


def test_audio_example_wide_has_v1_ids():
    wide = humelab.read_v1(AUDIO_EXAMPLE, shape="wide")
    assert list(wide["measurement_id"]) == [0, 1]
    assert list(wide["utterance_id"]) == [0, 0]
    assert list(wide["trigger"]) == ["interval", "speech_ended"]
    assert wide.loc[0, "interest"] == pytest.approx(0.5812)
    assert np.isnan(wide.loc[1, "interest"])
    assert wide["confidence"].isna().all()


# -- inputs ----------------------------------------------------------------------------


def test_every_kind_of_input_gives_the_same_frame(tmp_path):
    path = tmp_path / "clip.v1.json"
    text = json.dumps(AUDIO_EXAMPLE)
    path.write_text(text)
    want = rows(humelab.read_v1(AUDIO_EXAMPLE))
    for src in (path, str(path), text.encode(), io.BytesIO(text.encode()), text):
        assert rows(humelab.read_v1(src)) == want
    assert set(humelab.read_v1(path)["source"]) == {"clip.v1.json"}


def test_a_list_reads_every_response():
    df = humelab.read_v1([AUDIO_EXAMPLE, VIDEO_EXAMPLE])
    assert list(df["source"].cat.categories) == ["response_0", "response_1"]
    assert df.groupby("model", observed=True).size().to_dict() == {
        "prosody": 5,
        "face": 4,
    }
    named = humelab.read_v1(
        [AUDIO_EXAMPLE, VIDEO_EXAMPLE], source=["talk.wav", "frames"]
    )
    assert list(named["source"].cat.categories) == ["talk.wav", "frames"]
    assert named.attrs["run_ids"] == [AUDIO_EXAMPLE["run_id"], VIDEO_EXAMPLE["run_id"]]


def test_consecutive_requests_of_one_source_are_rebased():
    # Given two audio requests for one long file, the second starting at 7.4 s
    df = humelab.read_v1([AUDIO_EXAMPLE, AUDIO_EXAMPLE], source="long.wav")
    begins = sorted(set(df["begin"].round(6)))
    assert begins == [0.31, 7.71]
    assert set(df["end"].round(6)) == {5.31, 6.92, 12.71, 14.32}
    assert sorted(set(df["segment"])) == [0, 1, 2, 3]
    # and two video requests of one video: frames continue after the first 2
    vid = humelab.read_v1([VIDEO_EXAMPLE, VIDEO_EXAMPLE], source="clip.mp4", fps=2)
    assert sorted(set(vid["frame"])) == [0, 2]
    assert sorted(set(vid["begin"])) == [0.0, 1.0]
    # different sources are not shifted
    apart = humelab.read_v1([AUDIO_EXAMPLE, AUDIO_EXAMPLE])
    assert sorted(set(apart["begin"].round(6))) == [0.31]


def test_a_json_file_with_a_list_of_responses(tmp_path):
    path = tmp_path / "chunks.json"
    path.write_text(json.dumps([AUDIO_EXAMPLE, AUDIO_EXAMPLE]))
    df = humelab.read_v1(path)
    assert set(df["source"]) == {"chunks.json"}
    assert df["begin"].max() == pytest.approx(7.71)


def test_empty_responses_give_an_empty_valid_frame():
    body = dict(AUDIO_EXAMPLE, utterances=[], measurements=[])
    df = humelab.validate(humelab.read_v1(body))
    assert len(df) == 0 and df.attrs["source_format"] == "v1"


# -- what is not a v1 response ---------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "said"),
    [
        (
            {
                "type": "error",
                "code": "config_invalid",
                "message": "bad",
                "request_id": "x",
            },
            "config_invalid",
        ),
        ({"message": "Unauthorized"}, "error answer"),
        (
            {"run_id": "r", "metered_seconds": 10.0, "status": "ended"},
            "run record",
        ),
        ([{"source": {"type": "file"}, "results": {}}], "read_predictions"),
        (b"{not json", "not valid JSON"),
        (b"PK\x03\x04rest", "read_artifacts"),
        (b"   ", "empty"),
        ({"received": {}, "measurements": []}, "neither"),
        (42, "cannot read a int"),
    ],
)
def test_not_a_v1_response(src, said):
    with pytest.raises(ReadError, match=said):
        humelab.read_v1(src)


def test_bad_options():
    with pytest.raises(ValueError, match="shape"):
        humelab.read_v1(AUDIO_EXAMPLE, shape="tall")
    with pytest.raises(ValueError, match="fps"):
        humelab.read_v1(VIDEO_EXAMPLE, fps=0)
    with pytest.raises(ValueError, match="2 names for 1 responses"):
        humelab.read_v1(AUDIO_EXAMPLE, source=["a", "b"])
    with pytest.raises(ReadError, match="empty list"):
        humelab.read_v1([])


# -- the stand-in's responses ----------------------------------------------------------


def _speech(total_ms, spans):
    n = total_ms * 16
    t = np.arange(n) / 16000
    x = np.random.default_rng(0).normal(0, 0.0005, n)
    for a, b in spans:
        x[a * 16 : b * 16] += 0.3 * np.sin(2 * np.pi * 200 * t[a * 16 : b * 16])
    return (x * 32767).astype("<i2").tobytes()


def _jpeg(faces, size=(640, 240)):
    from PIL import Image

    w, h = size
    buf = io.BytesIO()
    rgb = _draw_faces(np.full((h, w), 40.0), [(*f, 0.5) for f in faces])
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def answers():
    with V1StandIn(api_key=KEY) as s:
        head = {"X-Hume-Api-Key": KEY}
        audio = requests.post(
            f"{s.url}/v1/expression/audio/file",
            files={"file": _speech(20000, [(200, 12000), (13000, 19000)])},
            headers=head,
        ).json()
        images = [
            _jpeg([(110, 120, 70, 90), (330, 120, 55, 70), (530, 120, 40, 50)]),
            _jpeg([(130, 120, 70, 90)]),
        ]
        video = requests.post(
            f"{s.url}/v1/expression/video/file",
            files=[("file", img) for img in images],
            headers=head,
        ).json()
        from hume_expression_measurement import (
            ExpressionMeasurementClient,
            ExpressionMeasurementClientEnvironment,
        )

        env = ExpressionMeasurementClientEnvironment(base=s.url, production="ws://x")
        client = ExpressionMeasurementClient(
            api_key=KEY, environment=env, max_retries=0
        )
        sdk = client.video.measure(file=images)
    return audio, video, sdk


def test_stand_in_audio_scores_match_the_json(answers):
    audio, _, _ = answers
    df = humelab.validate(humelab.read_v1(audio))
    assert df.attrs["simulated"] is True
    n = sum(
        len(m["expressions"]) + len(m["voice_attributes"])
        for m in audio["measurements"]
    )
    assert len(df) == n > 0
    for m in audio["measurements"]:
        seg = df[df["segment"] == m["measurement_id"]]
        assert set(seg["begin"]) == {m["audio_start_ms"] / 1000}
        assert set(seg["end"]) == {m["audio_end_ms"] / 1000}
        for key, fam in (
            ("expressions", "emotions"),
            ("voice_attributes", "voice_attributes"),
        ):
            got = seg[seg["family"] == fam]
            assert dict(zip(got["name"], got["score"], strict=True)) == {
                x["name"]: x["probability"] for x in m[key]
            }


def test_stand_in_video_faces(answers):
    _, video, _ = answers
    df = humelab.validate(humelab.read_v1(video, fps=3))
    assert df.attrs["simulated"] is True
    measured = [
        (m["frame_id"], f)
        for m in video["measurements"]
        for f in m["faces"]
        if f["face_id"] is not None
    ]
    assert len(measured) == 3  # 2 of 3 in image 0, 1 in image 1
    n = sum(len(f["expressions"]) + len(f["descriptions"]) for _, f in measured)
    assert len(df) == n
    assert set(df["group"]) <= {"face_0", "face_1"}
    assert set(df["frame"]) <= {0, 1}
    assert (df["begin"] == df["frame"].astype(float) / 3).all()
    wide = humelab.read_v1(video, shape="wide")
    assert len(wide) == 4 and (wide["group"] == "unmeasured").sum() == 1


def test_sdk_objects_read_like_their_json(answers):
    _, video, sdk = answers
    a = humelab.read_v1(sdk)
    b = humelab.read_v1(video)
    assert rows(a) == rows(b)
    assert a.attrs["simulated"] is True
