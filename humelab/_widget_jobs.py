"""The jobs panel: a client's ledger with states, refresh, and loading a result.

Private machinery for :func:`humelab.widgets.jobs_panel`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd

from .errors import HumelabError, InputError, NotFoundError

__all__: list[str] = []

FINISHED = "COMPLETED"
TERMINAL = ("COMPLETED", "FAILED")


class JobsPanel(widgets.VBox):
    """The panel :func:`jobs_panel` returns.

    Attributes
    ----------
    table : ipywidgets.HTML
        The ledger's jobs (id, submitted, inputs, models, status).
    refresh_button : ipywidgets.Button
        Re-reads the ledger, asking the service for jobs not yet finished.
    job : ipywidgets.Dropdown
        The finished jobs, by id.
    load_button : ipywidgets.Button
        Loads the chosen job's tidy frame into :attr:`frame`.
    status : ipywidgets.HTML
        What the last action did.
    jobs : pandas.DataFrame
        The rows shown (``client.jobs()``).
    frame : pandas.DataFrame or None
        The last loaded job's tidy frame.
    explorer : humelab.widgets.ExplorePanel or None
        The panel opened on :attr:`frame` (``jobs_panel(..., explore=True)``).
    """

    def __init__(self, client, *, opener: Callable[[pd.DataFrame], Any] | None = None):
        if not (hasattr(client, "jobs") and hasattr(client, "job")):
            raise InputError(
                f"`jobs_panel` needs a `humelab.Client`; got {type(client).__name__}. "
                "Pass e.g. `humelab.jobs_panel(humelab.Client())`."
            )
        self.client = client
        self._opener = opener
        self.jobs = pd.DataFrame()
        self.frame: pd.DataFrame | None = None
        self.explorer = None
        self.table = widgets.HTML()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.job = widgets.Dropdown(description="finished job")
        self.load_button = widgets.Button(description="Load frame", icon="download")
        self.status = widgets.HTML()
        self.output = widgets.Output()
        self.refresh_button.on_click(lambda _: self.refresh())
        self.load_button.on_click(lambda _: self.load())
        bar = widgets.HBox([self.refresh_button, self.job, self.load_button])
        super().__init__([bar, self.status, self.table, self.output])
        self.add_class("humelab-jobs")
        self.refresh()

    def refresh(self) -> pd.DataFrame:
        """Re-read the ledger; jobs not yet finished are asked of the service first.

        Returns
        -------
        pandas.DataFrame
            The ledger rows now shown (``client.jobs()``).
        """
        asked, lost, unreachable = 0, [], ""
        rows = self.client.jobs()
        for job_id, status in zip(rows["job_id"], rows["status"], strict=True):
            if status not in TERMINAL:
                asked += 1
                try:
                    self.client.job(job_id)  # refreshes the ledger's status
                except NotFoundError:
                    lost.append(job_id)
                except HumelabError as exc:
                    unreachable = unreachable or str(exc)
        self.jobs = self.client.jobs() if asked else rows
        done = self.jobs[self.jobs["status"] == FINISHED]
        keep = self.job.value
        self.job.options = [
            (f"{r.job_id} · {r.inputs}", r.job_id) for r in done.itertuples()
        ]
        if len(done):  # the one chosen before, else the newest finished
            self.job.value = (
                keep if keep in set(done["job_id"]) else done["job_id"].iloc[-1]
            )
        self.load_button.disabled = not len(self.job.options)
        columns = ("job_id", "submitted", "inputs", "models", "status")
        shown = [c for c in columns if c in self.jobs.columns]
        self.table.value = (
            self.jobs[shown].to_html(index=False, border=0, classes="humelab-jobs")
            if len(self.jobs)
            else "<i>no jobs in the ledger yet; submit one with client.submit()</i>"
        )
        msg = f"{len(self.jobs)} job(s), {len(self.job.options)} finished"
        if asked:
            msg += f"; asked the service about {asked} unfinished"
        if lost:
            msg += f"; the service does not know {', '.join(lost)}"
        if unreachable:
            msg += f"; could not ask the service: {unreachable}"
        self.status.value = html.escape(msg)
        return self.jobs

    def load(self, job_id: str | None = None) -> pd.DataFrame | None:
        """Load a finished job's tidy frame into :attr:`frame` (and open explore).

        Parameters
        ----------
        job_id : str, optional
            The job; default the one chosen in :attr:`job`.

        Returns
        -------
        pandas.DataFrame or None
            The frame, or None when loading failed (:attr:`status` says why).
        """
        job_id = job_id or self.job.value
        if not job_id:
            self.status.value = "No finished job to load; refresh when one completes."
            return None
        try:
            frame = self.client.job(job_id).frame()
        except HumelabError as exc:
            self.status.value = html.escape(f"Could not load {job_id}: {exc}")
            return None
        self.frame = frame
        self.status.value = html.escape(
            f"Loaded {job_id}: {len(frame):,} scores in `panel.frame`."
        )
        if self._opener is not None and len(frame):
            if self.explorer is not None:
                self.explorer.close()
            self.explorer = self._opener(frame)
            self.output.clear_output()
            with self.output:
                from IPython.display import display  # ipywidgets depends on IPython

                display(self.explorer)
        return frame
