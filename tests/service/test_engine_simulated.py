"""The simulated engine, the engine registry and model/transcription validation."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from humelab import InputError
from humelab.schema import MODELS, VOCABULARY
from humelab.service.engines import (
    EngineError,
    Measurement,
    MediaInput,
    fill_model_defaults,
    fill_transcription_defaults,
    get_engine,
    validate_models,
    validate_transcription,
)
from tests.media import make_image, make_text_file, make_video, make_wav

KEY_ORDER = {
    "face": ["frame", "time", "prob", "box", "emotions", "facs", "descriptions"],
    "burst": ["time", "emotions", "descriptions"],
    "prosody": ["text", "time", "confidence", "speaker_confidence", "emotions"],
    "language": [
        "text", "position", "time", "confidence", "speaker_confidence", "emotions",
        "sentiment", "toxicity",
    ],
    "ner": [
        "entity", "position", "entity_confidence", "support", "uri", "link_word",
        "time", "confidence", "speaker_confidence", "emotions",
    ],
    "facemesh": ["emotions"],
}  # fmt: skip

NOTHING = object()

TRANSCRIPT = (
    "Hello there, my name is Alice. I moved to New York with Bob Smith last year! "
    "How are you today? I am fine, thanks."
)


@pytest.fixture(scope="module")
def engine():
    return get_engine("simulated")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    out = {
        "wav": make_wav(d / "talk.wav", 6.0),
        "video": make_video(d / "clip.mp4", 2.0),
        "mute": make_video(d / "mute.mp4", 2.0, audio=False),
        "image": make_image(d / "face.png"),
        "image2": make_image(d / "face.jpg", seed=3),
        "txt": make_text_file(d / "talk.txt", TRANSCRIPT),
    }
    out["srt"] = make_text_file(
        d / "clip.srt",
        "1\n00:00:00,100 --> 00:00:00,900\nHello Paris.\n\n"
        "2\n00:00:01,000 --> 00:00:01,900\n<i>How are you, Maria?</i>\n",
    )
    out["vtt"] = make_text_file(
        d / "talk.vtt",
        "WEBVTT\n\nNOTE a comment\n\n"
        "00:00.200 --> 00:01.500\n<v Ann>Hi Tom. Good day.\n\n"
        "00:01.600 --> 00:03.000\n<v Tom>Hello Ann, fine.\n\n"
        "00:03.100 --> 00:04.000\n<v Ann>Great.\n",
    )
    return out


def measure(engine, item, models=None, transcription=NOTHING):
    """The prediction entry (without the error entries an engine may add)."""
    if transcription is NOTHING:
        transcription = {}
    out = engine.measure(
        item, models=fill_model_defaults(models), transcription=transcription
    )
    return out.entry if isinstance(out, Measurement) else out


def check_prediction(model, pred, config):
    """Key order, every dimension in JSON order, float32 scores in [0, 1]."""
    assert list(pred) == KEY_ORDER[model]
    for family, names in VOCABULARY[model].items():
        entries = pred.get(family)
        if family != "emotions" and entries is None:
            continue
        assert [e["name"] for e in entries] == list(names), (model, family)
        scores = np.array([e["score"] for e in entries])
        assert ((scores >= 0) & (scores <= 1)).all()
        assert all(float(np.float32(s)) == s for s in scores)
    if model == "face":
        assert pred["prob"] >= config["prob_threshold"]
        assert (pred["facs"] is None) == (config["facs"] is None)
        assert (pred["descriptions"] is None) == (config["descriptions"] is None)
    if model == "language":
        assert (pred["sentiment"] is None) == (config["sentiment"] is None)
        assert (pred["toxicity"] is None) == (config["toxicity"] is None)
        if pred["sentiment"] is not None:
            assert sum(e["score"] for e in pred["sentiment"]) == pytest.approx(1, 1e-5)


def check_output(out, models):
    echo = fill_model_defaults(models)
    for model, entry in out["models"].items():
        assert list(entry) == ["metadata", "grouped_predictions"]
        for group in entry["grouped_predictions"]:
            assert list(group) == ["id", "predictions"]
            for pred in group["predictions"]:
                check_prediction(model, pred, echo[model])


# -- registry and validation ---------------------------------------------------------


def test_get_engine_unknown_lists_available():
    with pytest.raises(InputError, match="Unknown engine 'nope'.*simulated"):
        get_engine("nope")
    engine = get_engine("simulated")
    assert engine.simulated is True and engine.name == "simulated"
    with pytest.raises(InputError, match="takes no options.*`speed`"):
        get_engine("simulated", speed=2)


def test_fill_model_defaults_omitted_gives_all_six():
    echo = fill_model_defaults(None)
    assert list(echo) == list(MODELS)
    assert echo["face"] == {
        "fps_pred": 3.0, "prob_threshold": 0.99, "identify_faces": False,
        "min_face_size": 60, "facs": None, "descriptions": None, "save_faces": False,
    }  # fmt: skip
    assert echo["prosody"] == {
        "granularity": "utterance",
        "identify_speakers": False,
        "window": None,
    }
    assert echo["language"]["granularity"] == "word"
    assert echo["burst"] == {} and echo["facemesh"] == {}
    assert echo["ner"] == {"identify_speakers": False}


def test_fill_model_defaults_requested_only():
    models = {"face": {"facs": {}, "fps_pred": 1}, "prosody": {"window": {"length": 2}}}
    echo = fill_model_defaults(models)
    assert echo["burst"] is None and echo["language"] is None
    assert echo["face"]["facs"] == {} and echo["face"]["fps_pred"] == 1
    assert echo["prosody"]["window"] == {"length": 2, "step": 1.0}
    assert models == {
        "face": {"facs": {}, "fps_pred": 1},
        "prosody": {"window": {"length": 2}},
    }  # input not mutated


@pytest.mark.parametrize(
    ("models", "match"),
    [
        ({"voice": {}}, r"`models\.voice` is not a model.*face, burst"),
        ({"face": {"fps": 3}}, r"`models\.face\.fps` is not an option.*fps_pred"),
        (
            {"langauge": {}},
            r"`models\.langauge` is not a model\. Did you mean `language`",
        ),
        (
            {"face": {"identify_face": True}},
            r"`models\.face\.identify_face`.*Did you mean `identify_faces`",
        ),
        (
            {"face": {"prob_threshold": 1.5}},
            r"`models\.face\.prob_threshold`.*between 0",
        ),
        (
            {"face": {"prob_threshold": "high"}},
            r"`models\.face\.prob_threshold`.*number",
        ),
        (
            {"face": {"identify_faces": 1}},
            r"`models\.face\.identify_faces`.*true or false",
        ),
        ({"face": {"min_face_size": 2.5}}, r"`models\.face\.min_face_size`.*whole"),
        ({"face": {"facs": True}}, r"`models\.face\.facs`.*\{\}"),
        ({"prosody": {"granularity": "para"}}, r"`models\.prosody\.granularity`.*word"),
        (
            {"prosody": {"window": {"length": 0.2}}},
            r"`models\.prosody\.window\.length`",
        ),
        (
            {"prosody": {"window": {"step": 0.1}}},
            r"`models\.prosody\.window\.step`.*0\.5",
        ),
        ({"prosody": {"window": {"size": 1}}}, r"`models\.prosody\.window\.size`"),
        ({"language": {"sentiment": {"x": 1}}}, r"`models\.language\.sentiment`"),
        ({"ner": {"identify_speakers": "yes"}}, r"`models\.ner\.identify_speakers`"),
        ({"burst": {"x": 1}}, r"`models\.burst\.x` is not an option"),
        ({"face": []}, r"`models\.face` must be an object"),
        (["face"], r"`models` must be an object"),
    ],
)
def test_validate_models_names_the_field(models, match):
    with pytest.raises(InputError, match=match):
        validate_models(models)
    with pytest.raises(InputError, match=match):
        fill_model_defaults(models)


def test_validate_models_accepts_valid():
    validate_models(None)
    validate_models({"face": None, "burst": {}})
    validate_models(
        {
            "face": {"fps_pred": 0, "prob_threshold": 0, "min_face_size": 60.0},
            "prosody": {"granularity": "conversational_turn", "window": {"step": 0.5}},
            "language": {"sentiment": {}, "toxicity": None, "identify_speakers": True},
        }
    )


@pytest.mark.parametrize(
    ("t", "match"),
    [
        ({"language": "xx"}, r"`transcription\.language`.*'xx'.*en-GB"),
        ({"confidence_threshold": -0.1}, r"`transcription\.confidence_threshold`"),
        ({"identify_speakers": "no"}, r"`transcription\.identify_speakers`"),
        ({"lang": "en"}, r"`transcription\.lang` is not a transcription option"),
        ("en", r"`transcription` must be an object"),
    ],
)
def test_validate_transcription_names_the_field(t, match):
    with pytest.raises(InputError, match=match):
        validate_transcription(t)


def test_fill_transcription_defaults():
    assert fill_transcription_defaults(None) == {
        "language": None,
        "identify_speakers": False,
        "confidence_threshold": 0.5,
    }
    assert fill_transcription_defaults({"language": "fr"})["language"] == "fr"


# -- shapes ----------------------------------------------------------------------


def test_audio_without_transcript(engine, files):
    # Given a speech-like wav and no transcript beside it
    out = measure(engine, MediaInput("talk.wav", files["wav"]))
    # Then: audio, burst and prosody with null text, and no language/ner at all
    # (an error entry says why: see test_text_models_on_speech_without_transcript)
    assert out["file_type"] == "audio"
    assert list(out["models"]) == ["burst", "prosody"]
    check_output(out, None)
    prosody = out["models"]["prosody"]
    assert prosody["metadata"] is None
    preds = prosody["grouped_predictions"][0]["predictions"]
    assert len(preds) >= 3
    assert all(p["text"] is None and p["confidence"] is None for p in preds)
    assert all(0 <= p["time"]["begin"] < p["time"]["end"] <= 6.0 for p in preds)
    burst = out["models"]["burst"]["grouped_predictions"][0]["predictions"]
    assert len(burst) >= 3


def test_silence_gives_no_segments(engine, tmp_path):
    path = make_wav(tmp_path / "quiet.wav", 2.0, speech=False)
    out = measure(engine, MediaInput("quiet.wav", path), {"prosody": {}, "burst": {}})
    assert out["models"]["prosody"]["grouped_predictions"] == []
    assert out["models"]["burst"]["grouped_predictions"] == []


def test_audio_with_plain_transcript(engine, files):
    item = MediaInput("talk.wav", files["wav"], transcript=files["txt"])
    out = measure(engine, item, transcription={"language": "en-GB"})
    assert list(out["models"]) == ["burst", "prosody", "language", "ner"]
    check_output(out, None)
    lang = out["models"]["language"]
    assert lang["metadata"]["detected_language"] == "en-GB"
    assert 0.5 <= lang["metadata"]["confidence"] <= 1
    words = lang["grouped_predictions"][0]["predictions"]
    assert [w["text"] for w in words] == TRANSCRIPT.split()
    # positions are cumulative over the transcript
    for w in words:
        assert TRANSCRIPT[w["position"]["begin"] : w["position"]["end"]] == w["text"]
    begins = [w["time"]["begin"] for w in words]
    assert begins == sorted(begins)
    prosody = out["models"]["prosody"]["grouped_predictions"][0]["predictions"]
    assert " ".join(p["text"] for p in prosody) == TRANSCRIPT
    # prosody spans are padded 0.2 s around the words (as in Hume's outputs)
    assert prosody[1]["time"]["begin"] == pytest.approx(
        next(w for w in words if w["time"]["begin"] >= prosody[1]["time"]["begin"])[
            "time"
        ]["begin"]
        - 0.2,
        abs=1e-5,
    )
    ner = out["models"]["ner"]["grouped_predictions"][0]["predictions"]
    assert [e["entity"] for e in ner] == ["Alice", "New York", "Bob Smith"]
    assert ner[1]["uri"] == "https://en.wikipedia.org/wiki/New_York"
    assert ner[1]["link_word"] == "New York"
    assert (
        TRANSCRIPT[ner[1]["position"]["begin"] : ner[1]["position"]["end"]]
        == "New York"
    )
    assert ner[1]["time"]["begin"] < ner[1]["time"]["end"]


@pytest.mark.parametrize(
    ("granularity", "texts"),
    [
        (
            "sentence",
            [
                "Hello there, my name is Alice.",
                "I moved to New York with Bob Smith last year!",
                "How are you today?",
                "I am fine, thanks.",
            ],
        ),
        ("conversational_turn", [TRANSCRIPT]),
    ],
)
def test_language_granularity_on_media(engine, files, granularity, texts):
    item = MediaInput("talk.wav", files["wav"], transcript=files["txt"])
    models = {"language": {"granularity": granularity, "sentiment": {}, "toxicity": {}}}
    out = measure(engine, item, models)
    check_output(out, models)
    preds = out["models"]["language"]["grouped_predictions"][0]["predictions"]
    assert [p["text"] for p in preds] == texts
    assert all(p["confidence"] is None for p in preds)  # as observed at sentence level


def test_utterance_granularity_follows_speech_segments(engine, files):
    item = MediaInput("talk.wav", files["wav"], transcript=files["txt"])
    out = measure(
        engine, item, {"language": {"granularity": "utterance"}, "prosody": {}}
    )
    lang = out["models"]["language"]["grouped_predictions"][0]["predictions"]
    pros = out["models"]["prosody"]["grouped_predictions"][0]["predictions"]
    assert [p["text"] for p in lang] == [p["text"] for p in pros]
    assert len(lang) > 1 and all(p["confidence"] is not None for p in lang)


def test_srt_transcript_on_video(engine, files):
    item = MediaInput("clip.mp4", files["video"], transcript=files["srt"])
    models = {"language": {}, "ner": {}, "prosody": {"granularity": "utterance"}}
    out = measure(engine, item, models)
    check_output(out, models)
    words = out["models"]["language"]["grouped_predictions"][0]["predictions"]
    assert [w["text"] for w in words] == [
        "Hello",
        "Paris.",
        "How",
        "are",
        "you,",
        "Maria?",
    ]
    assert words[0]["time"]["begin"] == pytest.approx(0.1)
    assert words[-1]["time"]["end"] == pytest.approx(1.9)
    pros = out["models"]["prosody"]["grouped_predictions"][0]["predictions"]
    assert [p["text"] for p in pros] == ["Hello Paris.", "How are you, Maria?"]
    assert pros[0]["time"] == {"begin": 0.0, "end": pytest.approx(1.1)}
    ents = out["models"]["ner"]["grouped_predictions"][0]["predictions"]
    assert [e["entity"] for e in ents] == ["Paris", "Maria"]


def test_vtt_voices_give_speaker_groups(engine, files):
    item = MediaInput("talk.wav", files["wav"], transcript=files["vtt"])
    models = {
        "prosody": {"identify_speakers": True},
        "language": {"granularity": "conversational_turn", "identify_speakers": True},
        "ner": {"identify_speakers": True},
    }
    out = measure(engine, item, models)
    check_output(out, models)
    pros = out["models"]["prosody"]["grouped_predictions"]
    assert [g["id"] for g in pros] == ["spk_0", "spk_1"]
    assert [p["text"] for p in pros[0]["predictions"]] == [
        "Hi Tom. Good day.",
        "Great.",
    ]
    turns = out["models"]["language"]["grouped_predictions"]
    assert [[p["text"] for p in g["predictions"]] for g in turns] == [
        ["Hi Tom. Good day.", "Great."],
        ["Hello Ann, fine."],
    ]
    ner = out["models"]["ner"]["grouped_predictions"]
    assert {g["id"]: [p["entity"] for p in g["predictions"]] for g in ner} == {
        "spk_0": ["Tom"],
        "spk_1": ["Ann"],
    }


def test_speakers_from_audio(engine, tmp_path):
    # Given speech-like bursts at different pitches and an untimed transcript
    wav = make_wav(tmp_path / "s.wav", 6.0)
    txt = make_text_file(tmp_path / "s.txt", "One two three four five six seven eight.")
    item = MediaInput("s.wav", wav, transcript=txt)
    models = {"prosody": {}, "language": {"granularity": "conversational_turn"}}
    # Without speaker identification: one unknown group, one turn
    out = measure(engine, item, models)
    lang = out["models"]["language"]["grouped_predictions"]
    assert [g["id"] for g in lang] == ["unknown"] and len(lang[0]["predictions"]) == 1
    # With transcription.identify_speakers: the pitch splits the voices
    out = measure(engine, item, models, {"identify_speakers": True})
    lang = out["models"]["language"]["grouped_predictions"]
    pros = out["models"]["prosody"]["grouped_predictions"]
    assert [g["id"] for g in lang] == [g["id"] for g in pros] == ["spk_0", "spk_1"]
    turns = sorted(
        (p["position"]["begin"], g["id"]) for g in lang for p in g["predictions"]
    )
    assert len(turns) >= 2
    assert all(a[1] != b[1] for a, b in zip(turns, turns[1:], strict=False))


def test_prosody_window(engine, files):
    models = {"prosody": {"window": {"length": 2.0, "step": 1.5}}}
    out = measure(engine, MediaInput("talk.wav", files["wav"]), models)
    preds = out["models"]["prosody"]["grouped_predictions"][0]["predictions"]
    assert [p["time"]["begin"] for p in preds] == [0.0, 1.5, 3.0, 4.5]
    assert preds[-1]["time"]["end"] == 6.0
    assert all(p["text"] is None for p in preds)


def test_transcription_null_ignores_the_transcript(engine, files):
    item = MediaInput("talk.wav", files["wav"], transcript=files["txt"])
    out = measure(engine, item, {"prosody": {}, "language": {}}, transcription=None)
    assert list(out["models"]) == ["prosody"]
    preds = out["models"]["prosody"]["grouped_predictions"][0]["predictions"]
    assert all(p["text"] is None for p in preds)
    assert out["models"]["prosody"]["metadata"] is None


def test_transcript_below_confidence_threshold_fails_the_file(engine, files):
    item = MediaInput("talk.wav", files["wav"], transcript=files["txt"])
    with pytest.raises(EngineError, match=r"transcript confidence \(0\.\d+\) below "):
        measure(engine, item, {"language": {}}, {"confidence_threshold": 1.0})


def test_missing_transcript_file_fails_the_file(engine, files, tmp_path):
    item = MediaInput("talk.wav", files["wav"], transcript=tmp_path / "gone.txt")
    with pytest.raises(EngineError, match=r"could not read transcript gone\.txt"):
        measure(engine, item, {"language": {}})


def test_video_all_models(engine, files):
    models = {
        "face": {"facs": {}, "descriptions": {}, "identify_faces": True},
        "burst": {},
        "prosody": {},
        "facemesh": {},
    }
    out = measure(engine, MediaInput("clip.mp4", files["video"]), models)
    assert out["file_type"] == "video"
    assert list(out["models"]) == ["face", "burst", "prosody", "facemesh"]
    check_output(out, models)
    face = out["models"]["face"]
    assert face["metadata"] is None
    assert [g["id"] for g in face["grouped_predictions"]] == ["face_0"]
    preds = face["grouped_predictions"][0]["predictions"]
    # 25 fps sampled at 3 per second: frames round(k * 25 / 3)
    assert [p["frame"] for p in preds] == [0, 8, 17, 25, 33, 42]
    assert [p["time"] for p in preds] == [f / 25 for f in [0, 8, 17, 25, 33, 42]]
    # the blob moves right: box x follows it
    xs = [p["box"]["x"] + p["box"]["w"] / 2 for p in preds]
    assert xs == sorted(xs) and xs[-1] - xs[0] > 40
    assert all(p["box"]["w"] >= 60 or p["box"]["h"] >= 60 for p in preds)
    mesh = out["models"]["facemesh"]["grouped_predictions"][0]["predictions"]
    assert len(mesh) == len(preds)


def test_video_without_audio_and_fps_pred(engine, files):
    models = {"face": {"fps_pred": 0}, "prosody": {}, "burst": {}}
    out = measure(engine, MediaInput("mute.mp4", files["mute"]), models)
    assert out["file_type"] == "video_no_audio"
    assert list(out["models"]) == ["face"]
    preds = out["models"]["face"]["grouped_predictions"][0]["predictions"]
    assert [p["frame"] for p in preds] == list(range(50))
    assert out["models"]["face"]["grouped_predictions"][0]["id"] == "unknown"


def test_face_thresholds(engine, files):
    item = MediaInput("face.png", files["image"])
    out = measure(engine, item, {"face": {"min_face_size": 5000}})
    assert out["models"]["face"]["grouped_predictions"] == []
    out = measure(engine, item, {"face": {"prob_threshold": 1.0}})
    assert out["models"]["face"]["grouped_predictions"] == []


def test_image(engine, files):
    out = measure(engine, MediaInput("face.png", files["image"]))
    assert out["file_type"] == "image"
    assert list(out["models"]) == ["face", "facemesh"]
    check_output(out, None)
    (group,) = out["models"]["face"]["grouped_predictions"]
    (pred,) = group["predictions"]
    assert group["id"] == "unknown"
    assert pred["frame"] == 0 and pred["time"] == 0.0
    box = pred["box"]
    assert 0 <= box["x"] and box["x"] + box["w"] <= 128.001
    assert 0 <= box["y"] and box["y"] + box["h"] <= 96.001


def test_two_faces_identified(engine, tmp_path):
    path = make_image(tmp_path / "two.png", size=(256, 128), seed=1)
    out = measure(
        engine, MediaInput("two.png", path), {"face": {"identify_faces": True}}
    )
    groups = out["models"]["face"]["grouped_predictions"]
    assert [g["id"] for g in groups] == ["face_0", "face_1"]
    boxes = [g["predictions"][0]["box"] for g in groups]
    assert sorted(b["x"] + b["w"] / 2 < 128 for b in boxes) == [False, True]
    assert all(60 <= b["w"] <= 110 and 80 <= b["h"] <= 110 for b in boxes)
    out = measure(engine, MediaInput("two.png", path), {"face": {}})
    (group,) = out["models"]["face"]["grouped_predictions"]
    assert group["id"] == "unknown" and len(group["predictions"]) == 2


def test_text_item(engine):
    text = "I met Barack Obama in Paris. It was great! Then we left."
    models = {"language": {"sentiment": {}}, "ner": {}, "face": {}, "prosody": {}}
    out = measure(engine, MediaInput("0", text=text), models)
    assert out["file_type"] == "text"
    assert list(out["models"]) == ["language", "ner"]
    check_output(out, models)
    lang = out["models"]["language"]
    assert lang["metadata"] is None
    words = lang["grouped_predictions"][0]["predictions"]
    assert [w["text"] for w in words] == text.split()
    assert all(w["time"] is None and w["confidence"] is None for w in words)
    ner = out["models"]["ner"]
    assert ner["metadata"] is None
    assert [e["entity"] for e in ner["grouped_predictions"][0]["predictions"]] == [
        "Barack Obama",
        "Paris",
    ]


@pytest.mark.parametrize(
    ("granularity", "n"),
    [("word", 12), ("sentence", 3), ("utterance", 3), ("conversational_turn", 1)],
)
def test_text_granularities(engine, granularity, n):
    text = "I met Barack Obama in Paris. It was great! Then we left."
    out = measure(
        engine, MediaInput("1", text=text), {"language": {"granularity": granularity}}
    )
    preds = out["models"]["language"]["grouped_predictions"][0]["predictions"]
    assert len(preds) == n
    for p in preds:  # positions relative to the text item
        assert text[p["position"]["begin"] : p["position"]["end"]] == p["text"]


def test_text_file_is_text(engine, tmp_path):
    path = make_text_file(tmp_path / "note.txt", "Lovely day in Rome.")
    out = measure(engine, MediaInput("note.txt", path))
    assert out["file_type"] == "text"
    assert list(out["models"]) == ["language", "ner"]


# -- determinism, smoothness, errors, speed, SDK types ---------------------------


def test_same_bytes_same_predictions(engine, files, tmp_path):
    copy = tmp_path / "other-name.mp4"
    copy.write_bytes(files["video"].read_bytes())
    a = measure(engine, MediaInput("clip.mp4", files["video"]))
    b = measure(engine, MediaInput("clip.mp4", copy))
    assert json.dumps(a) == json.dumps(b)


def test_different_bytes_different_scores(engine, tmp_path):
    a = make_wav(tmp_path / "a.wav", 3.0, seed=1)
    b = make_wav(tmp_path / "b.wav", 3.0, seed=2)
    pa = measure(engine, MediaInput("a.wav", a), {"prosody": {}})
    pb = measure(engine, MediaInput("b.wav", b), {"prosody": {}})
    sa = pa["models"]["prosody"]["grouped_predictions"][0]["predictions"][0]["emotions"]
    sb = pb["models"]["prosody"]["grouped_predictions"][0]["predictions"][0]["emotions"]
    assert [e["score"] for e in sa] != [e["score"] for e in sb]


def test_scores_are_smooth_and_spread(engine, files):
    out = measure(
        engine, MediaInput("mute.mp4", files["mute"]), {"face": {"fps_pred": 0}}
    )
    preds = out["models"]["face"]["grouped_predictions"][0]["predictions"]
    m = np.array([[e["score"] for e in p["emotions"]] for p in preds])
    assert np.abs(np.diff(m, axis=0)).max() < 0.05  # adjacent frames are close
    mean = m.mean(axis=0)
    assert (mean > 0.3).sum() >= 1 and np.median(mean) < 0.15  # a few dominate


def test_undecodable_file(engine, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(EngineError, match=r"could not decode broken\.mp4 as a video: "):
        measure(engine, MediaInput("broken.mp4", bad))


def test_messages_name_the_file_as_given_not_the_disk_path(engine, tmp_path):
    # Given an undecodable file stored under another name than the user's
    bad = tmp_path / "0" / "stored.wav"
    bad.parent.mkdir()
    bad.write_bytes(np.random.default_rng(3).bytes(3000))
    # When it is measured as "p1/bad.wav"
    with pytest.raises(EngineError) as info:
        measure(engine, MediaInput("p1/bad.wav", bad))
    # Then the message names only "p1/bad.wav"
    message = str(info.value)
    assert message.startswith("could not decode p1/bad.wav as audio: ")
    assert str(tmp_path) not in message and "stored.wav" not in message


def test_text_named_as_media_is_an_error_not_text(engine, tmp_path):
    # Given text saved under an image name
    fake = tmp_path / "f.jpg"
    fake.write_text("I am not a picture.", encoding="utf-8")
    # Then measuring it fails the file instead of scoring text
    with pytest.raises(EngineError, match=r"could not decode f\.jpg as an image: "):
        measure(engine, MediaInput("f.jpg", fake))
    # while the same bytes without a media extension are text
    out = measure(engine, MediaInput("f.dat", fake))
    assert out["file_type"] == "text"


def test_speed(engine, tmp_path):
    wav = make_wav(tmp_path / "ten.wav", 10.0)
    video = make_video(tmp_path / "short.mp4", 3.0, size=(320, 240))
    for item in (MediaInput("ten.wav", wav), MediaInput("short.mp4", video)):
        t0 = time.perf_counter()
        measure(engine, item)
        assert time.perf_counter() - t0 < 0.5


def test_hume_sdk_types_accept_every_model(engine, files):
    pytest.importorskip("hume")
    from hume.core.pydantic_utilities import parse_obj_as
    from hume.expression_measurement.batch.types import InferenceSourcePredictResult

    everything = {
        "face": {"facs": {}, "descriptions": {}, "identify_faces": True},
        "burst": {},
        "prosody": {"identify_speakers": True},
        "language": {"sentiment": {}, "toxicity": {}, "granularity": "sentence"},
        "ner": {},
        "facemesh": {},
    }
    preds = []
    for name, item in [
        ("clip.mp4", MediaInput("clip.mp4", files["video"], transcript=files["srt"])),
        ("talk.wav", MediaInput("talk.wav", files["wav"], transcript=files["vtt"])),
        ("face.png", MediaInput("face.png", files["image"])),
        ("0", MediaInput("0", text="Hi Ann. Nice to see you in Oslo.")),
    ]:
        preds.append({"file": name, **measure(engine, item, everything)})
    seen = {m for p in preds for m in p["models"]}
    assert seen == set(MODELS)
    body = {
        "source": {
            "type": "file",
            "filename": "x",
            "content_type": None,
            "md5sum": "0",
        },
        "results": {"predictions": preds, "errors": []},
    }
    parsed = parse_obj_as(InferenceSourcePredictResult, json.loads(json.dumps(body)))
    models = parsed.results.predictions[0].models
    assert models.face.grouped_predictions[0].predictions[0].facs[0].name == (
        "AU1 Inner Brow Raise"
    )
    assert models.burst.grouped_predictions[0].predictions[0].descriptions
    assert models.prosody.metadata.confidence > 0.5
    assert models.facemesh.grouped_predictions[0].predictions[0].emotions
    ner = parsed.results.predictions[2 - 1].models.ner
    assert ner.grouped_predictions[0].predictions[0].uri.startswith("https://")


# -- transcripts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "a.srt",
            "\ufeff1\r\n00:00:01,500 --> 00:00:03,250\r\nHello\r\nworld.\r\n\r\n"
            "2\r\n01:00:00,000 --> 01:00:01,000\r\n<b>Late</b> line\r\n",
            [("Hello world.", 1.5, 3.25, None), ("Late line", 3600.0, 3601.0, None)],
        ),
        (
            "b.vtt",
            "WEBVTT - title\nKind: captions\n\nSTYLE\n::cue { color: red }\n\n"
            "intro\n00:00:02.000 --> 00:00:04.000 align:start position:10%\n"
            "<v.loud Dr Who>Run!\n\n00:00.5 --> 00:01.0\nFirst.\n\n"
            "00:09.000 --> broken\nskipped\n",
            [("First.", 0.5, 1.0, None), ("Run!", 2.0, 4.0, "Dr Who")],
        ),
        ("c.txt", "  Plain\n\ntext   here. ", [("Plain text here.", None, None, None)]),
        (
            "d.srt",
            "no cues at all\njust words",
            [("no cues at all just words",) + (None,) * 3],
        ),
    ],
)
def test_parse_transcript(tmp_path, name, content, expected):
    from humelab.service.engines._transcript import parse_transcript

    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    cues = parse_transcript(path)
    assert [(c.text, c.begin, c.end, c.speaker) for c in cues] == expected


@pytest.mark.parametrize(
    ("text", "entities"),
    [
        ("The Eiffel Tower is in Paris.", ["Eiffel Tower", "Paris"]),
        ("Yesterday I'm sure I saw Maria.", ["Maria"]),
        (
            "Hi Tom, meet Dr. Smith; he knows (London).",
            ["Tom", "Dr. Smith", "London"],
        ),
        ("nothing here at all", []),
        ("Apple. Banana!", []),
    ],
)
def test_entities(text, entities):
    from humelab.service.engines._transcript import entities as find
    from humelab.service.engines._transcript import text_words

    found = find(text_words(text), text)
    assert [u.text for u in found] == entities
    assert all(text[u.begin : u.end] == u.text for u in found)


# -- scripts (<stem>.expressions.csv) ----------------------------------------------


def scripted(item_path, script_text, tmp_path, *, name=None):
    from humelab.service.engines._script import ScriptedInput

    script = tmp_path / f"{item_path.stem}.expressions.csv"
    script.write_text(script_text, encoding="utf-8")
    return ScriptedInput(
        file=name or item_path.name, path=item_path, script=script,
        script_name=script.name,
    )  # fmt: skip


def emotions_of(pred, family="emotions"):
    return {e["name"]: e["score"] for e in pred[family]}


def test_script_sets_levels_on_an_image(engine, files, tmp_path):
    # Given an image and a script that says Joy 0.9, Amusement 0.7 and a Smile
    item = scripted(
        files["image"],
        "# what the drawing should be perceived as\nbegin,end,name,level\n"
        "0,0,Joy,0.9\n,,Amusement,0.7\n0,,Smile,0.8\n",
        tmp_path,
    )
    out = measure(engine, item, {"face": {"descriptions": {}}})
    check_output(out, {"face": {"descriptions": {}}})
    assert out["humelab"] == {"script": "face.expressions.csv"}
    (pred,) = out["models"]["face"]["grouped_predictions"][0]["predictions"]
    emo = emotions_of(pred)
    # Then the scripted levels come back within the noise (sd 0.03), and every
    # unscripted dimension keeps at most 30% of a score <= 1
    assert emo["Joy"] == pytest.approx(0.9, abs=0.12)
    assert emo["Amusement"] == pytest.approx(0.7, abs=0.12)
    assert emotions_of(pred, "descriptions")["Smile"] == pytest.approx(0.8, abs=0.12)
    others = [s for n, s in emo.items() if n not in ("Joy", "Amusement")]
    assert max(others) <= 0.3
    assert sorted(emo, key=emo.get)[-2:] == ["Amusement", "Joy"]


def test_script_timeline_on_a_video(engine, files, tmp_path):
    # Given a 2 s video: Joy high until 0.9 s, Sadness high from 1.1 s
    item = scripted(
        files["video"],
        "begin,end,name,level\n0,0.9,Joy,0.85\n1.1,,Sadness,0.8\n",
        tmp_path,
    )
    out = measure(engine, item, {"face": {"fps_pred": 5}})
    preds = out["models"]["face"]["grouped_predictions"][0]["predictions"]
    tops = [(p["time"], max(emotions_of(p), key=emotions_of(p).get)) for p in preds]
    # Then each face frame's top expression follows the script's time line
    assert any(t < 0.9 for t, _ in tops) and any(t > 1.1 for t, _ in tops)
    for t, top in tops:
        if t <= 0.9:
            assert top == "Joy", (t, top)
        elif t >= 1.1:
            assert top == "Sadness", (t, top)


def test_script_scope_by_model_and_time(engine, files, tmp_path):
    # Given a script for prosody only, over the first second of a 6 s recording
    item = scripted(
        files["wav"], "begin,end,name,level,model\n0,1,Anger,0.95,prosody\n", tmp_path
    )
    plain = measure(engine, MediaInput("talk.wav", files["wav"]), {"prosody": {}})
    out = measure(engine, item, {"prosody": {}, "burst": {}})
    got = out["models"]["prosody"]["grouped_predictions"][0]["predictions"]
    ref = plain["models"]["prosody"]["grouped_predictions"][0]["predictions"]
    assert len(got) == len(ref) >= 2
    for g, r in zip(got, ref, strict=True):
        mid = (g["time"]["begin"] + g["time"]["end"]) / 2
        if mid <= 1.0:
            assert emotions_of(g)["Anger"] == pytest.approx(0.95, abs=0.12)
        else:  # not covered: exactly the unscripted scores
            assert g == r
    # burst is not named by the script's model column: unchanged
    unscripted = measure(engine, MediaInput("talk.wav", files["wav"]), {"burst": {}})
    assert out["models"]["burst"] == unscripted["models"]["burst"]


def test_script_that_covers_nothing_changes_no_score(engine, files, tmp_path):
    item = scripted(files["video"], "begin,end,name,level\n50,60,Joy,0.9\n", tmp_path)
    out = measure(engine, item, {"face": {}, "prosody": {}})
    models = {"face": {}, "prosody": {}}
    plain = measure(engine, MediaInput("clip.mp4", files["video"]), models)
    assert out.pop("humelab") == {"script": "clip.expressions.csv"}
    assert out == plain


def test_script_on_a_text_file_applies_to_all_of_it(engine, tmp_path):
    path = make_text_file(tmp_path / "notes.txt", "I love it. It is great. Thanks!")
    item = scripted(path, "begin,end,name,level\n,,Gratitude,0.9\n", tmp_path)
    out = measure(engine, item, {"language": {"granularity": "sentence"}})
    preds = out["models"]["language"]["grouped_predictions"][0]["predictions"]
    assert len(preds) == 3
    for p in preds:
        emo = emotions_of(p)
        assert max(emo, key=emo.get) == "Gratitude"
        assert sum(e["score"] for e in p["sentiment"] or []) in (0, pytest.approx(1))


def test_script_deterministic(engine, files, tmp_path):
    text = "begin,end,name,level\n0,2,Calmness,0.6\n"
    a = measure(engine, scripted(files["video"], text, tmp_path), {"face": {}})
    b = measure(engine, scripted(files["video"], text, tmp_path), {"face": {}})
    assert a == b


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "begin,end,name,level\n0,1,Joyy,0.5\n",
            r"line 2: `Joyy` .*Did you mean `Joy`",
        ),
        ("begin,end,name,level\n0,1,Joy,1.5\n", r"line 2: `level` is 1.5; a level is"),
        ("begin,end,name,level\n2,1,Joy,0.5\n", r"`end` \(1\) is before `begin` \(2\)"),
        ("begin,end,name\n0,1,Joy\n", r"header lacks `level`"),
        ("begin,end,name,level,who\n0,1,Joy,0.5,x\n", r"unknown `who`"),
        ("begin,end,name,level\n0,x,Joy,0.5\n", r"`end` is 'x', not a number"),
        ("begin,end,name,level,model\n0,1,Joy,0.5,burst2\n", r"`model` is 'burst2'"),
        ("begin,end,name,level,model\n,,Smile,0.5,prosody\n", r"no dimension `Smile`"),
        ("begin,end,name,level\n0,1,5,0.5\n", r"sentiment is not scriptable"),
        ("# only a comment\n", r"is empty"),
        ("begin,end,name,level\n0,1,Joy\n", r"line 2: 3 cells where the header has 4"),
    ],
)
def test_bad_script_fails_the_file_with_the_line(engine, files, tmp_path, text, match):
    item = scripted(files["image"], text, tmp_path)
    with pytest.raises(EngineError, match=r"script face\.expressions\.csv.*" + match):
        measure(engine, item, {"face": {}})


def test_attach_scripts_pairs_by_folder_and_stem(tmp_path):
    from humelab.service.engines._script import ScriptedInput, attach_scripts

    p = tmp_path / "x"
    p.write_bytes(b"")
    a = MediaInput("a.jpg", p)
    a_script = MediaInput("a.expressions.csv", p)
    member = MediaInput("d/a.jpg", p)
    member_script = MediaInput("d/a.expressions.csv", p)
    lone = MediaInput("lone.expressions.csv", p)
    notes = MediaInput("notes.csv", p)
    text = MediaInput("0", text="b.expressions.csv")
    groups = [[a], [a_script], [member, member_script, notes], [lone], [text]]
    items, errors = attach_scripts(groups)
    # an upload pairs across sources; an archive member beside its script
    assert [type(i).__name__ for g in items for i in g] == [
        "ScriptedInput", "ScriptedInput", "MediaInput", "MediaInput",
    ]  # fmt: skip
    assert items[0][0].script_name == "a.expressions.csv"
    assert isinstance(items[2][0], ScriptedInput) and items[1] == [] and items[3] == []
    assert items[2][1] is notes and items[4] == [text]
    # a script without its media is an error entry, never measured as text
    assert errors[:3] == [[], [], []] and errors[4] == []
    (err,) = errors[3]
    assert err["file"] == "lone.expressions.csv"
    assert "no file of the same stem (`lone.*`)" in err["message"]
    # without scripts, the groups come back as they were
    assert attach_scripts([[a], [text]]) == ([[a], [text]], [[], []])
    # two scripts for one file: the first in the job wins, the second is named
    again = MediaInput("a.expressions.csv", p)
    items, errors = attach_scripts([[a], [a_script], [again]])
    assert items[0][0].script is p and items[1:] == [[], []]
    assert errors[:2] == [[], []]
    assert (
        "another script of the same stem already describes `a.jpg`"
        in (errors[2][0]["message"])
    )


def test_scripted_job_over_http(api, tmp_path):
    import io
    import zipfile

    import humelab

    # Given an image and its script uploaded as separate files, plus a zip that
    # holds another image with its script, and a lone script
    img = make_image(tmp_path / "smile.png")
    script = "begin,end,name,level\n0,0,Joy,0.9\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        frown = make_image(tmp_path / "frown.png", size=(200, 160), seed=2)
        zf.write(frown, "faces/frown.png")
        sad = "begin,end,name,level\n,,Sadness,0.8\n"
        zf.writestr("faces/frown.expressions.csv", sad)
    files = [
        ("file", ("smile.png", img.read_bytes(), "image/png")),
        ("file", ("smile.expressions.csv", script.encode(), "text/csv")),
        ("file", ("faces.zip", buf.getvalue(), "application/zip")),
        ("file", ("other.expressions.csv", script.encode(), "text/csv")),
    ]
    opts = {"models": {"face": {}}}
    job_id = api.submit(files=files, data={"json": json.dumps(opts)})
    job = api.wait(job_id)
    # Then the job says which files followed a script
    assert job["state"]["status"] == "COMPLETED" and job["simulated"] is True
    assert job["scripts"] == {
        "smile.png": "smile.expressions.csv",
        "faces/frown.png": "frown.expressions.csv",
    }
    preds = api.predictions(job_id)
    assert [e["humelab"] for e in preds] == [
        {"engine": "simulated", "simulated": True}
    ] * 4
    by_source = {e["source"]["filename"]: e["results"] for e in preds}
    # the paired script is not measured as text; the lone one is an error entry
    assert by_source["smile.expressions.csv"] == {"predictions": [], "errors": []}
    (err,) = by_source["other.expressions.csv"]["errors"]
    assert not by_source["other.expressions.csv"]["predictions"]
    assert "other.expressions.csv" in err["message"]
    (smile,) = by_source["smile.png"]["predictions"]
    assert smile["humelab"] == {"script": "smile.expressions.csv"}
    # And the readers carry the marker into df.attrs
    df = humelab.read_predictions(preds, errors="ignore")
    assert df.attrs == {
        "engine": "simulated",
        "simulated": True,
        "scripts": {
            "smile.png": "smile.expressions.csv",
            "faces/frown.png": "frown.expressions.csv",
        },
    }
    top = (
        df[df["family"] == "emotions"]
        .groupby(["file", "name"], observed=True)["score"]
        .mean()
        .groupby(level="file")
        .idxmax()
    )
    assert top.map(lambda k: k[1]).to_dict() == {
        "smile.png": "Joy",
        "faces/frown.png": "Sadness",
    }
    r = api.get(f"/v0/batch/jobs/{job_id}/artifacts")
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert json.loads(zf.read("humelab.json")) == {
        "engine": "simulated",
        "simulated": True,
        "scripts": df.attrs["scripts"],
    }
    za = humelab.read_artifacts(r.content, predictions=preds)
    assert za.attrs == df.attrs
    assert za.equals(df)


def test_job_without_script_has_no_scripts_key(api):
    job = api.wait(api.submit(json={"text": ["Lovely."], "models": {"language": {}}}))
    assert "scripts" not in job
    (elem,) = api.predictions(job["job_id"])
    assert elem["humelab"] == {"engine": "simulated", "simulated": True}
    assert "humelab" not in elem["results"]["predictions"][0]


def test_script_on_text_counts_characters(engine, tmp_path):
    # Given two sentences and a script over the first 10 characters only
    text = "I love it. It is bad."
    path = make_text_file(tmp_path / "two.txt", text)
    item = scripted(path, "begin,end,name,level\n0,10,Joy,0.9\n", tmp_path)
    models = {"language": {"granularity": "sentence"}}
    got = measure(engine, item, models)["models"]["language"]
    ref = measure(engine, MediaInput("two.txt", path), models)["models"]["language"]
    first, second = got["grouped_predictions"][0]["predictions"]
    assert first["position"] == {"begin": 0, "end": 10}
    # Then the first sentence follows the script, the second is as without it
    assert emotions_of(first)["Joy"] == pytest.approx(0.9, abs=0.12)
    assert second == ref["grouped_predictions"][0]["predictions"][1]


def test_text_models_on_speech_without_transcript_say_why(api, tmp_path):
    # Given speech with no transcript beside it, and language and ner requested
    wav = make_wav(tmp_path / "talk.wav", 1.0)
    with open(wav, "rb") as fh:
        job_id = api.submit(
            files={"file": ("talk.wav", fh, "audio/wav")},
            data={"json": '{"models": {"prosody": {}, "language": {}, "ner": {}}}'},
        )
    job = api.wait(job_id)
    # Then prosody is measured and one error entry says what the text models need
    assert job["state"]["status"] == "COMPLETED" and job["state"]["num_errors"] == 1
    result = api.predictions(job_id)[0]["results"]
    assert set(result["predictions"][0]["models"]) == {"prosody"}
    (error,) = result["errors"]
    assert error["file"] == "talk.wav"
    assert "`language` and `ner`" in error["message"]
    assert "talk.txt, talk.srt or talk.vtt" in error["message"]


def test_hume_sdk_parses_a_scripted_job(api, service, tmp_path):
    import hume  # hume==0.13.13, the test extra

    # Given a scripted image job on the service
    img = make_image(tmp_path / "smile.png")
    files = [
        ("file", ("smile.png", img.read_bytes(), "image/png")),
        ("file", ("smile.expressions.csv", b"begin,end,name,level\n,,Joy,0.9\n")),
    ]
    job_id = api.submit(
        files=files, data={"json": json.dumps({"models": {"face": {}}})}
    )
    api.wait(job_id)
    # When hume==0.13.13 reads its details and predictions
    batch = hume.HumeClient(
        api_key=service.api_key, base_url=service.url
    ).expression_measurement.batch
    job = batch.get_job_details(id=job_id)
    results = batch.get_job_predictions(id=job_id)
    # Then the extension keys do not get in its way
    assert job.state.status == "COMPLETED"
    assert [r.source.filename for r in results] == [
        "smile.png",
        "smile.expressions.csv",
    ]
    (pred,) = results[0].results.predictions
    face = pred.models.face.grouped_predictions[0].predictions[0]
    emo = {e.name: e.score for e in face.emotions}
    assert max(emo, key=emo.get) == "Joy"


def test_transcript_uploaded_beside_its_recording_is_paired(api, tmp_path):
    # Given a recording and its transcript uploaded as two separate files
    wav = make_wav(tmp_path / "talk.wav", 2.0)
    txt = make_text_file(tmp_path / "talk.txt", "Hello there, how are you today?")
    with open(wav, "rb") as a, open(txt, "rb") as b:
        job_id = api.submit(
            files=[("file", ("talk.wav", a, "audio/wav")), ("file", ("talk.txt", b))],
            data={"json": '{"models": {"prosody": {}, "language": {}}}'},
        )
    job = api.wait(job_id)
    # Then the transcript is the recording's (language reads it, timed), not a text
    # input of its own, and nothing failed
    assert job["state"]["num_errors"] == 0
    by_source = {p["source"]["filename"]: p["results"] for p in api.predictions(job_id)}
    models = by_source["talk.wav"]["predictions"][0]["models"]
    words = models["language"]["grouped_predictions"][0]["predictions"]
    assert [w["text"] for w in words][:2] == ["Hello", "there,"]
    assert all(w["time"] is not None for w in words)
    assert by_source["talk.txt"]["predictions"] == []
