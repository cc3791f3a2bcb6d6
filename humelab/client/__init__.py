"""The notebook side of humelab: the Batch service client, jobs, inputs, the ledger.

Imports run one way: :mod:`._client` (``Client``, ``run``) builds on
:mod:`.jobs` (``Job``, ``JobGroup``, ``wait_all``), which builds on
:mod:`._transport` through the client it is given; nothing here imports
:mod:`humelab.service` except :mod:`._embedded`, lazily, to start the embedded
default.
"""

from __future__ import annotations

from ..contract import JobStatus
from . import jobs as _jobs
from ._client import Client, run
from ._embedded import stop_embedded
from .jobs import Job, JobGroup, wait_all

# The deprecated `Job(job_id)` without a client builds a default one.
_jobs._default_client = Client

__all__ = ["Client", "Job", "JobGroup", "JobStatus", "run", "wait_all", "stop_embedded"]
