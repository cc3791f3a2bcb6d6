"""The job runner of the Batch service: queue, worker pool, resume, callbacks.

Jobs run one after another in the order they were created; the files of a job
(fetched URLs, uploads, archive members, text items) are measured in parallel by a pool
of worker threads. A job with URLs is fetched first in the background (its state is
IN_PROGRESS meanwhile) and measured when its inputs are in, so a slow URL never holds
the jobs behind it. When the service starts, unfinished jobs of its data directory are
queued again from their stored inputs. When a job ends, its ``callback_url`` (if any)
receives the result, retried with exponential backoff; a job's result never depends on
its callback. A callback still owed when the service stops (receiver down, waiting to
retry) is kept in the store and delivered when a service next starts on the same data
directory.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ._archive import attach_transcripts
from ._dask_runner import DaskMeasure
from ._netguard import FetchFailed, NetGuard, Refused, retry_policy
from .engines._script import attach_scripts
from .engines.base import EngineError, EngineFatal, Measurement, MediaInput
from .intake import (
    ArchiveError,
    DiskReserve,
    ExpandBudget,
    FetchError,
    Limits,
    expand_archive,
    fetch_url,
    is_archive,
    pair_transcripts,
    url_filename,
)
from .store import JobStore, atomic_write_bytes

__all__ = ["Runner", "CallbackPolicy"]

log = logging.getLogger(__name__)

#: A job interrupted this many times (service stopped or killed while it ran) is
#: marked FAILED instead of being resumed again.
MAX_RUNS = 3


class _Stopped(Exception):
    """The runner is stopping; leave the job as it is (it resumes on next start)."""


class CallbackPolicy:
    """How job-end callbacks are delivered.

    Parameters
    ----------
    attempts : int
        Total delivery attempts (first try included).
    backoff : float
        Seconds before the second attempt; doubles after each failure.
    timeout : float
        Seconds to wait for the receiver on each attempt.
    """

    def __init__(
        self, *, attempts: int = 5, backoff: float = 1.0, timeout: float = 10.0
    ):
        self.attempts = int(attempts)
        self.backoff = float(backoff)
        self.timeout = float(timeout)


class Runner:
    """Runs the jobs of a :class:`~humelab.service.store.JobStore` with an engine.

    Parameters
    ----------
    store : JobStore
        Where jobs, inputs and results live.
    engine : humelab.service.engines.Engine
        Measures one file at a time (called from several threads).
    limits : Limits
        Fetch and archive caps.
    workers : int, optional
        Threads measuring files in parallel (default: CPU count, at most 8).
    item_delay : float
        Extra seconds spent per measured item (for demos and tests that need to watch
        a job in progress); 0 by default.
    resume : bool
        Re-queue unfinished jobs on start (default); when False they end FAILED.
    callbacks : CallbackPolicy, optional
        Callback delivery policy.
    guard : humelab.service._netguard.NetGuard, optional
        Which addresses URLs and callbacks may reach (default: public only).
    disk : DiskReserve, optional
        Free-space reserve checked while fetching and expanding.
    dask_scheduler : str or distributed.Client, optional
        Measure each file on this Dask cluster instead of this process (see
        :mod:`._dask_runner`); ``workers`` then defaults to 32 times the
        cluster's threads (at least 64): threads here only wait for results.
    dask_inputs : {"bytes", "shared"}
        How files reach the cluster's workers: shipped as bytes, or by path in a
        folder the workers share with the service.
    """

    def __init__(
        self,
        store: JobStore,
        engine,
        limits: Limits,
        *,
        workers: int | None = None,
        item_delay: float = 0.0,
        resume: bool = True,
        callbacks: CallbackPolicy | None = None,
        guard: NetGuard | None = None,
        disk: DiskReserve | None = None,
        dask_scheduler=None,
        dask_inputs: str = "bytes",
    ):
        self.store = store
        self.guard = guard or NetGuard()
        self.disk = disk
        self.engine = engine
        # on every source of the predictions: v0 clients ignore it, readers use it
        self._marker = {"engine": engine.name, "simulated": bool(engine.simulated)}
        self.limits = limits
        # what measures a file: the engine here, or a Dask cluster's workers
        self._measurer = engine
        if dask_scheduler is not None:
            self._measurer = DaskMeasure(dask_scheduler, engine, inputs=dask_inputs)
            # threads here only wait: enough of them that files queue up to be
            # sent in batches while the cluster is busy
            workers = workers or max(64, 32 * self._measurer.nthreads())
        self.workers = int(workers or min(8, os.cpu_count() or 2))
        if self.workers < 1:
            raise ValueError(f"`workers` must be at least 1, got {workers!r}.")
        self.item_delay = float(item_delay)
        self.resume = resume
        self.callbacks = callbacks or CallbackPolicy()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(
            self.workers, thread_name_prefix="humelab-worker"
        )
        # Jobs with URLs are prepared (fetched, expanded) here, off the queue.
        self._preparers = ThreadPoolExecutor(4, thread_name_prefix="humelab-prepare")
        self._fetch_pool = ThreadPoolExecutor(8, thread_name_prefix="humelab-fetch")
        self._prepared: dict[str, object] = {}
        self._usage: dict[str, list] = {}
        self._thread: threading.Thread | None = None
        self._callback_threads: list[threading.Thread] = []
        self.current_job: str | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Send the callbacks a stopped service still owed, queue the unfinished jobs
        of the store, and start the dispatcher thread."""
        for pending in self.store.pending_callbacks():
            log.info("delivering the pending callback of job %s", pending["job_id"])
            self._send_callback(
                pending["job_id"], pending["url"], None, failed=pending["attempts"]
            )
        for job in self.store.unfinished():
            job_id = job["job_id"]
            if job["status"] == "IN_PROGRESS":
                message = None
                if not self.resume:
                    message = (
                        "The service stopped while this job was running and was "
                        "restarted with resume disabled. Resubmit the job."
                    )
                elif job["runs"] >= MAX_RUNS:
                    message = (
                        f"The service stopped {job['runs']} times while this job was "
                        "running, so it was not resumed again. Resubmit it, perhaps "
                        "with fewer files."
                    )
                if message is not None:
                    url = job["request"].get("callback_url")
                    self.store.mark_failed(job_id, message, callback_url=url)
                    self.store.clear_file_results(job_id)
                    self._cleanup(job_id)
                    self._send_callback(
                        job_id,
                        url,
                        {"job_id": job_id, "status": "FAILED", "message": message},
                    )
                    continue
                self.store.requeue(job_id)
                log.info("resuming interrupted job %s", job_id)
            self._queue.put(job_id)
        # At interpreter exit, stop before the worker pool refuses new work, so an
        # unfinished job stays resumable instead of being marked FAILED.
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            try:
                register(self._stop.set)
            except RuntimeError:  # already shutting down
                self._stop.set()
        self._thread = threading.Thread(
            target=self._dispatch, name="humelab-dispatcher", daemon=True
        )
        self._thread.start()

    def submit(self, job_id: str) -> None:
        """Queue a newly created job."""
        self._queue.put(job_id)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking work; an unfinished job stays in the store and resumes later."""
        self._stop.set()
        self._queue.put(None)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._preparers.shutdown(wait=False, cancel_futures=True)
        self._fetch_pool.shutdown(wait=False, cancel_futures=True)
        if self._thread is not None:
            self._thread.join(timeout)
        for t in self._callback_threads:
            t.join(0.5)
        if self._measurer is not self.engine:
            self._measurer.close()

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            job_id = self._queue.get()
            if job_id is None or self._stop.is_set():
                break
            self.current_job = job_id
            try:
                prepared = self._prepared.pop(job_id, None)
                if prepared is not None:
                    self._run(job_id, prepared)
                elif not self._prepare_later(job_id):
                    self._run(job_id)
            except _Stopped:
                break
            except Exception:  # pragma: no cover - _run handles its own failures
                log.exception("unexpected error running job %s", job_id)
            finally:
                self.current_job = None

    def _check(self) -> None:
        if self._stop.is_set():
            raise _Stopped

    # -- one job ----------------------------------------------------------------------

    def _prepare_later(self, job_id: str) -> bool:
        """Start fetching a queued job's URLs in the background; False if it has
        none (it runs now)."""
        job = self.store.get(job_id)
        if job is None or job["status"] != "QUEUED" or not job["request"].get("urls"):
            return False
        self.store.mark_started(job_id)
        try:
            self._preparers.submit(self._prepare, job)
        except RuntimeError:  # pool shut down: stopping; the job resumes next start
            raise _Stopped from None
        return True

    def _prepare(self, job: dict) -> None:
        job_id = job["job_id"]
        try:
            result = self._resolve_all(job, self._fetch_pool)
        except _Stopped:
            return
        except Exception as exc:  # noqa: BLE001 - the job fails with it, in _run
            result = exc
        if self._stop.is_set():
            return  # stays IN_PROGRESS: resumed from its inputs on the next start
        self._prepared[job_id] = result
        self._queue.put(job_id)

    def _run(self, job_id: str, prepared=None) -> None:
        job = self.store.get(job_id)
        if prepared is None:
            if job is None or job["status"] != "QUEUED":
                return
            self.store.mark_started(job_id)
        elif job is None or job["status"] != "IN_PROGRESS":
            return
        url = job["request"].get("callback_url")
        try:
            if isinstance(prepared, Exception):
                raise prepared
            predictions, n_pred, n_err = self._measure_job(job, prepared)
            self._check()
            data = json.dumps(predictions, ensure_ascii=False).encode("utf-8")
            atomic_write_bytes(self.store.predictions_path(job_id), data)
            _write_scripts_used(self.store.job_dir(job_id), predictions)
            self._write_usage(job_id, self._usage.pop(job_id, None))
            self._check()
            self.store.mark_completed(
                job_id, num_predictions=n_pred, num_errors=n_err, callback_url=url
            )
        except _Stopped:
            raise
        except Exception as exc:
            if self._stop.is_set():
                raise _Stopped from None
            if isinstance(exc, EngineFatal):  # e.g. Hume refused the engine's key
                log.warning("job %s failed: %s", job_id, self._scrub(str(exc)))
                message = self._scrub(str(exc))
            else:
                log.exception("job %s failed", job_id)
                reason = self._scrub(f"{type(exc).__name__}: {exc}")
                message = (
                    f"The job failed inside the service ({reason}). "
                    "Resubmit it; if it fails again, report this message."
                )
            self.store.mark_failed(job_id, message, callback_url=url)
            self.store.clear_file_results(job_id)
            self._cleanup(job_id)
            self._send_callback(job_id, url, {"job_id": job_id, "status": "FAILED",
                                              "message": message})  # fmt: skip
            return
        self._cleanup(job_id)
        self.store.clear_file_results(job_id)
        self._send_callback(
            job_id,
            url,
            {"job_id": job_id, "status": "COMPLETED", "predictions": predictions},
        )

    def _cleanup(self, job_id: str) -> None:
        jdir = self.store.job_dir(job_id)
        for sub in ("uploads", "work"):
            shutil.rmtree(jdir / sub, ignore_errors=True)

    def _sources(self, job: dict, jdir: Path) -> list[dict]:
        req = job["request"]
        sources = []
        for i, url in enumerate(req.get("urls") or []):
            sources.append({"source": {"type": "url", "url": url}, "kind": "url",
                            "index": i, "url": url})  # fmt: skip
        for i, up in enumerate(job["uploads"]):
            src = {
                "type": "file",
                "filename": up["filename"],
                "content_type": up["content_type"],
                "md5sum": up["md5sum"],
            }
            sources.append({"source": src, "kind": "file", "index": i,
                            "path": jdir / up["path"],
                            "name": up["filename"] or "file"})  # fmt: skip
        if req.get("text"):
            sources.append({"source": {"type": "text"}, "kind": "text", "index": 0})
        return sources

    def _resolve(
        self, src: dict, work: Path, texts: list[str], budget: ExpandBudget
    ) -> None:
        """Fill ``src["items"]`` (MediaInputs) and ``src["errors"]``; never raises.

        Whatever goes wrong with one input (unreachable, refused, corrupt, not
        storable, or an unforeseen error) becomes that input's error entry.
        """
        src["items"], src["errors"], src["error"] = [], [], None
        kind = src["kind"]
        if kind == "text":
            src["items"] = [
                MediaInput(file=str(i), text=t) for i, t in enumerate(texts)
            ]
            return
        d = work / f"{kind}-{src['index']}"  # made only for a download or archive
        try:
            if kind == "url":
                d.mkdir(parents=True, exist_ok=True)
                name = url_filename(src["url"])
                path = fetch_url(
                    src["url"], d, self.limits, guard=self.guard, disk=self.disk
                )
            else:
                name, path = src["name"], src["path"]
                if not path.is_file():
                    raise FetchError(
                        f"the uploaded file `{name}` is no longer stored on the "
                        "service; resubmit it."
                    )
            if is_archive(name, path):
                members, errors = expand_archive(
                    path, d / "x", self.limits, name=name, budget=budget, disk=self.disk
                )
                src["errors"].extend(errors)
                files = members
            else:
                files = [(name, path)]
        except Exception as exc:  # noqa: BLE001 - confined to this input
            label = src.get("url") or src.get("name")
            if not isinstance(exc, (FetchError, ArchiveError, OSError)):
                log.warning("input %s failed: %s", label, type(exc).__name__)
                reason = self._scrub(f"{type(exc).__name__}: {exc}")
                message = (
                    f"could not read `{label}` ({reason}); nothing was measured "
                    "from it."
                )
            elif isinstance(exc, OSError):
                # Never show the service's own paths: name the input as given.
                log.warning("could not store %s: %s", label, exc)
                reason = exc.strerror or type(exc).__name__
                message = (
                    f"could not store `{label}` on the service ({reason}); nothing "
                    "was measured from it. Rename it or resubmit it."
                )
            else:
                message = str(exc)
            src["error"] = message
            src["errors"].append({"file": url_filename(label) if kind == "url"
                                  else label, "message": message})  # fmt: skip
            return
        src["items"] = [
            MediaInput(file=rel, path=path, transcript=tr)
            for rel, path, tr in pair_transcripts(files)
        ]

    def _measure_one(
        self, item: MediaInput, models: dict, transcription, job_id=None, key=None
    ):
        """``(value, ok, extra_errors, usage)`` of one file, stored under ``key``.

        A file with a stored result (measured before the service stopped) is not
        measured again: paid engines are not billed twice for it.
        """
        if self._stop.is_set():
            return None
        if key is not None:
            stored = self.store.file_result(job_id, key)
            if stored is not None:
                return tuple(stored)
        res = self._measure_new(item, models, transcription)
        if key is not None and not self._stop.is_set():
            self.store.save_file_result(job_id, key, list(res))
        return res

    def _measure_new(self, item: MediaInput, models: dict, transcription):
        try:
            entry = self._measurer.measure(
                item, models=models, transcription=transcription
            )
        except EngineFatal:
            raise
        except EngineError as exc:
            message = self._scrub(str(exc), item)
            return {"file": item.file, "message": message}, False, [], exc.usage
        except Exception as exc:  # an engine bug must not sink the whole job
            log.exception("engine failed on %s", item.file)
            reason = self._scrub(f"{type(exc).__name__}: {exc}", item)
            return (
                {
                    "file": item.file,
                    "message": f"could not measure `{item.file}`: the "
                    f"{getattr(self.engine, 'name', 'engine')} engine failed "
                    f"({reason}).",
                },
                False,
                [],
                None,
            )
        errors, usage = [], None
        if isinstance(entry, Measurement):
            errors = [
                {"file": item.file, "message": self._scrub(m, item)}
                for m in entry.errors
            ]
            entry, usage = entry.entry, entry.usage
        if self.item_delay:
            self._stop.wait(self.item_delay)
        pred = {"file": item.file}
        pred.update(entry)
        return pred, True, errors, usage

    def _write_usage(self, job_id: str, results: list | None) -> None:
        """``usage.json`` beside the results: what the engine sent, summed."""
        total: dict = {}
        for usage in results or ():
            for k, v in usage.items():
                total[k] = total.get(k, 0) + v
        if total:
            total = {k: round(v, 3) for k, v in total.items()}
            total = {"engine": self.engine.name, **total}
            data = json.dumps(total).encode("utf-8")
            atomic_write_bytes(self.store.job_dir(job_id) / "usage.json", data)

    def _scrub(self, text: str, item: MediaInput | None = None) -> str:
        """``text`` without paths of the service: users know only their names."""
        if item is not None and item.path is not None:
            text = text.replace(f"'{item.path}'", item.file)
            text = text.replace(str(item.path), item.file)
        return text.replace(str(self.store.data_dir), "<service data folder>")

    def _resolve_all(self, job: dict, pool: ThreadPoolExecutor) -> list[dict]:
        """The sources of a job with their inputs fetched and expanded."""
        job_id, req = job["job_id"], job["request"]
        jdir = self.store.job_dir(job_id)
        work = jdir / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        sources = self._sources(job, jdir)
        texts = req.get("text") or []
        budget = ExpandBudget(self.limits.max_expanded_bytes)
        try:
            futs = [pool.submit(self._resolve, s, work, texts, budget) for s in sources]
        except RuntimeError:  # pool shut down: stopping
            raise _Stopped from None
        for f in futs:
            f.result()
        self._check()
        return sources

    def _measure_job(self, job: dict, sources: list[dict] | None = None):
        job_id, req = job["job_id"], job["request"]
        if sources is None:
            sources = self._resolve_all(job, self._pool)
        # transcripts and *.expressions.csv sidecars go with the file of the same
        # stem, in any source (files uploaded one by one)
        items = attach_transcripts([s["items"] for s in sources])
        items, orphans = attach_scripts(items)
        for s, its, errs in zip(sources, items, orphans, strict=True):
            s["items"] = its
            s["errors"].extend(errs)
        work_items = [(si, it) for si, s in enumerate(sources) for it in s["items"]]
        total = len(work_items)
        self.store.set_progress(job_id, 0, total)
        models, transcription = req["models"], req.get("transcription")
        results: list = [None] * total
        keys = [f"{sources[si]['kind']}-{sources[si]['index']}/{it.file}"
                for si, it in work_items]  # fmt: skip
        futures = {
            self._pool.submit(
                self._measure_one, it, models, transcription, job_id, keys[k]
            ): k
            for k, (_, it) in enumerate(work_items)
        }
        done = 0
        last = 0.0
        for fut in as_completed(futures):
            self._check()
            try:
                results[futures[fut]] = fut.result()
            except EngineFatal:
                for f in futures:
                    f.cancel()
                raise
            done += 1
            now = time.monotonic()
            if now - last > 0.05 or done == total:
                self.store.set_progress(job_id, done, total)
                last = now
        self._check()
        out, n_pred, n_err = [], 0, 0
        per_source: list[tuple[list, list]] = [([], list(s["errors"])) for s in sources]
        for (si, _), res in zip(work_items, results, strict=True):
            if res is None:  # skipped because the runner is stopping
                raise _Stopped
            value, ok, extra, _ = res
            per_source[si][0 if ok else 1].append(value)
            per_source[si][1].extend(extra)
        for s, (preds, errs) in zip(sources, per_source, strict=True):
            entry = {"source": s["source"], "humelab": self._marker,
                     "results": {"predictions": preds, "errors": errs}}  # fmt: skip
            if s["error"]:
                entry["error"] = s["error"]
            out.append(entry)
            n_pred += len(preds)
            n_err += len(errs)
        # what a paid engine sent for each file, summed into usage.json on completion
        self._usage[job_id] = [res[3] for res in results if res[3]]
        return out, n_pred, n_err

    # -- callbacks --------------------------------------------------------------------
    #
    # A job that ends with a `callback_url` records a pending callback in the store in
    # the same transaction as its end state. The marker is cleared once the receiver
    # accepts, or after the last attempt fails; a service stopped in between (during
    # a backoff, or before the first attempt) leaves it, and the next start on the
    # same data folder delivers it with the attempts left (at least one). Delivery is
    # at least once: a receiver may see a body twice if the service stops right as
    # it accepts.

    def _send_callback(
        self, job_id: str, url: str | None, body: dict | None, *, failed: int = 0
    ) -> None:
        if not url or self._stop.is_set():
            return  # no callback, or stopping: the pending marker stays for next start
        t = threading.Thread(
            target=self._deliver,
            args=(job_id, url, body, failed),
            name="humelab-callback",
            daemon=True,
        )
        self._callback_threads = [c for c in self._callback_threads if c.is_alive()]
        self._callback_threads.append(t)
        t.start()

    def _callback_body(self, job_id: str) -> dict | None:
        """The callback body of an ended job, rebuilt from the store (None if gone)."""
        job = self.store.get(job_id)
        if job is None:
            return None
        if job["status"] == "FAILED":
            return {"job_id": job_id, "status": "FAILED", "message": job["message"]}
        if job["status"] != "COMPLETED":
            return None
        try:
            raw = self.store.predictions_path(job_id).read_bytes()
            predictions = json.loads(raw.decode("utf-8"))
        except (OSError, ValueError):
            return None
        return {"job_id": job_id, "status": "COMPLETED", "predictions": predictions}

    def _store_call(self, method: str, job_id: str) -> None:
        # The store may already be closed when a delivery outlives stop().
        try:
            getattr(self.store, method)(job_id)
        except Exception:  # noqa: BLE001 - the marker stays; delivered next start
            log.debug("could not update pending callback of %s", job_id, exc_info=True)

    def _deliver(self, job_id: str, url: str, body: dict | None, failed: int) -> bool:
        import urllib3

        if body is None:
            try:
                body = self._callback_body(job_id)
            except Exception:  # noqa: BLE001 - store closed by stop(): next start
                log.debug("pending callback of %s not rebuilt", job_id, exc_info=True)
                return False
            if body is None:
                log.warning(
                    "pending callback of job %s dropped: the job's results are gone",
                    job_id,
                )
                self._store_call("clear_callback", job_id)
                return False
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        attempts = max(1, self.callbacks.attempts - failed)
        # The service's one retry policy (as for URL downloads): which answers are
        # retried and how long to wait; the waits here can be cut short by stop().
        policy = retry_policy(total=attempts - 1, backoff=self.callbacks.backoff)
        for attempt in range(1, attempts + 1):
            resp = error = None
            try:
                resp, _, watch = self.guard.request(
                    "POST",
                    url,
                    body=data,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    connect_timeout=self.callbacks.timeout,
                    read_timeout=self.callbacks.timeout,
                    deadline=time.monotonic() + self.callbacks.timeout,
                    follow_redirects=False,
                )
                watch.cancel()
                resp.drain_conn()
                resp.release_conn()
                watch.close()
                if 200 <= resp.status < 300:
                    log.info("callback for job %s delivered", job_id)
                    self._store_call("clear_callback", job_id)
                    return True
                reason = f"HTTP {resp.status}"
            except Refused as exc:
                log.warning("callback for job %s not sent: %s", job_id, exc)
                self._store_call("clear_callback", job_id)
                return False
            except (FetchFailed, OSError) as exc:
                reason = str(exc) if isinstance(exc, FetchFailed) else "no answer"
                error = urllib3.exceptions.ProtocolError(reason)
            log.warning(
                "callback for job %s failed (attempt %d of %d: %s)",
                job_id, attempt, attempts, reason,
            )  # fmt: skip
            try:
                policy = policy.increment("POST", url, response=resp, error=error)
            except urllib3.exceptions.MaxRetryError:
                self._store_call("clear_callback", job_id)
                return False
            self._store_call("callback_failed", job_id)
            wait = (resp is not None and policy.get_retry_after(resp)) or 0.0
            wait = max(wait, policy.get_backoff_time())
            if self._stop.wait(wait):
                return False  # stopping: the marker stays, delivered on next start
        self._store_call("clear_callback", job_id)
        return False


def _write_scripts_used(jdir: Path, predictions: list) -> None:
    """``scripts.json`` ({file: script}) beside the results when scripts were used."""
    used = {
        p["file"]: p["humelab"]["script"]
        for src in predictions
        for p in src["results"]["predictions"]
        if "script" in (p.get("humelab") or {})
    }
    if used:
        data = json.dumps(used, ensure_ascii=False).encode("utf-8")
        atomic_write_bytes(jdir / "scripts.json", data)
