"""The poll loop behind :meth:`humelab.Job.wait`, :meth:`humelab.JobGroup.wait` and
:func:`humelab.wait_all`: adaptive interval, monotonic deadline, one ``tqdm.auto`` bar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from ..contract import TERMINAL
from ..errors import InputError, JobFailedError, JobTimeoutError

if TYPE_CHECKING:  # pragma: no cover
    from .jobs import Job

__all__: list[str] = []

#: First pause between two status checks, in seconds.
FIRST_POLL = 0.1
#: Factor by which the pause grows after each check.
POLL_GROWTH = 1.5


def _resume_hint(job_id: str) -> str:
    return f"`client.job('{job_id}').wait()`"


def _wait(
    jobs: list[Job],
    *,
    timeout: float | None,
    progress: bool | None,
    poll_interval: float | None,
    raise_on_failure: bool,
    via: str,
) -> None:
    if via not in ("auto", "poll", "callback"):
        raise InputError(f"`via` must be 'auto', 'poll' or 'callback'; got {via!r}.")
    if not jobs:
        return
    if via == "callback":
        missing = [j.id for j in jobs if j._callback_event is None]
        if missing:
            raise InputError(
                f"Job `{missing[0]}` was not submitted with `callback=True`, so no "
                "callback will arrive. Submit with `client.submit(..., callback=True)`"
                ", or wait with `via='poll'`."
            )
    if poll_interval is not None and (
        isinstance(poll_interval, bool)
        or not isinstance(poll_interval, (int, float))
        or not poll_interval > 0
    ):
        raise InputError(
            f"`poll_interval` must be a number of seconds > 0; got "
            f"{poll_interval!r}. Pass e.g. `poll_interval=2`, or None for the "
            "client's own."
        )
    client = jobs[0].client
    clock, sleep = client.clock, client.sleep
    cap = float(client.poll_interval if poll_interval is None else poll_interval)
    if timeout is not None and timeout < 0:
        raise InputError(f"`timeout` must be >= 0 or None; got {timeout!r}.")
    deadline = None if timeout is None else clock() + timeout
    events = [j._callback_event for j in jobs if j._callback_event is not None]
    use_events = via != "poll" and len(events) == len(jobs)
    delay = min(FIRST_POLL, cap)
    single = len(jobs) == 1
    desc = f"job {jobs[0].id[:8]}" if single else f"{len(jobs)} jobs"
    bar = tqdm(
        total=None,
        desc=desc,
        unit="file",
        disable=None if progress is None else not progress,
        delay=1.0,
        leave=True,
    )
    try:
        while True:
            pending = [j for j in jobs if j.status not in TERMINAL]
            for job in pending:
                if (
                    not use_events
                    or job._callback_event.is_set()
                    or job.details is None
                ):
                    job.refresh()
            pending = [j for j in jobs if j.status not in TERMINAL]
            _update_bar(bar, jobs, single)
            if not pending:
                break
            now = clock()
            if deadline is not None and now >= deadline:
                _raise_timeout(pending, jobs, timeout)
            pause = delay if deadline is None else min(delay, max(0.0, deadline - now))
            waiting = (
                [j for j in pending if not j._callback_event.is_set()]
                if (use_events)
                else []
            )
            if use_events and len(waiting) == len(pending):
                # Wake up as soon as a callback arrives; poll at the cap as fallback.
                longest = cap if deadline is None else min(cap, deadline - now)
                waiting[0]._callback_event.wait(max(0.0, longest))
                if not waiting[0]._callback_event.is_set():
                    for job in pending:
                        job.refresh()
            else:
                sleep(pause)
            delay = min(cap, delay * POLL_GROWTH)
    finally:
        bar.close()
    failed = [j for j in jobs if j.status == "FAILED"]
    if failed and raise_on_failure:
        first = failed[0]
        detail = first.state.get("message") or "no message from the service"
        if len(failed) > 1 or not single:
            others = ", ".join(f"`{j.id}`" for j in failed)
            detail += f" ({len(failed)} of {len(jobs)} jobs failed: {others})"
        err = JobFailedError(first.id, "FAILED", detail, job=first)
        err.failed = failed
        raise err


def _update_bar(bar, jobs: list[Job], single: bool) -> None:
    done = total = 0
    known = True
    for job in jobs:
        d, t = job.progress
        done += d
        if t is None:
            known = False
        else:
            total += t
    if known and total and bar.total != total:
        bar.total = total
    if single:
        status = jobs[0].status or "?"
    else:
        ended = sum(j.status in TERMINAL for j in jobs)
        status = f"{ended}/{len(jobs)} jobs ended"
        failed = sum(j.status == "FAILED" for j in jobs)
        if failed:
            status += f", {failed} failed"
    bar.set_postfix_str(status, refresh=False)
    # update() (not refresh()) so tqdm's `delay` keeps quick jobs bar-free
    bar.update(max(0, done - bar.n))


def timeout_message(
    pending: list[Job],
    jobs: list[Job],
    timeout: float,
    *,
    resume: str,
    embedded: bool = False,
) -> str:
    """What a timed-out wait says: which jobs, their last state, how to resume.

    ``resume`` is the command that resumes waiting for ``pending[0]`` (Python or
    CLI); ``embedded`` says the jobs pause with an embedded service that stops.
    """
    first = pending[0]
    one = len(jobs) == 1
    if embedded:
        state = (
            f"{'It stops' if one else 'They stop'} with this command's embedded "
            f"service and {'resumes' if one else 'resume'} the next time one starts "
            "on this data folder"
        )
    else:
        state = "It is still running" if one else "They are still running"
    if one:
        done, total = first.progress
        files = f", {done}/{total} files" if total else ""
        return (
            f"Job `{first.id}` did not finish within {timeout:g} s; last status "
            f"`{first.status}`{files}. {state}; resume with {resume}."
        )
    ids = ", ".join(f"`{j.id}`" for j in pending)
    return (
        f"{len(pending)} of {len(jobs)} jobs did not finish within {timeout:g} s "
        f"({ids}); last status of `{first.id}`: `{first.status}`. {state}; resume "
        f"with {resume}, and likewise for each id."
    )


def _raise_timeout(pending: list[Job], jobs: list[Job], timeout: float) -> None:
    first = pending[0]
    message = timeout_message(pending, jobs, timeout, resume=_resume_hint(first.id))
    raise JobTimeoutError(message, job_id=first.id, status=first.status, job=first)
