"""Sending measurements to a Dask cluster in batches, as its workers free up.

One Dask task per file costs a round trip through the scheduler and a few
milliseconds of the scheduler's, the worker's and the service's time; for short
files that is more than the measurement itself. :class:`Batcher` keeps at most
``slots()`` tasks on the cluster (two per worker thread: one running, one ready).
Files wait here while every slot is taken, and the next free slot takes all that
wait (up to ``max_items`` files and ``max_bytes`` of shipped input) as one task. A
file that arrives while a slot is free goes at once, alone: a small job waits for
nothing. The scheduler re-runs a task whose worker is lost, so each file of a batch
still gets exactly one result.

Used by :class:`humelab.service._dask_runner.DaskMeasure`; knows nothing of
engines or media, only of payloads and the futures that wait for their results.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

__all__ = ["Batcher"]


class Batcher:
    """Groups payloads into Dask tasks while the cluster is busy.

    Parameters
    ----------
    submit : callable
        ``submit(payloads)`` sends one task for a list of payloads and returns its
        ``distributed.Future``, whose result is the list of their results (same
        order).
    slots : callable
        Tasks the cluster may hold at once (called at most once a second).
    max_items : int
        Payloads per task at most.
    max_bytes : int
        Input bytes per task at most (a single larger payload still goes alone).
    """

    def __init__(
        self,
        submit: Callable,
        slots: Callable[[], int],
        *,
        max_items: int = 32,
        max_bytes: int = 64 << 20,
    ):
        self._submit = submit
        self._slots_of = slots
        self._slots, self._slots_at = 1, float("-inf")
        self.max_items = int(max_items)
        self.max_bytes = int(max_bytes)
        self._waiting: collections.deque = collections.deque()
        self._cv = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        #: Sizes of the last 4096 tasks sent (how many payloads each held).
        self.sizes: collections.deque[int] = collections.deque(maxlen=4096)

    def put(self, payload, nbytes: int = 0) -> Future:
        """Queue ``payload``; the returned future gets its result (or error)."""
        fut: Future = Future()
        with self._cv:
            if self._closed:
                raise RuntimeError("the Dask batcher is closed")
            self._waiting.append((payload, int(nbytes), fut))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="humelab-dask-batch", daemon=True
                )
                self._thread.start()
            self._cv.notify_all()
        return fut

    def close(self) -> None:
        """Stop sending; payloads still waiting here fail with ``RuntimeError``."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _capacity(self) -> int:
        now = time.monotonic()
        if now - self._slots_at > 1.0:
            self._slots_at = now
            try:
                self._slots = max(1, int(self._slots_of()))
            except Exception:  # the scheduler is away: keep the last count
                pass
        return self._slots

    def _take(self) -> list:
        """The next batch: the oldest payload, then more while they fit."""
        batch = [self._waiting.popleft()]
        size = batch[0][1]
        while self._waiting and len(batch) < self.max_items:
            nbytes = self._waiting[0][1]
            if size + nbytes > self.max_bytes:
                break
            batch.append(self._waiting.popleft())
            size += nbytes
        return batch

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._closed and (
                    not self._waiting or self._in_flight >= self._capacity()
                ):
                    self._cv.wait(timeout=1.0)
                if self._closed:
                    left, self._waiting = list(self._waiting), collections.deque()
                    for _, _, fut in left:
                        fut.set_exception(RuntimeError("the service is stopping"))
                    return
                batch = self._take()
                self._in_flight += 1
            self.sizes.append(len(batch))
            try:
                task = self._submit([payload for payload, _, _ in batch])
            except Exception as exc:
                self._finish(batch, None, exc)
                continue
            task.add_done_callback(lambda t, b=batch: self._finish(b, t, None))

    def _finish(self, batch: list, task, error) -> None:
        try:
            if error is None:
                try:
                    results = task.result()
                except BaseException as exc:  # lost for good, cancelled, ...
                    error = exc
                finally:
                    task.release()
            for i, (_, _, fut) in enumerate(batch):
                if error is not None:
                    fut.set_exception(error)
                else:
                    fut.set_result(results[i])
        finally:
            with self._cv:
                self._in_flight -= 1
                self._cv.notify_all()
