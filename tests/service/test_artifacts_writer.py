"""The artifacts writer: byte-identical to Hume's zips, layout, CSV cells, read-back."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pandas as pd
import pytest

import humelab
from humelab.schema import csv_columns
from humelab.service.artifacts import artifact_prefix, write_artifacts
from humelab.service.engines import (
    Measurement,
    MediaInput,
    fill_model_defaults,
    get_engine,
)
from tests.media import make_image, make_text_file, make_video, make_wav

REAL_PAIRS = [
    "calhacks-vihk_prosody_audio_url",
    "calhacks-vihk_prosody_mp4_url",
    "humegradio_face_image",
    "interreviewer_defaults",
    "interreviewer_face-prosody-language",
    "interviewiq_face-prosody_url",
]

EVERYTHING = {
    "face": {"facs": {}, "descriptions": {}, "identify_faces": True},
    "burst": {},
    "prosody": {"identify_speakers": True},
    "language": {"sentiment": {}, "toxicity": {}},
    "ner": {"identify_speakers": True},
    "facemesh": {},
}


def zip_bytes(predictions) -> bytes:
    buf = io.BytesIO()
    write_artifacts(predictions, buf)
    return buf.getvalue()


def read_csv(zf, name):
    return list(csv.reader(io.StringIO(zf.read(name).decode(), newline="")))


@pytest.fixture(scope="module")
def simulated_predictions(tmp_path_factory):
    """A job's predictions from the simulated engine: every model, three kinds."""
    d = tmp_path_factory.mktemp("art")
    wav = make_wav(d / "talk.wav", 4.0)
    vtt = make_text_file(
        d / "talk.vtt",
        'WEBVTT\n\n00:00.200 --> 00:01.500\n<v Ann>Hi Tom, "really" in Oslo?\n\n'
        "00:01.600 --> 00:03.000\n<v Tom>Yes Ann, in Oslo.\n",
    )
    video = make_video(d / "clip.mp4", 1.0)
    image = make_image(d / "face.png")
    engine = get_engine("simulated")
    models = fill_model_defaults(EVERYTHING)

    def run(name, **kw):
        out = engine.measure(MediaInput(name, **kw), models=models, transcription={})
        # (a video's speech without transcript also gives an error entry: not here)
        entry = out.entry if isinstance(out, Measurement) else out
        return {"file": name, **entry}

    return [
        {
            "source": {
                "type": "url",
                "url": "https://example.org/media/talk.wav?sig=1",
            },
            "results": {
                "predictions": [run("talk.wav", path=wav, transcript=vtt)],
                "errors": [],
            },
        },
        {
            "source": {
                "type": "file",
                "filename": "bundle.zip",
                "content_type": None,
                "md5sum": "0" * 32,
            },
            "results": {
                "predictions": [
                    run("clips/clip.mp4", path=video),
                    run("faces/face.png", path=image),
                ],
                "errors": [{"file": "bad.mp4", "message": "could not decode bad.mp4"}],
            },
        },
        {
            "source": {"type": "url", "url": "https://example.org/gone.mp4"},
            "error": "404",
        },
        {
            "source": {"type": "text"},
            "results": {
                "predictions": [
                    run("1", text="Nice to meet you, Maria."),
                    run("0", text="I flew to Lima. Great trip!"),
                ],
                "errors": [],
            },
        },
    ]


@pytest.mark.parametrize("sample", REAL_PAIRS)
def test_byte_identical_to_real_artifacts(real_samples, sample):
    # Given a real job's predictions and the artifacts zip Hume made from them
    folder = real_samples / sample
    predictions = json.loads((folder / "predictions.json").read_text())
    real = zipfile.ZipFile(folder / "artifacts.zip")
    # When we write artifacts from the predictions
    mine = zipfile.ZipFile(io.BytesIO(zip_bytes(predictions)))
    # Then the same entries, in the same order, stored, with identical CSV bytes
    assert mine.namelist() == real.namelist()
    for info in mine.infolist():
        assert info.compress_type == zipfile.ZIP_STORED
        assert mine.read(info) == real.read(info.filename), info.filename


@pytest.mark.parametrize(
    ("source", "index", "prefix"),
    [
        (
            {"type": "url", "url": "https://h.org/a/IMG_4648.mp4?x=1#f"},
            0,
            "url-0-IMG_4648.mp4",
        ),
        (
            {"type": "url", "url": "https://h.org/a%20b/my%20talk.m4a"},
            3,
            "url-3-my talk.m4a",
        ),
        ({"type": "url", "url": "https://h.org/"}, 1, "url-1-h.org"),
        (
            {"type": "file", "filename": "webcam.png", "md5sum": "x"},
            0,
            "file-0-webcam.png",
        ),
        ({"type": "file", "filename": None, "md5sum": "x"}, 2, "file-2-file"),
        ({"type": "text"}, 4, "text-4-text"),
    ],
)
def test_artifact_prefix(source, index, prefix):
    assert artifact_prefix(source, index) == prefix


def test_layout_of_mixed_sources(simulated_predictions):
    zf = zipfile.ZipFile(io.BytesIO(zip_bytes(simulated_predictions)))
    names = zf.namelist()
    # index = position of the source in the predictions array (one counter for all
    # kinds); the failed source (index 2) writes nothing; models in reverse order
    assert names == [
        "url-0-talk.wav/csv/talk.wav/ner.csv",
        "url-0-talk.wav/csv/talk.wav/language.csv",
        "url-0-talk.wav/csv/talk.wav/prosody.csv",
        "url-0-talk.wav/csv/talk.wav/burst.csv",
        "file-1-bundle.zip/csv/clips/clip.mp4/facemesh.csv",
        "file-1-bundle.zip/csv/clips/clip.mp4/prosody.csv",
        "file-1-bundle.zip/csv/clips/clip.mp4/burst.csv",
        "file-1-bundle.zip/csv/clips/clip.mp4/face.csv",
        "file-1-bundle.zip/csv/faces/face.png/facemesh.csv",
        "file-1-bundle.zip/csv/faces/face.png/face.csv",
        "text-3-text/csv/1/ner.csv",
        "text-3-text/csv/1/language.csv",
        "text-3-text/csv/0/ner.csv",
        "text-3-text/csv/0/language.csv",
    ]
    for name in names:
        model = name.rsplit("/", 1)[1][:-4]
        rows = read_csv(zf, name)
        assert tuple(rows[0]) == csv_columns(model)
        assert all(len(r) == len(rows[0]) for r in rows)
        raw = zf.read(name)
        assert raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n")


def test_csv_cells(simulated_predictions):
    zf = zipfile.ZipFile(io.BytesIO(zip_bytes(simulated_predictions)))
    # burst: Id, BeginTime, EndTime, 48 emotions, 67 descriptions
    burst = read_csv(zf, "url-0-talk.wav/csv/talk.wav/burst.csv")
    assert burst[0][:4] == ["Id", "BeginTime", "EndTime", "Admiration"]
    assert burst[0][-1] == "Yuck" and len(burst[0]) == 3 + 48 + 67
    # ner: metadata then 53 language emotions; quoted only when needed
    raw = zf.read("url-0-talk.wav/csv/talk.wav/language.csv").decode()
    assert '"Tom,"' in raw  # a word with a comma is quoted
    assert '"""really"""' in raw  # quotes are doubled
    ner = read_csv(zf, "url-0-talk.wav/csv/talk.wav/ner.csv")
    header = ner[0]
    rows = [dict(zip(header, r, strict=True)) for r in ner[1:]]
    assert [r["Entity"] for r in rows] == ["Tom", "Oslo", "Ann", "Oslo"]
    assert [r["Id"] for r in rows] == ["spk_0", "spk_0", "spk_1", "spk_1"]
    assert rows[1]["Uri"] == "https://en.wikipedia.org/wiki/Oslo"
    assert rows[0]["SpeakerConfidence"] == ""  # null -> empty cell
    # prosody rows sorted by begin time across speaker groups
    pros = read_csv(zf, "url-0-talk.wav/csv/talk.wav/prosody.csv")
    begins = [float(r[2]) for r in pros[1:]]
    assert begins == sorted(begins)
    # face: FACS and descriptions filled (requested); text language: time empty
    face = read_csv(zf, "file-1-bundle.zip/csv/clips/clip.mp4/face.csv")
    assert face[0][8 + 48] == "AU1 Inner Brow Raise"
    assert all(cell != "" for cell in face[1][8:])
    assert [r[1] for r in face[1:]] == ["0", "8", "17", "25"][: len(face) - 1]
    text = read_csv(zf, "text-3-text/csv/0/language.csv")
    assert [r[1] for r in text[1:]] == ["I", "flew", "to", "Lima.", "Great", "trip!"]
    assert all(r[4] == r[5] == r[6] == "" for r in text[1:])
    # facemesh: Id and 48 emotions
    mesh = read_csv(zf, "file-1-bundle.zip/csv/faces/face.png/facemesh.csv")
    assert mesh[0][0] == "Id" and len(mesh[0]) == 49 and mesh[1][0] == "unknown"


def test_member_paths_cannot_escape():
    pred = {"emotions": [{"name": "Joy", "score": 0.5}]}
    group = {"id": "unknown", "predictions": [pred]}
    entry = {"metadata": None, "grouped_predictions": [group]}
    predictions = [
        {
            "source": {"type": "file", "filename": "../evil.zip", "md5sum": "x"},
            "results": {
                "predictions": [
                    {"file": "../../etc/x.png", "models": {"facemesh": entry}},
                    {"file": "a\\..\\b.png", "models": {"facemesh": entry}},
                ],
                "errors": [],
            },
        }
    ]
    names = zipfile.ZipFile(io.BytesIO(zip_bytes(predictions))).namelist()
    assert names == [
        "file-0-.._evil.zip/csv/etc/x.png/facemesh.csv",
        "file-0-.._evil.zip/csv/a/b.png/facemesh.csv",
    ]


def test_writes_to_path_and_skips_empty(tmp_path):
    predictions = [
        {
            "source": {"type": "file", "filename": "quiet.wav", "md5sum": "x"},
            "results": {
                "predictions": [
                    {
                        "file": "quiet.wav",
                        "file_type": "audio",
                        "models": {
                            "prosody": {"metadata": None, "grouped_predictions": []}
                        },
                    }
                ],
                "errors": [],
            },
        }
    ]
    dest = tmp_path / "artifacts.zip"
    write_artifacts(predictions, dest)
    assert zipfile.ZipFile(dest).namelist() == []


def _big_face_predictions(n):
    names = humelab.schema.EXPRESSIONS
    preds = [
        {
            "frame": i * 10,
            "time": i / 3,
            "prob": 0.999,
            "box": {"x": 1.5, "y": 2.5, "w": 100.0, "h": 120.0},
            "emotions": [{"name": x, "score": 0.1234567} for x in names],
            "facs": None,
            "descriptions": None,
        }
        for i in range(n)
    ]
    return [
        {
            "source": {"type": "url", "url": "https://e.org/hour.mp4"},
            "results": {
                "predictions": [
                    {
                        "file": "hour.mp4",
                        "file_type": "video",
                        "models": {
                            "face": {
                                "metadata": None,
                                "grouped_predictions": [
                                    {"id": "face_0", "predictions": preds}
                                ],
                            }
                        },
                    }
                ],
                "errors": [],
            },
        }
    ]


class _Recorder(io.RawIOBase):
    """A seekable binary sink that records the size of every write."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.sizes = []

    def writable(self):
        return True

    def seekable(self):
        return True

    def write(self, b):
        self.sizes.append(len(b))
        return self.buf.write(b)

    def seek(self, *args):
        return self.buf.seek(*args)

    def tell(self):
        return self.buf.tell()


def test_rows_are_streamed():
    # Given 3 000 face rows (about 1.8 MB of CSV)
    predictions = _big_face_predictions(3_000)
    sink = _Recorder()
    # When writing them
    write_artifacts(predictions, sink)
    # Then the CSV reaches the zip in chunks, never as one big string
    size = zipfile.ZipFile(sink.buf).infolist()[0].file_size
    assert size > 1_500_000
    assert max(sink.sizes) < 200_000
    assert sum(sink.sizes) >= size


def canonical(df):
    keys = ["source", "file", "model", "group", "segment", "family", "name"]
    out = df.astype({c: str for c in df.columns if str(df[c].dtype) == "category"})
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def test_read_artifacts_round_trip_simulated(simulated_predictions):
    # The zip read back equals the predictions read directly.
    zbytes = zip_bytes(simulated_predictions)
    direct = humelab.read_predictions(simulated_predictions, errors="ignore")
    back = humelab.read_artifacts(zbytes, predictions=simulated_predictions)
    assert set(back["model"].unique()) == set(humelab.schema.MODELS)
    pd.testing.assert_frame_equal(back, direct)


@pytest.mark.parametrize("sample", REAL_PAIRS)
def test_read_artifacts_round_trip_real(real_samples, sample):
    predictions = json.loads((real_samples / sample / "predictions.json").read_text())
    back = humelab.read_artifacts(zip_bytes(predictions), predictions=predictions)
    pd.testing.assert_frame_equal(back, humelab.read_predictions(predictions))


def test_read_artifacts_round_trip_group_order(real_samples):
    # Hume's JSON lists groups face_1, face_0, ...; CSVs cannot keep that order, so
    # the frames agree up to row order.
    path = real_samples / "hume-api-examples_visualization" / "predictions.json"
    predictions = json.loads(path.read_text())
    back = humelab.read_artifacts(zip_bytes(predictions), predictions=predictions)
    direct = humelab.read_predictions(predictions)
    pd.testing.assert_frame_equal(canonical(back), canonical(direct))
