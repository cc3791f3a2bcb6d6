"""humelab.analysis: hand-computed expectations, errors, and every real sample."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import humelab
from humelab import schema

# -- building small tidy frames -------------------------------------------------------


def tidy(rows, attrs=None, *, check=True) -> pd.DataFrame:
    """A tidy long frame from dicts (defaults filled, contract dtypes from schema).

    ``check=False`` for frames with missing scores (a user's own, or resampled).
    """
    base = {
        "job_id": None,
        "source": "clip.mp4",
        "file": "clip.mp4",
        "model": "face",
        "group": "face_0",
        "segment": 0,
        "frame": None,
        "begin": np.nan,
        "end": np.nan,
        "text": None,
        "family": "emotions",
        "name": "Joy",
        "score": 0.0,
    }
    df = pd.DataFrame([{**base, **r} for r in rows], columns=list(base))
    for col in schema.COLUMNS:
        dtype = col.dtype.split("|")[-1]
        if dtype == "category":
            df[col.name] = df[col.name].astype("category")
        else:
            df[col.name] = df[col.name].astype(dtype)
    df.attrs.update(attrs or {})
    return humelab.validate(df) if check else df


def face(times, scores, *, name="Joy", group="face_0", **kw):
    """Face frames: instants (begin == end == time)."""
    return [
        {"model": "face", "group": group, "segment": i, "begin": t, "end": t,
         "name": name, "score": s, **kw}
        for i, (t, s) in enumerate(zip(times, scores, strict=True))
    ]  # fmt: skip


def spans(intervals, scores, *, model="prosody", name="Joy", group="spk_0", **kw):
    """Utterances or words: intervals [begin, end)."""
    return [
        {"model": model, "group": group, "segment": i, "begin": b, "end": e,
         "name": name, "score": s, **kw}
        for i, ((b, e), s) in enumerate(zip(intervals, scores, strict=True))
    ]  # fmt: skip


def rows_of(df, **where):
    mask = np.ones(len(df), bool)
    for k, v in where.items():
        mask &= (df[k] == v).to_numpy()
    return df.loc[mask].reset_index(drop=True)


def test_builder_makes_contract_frames():
    humelab.validate(tidy(face([0.0], [0.5])))


# -- top_emotions ----------------------------------------------------------------------


def test_top_emotions_ranks_by_true_mean_not_sum():
    # Given Joy in 2 frames (mean 0.5, sum 1.0) and Anger in 4 (mean 0.3, sum 1.2)
    df = tidy(
        face([0.0, 1.0], [0.4, 0.6], name="Joy")
        + face([0.0, 0.5, 1.0, 1.5], [0.3, 0.3, 0.5, 0.1], name="Anger")
        + face([0.0], [0.05], name="Calmness")
    )
    # When ranking the top 2
    top = humelab.top_emotions(df, 2)
    # Then Joy (higher mean) comes first although Anger's sum is larger
    assert top["name"].tolist() == ["Joy", "Anger"]
    assert top["rank"].tolist() == [1, 2]
    assert top["mean"].tolist() == pytest.approx([0.5, 0.3])
    assert top["n"].tolist() == [2, 4]
    assert top["peak"].tolist() == pytest.approx([0.6, 0.5])
    assert top["peak_time"].tolist() == [1.0, 1.0]
    assert list(top.columns) == [
        "source", "file", "model", "group", "family", "name",
        "rank", "mean", "n", "peak", "peak_time",
    ]  # fmt: skip


def test_top_emotions_per_group_and_k():
    df = tidy(
        face([0.0, 1.0], [0.9, 0.7], name="Joy", group="face_0")
        + face([0.0, 1.0], [0.1, 0.3], name="Anger", group="face_0")
        + face([0.0], [0.2], name="Joy", group="face_1")
        + face([0.0], [0.6], name="Anger", group="face_1")
    )
    top = humelab.top_emotions(df, 1)
    assert top[["group", "name"]].astype(str).values.tolist() == [
        ["face_0", "Joy"],
        ["face_1", "Anger"],
    ]
    assert top["mean"].tolist() == pytest.approx([0.8, 0.6])
    assert len(humelab.top_emotions(df, None)) == 4
    whole = humelab.top_emotions(df, 1, by=None)  # Joy (0.9+0.7+0.2)/3 = 0.6
    assert whole["name"].tolist() == ["Joy"]
    assert whole["mean"].tolist() == pytest.approx([0.6])


def test_top_emotions_keeps_only_emotions_by_default():
    df = tidy(
        face([0.0], [0.4], name="Joy")
        + face([0.0], [0.99], name="Smile", family="descriptions")
    )
    assert humelab.top_emotions(df)["name"].tolist() == ["Joy"]
    both = humelab.top_emotions(df, family=None)
    assert sorted(zip(both["family"].astype(str), both["rank"], strict=True)) == [
        ("descriptions", 1),
        ("emotions", 1),
    ]


def test_top_emotions_bad_k():
    df = tidy(face([0.0], [0.4]))
    for k in (0, -1, 2.5, True):
        with pytest.raises(humelab.InputError, match="`k="):
            humelab.top_emotions(df, k)


# -- summarize -------------------------------------------------------------------------


def test_summarize_statistics_by_hand():
    df = tidy(face([0.0, 0.5, 1.0], [0.2, 0.4, 0.9]))
    s = humelab.summarize(df).iloc[0]
    # mean 0.5; deviations -0.3, -0.1, 0.4 -> sd = sqrt(0.26 / 2)
    sd = math.sqrt(0.13)
    sem = sd / math.sqrt(3)
    # Student's t, 2 degrees of freedom, has the closed form (2p-1)/sqrt(2p(1-p))
    t = (2 * 0.975 - 1) / math.sqrt(2 * 0.975 * 0.025)  # 4.3027
    assert s["n"] == 3
    assert s["mean"] == pytest.approx(0.5)
    assert s["sd"] == pytest.approx(sd)
    assert s["sem"] == pytest.approx(sem)
    assert s["ci_low"] == pytest.approx(0.5 - t * sem)
    assert s["ci_high"] == pytest.approx(0.5 + t * sem)
    assert s["max"] == pytest.approx(0.9)
    assert s["max_time"] == 1.0
    assert math.isnan(s["weighted_mean"])  # face frames are instants


def test_summarize_ci_one_degree_of_freedom_and_single_row():
    df = tidy(face([0.0, 1.0], [0.2, 0.6]) + face([0.0], [0.7], name="Anger"))
    s = humelab.summarize(df).set_index("name")
    sem = math.sqrt(0.08) / math.sqrt(2)  # sd of (0.2, 0.6) = sqrt(0.08)
    t = math.tan(math.pi * (0.975 - 0.5))  # t with 1 df is Cauchy: 12.706
    assert s.loc["Joy", "ci_high"] == pytest.approx(0.4 + t * sem)
    assert s.loc["Anger", "n"] == 1
    assert s.loc[["Anger"], ["sd", "sem", "ci_low", "ci_high"]].isna().all(axis=None)


def test_summarize_confidence_level_and_large_n():
    # t(0.975, 30) = 2.0423 (printed tables); 31 rows with sd 1
    vals = [0.0, 2.0] * 15 + [1.0]
    df = tidy(face(np.arange(31.0), vals))
    s = humelab.summarize(df).iloc[0]
    assert s["ci_high"] - s["mean"] == pytest.approx(2.0423 * s["sem"], rel=1e-4)
    s90 = humelab.summarize(df, confidence=0.9).iloc[0]  # t(0.95, 30) = 1.6973
    assert s90["ci_high"] - s90["mean"] == pytest.approx(1.6973 * s["sem"], rel=1e-4)
    with pytest.raises(humelab.InputError, match="`confidence=1.5`"):
        humelab.summarize(df, confidence=1.5)


def test_summarize_time_weighted_mean_of_overlapping_utterances():
    # Given utterances [0, 1) scored 0.2 and [0.5, 3.5) scored 0.8 (weights 1 and 3)
    df = tidy(spans([(0.0, 1.0), (0.5, 3.5)], [0.2, 0.8]))
    s = humelab.summarize(df).iloc[0]
    assert s["mean"] == pytest.approx(0.5)
    assert s["weighted_mean"] == pytest.approx((0.2 * 1 + 0.8 * 3) / 4)


# -- resample --------------------------------------------------------------------------


def test_resample_face_frames_with_a_gap():
    # Given face frames 0.5 s apart, then a gap, then one more frame
    df = tidy(face([0.0, 0.5, 2.5], [0.2, 0.4, 0.8]))
    out = humelab.resample(df, freq=0.5)
    assert out["begin"].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert out["end"].tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    np.testing.assert_allclose(
        out["score"], [0.2, 0.4, np.nan, np.nan, np.nan, 0.8], equal_nan=True
    )
    assert out["n"].tolist() == [1, 1, 0, 0, 0, 1]
    # A coarser grid averages the two frames of the first second; the gap stays NaN
    one = humelab.resample(df, freq="1s")
    np.testing.assert_allclose(one["score"], [0.3, np.nan, 0.8], equal_nan=True)
    assert not (one["score"] == 0).any()


def test_resample_overlapping_utterances_weighted_by_overlap():
    # [0, 1.5) scored 0.2 and [1, 3) scored 0.8 on a 1 s grid:
    # bin [1, 2) sees 0.5 s of the first and 1 s of the second
    df = tidy(spans([(0.0, 1.5), (1.0, 3.0)], [0.2, 0.8]))
    out = humelab.resample(df, freq=1.0)
    assert out["begin"].tolist() == [0.0, 1.0, 2.0]
    assert out["score"].tolist() == pytest.approx([0.2, (0.2 * 0.5 + 0.8) / 1.5, 0.8])
    assert out["n"].tolist() == [1, 2, 1]
    assert humelab.resample(df, freq=1.0, how="max")["score"].tolist() == [
        pytest.approx(0.2),
        pytest.approx(0.8),
        pytest.approx(0.8),
    ]


def test_resample_grid_is_anchored_at_zero_and_per_series():
    df = tidy(
        face([3.2, 4.9], [0.1, 0.3], name="Joy")
        + spans([(0.25, 0.75)], [0.5], name="Joy")
    )
    out = humelab.resample(df, freq=1.0)
    f = rows_of(out, model="face")
    assert f["begin"].tolist() == [3.0, 4.0]
    assert f["score"].tolist() == pytest.approx([0.1, 0.3])
    p = rows_of(out, model="prosody")
    assert p["begin"].tolist() == [0.0]
    assert p["score"].tolist() == pytest.approx([0.5])
    assert list(out.columns) == [
        "source", "file", "model", "group", "family", "name",
        "begin", "end", "score", "n",
    ]  # fmt: skip
    assert out["score"].dtype == np.float64


def test_resample_bin_edges_do_not_drift():
    # 0.3 / 0.1 is 2.9999999999999996 in floating point; 0.3 still belongs to [0.3, 0.4)
    df = tidy(face([0.3], [0.5]))
    out = humelab.resample(df, freq=0.1)
    assert out["begin"].tolist() == [0.3]


@pytest.mark.parametrize(
    "freq", [0, -1.0, "abc", "1 parsec", float("nan"), None, "2", True]
)
def test_resample_bad_freq(freq):
    df = tidy(face([0.0], [0.5]))
    with pytest.raises(humelab.InputError, match="not a positive time step"):
        humelab.resample(df, freq=freq)


@pytest.mark.parametrize(
    "freq", [0.5, "500ms", pd.Timedelta("500ms"), np.timedelta64(500, "ms")]
)
def test_resample_freq_spellings(freq):
    df = tidy(face([0.0, 0.75], [0.2, 0.4]))
    assert humelab.resample(df, freq=freq)["begin"].tolist() == [0.0, 0.5]


def test_resample_bad_how_and_untimed_rows():
    df = tidy(face([0.0], [0.5]))
    with pytest.raises(humelab.InputError, match="`how='sum'`"):
        humelab.resample(df, freq=1, how="sum")
    text = tidy([{"model": "language", "source": "text", "file": "0", "score": 0.3}])
    with pytest.warns(humelab.HumelabWarning, match="1 of 1 rows have no `begin`"):
        out = humelab.resample(text, freq=1)
    assert out.empty and "score" in out.columns


# -- align -----------------------------------------------------------------------------


def _interview():
    return tidy(
        spans([(0.0, 2.0), (3.0, 5.0)], [0.1, 0.7], model="prosody")
        + face([0.5, 1.5, 2.5, 3.5], [0.2, 0.4, 0.9, 0.6])
        + spans([(1.5, 2.5)], [0.4], model="language", group="unknown")
    )


def test_align_face_frames_and_words_onto_utterances():
    # Given two utterances, face frames inside and between them, and a word that
    # straddles the end of the first utterance
    out = humelab.align(_interview(), to="prosody")
    # Then each (utterance, series) is one row, utterances in time order
    assert out["to_segment"].tolist() == [0, 0, 0, 1, 1, 1]
    assert out["begin"].tolist() == [0.0] * 3 + [3.0] * 3
    assert out["end"].tolist() == [2.0] * 3 + [5.0] * 3
    got = {(int(r.to_segment), str(r.model)): (r.score, r.n) for r in out.itertuples()}
    assert got[(0, "face")] == (pytest.approx(0.3), 2)  # 0.5 and 1.5; not 2.5
    assert got[(1, "face")] == (pytest.approx(0.6), 1)
    assert got[(0, "prosody")] == (pytest.approx(0.1), 1)
    assert got[(1, "prosody")] == (pytest.approx(0.7), 1)
    assert got[(0, "language")] == (pytest.approx(0.4), 1)
    assert math.isnan(got[(1, "language")][0]) and got[(1, "language")][1] == 0
    assert list(out.columns) == [
        "source", "file", "to_group", "to_segment", "begin", "end", "text",
        "model", "group", "family", "name", "score", "n",
    ]  # fmt: skip


def test_align_onto_one_grid_lines_series_up():
    out = humelab.align(_interview(), to="1s")
    # Every series of the file covers the file's bins 0..4, gaps NaN
    for model in ("face", "prosody", "language"):
        assert rows_of(out, model=model)["begin"].tolist() == [0, 1, 2, 3, 4]
    lang = rows_of(out, model="language")
    np.testing.assert_allclose(
        lang["score"], [np.nan, 0.4, 0.4, np.nan, np.nan], equal_nan=True
    )
    # onto a grid, align equals resample wherever resample has a bin
    res = humelab.resample(_interview(), freq=1.0)
    merged = out.merge(res, on=["model", "group", "name", "begin"], suffixes=("", "_r"))
    np.testing.assert_allclose(merged["score"], merged["score_r"], equal_nan=True)


def test_align_errors():
    df = _interview()
    with pytest.raises(humelab.InputError, match="no duration"):
        humelab.align(df, to="face")
    with pytest.raises(humelab.InputError, match="`to='burst'`.*`prosody`"):
        humelab.align(df, to="burst")


# -- smooth ----------------------------------------------------------------------------


def test_smooth_rows_window_keeps_gaps():
    df = tidy(face(np.arange(6.0), [1.0, 2.0, 3.0, 4.0, np.nan, 6.0]), check=False)
    out = humelab.smooth(df, window=3)
    np.testing.assert_allclose(
        out["score"], [1.5, 2.0, 3.0, 3.5, np.nan, 6.0], equal_nan=True
    )
    trailing = humelab.smooth(df, window=2, center=False)
    np.testing.assert_allclose(
        trailing["score"], [1.0, 1.5, 2.5, 3.5, np.nan, 6.0], equal_nan=True
    )


def test_smooth_time_window_per_series_in_input_order():
    # Two series interleaved in the frame; the window never mixes them
    joy = face([0.0, 0.5, 1.0, 2.5], [1.0, 2.0, 3.0, 4.0], name="Joy")
    anger = face([0.0, 0.5], [10.0, 20.0], name="Anger")
    df = tidy([joy[0], anger[0], joy[1], anger[1], joy[2], joy[3]])
    out = humelab.smooth(df, window="1s")
    assert out["name"].tolist() == df["name"].tolist()
    keys = zip(out["name"], out["begin"], strict=True)
    got = dict(zip(keys, out["score"], strict=True))
    assert got[("Joy", 0.0)] == pytest.approx(1.5)  # [-0.5, 0.5]
    assert got[("Joy", 0.5)] == pytest.approx(2.0)  # [0, 1]
    assert got[("Joy", 1.0)] == pytest.approx(2.5)  # [0.5, 1.5]
    assert got[("Joy", 2.5)] == pytest.approx(4.0)  # alone
    assert got[("Anger", 0.0)] == pytest.approx(15.0)


def test_smooth_time_windows_in_every_spelling():
    df = tidy(face([0.0, 0.5, 1.0, 2.5], [1.0, 2.0, 3.0, 4.0]))
    want = humelab.smooth(df, window="1s")["score"]
    for window in (pd.Timedelta("1s"), np.timedelta64(1000, "ms")):
        pd.testing.assert_series_equal(humelab.smooth(df, window=window)["score"], want)


def test_smooth_bad_window():
    df = tidy(face([0.0], [0.5]))
    with pytest.raises(humelab.InputError, match="at least 1 row"):
        humelab.smooth(df, window=0)
    with pytest.raises(humelab.InputError, match="ambiguous.*'1.5s'"):
        humelab.smooth(df, window=1.5)
    with pytest.raises(humelab.InputError, match="`window='x'`"):
        humelab.smooth(df, window="x")


# -- normalize -------------------------------------------------------------------------


def test_normalize_z_and_baseline():
    df = tidy(
        face([0.0, 0.5, 1.0, 2.5], [1.0, 2.0, 3.0, 4.0])
        + face([5.0, 6.0], [0.3, 0.3], name="Anger")
    )
    z = humelab.normalize(df)
    # Joy: mean 2.5, sd sqrt(5/3); Anger has no spread -> NaN
    sd = math.sqrt(5 / 3)
    np.testing.assert_allclose(
        z["score"][:4], [(x - 2.5) / sd for x in (1, 2, 3, 4)], rtol=1e-12
    )
    assert z["score"][4:].isna().all()
    b = humelab.normalize(df, method="baseline", baseline=(0, 1))
    # Joy's baseline: frames at 0, 0.5, 1.0 -> mean 2; Anger has none -> NaN
    np.testing.assert_allclose(b["score"][:4], [-1.0, 0.0, 1.0, 2.0])
    assert b["score"][4:].isna().all()


def test_normalize_errors():
    df = tidy(face([0.0], [0.5]))
    with pytest.raises(humelab.InputError, match="`method='minmax'`"):
        humelab.normalize(df, method="minmax")
    with pytest.raises(humelab.InputError, match="`baseline=None`"):
        humelab.normalize(df, method="baseline")
    with pytest.raises(humelab.InputError, match="t0 <= t1"):
        humelab.normalize(df, method="baseline", baseline=(3, 1))


# -- dominant --------------------------------------------------------------------------


def test_dominant_per_segment():
    df = tidy(
        face([0.0, 1.0], [0.7, 0.2], name="Joy")
        + face([0.0, 1.0], [0.1, 0.5], name="Anger")
        + face([0.0, 1.0], [0.3, 0.4], name="Calmness")
        + face([0.0], [0.99], name="Smile", family="descriptions")
    )
    out = humelab.dominant(df)
    assert out["segment"].tolist() == [0, 1]
    assert out["name"].tolist() == ["Joy", "Anger"]
    assert out["score"].tolist() == pytest.approx([0.7, 0.5])
    assert out["runner_up"].tolist() == ["Calmness", "Calmness"]
    assert out["margin"].tolist() == pytest.approx([0.4, 0.1])
    assert out["begin"].tolist() == [0.0, 1.0]
    # on a resampled frame, a bin is a segment
    bins = humelab.dominant(humelab.resample(df, freq=1.0), segment="begin")
    assert bins["name"].tolist() == ["Joy", "Anger"]


def test_dominant_single_dimension_has_no_runner_up():
    out = humelab.dominant(tidy(face([0.0], [0.4])))
    assert out["runner_up"].isna().all() and out["margin"].isna().all()


# -- frames, roles, errors -------------------------------------------------------------

FUNCS = {
    "top_emotions": lambda d, **kw: humelab.top_emotions(d, **kw),
    "summarize": lambda d, **kw: humelab.summarize(d, **kw),
    "resample": lambda d, **kw: humelab.resample(d, freq=1.0, **kw),
    "align": lambda d, **kw: humelab.align(d, to="1s", **kw),
    "smooth": lambda d, **kw: humelab.smooth(d, window=2, **kw),
    "normalize": lambda d, **kw: humelab.normalize(d, **kw),
    "dominant": lambda d, **kw: humelab.dominant(d, **kw),
}


@pytest.mark.parametrize("func", FUNCS)
def test_never_mutates_and_keeps_attrs(func):
    df = tidy(_interview().to_dict("records"), attrs={"simulated": True, "engine": "x"})
    before = df.copy(deep=True)
    out = FUNCS[func](df)
    pd.testing.assert_frame_equal(df, before)
    assert out.attrs == {"simulated": True, "engine": "x"}
    assert out is not df


@pytest.mark.parametrize("func", FUNCS)
def test_wide_frame_is_explained(func):
    wide = humelab.to_wide(_interview())
    with pytest.raises(humelab.SchemaError, match=r"wide frame.*humelab.to_long"):
        FUNCS[func](wide)


@pytest.mark.parametrize("func", FUNCS)
def test_job_and_series_are_explained(func, client):
    job = humelab.Job("0123abcd", client=client)
    with pytest.raises(humelab.SchemaError, match=r"got Job.*job.frame\(\)"):
        FUNCS[func](job)
    with pytest.raises(humelab.SchemaError, match="not one of its columns"):
        FUNCS[func](_interview()["score"])


@pytest.mark.parametrize("func", FUNCS)
def test_unknown_column_is_named(func):
    with pytest.raises(humelab.SchemaError, match=r"`scroe` \(role `value=`\)"):
        FUNCS[func](_interview(), value="scroe")


def test_explicit_by_must_exist_but_default_by_adapts():
    with pytest.raises(humelab.SchemaError, match=r"`speaker` \(role `by\[0\]=`\)"):
        humelab.summarize(_interview(), by="speaker")
    with pytest.raises(humelab.SchemaError, match="expected numbers"):
        humelab.summarize(_interview(), value="name")


def test_users_own_frame_with_other_column_names():
    # Given a user's frame: its own names, no source/file/model/group columns
    own = pd.DataFrame(
        {
            "t": [0.0, 0.5, 2.5, 0.0],
            "emotion": ["joy", "joy", "joy", "fear"],
            "rating": [0.2, 0.4, 0.8, 0.1],
        }
    )
    roles = {"time": "t", "value": "rating", "hue": "emotion"}
    top = humelab.top_emotions(own, 1, **roles)
    assert top["emotion"].tolist() == ["joy"]
    assert top["mean"].tolist() == pytest.approx([(0.2 + 0.4 + 0.8) / 3])
    res = humelab.resample(own, freq=1.0, end=None, **roles)
    joy = res[res["emotion"] == "joy"]
    np.testing.assert_allclose(joy["rating"], [0.3, np.nan, 0.8], equal_nan=True)
    assert humelab.summarize(own, end=None, **roles)["n"].tolist() == [3, 1]
    with pytest.raises(humelab.SchemaError, match="`begin` \\(role `time=`\\)"):
        humelab.top_emotions(own, value="rating", hue="emotion")


# -- every real Hume sample ------------------------------------------------------------


def _real_frames(real):
    for path in sorted(real.glob("*/*")):
        if path.suffix == ".zip":
            yield path, humelab.read_artifacts(path)
        elif path.suffix == ".json" and "sdk_fixtures" not in path.parent.name:
            yield path, humelab.read_predictions(path)


def test_real_samples(real_samples):
    seen = 0
    for path, df in _real_frames(real_samples):
        humelab.validate(df)
        seen += 1
        top = humelab.top_emotions(df, 3)
        assert len(top) > 0, path
        assert (top["rank"] <= 3).all() and top["mean"].between(0, 1).all(), path
        # the means are those of a plain groupby over the emotions family
        emo = df[df["family"] == "emotions"]
        keys = ["source", "file", "model", "group", "name"]
        check = emo.groupby(keys, observed=True)["score"].mean()
        for r in top.itertuples():
            want = check[(r.source, r.file, r.model, r.group, r.name)]
            assert r.mean == pytest.approx(float(want)), path
        summ = humelab.summarize(df)
        assert summ["n"].sum() == len(df), path
        many = summ["n"] > 1
        assert (summ.loc[many, "ci_low"] <= summ.loc[many, "mean"] + 1e-12).all()
        assert summ.loc[~many, "ci_low"].isna().all(), path
        timed = df["begin"].notna().any()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", humelab.HumelabWarning)
            res = humelab.resample(df, freq=1.0)
        if not timed:  # plain text input: nothing to put on a grid
            assert res.empty, path
            continue
        assert len(res) > 0, path
        has = res["n"] > 0
        assert res.loc[has, "score"].notna().all(), path
        assert res.loc[~has, "score"].isna().all(), path  # gaps are NaN, never 0
    assert seen >= 15


def _naive_resample(df, freq):
    """Loop-based reference: overlap-weighted means per series and grid bin."""
    out = {}
    keys = ["source", "file", "model", "group", "family", "name"]
    for key, s in df.groupby(keys, observed=True):
        b, e, v = s["begin"].to_numpy(), s["end"].to_numpy(), s["score"].to_numpy()
        for i in range(
            int(np.floor(b.min() / freq)), int(np.floor(e.max() / freq)) + 1
        ):
            lo, hi = i * freq, (i + 1) * freq
            if (e > b).any():
                w = np.clip(np.minimum(e, hi) - np.maximum(b, lo), 0, None)
            else:
                w = ((b >= lo) & (b < hi)).astype(float)
            if w.sum() > 0:
                out[key + (round(lo, 9),)] = float((w * v).sum() / w.sum())
    return out


def test_resample_matches_a_loop_reference_on_real_samples(real_samples):
    # Given real prosody utterances (intervals) and real face frames (instants)
    for folder, freq in (
        ("calhacks-vihk_prosody_audio_url", 2.0),
        ("interviewiq_face-prosody_url", 0.5),
    ):
        df = humelab.read_predictions(real_samples / folder / "predictions.json")
        df = df[df["name"].isin(["Joy", "Calmness", "Interest"])]
        want = _naive_resample(df, freq)
        got = humelab.resample(df, freq=freq)
        have = got[got["n"] > 0]
        keys = ["source", "file", "model", "group", "family", "name", "begin"]
        assert len(have) == len(want), folder
        for row in have.itertuples(index=False):
            key = tuple(getattr(row, k) for k in keys)
            assert row.score == pytest.approx(want[key], rel=1e-9), (folder, key)


def test_align_matches_a_loop_reference_on_a_real_interview(real_samples):
    path = real_samples / "interreviewer_face-prosody-language" / "predictions.json"
    df = humelab.read_predictions(path)
    df = df[df["name"].isin(["Joy", "Calmness"]) & (df["family"] == "emotions")]
    out = humelab.align(df, to="prosody")
    utt = df[df["model"] == "prosody"].drop_duplicates(["group", "segment"])
    faces = df[df["model"] == "face"]
    checked = 0
    for u in utt.itertuples():
        for (group, name), s in faces.groupby(["group", "name"], observed=True):
            inside = s[(s["begin"] >= u.begin) & (s["begin"] < u.end)]
            row = out[
                (out["to_group"] == u.group)
                & (out["to_segment"] == u.segment)
                & (out["model"] == "face")
                & (out["group"] == group)
                & (out["name"] == name)
            ]
            assert len(row) == 1
            assert row["n"].iloc[0] == len(inside)
            if len(inside):
                assert row["score"].iloc[0] == pytest.approx(
                    float(inside["score"].astype(float).mean()), rel=1e-9
                )
                checked += 1
            else:
                assert np.isnan(row["score"].iloc[0])
    assert checked > 20


@pytest.mark.parametrize("module", ["humelab._summaries", "humelab._timeseries"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=0)
    assert result.attempted > 0 and result.failed == 0


def test_align_without_segment_or_text_columns_uses_the_times():
    df = _interview()
    with_seg = humelab.align(df, to="prosody")
    own = df.drop(columns=["segment", "text"])
    without = humelab.align(own, to="prosody")
    assert "to_segment" not in without and "text" not in without
    pd.testing.assert_series_equal(without["score"], with_seg["score"])
    pd.testing.assert_series_equal(without["begin"], with_seg["begin"])


def test_every_function_runs_on_every_real_sample(real_samples):
    for path, df in _real_frames(real_samples):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", humelab.HumelabWarning)  # untimed text
            for out in (
                humelab.smooth(df, window=3),
                humelab.normalize(df),
                humelab.normalize(df, method="baseline", baseline=(0, 5)),
            ):
                humelab.validate(out.assign(score=out["score"].fillna(0.0)))
                assert len(out) == len(df), path
            dom = humelab.dominant(df)
            assert dom["name"].notna().all(), path
            # NaN exactly where nothing fell in a bin or segment, never 0 instead
            grid = humelab.align(df, to="2s")
            assert (grid["score"].isna() == (grid["n"] == 0)).all(), path
            for model in ("prosody", "language"):
                if model in set(df["model"]) and df["begin"].notna().any():
                    aligned = humelab.align(df, to=model)
                    assert len(aligned) > 0, path
                    empty = aligned["n"] == 0
                    assert (aligned["score"].isna() == empty).all(), path
