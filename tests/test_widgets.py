"""Tests of humelab.widgets: the explore panel and the jobs panel, driven headlessly.

Frames are read from small hand-written v0 predictions (so every expectation is
computed by hand), from the project's own media, from the real Hume samples, and
from jobs of the session's local service.
"""

from __future__ import annotations

import html
import io
import re

import numpy as np
import pytest

import humelab
from humelab.widgets import ExplorePanel, JobsPanel, explore, jobs_panel
from tests.media import make_image, make_video

FACE_TIMES = [0.0, 0.5, 1.0, 3.0, 3.5]  # a gap between 1.0 and 3.0
# face_0 scores per frame: Joy highest on average, then Calmness, then Anger
FACE_0 = {
    "Joy": [0.9, 0.8, 0.7, 0.6, 0.5],  # mean 0.70
    "Calmness": [0.1, 0.5, 0.3, 0.7, 0.9],  # mean 0.50
    "Anger": [0.2, 0.1, 0.2, 0.1, 0.2],  # mean 0.16
}
FACE_1 = {"Joy": [0.1] * 5, "Calmness": [0.2] * 5, "Anger": [0.9] * 5}
UTTERANCES = [  # (speaker, begin, end, text, Joy, Calmness, Anger)
    ("spk_0", 0.0, 1.0, "hello there", 0.2, 0.6, 0.1),
    ("spk_1", 1.5, 2.5, "good morning", 0.4, 0.2, 0.3),
    ("spk_0", 3.0, 4.0, "how are you", 0.9, 0.1, 0.5),
]


def _scores(values: dict[str, float]) -> list[dict]:
    return [{"name": n, "score": v} for n, v in values.items()]


def _face_group(gid: str, table: dict[str, list[float]]) -> dict:
    return {
        "id": gid,
        "predictions": [
            {
                "frame": int(t * 30),
                "time": t,
                "prob": 0.99,
                "box": {"x": 1.0, "y": 2.0, "w": 30.0, "h": 40.0},
                "emotions": _scores({n: v[i] for n, v in table.items()}),
                "facs": None,
                "descriptions": None,
            }
            for i, t in enumerate(FACE_TIMES)
        ],
    }


def _prosody() -> dict:
    groups = {}
    for spk, b, e, text, joy, calm, anger in UTTERANCES:
        groups.setdefault(spk, []).append(
            {
                "text": text,
                "time": {"begin": b, "end": e},
                "confidence": 0.9,
                "speaker_confidence": 0.8,
                "emotions": _scores({"Joy": joy, "Calmness": calm, "Anger": anger}),
            }
        )
    return {
        "metadata": None,
        "grouped_predictions": [{"id": k, "predictions": v} for k, v in groups.items()],
    }


def predictions(filename: str = "clip.mp4") -> list[dict]:
    """v0 predictions of one video upload: two faces, prosody by two speakers."""
    return [
        {
            "source": {"type": "file", "filename": filename},
            "results": {
                "predictions": [
                    {
                        "file": filename,
                        "file_type": "video",
                        "models": {
                            "face": {
                                "metadata": None,
                                "grouped_predictions": [
                                    _face_group("face_0", FACE_0),
                                    _face_group("face_1", FACE_1),
                                ],
                            },
                            "prosody": _prosody(),
                        },
                    }
                ],
                "errors": [],
            },
        }
    ]


@pytest.fixture
def df():
    return humelab.read_predictions(predictions())


def _lines(panel):
    return [ln for ln in panel.ax.get_lines() if ln.get_label() != "_cursor"]


def _cursor_x(panel):
    (line,) = [ln for ln in panel.ax.get_lines() if ln.get_label() == "_cursor"]
    return line.get_xdata()[0]


# -- explore: what it shows first -----------------------------------------------------


def test_explore_shows_top_k_by_true_mean(df):
    # Given a face track whose means are Joy 0.70 > Calmness 0.50 > Anger 0.16
    panel = explore(df, k=2)
    # Then the first selection is shown, with the two highest means as lines
    assert isinstance(panel, ExplorePanel)
    assert panel.selection == (
        None,
        "clip.mp4",
        "clip.mp4",
        "face",
        "face_0",
        "emotions",
    )
    assert panel.shown == ("Joy", "Calmness")
    assert [ln.get_label() for ln in _lines(panel)] == ["Joy", "Calmness"]
    assert list(panel.dims.options) == ["Joy", "Calmness", "Anger"]
    assert panel.renders == 1
    assert bytes(panel.plot.value).startswith(b"\x89PNG")
    assert panel.ax.get_xlabel() == "time (s)"
    assert panel.ax.get_title().startswith("clip.mp4 · face · face_0 · emotions")


def test_face_lines_break_at_a_gap(df):
    panel = explore(df, k=1)
    (joy,) = _lines(panel)
    x, y = joy.get_xdata(), joy.get_ydata()
    # frames 0, .5, 1 then a 2 s gap (> 1.5 x the usual 0.5 s step) then 3, 3.5
    np.testing.assert_allclose(x, [0.0, 0.5, 1.0, np.nan, 3.0, 3.5])
    np.testing.assert_allclose(y, [0.9, 0.8, 0.7, np.nan, 0.6, 0.5], rtol=1e-6)


def test_chosen_dims_replace_top_k(df):
    panel = explore(df, dims=["Anger"])
    assert panel.shown == ("Anger",)
    panel.dims.value = ("Anger", "Joy")
    assert [ln.get_label() for ln in _lines(panel)] == ["Anger", "Joy"]
    panel.dims.value = ()
    panel.k.value = 3
    assert [ln.get_label() for ln in _lines(panel)] == ["Joy", "Calmness", "Anger"]


# -- explore: controls change what is drawn --------------------------------------------


def test_chosen_dims_survive_a_new_selection(df):
    panel = explore(df, dims=["Anger", "Joy"])
    panel.group.value = "face_1"
    assert panel.shown == ("Anger", "Joy")
    panel.model.value = "prosody"  # the same names exist there
    assert [ln.get_label() for ln in _lines(panel)] == ["Anger", "Joy"]


def test_group_picker_switches_face(df):
    panel = explore(df, k=1)
    assert list(panel.group.options) == ["face_0", "face_1"]
    before = panel.renders
    panel.group.value = "face_1"
    # face_1's highest mean is Anger (0.9); one redraw for one change
    assert panel.shown == ("Anger",)
    assert "face_1" in panel.ax.get_title()
    assert panel.renders == before + 1


def test_model_picker_switches_to_speakers_and_steps(df):
    panel = explore(df, k=3)
    panel.model.value = "prosody"
    assert list(panel.group.options) == ["spk_0", "spk_1"]
    assert panel.selection[3:] == ("prosody", "spk_0", "emotions")
    # spk_0: Joy (0.2+0.9)/2 = .55, Calmness .35, Anger .30
    assert panel.shown == ("Joy", "Calmness", "Anger")
    joy = _lines(panel)[0]
    # utterances 0-1 s and 3-4 s drawn as flat steps, the gap between left open
    np.testing.assert_allclose(joy.get_xdata(), [0, 1, np.nan, 3, 4])
    np.testing.assert_allclose(joy.get_ydata(), [0.2, 0.2, np.nan, 0.9, 0.9])
    # the time controls follow the new selection's span
    assert panel.time_range.min == 0.0 and panel.time_range.max == 4.0


def test_smoothing_is_a_centred_moving_mean(df):
    panel = explore(df, dims=["Calmness"])
    panel.smooth.value = 1.0
    (line,) = _lines(panel)
    # window 1 s: each frame averages the frames within 0.5 s of it
    calm = FACE_0["Calmness"]
    expected = [
        (calm[0] + calm[1]) / 2,
        (calm[0] + calm[1] + calm[2]) / 3,
        (calm[1] + calm[2]) / 2,
        np.nan,
        (calm[3] + calm[4]) / 2,
        (calm[3] + calm[4]) / 2,
    ]
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-6)
    assert "smoothed 1 s" in panel.ax.get_title()


def test_panel_agrees_with_the_analysis_functions(df):
    # the panel's ranking is top_emotions' true means, its smoothing is smooth()'s
    panel = explore(df, k=2, smooth=2.0)
    for model, group in [("face", "face_0"), ("prosody", "spk_0")]:
        panel.model.value, panel.group.value = model, group
        part = df[(df["model"] == model) & (df["group"] == group)]
        top = humelab.top_emotions(part, k=2)
        assert panel.shown == tuple(top["name"])
        smoothed = humelab.smooth(part, window="2s")
        for line, name in zip(_lines(panel), panel.shown, strict=True):
            want = smoothed[smoothed["name"] == name].sort_values("begin")["score"]
            drawn = line.get_ydata()
            np.testing.assert_allclose(
                drawn[np.isfinite(drawn)][:: 1 if model == "face" else 2], want
            )


def test_time_range_only_moves_limits(df):
    panel = explore(df)
    lines = _lines(panel)
    panel.time_range.value = (0.5, 3.0)
    assert panel.ax.get_xlim() == (0.5, 3.0)
    # the same artists: only the limits changed
    assert _lines(panel) == lines


def test_cursor_moves_line_and_transcript(df):
    panel = explore(df)
    lines = _lines(panel)
    panel.cursor.value = 1.8
    assert _cursor_x(panel) == pytest.approx(1.8)
    assert _lines(panel) == lines
    # the face track has no text: the transcript comes from prosody, 1.8 s is
    # inside spk_1's "good morning" (1.5-2.5 s), shown in bold with its neighbours
    text = panel.transcript.value
    current = re.search(r"<b>▶ (.*?)</b>", text).group(1)
    assert "good morning" in current and "spk_1" in current
    assert "hello there" in text and "how are you" in text
    # between utterances no line is current
    panel.cursor.value = 1.2
    assert "<b>" not in panel.transcript.value


def test_heatmap_view_leaves_gaps_blank(df):
    panel = explore(df, k=2)
    panel.view.value = "heatmap"
    assert _lines(panel) == []
    (image,) = panel.ax.images
    data = image.get_array()
    assert data.shape[0] == 2
    left, right, _, _ = image.get_extent()
    # frames every 0.5 s: cells reach a quarter step beyond the first and last
    assert (left, right) == pytest.approx((-0.25, 3.75))
    centres = left + (np.arange(data.shape[1]) + 0.5) * (right - left) / data.shape[1]
    # a cell is filled within 0.75 step (0.375 s) of a frame: 1.0 + .375 .. 3 - .375
    in_gap = (centres > 1.4) & (centres < 2.6)
    assert in_gap.any()
    assert data.mask[:, in_gap].all()
    at_zero = np.argmin(np.abs(centres - 0.0))
    assert data[0, at_zero] == pytest.approx(0.9)  # Joy at 0 s
    assert [t.get_text() for t in panel.ax.get_yticklabels()] == ["Joy", "Calmness"]
    panel.view.value = "lines"
    assert len(_lines(panel)) == 2 and not panel.ax.images


# -- explore: labels ------------------------------------------------------------------


def _figure_texts(panel):
    return [t.get_text() for t in panel.figure.texts]


def test_perceived_note_and_no_simulated_label_for_real_scores(df):
    panel = explore(df)
    assert any("perceived expression" in t for t in _figure_texts(panel))
    assert "perceived expression" in panel.note.value
    assert "SIMULATED" not in panel.ax.get_title()
    assert "SIMULATED" not in panel.note.value
    assert not any("SIMULATED" in t for t in _figure_texts(panel))


def test_simulated_frames_are_labelled(df):
    df.attrs["simulated"] = True
    panel = explore(df)
    assert "SIMULATED" in panel.ax.get_title()
    assert "SIMULATED" in panel.note.value
    assert "SIMULATED" in _figure_texts(panel)
    panel.model.value = "prosody"
    assert "SIMULATED" in panel.ax.get_title()
    # and the argument overrides the frame's flag
    assert "SIMULATED" not in explore(df, simulated=False).ax.get_title()
    # a frame that only names its engine is labelled too
    df.attrs = {"engine": "simulated"}
    assert "SIMULATED" in explore(df).ax.get_title()


# -- explore: bad input -----------------------------------------------------------


def test_wide_frame_is_explained(df):
    with pytest.raises(humelab.SchemaError, match="to_long"):
        explore(humelab.to_wide(df))


def test_unknown_choices_name_the_valid_ones(df):
    with pytest.raises(humelab.InputError, match=r"`model`='burst'.*'face', 'prosody'"):
        explore(df, model="burst")
    with pytest.raises(humelab.InputError, match=r"`group`='face_9'.*'face_0'"):
        explore(df, group="face_9")
    with pytest.raises(humelab.InputError, match=r"`file`='nope.mp4'.*'clip.mp4'"):
        explore(df, file="nope.mp4")
    with pytest.raises(humelab.InputError, match=r"`dims` \['Awe'\]"):
        explore(df, dims=["Awe"])
    with pytest.raises(humelab.InputError, match="`view`"):
        explore(df, view="bars")
    with pytest.raises(humelab.InputError, match="`k`"):
        explore(df, k=0)
    with pytest.raises(humelab.InputError, match="`media`"):
        explore(df, media=42)


# -- explore: media ---------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(bytes(data))) as im:
        return im.size


def test_video_frame_follows_the_cursor(df, tmp_path):
    # Given the recording at hand in a folder (a face moving left to right)
    make_video(tmp_path / "clip.mp4", seconds=4.0, fps=10, audio=False)
    panel = explore(df, media=tmp_path)
    assert panel.media.layout.display is None
    first = panel.media.value
    assert _png_size(first) == (160, 120)
    # When the cursor moves, the still is decoded at the new time
    panel.cursor.value = 3.5
    later = panel.media.value
    assert later != first
    # And moving back gives the first picture again (a seek, not a stream)
    panel.cursor.value = 0.0
    assert panel.media.value == first
    panel.close()


def test_image_source_by_mapping(tmp_path):
    path = make_image(tmp_path / "portrait.png", size=(128, 96))
    preds = predictions("portrait.png")
    preds[0]["results"]["predictions"][0]["models"].pop("prosody")
    panel = explore(humelab.read_predictions(preds), media={"portrait.png": path})
    assert _png_size(panel.media.value) == (128, 96)
    assert "no transcript" in panel.transcript.value


def test_still_images_show_points(tmp_path):
    # Given the shipped example of three face drawings (one frame each)
    faces = humelab.load_example("faces")
    folder = humelab.example_files("image")[0].parent
    panel = explore(faces, file="face_smile.jpg", media=folder)
    # Then each dimension is one visible point, centred in the time range
    (x,) = set(_lines(panel)[0].get_xdata())
    lo, hi = panel.ax.get_xlim()
    assert lo < x < hi and x - lo == pytest.approx(hi - x)
    assert all(line.get_marker() == "o" for line in _lines(panel))
    assert panel.shown[0] == "Joy"  # the script of face_smile.jpg: Joy high
    assert "SIMULATED" in panel.ax.get_title()
    assert bytes(panel.media.value).startswith(b"\x89PNG")


def test_without_media_the_still_is_hidden(df):
    assert explore(df).media.layout.display == "none"


# -- explore: any frame ------------------------------------------------------------


def test_text_without_times_is_stepped_by_segment(real_samples):
    data = humelab.read_predictions(
        real_samples / "twilio-vintel_language_text" / "predictions_item.json"
    )
    # each text item is a file of its own (file = the item's index)
    panel = explore(data, file="1")
    assert len(panel.file.options) == 25
    assert panel.ax.get_xlabel() == "segment"
    assert panel.smooth.disabled
    text = html.escape(data.loc[data["file"] == "1", "text"].iloc[0])
    assert (
        f"<b>▶ <span style='color:#666'>#0</span> {text}</b>" in panel.transcript.value
    )


def test_every_real_sample_opens(real_samples):
    paths = sorted(real_samples.glob("*/predictions*.json"))
    assert len(paths) >= 8
    for path in paths:
        data = humelab.read_predictions(path)
        panel = explore(data)
        for model in panel.model.options:
            panel.model.value = model
            assert _lines(panel), f"{path.parent.name}: {model} drew nothing"
        panel.view.value = "heatmap"
        assert panel.ax.images, path.parent.name
        panel.close()


# -- jobs panel against the local service ------------------------------------------


def test_jobs_panel_lists_refreshes_and_loads(client, api):
    # Given an empty ledger
    panel = jobs_panel(client)
    assert isinstance(panel, JobsPanel)
    assert "no jobs" in panel.table.value and panel.load_button.disabled
    # When a job is submitted and finishes on the service (seen by raw polling,
    # not through the client, so the ledger still holds its first status)
    job = client.submit(text=["What a lovely day.", "I am so tired."])
    api.wait(job.id)
    assert client.jobs()["status"].iloc[0] != "COMPLETED"
    # Then refresh asks the service and lists it as finished
    panel.refresh_button.click()
    assert job.id in panel.table.value and "COMPLETED" in panel.table.value
    assert panel.job.value == job.id and not panel.load_button.disabled
    assert "asked the service about 1 unfinished" in panel.status.value
    # And loading gives the job's tidy frame, opened in the explore panel
    panel.load_button.click()
    expected = client.job(job.id).frame()
    assert panel.frame is not None and panel.frame.equals(expected)
    assert isinstance(panel.explorer, ExplorePanel)
    assert panel.explorer.selection[3] == "language"
    assert "SIMULATED" in panel.explorer.ax.get_title()


def test_jobs_panel_without_explore_and_bad_client(client):
    job = client.submit(text=["fine"])
    job.wait(progress=False)
    panel = jobs_panel(client, explore=False)
    assert panel.load(job.id) is not None and panel.explorer is None
    assert panel.load("no-such-job") is None
    assert "Could not load no-such-job" in panel.status.value
    with pytest.raises(humelab.InputError, match="humelab.Client"):
        jobs_panel("http://127.0.0.1:1")


# -- long recordings: thinned lines -----------------------------------------------


def test_thinning_keeps_each_slices_lowest_and_highest_point():
    from humelab._widget_data import decimate

    # 20 points in [0, 20): slice 0 holds x 0..9, slice 1 holds x 10..19
    x = np.arange(20.0)
    y = np.full(20, 0.5)
    y[3], y[7] = 0.0, 1.0  # slice 0: lowest at 3, highest at 7
    y[11], y[15] = 1.0, 0.0  # slice 1: highest at 11, lowest at 15
    xs, ys = decimate(x, y, 0.0, 19.999, bins=2)
    np.testing.assert_array_equal(xs, [3, 7, 11, 15])
    np.testing.assert_array_equal(ys, [0.0, 1.0, 1.0, 0.0])
    # a NaN break between the slices keeps the line open there
    xs, ys = decimate(
        np.insert(x, 10, np.nan), np.insert(y, 10, np.nan), 0, 19.999, bins=2
    )
    np.testing.assert_array_equal(xs, [3, 7, np.nan, 11, 15])
    # few points are returned as they are (plus one beyond each edge)
    xs, _ = decimate(x, y, 5.0, 8.0, bins=2)
    np.testing.assert_array_equal(xs, [4, 5, 6, 7, 8, 9])


def _long_face_frame(n: int):
    times = np.arange(n) / 3.0
    rng = np.random.default_rng(1)
    group = {
        "id": "face_0",
        "predictions": [
            {
                "frame": 10 * i,
                "time": float(t),
                "prob": 0.99,
                "box": {"x": 1.0, "y": 2.0, "w": 30.0, "h": 40.0},
                "emotions": _scores({"Joy": float(rng.random()), "Anger": 0.1}),
                "facs": None,
                "descriptions": None,
            }
            for i, t in enumerate(times)
        ],
    }
    preds = predictions("long.mp4")
    models = preds[0]["results"]["predictions"][0]["models"]
    models["face"]["grouped_predictions"] = [group]
    del models["prosody"]
    return humelab.read_predictions(preds)


def test_long_lines_are_thinned_and_refined_on_zoom():
    # Given 6000 face frames (2000 s at 3 per second)
    panel = explore(_long_face_frame(6000), dims=["Joy"])
    (line,) = _lines(panel)
    # Then the drawn line is an envelope of at most 2 points per slice (150)
    assert len(line.get_xdata()) <= 2 * 150 + 2
    assert np.nanmax(line.get_ydata()) == pytest.approx(panel.track.column("Joy").max())
    # When zoomed to 100 s (300 frames), every frame in view is drawn
    panel.time_range.value = (500.0, 600.0)
    (same,) = _lines(panel)
    assert same is line
    xs = line.get_xdata()
    assert np.sum((xs >= 500.0) & (xs <= 600.0)) == 301


def test_views_keep_their_own_axes(df):
    panel = explore(df)
    lines_ax = panel.ax
    panel.view.value = "heatmap"
    heat_ax = panel.ax
    assert heat_ax is not lines_ax
    assert heat_ax.get_visible() and not lines_ax.get_visible()
    panel.cursor.value = 2.0
    assert _cursor_x(panel) == pytest.approx(2.0)
    panel.view.value = "lines"
    assert panel.ax is lines_ax and _cursor_x(panel) == pytest.approx(2.0)


def test_jobs_panel_says_when_the_service_cannot_be_asked(tmp_path):
    # Given a job submitted to a service that has stopped since
    with humelab.serve(data_dir=tmp_path / "service", quiet=True) as server:
        client = humelab.Client(
            server.url, server.api_key, data_dir=tmp_path / "data", max_retries=0
        )
        job = client.submit(text=["hello"])
    assert client.jobs()["status"].iloc[0] != "COMPLETED"
    # When the panel refreshes, it still lists the job and says why it is stale
    panel = jobs_panel(client)
    assert job.id in panel.table.value
    assert "could not ask the service" in panel.status.value
    assert panel.load_button.disabled
    client.close()
