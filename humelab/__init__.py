"""humelab: Hume-style batch expression measurement, tidy frames and plots for Jupyter.

Scores describe *perceived* expression (how a face, voice or text comes across), not
felt emotion. Scores from the ``simulated`` engine are synthetic and labelled as such.
"""

from __future__ import annotations

import logging

from . import schema
from .client import Client
from .datasets import example_files
from .errors import (
    APIError,
    AuthError,
    HumelabDeprecationWarning,
    HumelabError,
    HumelabWarning,
    InputError,
    JobError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    RateLimitError,
    ReadError,
    SchemaError,
)
from .io import read_artifacts, read_errors, read_predictions, to_long, to_wide
from .jobs import Job, JobGroup, JobStatus, run, wait_all
from .schema import validate
from .service import Server, serve

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    "schema",
    "validate",
    "APIError",
    "AuthError",
    "HumelabDeprecationWarning",
    "HumelabError",
    "HumelabWarning",
    "InputError",
    "JobError",
    "JobFailedError",
    "JobTimeoutError",
    "NotFoundError",
    "RateLimitError",
    "ReadError",
    "SchemaError",
    # -- readers --
    "read_predictions",
    "read_artifacts",
    "read_errors",
    "to_wide",
    "to_long",
    # -- service --
    "serve",
    "Server",
    # -- client and jobs --
    "Client",
    "Job",
    "JobGroup",
    "JobStatus",
    "example_files",
    "run",
    "wait_all",
]
