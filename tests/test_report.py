"""The HTML report and the timeline PNGs (humelab.report)."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import pytest

import humelab
from humelab.report import render_report, timeline_pngs, write_report

PNG = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Collects tags with their attributes, table cells and text."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.cells, self.text = [], [], []
        self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "td":
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell += data

    def ids(self):
        return {a.get("id") for _, a in self.tags if a.get("id")}

    def images(self):
        return [a["src"] for t, a in self.tags if t == "img"]


def _prosody_json(job_simulated: bool | None):
    """Two prosody segments of one file, Joy 0.25 over 0-1 s and 0.75 over 1-4 s."""

    def pred(b, e, joy, sad):
        return {
            "text": None,
            "time": {"begin": b, "end": e},
            "confidence": None,
            "speaker_confidence": None,
            "emotions": [
                {"name": "Joy", "score": joy},
                {"name": "Sadness", "score": sad},
            ],
        }

    element = {
        "source": {"type": "file", "filename": "talk.wav"},
        "results": {
            "predictions": [
                {
                    "file": "talk.wav",
                    "models": {
                        "prosody": {
                            "metadata": None,
                            "grouped_predictions": [
                                {
                                    "id": "unknown",
                                    "predictions": [
                                        pred(0.0, 1.0, 0.25, 0.125),
                                        pred(1.0, 4.0, 0.75, 0.0625),
                                    ],
                                }
                            ],
                        }
                    },
                }
            ],
            "errors": [],
        },
    }
    if job_simulated is not None:
        element["humelab"] = {"engine": "simulated", "simulated": job_simulated}
    return [element]


def test_report_is_self_contained_with_caveat_and_banner(tmp_path):
    # Given the simulated example faces
    df = humelab.load_example("faces")
    # When the report is written into a folder
    path = write_report(df, tmp_path / "out", title="Faces <class 3>")
    # Then one HTML file holds everything, nothing points outside it
    assert path == tmp_path / "out" / "report.html"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html"]
    text = path.read_text(encoding="utf-8")
    page = _Page(text)
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            if key in attrs:
                assert attrs[key].startswith("data:"), (tag, attrs[key][:40])
        assert tag not in ("script", "link", "iframe")
    assert "http://" not in text and "https://" not in text
    images = page.images()
    assert len(images) == 4  # three timelines (one per image) and the heatmap
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    # the title is escaped, the caveat and the SIMULATED banner are there
    assert "<title>Faces &lt;class 3&gt;</title>" in text
    words = " ".join(page.text)
    assert "perceived expression" in words and "not what anyone felt" in words
    assert {"simulated", "caveat"} <= page.ids()
    assert "SIMULATED" in words and "face_smile.jpg" in words


def test_report_tables_follow_the_scripts():
    page = _Page(render_report(humelab.load_example("faces"), k=2))
    # face_smile's script says Joy 0.85 and Amusement 0.7: they lead its row
    rows = [c for c in page.cells if re.match(r"^\w+ \d\.\d\d, ", c)]
    tops = {c.split(",")[0].split()[0] for c in rows}
    assert tops == {"Joy", "Sadness", "Calmness"}
    joy = next(c for c in rows if c.startswith("Joy"))
    assert float(joy.split()[1].rstrip(",")) == pytest.approx(0.85, abs=0.1)


def test_report_summary_numbers_by_hand(tmp_path):
    # Given Joy 0.25 over 0-1 s and 0.75 over 1-4 s (one file, one group)
    src = tmp_path / "predictions.json"
    src.write_text(json.dumps(_prosody_json(None)), encoding="utf-8")
    # When the report reads the file itself
    page = _Page(write_report(src, tmp_path / "r.html", k=1).read_text("utf-8"))
    # Then the summary row of Joy has n 2, mean 0.5, sd 0.354, max 0.75 at 1 s,
    # and the time-weighted mean (0.25 * 1 + 0.75 * 3) / 4 = 0.625
    i = page.cells.index("Joy")
    row = page.cells[i : i + 9]
    assert row[:5] == ["Joy", "2", "0.500", "0.354", row[4]]
    assert row[-3:] == ["0.750", "1.000", "0.625"]
    assert "Joy 0.50" in page.cells
    # a frame without a simulated marker has the caveat and no banner
    assert "simulated" not in page.ids() and "caveat" in page.ids()
    assert "SIMULATED" not in " ".join(page.text)


def test_report_banner_from_attrs(tmp_path):
    sim = humelab.read_predictions(_prosody_json(True))
    real = humelab.read_predictions(_prosody_json(False))
    assert "simulated" in _Page(render_report(sim)).ids()
    assert "simulated" not in _Page(render_report(real)).ids()


def test_report_of_an_artifacts_zip_matches_the_json(tmp_path, service):
    import requests

    # Given a job's predictions and artifacts from the local service
    http = requests.Session()
    http.headers["X-Hume-Api-Key"] = service.api_key
    r = http.post(
        f"{service.url}/v0/batch/jobs",
        json={"text": ["I love this.", "This is awful."], "models": {"language": {}}},
        timeout=30,
    )
    job_id = r.json()["job_id"]
    for _ in range(500):
        job = http.get(f"{service.url}/v0/batch/jobs/{job_id}", timeout=30).json()
        if job["state"]["status"] == "COMPLETED":
            break
        import time

        time.sleep(0.02)
    preds = http.get(f"{service.url}/v0/batch/jobs/{job_id}/predictions", timeout=30)
    zipped = http.get(f"{service.url}/v0/batch/jobs/{job_id}/artifacts", timeout=30)
    (tmp_path / "p.json").write_bytes(preds.content)
    (tmp_path / "a.zip").write_bytes(zipped.content)
    a = _Page(write_report(tmp_path / "p.json", tmp_path / "a.html").read_text("utf-8"))
    b = _Page(write_report(tmp_path / "a.zip", tmp_path / "b.html").read_text("utf-8"))
    c = _Page(render_report(zipped.content))
    # Then both give the same tables, marked simulated; text has no time, so the
    # only plot is the heatmap of its two items
    assert a.cells == b.cells == c.cells and a.cells
    assert "simulated" in a.ids() and "simulated" in b.ids()
    assert len(a.images()) == len(b.images()) == 1


def test_report_of_real_results(real_samples, tmp_path):
    path = real_samples / "humegradio_face_image" / "predictions.json"
    page = _Page(write_report(path, tmp_path / "real.html").read_text("utf-8"))
    assert "simulated" not in page.ids() and "caveat" in page.ids()
    assert len(page.images()) >= 1


def test_report_refuses_a_wide_frame_and_handles_an_empty_one(tmp_path):
    wide = humelab.load_example("faces", shape="wide")
    with pytest.raises(humelab.SchemaError, match=r"looks like a wide frame"):
        write_report(wide, tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()
    empty = humelab.load_example("faces").iloc[:0]
    text = render_report(empty)
    assert "No scores in this frame." in text and "perceived expression" in text


def test_timeline_pngs_one_per_timed_source(tmp_path):
    # Given the demo example: 8 sources, sentences.txt has no time axis
    df = humelab.load_example("demo")
    paths = timeline_pngs(df, tmp_path / "png")
    assert [p.name for p in paths] == [
        "timeline-1-speech_greeting.wav.png",
        "timeline-2-speech_complaint.wav.png",
        "timeline-3-face_talking.mp4.png",
        "timeline-4-face_smile.jpg.png",
        "timeline-5-face_frown.png.png",
        "timeline-6-face_neutral.jpg.png",
        "timeline-8-faces.zip.png",
    ]
    for p in paths:
        assert p.read_bytes().startswith(PNG)
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == sorted(
        p.name for p in paths
    )


def test_an_image_gets_bars_and_a_video_gets_lines():
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from humelab.report import _timeline_fig

    faces = humelab.load_example("faces")
    smile = faces[(faces["source"] == "face_smile.jpg").to_numpy()]
    fig = _timeline_fig(smile, k=3)
    (ax,) = fig.axes
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 3 and not ax.lines[3:]
    assert {"Joy", "Amusement"} <= {t.get_text() for t in ax.get_yticklabels()}
    plt.close(fig)
    talking = humelab.load_example("talking")
    video = talking[(talking["model"] == "face").to_numpy()]
    fig = _timeline_fig(video, k=2)
    lines = [ln for ax in fig.axes for ln in ax.lines if len(ln.get_xdata()) > 2]
    assert {ln.get_label() for ln in lines} >= {"Joy"}
    plt.close(fig)
