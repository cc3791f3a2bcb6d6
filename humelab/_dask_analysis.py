"""Analysis on Dask frames: :func:`humelab.top_emotions`, ``summarize`` and
``resample`` run partition by partition on a corpus (:func:`humelab.read_corpus`).

Private machinery behind :mod:`humelab.analysis`, which wraps those three functions
with :func:`on_dask`: a pandas frame goes to the pandas function unchanged, a Dask
frame is computed partition-wise with the same function. That gives the same numbers
as on pandas when no group spans partitions, which holds for a corpus: each
partition is one converted source (a very large one: some of its partition folders)
and the groups include ``source``. Dask itself is never imported here: a Dask frame
is recognised by its type's module, so ``import humelab`` stays free of it.
"""

from __future__ import annotations

import functools
import inspect

from .errors import InputError

__all__ = ["on_dask", "is_dask"]


def is_dask(data) -> bool:
    """True for a ``dask.dataframe`` frame (without importing Dask)."""
    return type(data).__module__.split(".", 1)[0] in ("dask", "dask_expr")


def on_dask(func):
    """``func`` that also takes a Dask frame, computed partition by partition.

    The wrapped function keeps ``func``'s name, signature and docstring.
    """
    signature = inspect.signature(func)
    default_by = signature.parameters["by"].default

    @functools.wraps(func)
    def wrapper(data, *args, **kwargs):
        if not is_dask(data):
            return func(data, *args, **kwargs)
        by = kwargs.get("by", default_by)
        cols = [by] if isinstance(by, str) else list(by or ())
        if "source" in data.columns and "source" not in cols:
            raise InputError(
                f"`{func.__name__}` of a Dask frame computes each partition (one "
                f"source of the corpus) on its own, so `by` must include `source`; "
                f"got by={by!r}. For groups across sources, compute a pandas frame "
                f"first (`ddf.compute()`, after `filters=`/`columns=` in "
                f"`read_corpus`) or aggregate the per-source results."
            )
        signature.bind(data, *args, **kwargs)  # unknown keywords fail here, early
        meta = func(data._meta_nonempty, *args, **kwargs).iloc[:0]
        from dask.dataframe.utils import clear_known_categories  # `dask` extra

        return data.map_partitions(
            func,
            *args,
            meta=clear_known_categories(meta),
            enforce_metadata=False,
            **kwargs,
        )

    return wrapper
