"""The explore panel in a real browser: Voila serves a notebook, headless Chromium
opens it, a control is changed, and the figure must change.

Short on purpose; the headless tests in test_widgets.py carry the detail. Screenshots
are kept in tests/artifacts/ (git ignores it; CI keeps it as an artifact). Skipped,
with the reason, only where Chromium and chromedriver are not installed (.ci/run
installs Debian's).
"""

from __future__ import annotations

import json
import time

import nbformat
import pytest

from tests.browser import (
    ARTIFACTS,
    INSTALL_HINT,
    chromium,
    find_browser,
    start_voila,
    stop,
)

#: What the Voila template links from a CDN (a stylesheet of icons, not widget
#: code); the browser resolves only 127.0.0.1, so these requests never leave.
TEMPLATE_CDN_CSS = "https://cdn.jsdelivr.net/npm/@fortawesome/"


@pytest.fixture(scope="module")
def browser_paths():
    found = find_browser()
    if found is None:
        pytest.skip(f"Chromium or chromedriver not installed (Debian: {INSTALL_HINT})")
    return found


def _notebook(path, predictions):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import humelab\n"
            f"df = humelab.read_predictions({json.dumps(str(predictions))})\n"
            "panel = humelab.explore(df, k=4)\n"
            "panel"
        )
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def _wait(driver, what, condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition(driver)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


PLOT_SRC = """
const img = document.querySelector('.humelab-explore img');
return img && img.complete && img.naturalWidth > 0 ? img.src : null;
"""


def test_explore_renders_and_reacts_in_chromium(
    browser_paths, real_samples, tmp_path, monkeypatch
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium must never fetch a driver
    ARTIFACTS.mkdir(exist_ok=True)
    notebook = _notebook(
        tmp_path / "explore.ipynb",
        real_samples / "interreviewer_face-prosody-language" / "predictions.json",
    )
    log = open(tmp_path / "voila.log", "wb")  # noqa: SIM115 - closed below
    voila, url = start_voila(notebook, tmp_path, log)
    driver = None
    try:
        driver = chromium(*browser_paths, tmp_path / "chromium-profile")
        driver.set_page_load_timeout(40)
        # Given the notebook served by Voila
        driver.get(url)
        # Then the panel renders: its controls and a drawn figure
        first = _wait(
            driver, "the panel's figure", lambda d: d.execute_script(PLOT_SRC)
        )
        panel = driver.find_element(By.CSS_SELECTOR, ".humelab-explore")
        assert panel.find_elements(By.CSS_SELECTOR, "select")  # the pickers
        assert "perceived expression" in panel.text
        assert "Hi, Nun." in panel.text  # the transcript at the cursor
        panel.screenshot(str(ARTIFACTS / "explore-lines.png"))
        # When the view is switched to the heatmap in the page
        (button,) = [
            b
            for b in panel.find_elements(By.CSS_SELECTOR, "button")
            if b.text.strip() == "heatmap"
        ]
        button.click()
        # Then the kernel redraws and the page shows a new figure
        _wait(
            driver,
            "the figure to change",
            lambda d: (src := d.execute_script(PLOT_SRC)) and src != first,
        )
        panel.screenshot(str(ARTIFACTS / "explore-heatmap.png"))
        # When the cursor slider (the panel's last handle) is sent to its end
        cursor = panel.find_elements(By.CSS_SELECTOR, ".noUi-handle")[-1]
        cursor.click()
        cursor.send_keys(Keys.END)
        # Then the kernel answers with the transcript at the end of the interview
        _wait(
            driver,
            "the transcript to follow the cursor",
            lambda d: (
                "Thank you so much." in panel.text and "Hi, Nun." not in panel.text
            ),
        )
        # And everything the page ran came from the local Voila: no widget code
        # from a CDN (the template's icon stylesheet is the only outside link, and
        # the browser cannot resolve it)
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource')"
            ".map(e => [e.name, e.initiatorType])"
        )
        outside = [
            (name, kind)
            for name, kind in resources
            if not name.startswith(("http://127.0.0.1", "data:", "blob:"))
        ]
        assert all(
            name.startswith(TEMPLATE_CDN_CSS) and kind == "link"
            for name, kind in outside
        ), outside
        scripts = [n for n, k in resources if k == "script"]
        assert scripts and all(n.startswith(url) for n in scripts), scripts
    finally:
        if driver is not None:
            driver.quit()
        stop(voila)
        log.close()
