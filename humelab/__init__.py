"""humelab: Hume-style batch expression measurement, tidy frames and plots for Jupyter.

Scores describe *perceived* expression (how a face, voice or text comes across), not
felt emotion. Scores from the ``simulated`` engine are synthetic and labelled as such.
"""

import logging as _logging

from . import contract, schema, settings
from .analysis import (  # importing it registers the `df.hume` accessor
    align,
    dominant,
    normalize,
    resample,
    smooth,
    summarize,
    top_emotions,
)
from .client import Client, Job, JobGroup, JobStatus, run, stop_embedded, wait_all
from .datasets import example_files, list_examples, load_example
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
from .io import (
    read_artifacts,
    read_errors,
    read_predictions,
    read_v1,
    to_long,
    to_wide,
)
from .schema import validate

__version__ = "0.1.0"

_logging.getLogger(__name__).addHandler(_logging.NullHandler())


_PLOTS = (
    "plot_timeline",
    "plot_heatmap",
    "plot_top",
    "plot_transcript",
    "plot_small_multiples",
)


def __getattr__(name: str):
    # Lazy, so `import humelab` (reading results) never loads the web stack.
    if name in ("serve", "Server"):
        from . import service

        return getattr(service, name)
    # Lazy, so `import humelab` does not load ipywidgets until a panel is asked for.
    if name in ("explore", "jobs_panel"):
        from . import widgets

        return getattr(widgets, name)
    # Lazy, so `import humelab` does not load matplotlib.pyplot until a plot is drawn.
    if name in _PLOTS:
        from . import plotting

        return getattr(plotting, name)
    # Lazy, so `import humelab` does not load Dask and pyarrow (the `dask` extra).
    if name in ("to_parquet", "read_corpus"):
        from . import corpus

        return getattr(corpus, name)
    raise AttributeError(f"module 'humelab' has no attribute {name!r}")


def __dir__():
    # the lazy names too, for tab completion in a notebook
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "__version__",
    "schema",
    "contract",
    "settings",
    "stop_embedded",
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
    "read_v1",
    "to_wide",
    "to_long",
    # -- analysis (and the `df.hume` accessor) --
    "top_emotions",
    "summarize",
    "resample",
    "align",
    "smooth",
    "normalize",
    "dominant",
    # -- plots (humelab.plotting, loaded on first use) --
    "plot_timeline",
    "plot_heatmap",
    "plot_top",
    "plot_transcript",
    "plot_small_multiples",
    # -- corpora (humelab.corpus, loaded on first use: the `dask` extra) --
    "to_parquet",
    "read_corpus",
    # -- widgets --
    "explore",
    "jobs_panel",
    # -- service --
    "serve",
    "Server",
    # -- client and jobs --
    "Client",
    "Job",
    "JobGroup",
    "JobStatus",
    "example_files",
    "list_examples",
    "load_example",
    "run",
    "wait_all",
]
