"""humelab.plotting: artists (lines and their NaN gaps, bars, cells, labels, legends,
the notes), never pixels."""

from __future__ import annotations

import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection, QuadMesh
from matplotlib.container import BarContainer

import humelab
from humelab import plotting
from tests.test_analysis import _interview, face, spans, tidy

NOTE = "Scores describe perceived expression, not felt emotion."


@pytest.fixture(autouse=True)
def no_show(monkeypatch):
    """Plotting functions never call plt.show()."""

    def refuse(*args, **kwargs):
        raise AssertionError("plt.show() was called")

    monkeypatch.setattr(plt, "show", refuse)


def texts(fig):
    return [t.get_text() for t in fig.texts]


def stamped(fig) -> bool:
    return any(t.startswith("SIMULATED") for t in texts(fig))


def lines_by_label(ax):
    return {ln.get_label(): ln for ln in ax.get_lines()}


def xy(line):
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


# -- plot_timeline ---------------------------------------------------------------------


def test_timeline_breaks_face_lines_at_gaps():
    # Given frames 0.5 s apart, a 2 s gap, then two more frames
    df = tidy(face([0.0, 0.5, 1.0, 3.0, 3.5], [0.1, 0.2, 0.3, 0.4, 0.5]))
    ax = humelab.plot_timeline(df)
    (line,) = ax.get_lines()
    x, y = xy(line)
    # Then the line has a NaN between 1.0 and 3.0, so the gap is not bridged
    np.testing.assert_array_equal(x, [0.0, 0.5, 1.0, np.nan, 3.0, 3.5])
    np.testing.assert_allclose(y, [0.1, 0.2, 0.3, np.nan, 0.4, 0.5])
    assert line.get_label() == "Joy"
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "score"


def test_timeline_intervals_are_steps_broken_where_they_do_not_touch():
    df = tidy(spans([(0.0, 1.0), (1.0, 2.0), (3.0, 4.0)], [0.2, 0.5, 0.7]))
    (line,) = humelab.plot_timeline(df).get_lines()
    x, y = xy(line)
    np.testing.assert_array_equal(x, [0, 1, 1, 2, np.nan, 3, 4])
    np.testing.assert_allclose(y, [0.2, 0.2, 0.5, 0.5, np.nan, 0.7, 0.7])
    # an explicit gap of 1.5 s joins them
    (joined,) = humelab.plot_timeline(df, gap=1.5).get_lines()
    assert not np.isnan(xy(joined)[1]).any()


def test_timeline_on_a_grid_draws_bin_centres_and_empty_bins_as_nan():
    df = tidy(face([0.0, 0.5, 2.5], [0.2, 0.4, 0.8]))
    (line,) = humelab.plot_timeline(df, freq=1.0).get_lines()
    x, y = xy(line)
    np.testing.assert_array_equal(x, [0.5, 1.5, 2.5])
    np.testing.assert_allclose(y, [0.3, np.nan, 0.8])


def test_timeline_top_k_per_group_colour_by_dimension_style_by_group():
    df = tidy(
        face([0, 1], [0.9, 0.8], name="Joy", group="face_0")
        + face([0, 1], [0.5, 0.5], name="Anger", group="face_0")
        + face([0, 1], [0.1, 0.1], name="Calmness", group="face_0")
        + face([0, 1], [0.7, 0.6], name="Joy", group="face_1")
        + face([0, 1], [0.2, 0.2], name="Anger", group="face_1")
    )
    ax = humelab.plot_timeline(df, k=2, linewidth=3)
    lines = lines_by_label(ax)
    assert list(lines) == [
        "Joy (face_0)",
        "Anger (face_0)",
        "Joy (face_1)",
        "Anger (face_1)",
    ]
    assert lines["Joy (face_0)"].get_color() == lines["Joy (face_1)"].get_color()
    assert lines["Joy (face_0)"].get_color() != lines["Anger (face_0)"].get_color()
    assert (
        lines["Joy (face_0)"].get_linestyle() != lines["Joy (face_1)"].get_linestyle()
    )
    assert all(ln.get_linewidth() == 3 for ln in ax.get_lines())  # **kwargs -> plot


def test_timeline_legend_sits_outside_the_data():
    ax = humelab.plot_timeline(_interview())
    fig = ax.figure
    fig.canvas.draw()
    legend = ax.get_legend()
    assert legend is not None
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1 - 1


def test_timeline_names_and_errors():
    df = _interview()
    ax = humelab.plot_timeline(df, names=["Joy"])
    assert {ln.get_label().split(" (")[0] for ln in ax.get_lines()} == {"Joy"}
    with pytest.raises(humelab.InputError, match="`Jyo` not found in column `name`"):
        humelab.plot_timeline(df, names="Jyo")
    text = tidy([{"model": "language", "source": "text", "file": "0", "score": 0.3}])
    with pytest.raises(humelab.InputError, match="no times"):
        humelab.plot_timeline(text)
    with pytest.raises(humelab.SchemaError, match="wide frame"):
        humelab.plot_timeline(humelab.to_wide(df))


def test_timeline_draws_on_a_given_axes():
    fig, (a, b) = plt.subplots(1, 2)
    assert humelab.plot_timeline(_interview(), ax=b) is b
    assert not a.get_lines() and b.get_lines()


# -- the notes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "override", "expect"),
    [
        ({}, None, False),
        ({"simulated": True, "engine": "simulated"}, None, True),
        ({"simulated": False, "engine": "hume"}, None, False),
        ({"engine": "simulated"}, None, True),
        ({"simulated": True}, False, False),
        ({}, True, True),
    ],
)
def test_every_plot_carries_the_note_and_the_simulated_stamp(attrs, override, expect):
    df = tidy(_interview().to_dict("records"), attrs=attrs)
    one = humelab.resample(df, freq=1.0)[lambda d: d["group"] == "face_0"]
    figs = [
        humelab.plot_timeline(df, simulated=override).figure,
        humelab.plot_heatmap(one, simulated=override).figure,
        humelab.plot_heatmap(df, kind="files", simulated=override).figure,
        humelab.plot_top(df, simulated=override).figure,
        humelab.plot_small_multiples(df, simulated=override),
    ]
    with_text = tidy(
        spans([(0, 1)], [0.3], model="language", group="unknown", text="hi"),
        attrs=attrs,
    )
    figs.append(humelab.plot_transcript(with_text, simulated=override).figure)
    for fig in figs:
        assert texts(fig).count(NOTE) == 1
        assert stamped(fig) is expect
        if expect:
            assert (
                texts(fig).count("SIMULATED: synthetic scores, not measurements") == 1
            )


def test_notes_are_added_once_per_figure():
    fig, (a, b) = plt.subplots(1, 2)
    df = tidy(_interview().to_dict("records"), attrs={"simulated": True})
    humelab.plot_timeline(df, ax=a)
    humelab.plot_top(df, ax=b)
    assert texts(fig).count(NOTE) == 1
    assert sum(t.startswith("SIMULATED") for t in texts(fig)) == 1


# -- plot_heatmap ----------------------------------------------------------------------


def test_heatmap_dimensions_by_time_with_blank_gaps():
    df = tidy(
        face([0.0, 0.5, 2.5], [0.2, 0.4, 0.8], name="Joy")
        + face([0.0, 0.5, 2.5], [0.1, 0.1, 0.1], name="Anger")
    )
    ax = humelab.plot_heatmap(df, freq=1.0, cmap="magma")
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    cells = mesh.get_array()
    assert cells.shape == (2, 3)  # Joy, Anger x bins [0,1) [1,2) [2,3)
    np.testing.assert_allclose(cells.filled(np.nan)[0], [0.3, np.nan, 0.8])
    assert cells.mask[:, 1].all()  # the empty bin is masked, never 0
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Joy", "Anger"]
    assert mesh.get_cmap().name == "magma"  # **kwargs -> pcolormesh
    assert ax.figure.axes[-1].get_ylabel() == "score"  # the colour bar


def test_heatmap_files_by_dimensions_holds_means():
    a = face([0.0, 1.0], [0.2, 0.4], name="Joy", source="a.mp4", file="a.mp4")
    b = face([0.0], [0.9], name="Joy", source="b.mp4", file="b.mp4")
    c = face([0.0], [0.1], name="Anger", source="b.mp4", file="b.mp4")
    ax = humelab.plot_heatmap(tidy(a + b + c), kind="files")
    (mesh,) = [m for m in ax.collections if isinstance(m, QuadMesh)]
    cells = mesh.get_array().filled(np.nan)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a.mp4", "b.mp4"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Joy", "Anger"]
    np.testing.assert_allclose(cells, [[0.3, np.nan], [0.9, 0.1]])


def test_heatmap_errors():
    with pytest.raises(humelab.InputError, match="one series group.*3"):
        humelab.plot_heatmap(_interview())
    with pytest.raises(humelab.InputError, match="`kind='dims'`"):
        humelab.plot_heatmap(_interview(), kind="dims")


# -- plot_top --------------------------------------------------------------------------


def test_top_bars_are_means_with_t_intervals():
    df = tidy(
        face([0.0, 0.5, 1.0], [0.2, 0.4, 0.9], name="Joy")
        + face([0.0, 0.5, 1.0], [0.1, 0.1, 0.1], name="Anger")
    )
    ax = humelab.plot_top(df, k=2, hatch="//")
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [p.get_width() for p in bars.patches] == pytest.approx([0.5, 0.1])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Joy", "Anger"]
    assert ax.yaxis_inverted()  # best on top
    # the error bar of Joy spans mean -/+ t(0.975, 2) * sd / sqrt(3)
    t = (2 * 0.975 - 1) / math.sqrt(2 * 0.975 * 0.025)
    half = t * math.sqrt(0.13) / math.sqrt(3)
    seg = bars.errorbar.lines[2][0].get_segments()[0]
    assert seg[0][0] == pytest.approx(0.5 - half)
    assert seg[1][0] == pytest.approx(0.5 + half)
    assert bars.patches[0].get_hatch() == "//"  # **kwargs -> barh
    assert ax.get_xlabel() == "mean score (95% CI)"


def test_top_one_bar_per_group_with_legend():
    ax = humelab.plot_top(_interview(), k=1)
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 3  # prosody spk_0, face face_0, language unknown
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["prosody · spk_0", "face · face_0", "language · unknown"]


# -- plot_transcript -------------------------------------------------------------------


def test_transcript_colours_segments_by_a_dimension():
    rows = spans(
        [(0.0, 2.0), (2.0, 5.0)], [0.2, 0.8], model="language", group="unknown"
    )
    rows[0]["text"], rows[1]["text"] = "hello there", "how are you"
    rows += spans(
        [(0.0, 2.0), (2.0, 5.0)], [0.9, 0.1], model="language", group="unknown",
        name="Anger",
    )  # fmt: skip
    for r, words in zip(rows[2:], ("hello there", "how are you"), strict=True):
        r["text"] = words
    ax = humelab.plot_transcript(tidy(rows), dimension="Joy")
    (bars,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    faces = bars.get_facecolors()
    cmap = plt.get_cmap("viridis")
    np.testing.assert_allclose(faces[0], cmap(0.0))  # 0.2 is the lowest Joy
    np.testing.assert_allclose(faces[1], cmap(1.0))  # 0.8 the highest
    words = [t.get_text() for t in ax.texts]
    assert words == ["hello there", "how are you"]
    assert ax.figure.axes[-1].get_ylabel() == "Joy (score)"
    assert "language" in ax.get_title() and "Joy" in ax.get_title()


def test_transcript_without_times_lays_segments_out_in_order(real_samples):
    path = real_samples / "twilio-vintel_language_text" / "predictions_item.json"
    df = humelab.read_predictions(path)
    ax = humelab.plot_transcript(df, max_labels=5)
    assert ax.get_xlabel().startswith("segment")
    assert 0 < len(ax.texts) <= 5


def test_transcript_errors():
    with pytest.raises(humelab.InputError, match="no segments with text"):
        humelab.plot_transcript(tidy(face([0.0], [0.5])))


# -- plot_small_multiples --------------------------------------------------------------


def test_small_multiples_one_panel_per_file_with_a_shared_legend():
    a = face([0.0, 0.5, 1.0], [0.2, 0.4, 0.6], source="a.mp4", file="a.mp4")
    b = face([0.0, 0.5], [0.5, 0.7], source="b.mp4", file="b.mp4")
    c = face([0.0, 0.5], [0.1, 0.1], source="c.mp4", file="c.mp4", name="Anger")
    fig = humelab.plot_small_multiples(tidy(a + b + c), col_wrap=2, linewidth=2.5)
    assert isinstance(fig, plt.Figure)
    assert [ax.get_title() for ax in fig.axes] == ["a.mp4", "b.mp4", "c.mp4"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 1, 1]
    assert all(ln.get_linewidth() == 2.5 for ax in fig.axes for ln in ax.get_lines())
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["Joy", "Anger"]
    assert texts(fig).count(NOTE) == 1


def test_small_multiples_per_group_and_errors():
    fig = humelab.plot_small_multiples(_interview(), facet="group")
    assert len(fig.axes) == 3
    assert fig.axes[0].get_title() == "clip.mp4 · prosody · spk_0"
    with pytest.raises(humelab.InputError, match="`facet='speaker'`"):
        humelab.plot_small_multiples(_interview(), facet="speaker")


# -- every real Hume sample ------------------------------------------------------------


def test_plots_on_every_real_sample(real_samples):
    for path in sorted(real_samples.glob("*/predictions*.json")):
        df = humelab.read_predictions(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", humelab.HumelabWarning)
            ax = humelab.plot_top(df)
            assert ax.containers, path
            if df["begin"].notna().any():
                ax = humelab.plot_timeline(df, k=3)
                assert ax.get_lines(), path
                fig = humelab.plot_small_multiples(df, facet="group", k=3)
                assert fig.axes, path
            if df["text"].notna().any():
                assert humelab.plot_transcript(df).collections, path
        plt.close("all")


def test_plotting_module_exports():
    assert set(plotting.__all__) == {
        "plot_timeline",
        "plot_heatmap",
        "plot_top",
        "plot_transcript",
        "plot_small_multiples",
    }
    for name in plotting.__all__:
        assert getattr(humelab, name) is getattr(plotting, name)


def test_timeline_with_many_lines_grows_its_figure_and_legend_columns():
    rows = []
    for g in range(6):
        for i, name in enumerate(["Joy", "Anger", "Calmness", "Awe", "Pride"]):
            rows += face([0.0, 0.5], [0.1 * i, 0.2], name=name, group=f"face_{g}")
    ax = humelab.plot_timeline(tidy(rows), k=5)
    assert len(ax.get_lines()) == 30
    assert ax.get_legend()._ncols == 2
    width, height = ax.figure.get_size_inches()
    assert width == 11.0 and height == pytest.approx(0.18 * 15 + 1.2)  # 15 rows


def test_transcript_gives_each_file_and_speaker_a_lane():
    rows = []
    for src, words in (("a.wav", ("hello", "there")), ("b.wav", ("good", "bye"))):
        part = spans(
            [(0.0, 1.0), (1.0, 2.0)], [0.3, 0.6], model="language", group="unknown",
            source=src, file=src,
        )  # fmt: skip
        for r, w in zip(part, words, strict=True):
            r["text"] = w
        rows += part
    ax = humelab.plot_transcript(tidy(rows))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a.wav", "b.wav"]
    bars = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bars) == 2  # one broken_barh per lane, the two files never overlap
    assert sorted(t.get_text() for t in ax.texts) == ["bye", "good", "hello", "there"]


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(plotting)
    assert result.attempted > 0 and result.failed == 0


def test_a_job_of_the_simulated_engine_is_stamped_end_to_end(client, tmp_path):
    # Given a real job on the local service (simulated engine) over loopback
    from tests.media import make_wav

    wav = make_wav(tmp_path / "clip.wav", seconds=3.0)
    job = client.submit([wav], models={"prosody": {}, "burst": {}})
    job.wait(timeout=60, progress=False)
    df = job.frame()
    assert df.attrs.get("simulated") is True
    # When it goes through the analysis and into a plot
    grid = humelab.resample(df, freq=0.5)
    assert grid.attrs.get("simulated") is True
    ax = humelab.plot_timeline(grid, k=3)
    # Then the figure says SIMULATED, and the note is there
    assert stamped(ax.figure) and texts(ax.figure).count(NOTE) == 1
