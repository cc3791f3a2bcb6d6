"""Submitting one job: the request body, the ledger's duplicate checks, the pending
entry that keeps a job from being lost when a process dies mid-submit, and the
streamed multipart upload. :class:`humelab.Client` is the public front end; this
module returns data (:class:`Submitted`) and the client builds the :class:`Job`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mimetypes
import sqlite3
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import requests
from requests_toolbelt.multipart.encoder import (
    MultipartEncoder,
    MultipartEncoderMonitor,
)
from tqdm.auto import tqdm

from .. import contract
from .._stacklevel import stack_level
from ..errors import APIError, HumelabWarning, InputError, NotFoundError
from ..settings import say as _say
from .inputs import Inputs

__all__ = ["Submitted", "check_config", "submit_one"]

log = logging.getLogger("humelab.client")

_JOBS = "/v0/batch/jobs"


@dataclass
class Submitted:
    """What a submit found or created; :class:`humelab.Client` makes the Job.

    Attributes
    ----------
    job_id : str
        The job's id.
    details : dict or None
        The job's details when they were fetched (an existing job).
    total : int or None
        Number of inputs sent (a hint for the progress bar).
    callback : bool
        Whether the job's end is announced to this client's callback receiver.
    """

    job_id: str
    details: dict[str, Any] | None = None
    total: int | None = None
    callback: bool = field(default=False)


def check_config(models, transcription) -> None:
    """The client's preflight of ``models`` and ``transcription`` (before any upload).

    The same rules as the service's (:mod:`humelab.contract`), including "at least
    one model"; ``models=None`` means every model.

    Raises
    ------
    humelab.InputError
        Naming the field, the value and what to pass instead.
    """
    if models is not None:
        contract.require_a_model(contract.fill_model_defaults(models))
    contract.validate_transcription(transcription)


def submit_one(
    client,
    bundle: Inputs,
    *,
    models,
    transcription,
    callback_url,
    notify,
    callback,
    resubmit,
    group_id=None,
    progress=None,
    timeout=None,
) -> Submitted:
    """Submit one job (or find the ledger's existing one); see ``Client.submit``."""
    check_config(models, transcription)
    if callback_url is not None:
        try:
            callback_url = contract.check_http_url(callback_url, "callback_url")
        except InputError as exc:
            raise InputError(str(exc)) from None
    if callback and callback_url:
        raise InputError(
            "Pass either `callback=True` (a local receiver) or `callback_url=`, "
            "not both."
        )
    fingerprint = bundle.fingerprint()
    config = {
        "models": models,
        "transcription": transcription,
        "callback_url": callback_url,
        "notify": bool(notify),
    }
    # Defaults filled in, so {"prosody": {}} and the same with its default
    # options spelled out are one job.
    normal = {
        **config,
        "models": _filled(models),
        "transcription": _filled_transcription(transcription),
    }
    key = _request_key(fingerprint, _numbers_as_floats(normal))
    # One submitter at a time per request (threads and processes alike): the
    # duplicate check and the pending row are then one atomic step.
    claim = contextlib.nullcontext() if resubmit else client.ledger.claim(key)
    with claim:
        return _submit_claimed(
            client,
            bundle,
            key=key,
            fingerprint=fingerprint,
            config=config,
            models=models,
            transcription=transcription,
            callback_url=callback_url,
            notify=notify,
            callback=callback,
            resubmit=resubmit,
            group_id=group_id,
            progress=progress,
            timeout=timeout,
        )


def _submit_claimed(
    client,
    bundle,
    *,
    key,
    fingerprint,
    config,
    models,
    transcription,
    callback_url,
    notify,
    callback,
    resubmit,
    group_id,
    progress,
    timeout,
) -> Submitted:
    if not resubmit:
        # the key of ledgers written before defaults were filled in, too
        existing, all_failed = _existing(client, key, _request_key(fingerprint, config))
        if existing is None and all_failed is not None:
            errors = all_failed["state"].get("num_errors")
            _say(
                f"these inputs and models were submitted as job "
                f"`{all_failed['job_id']}`, which completed with every input failed "
                f"({errors} errors, no predictions); submitting them again."
            )
        if existing is not None:
            _say(
                f"these inputs and models were already submitted as job "
                f"`{existing['job_id']}` ({existing['state'].get('status')}); "
                "returning it. Pass `resubmit=True` (`--resubmit` on the command "
                "line) to run them again."
            )
            # With callback=True no callback of ours will come for it; wait()
            # polls at the cap.
            return Submitted(
                str(existing["job_id"]), details=existing, callback=bool(callback)
            )

    orphans = _orphans(client, key)
    if orphans and not resubmit:
        found = _recover(client, orphans, bundle, config, fingerprint, key, group_id)
        if found is not None:
            return Submitted(
                str(found["job_id"]),
                details=found,
                total=len(bundle),
                callback=bool(callback),
            )

    receiver = client._callback_receiver() if callback else None
    body: dict[str, Any] = {}
    if models is not None:
        body["models"] = models
    if transcription is not None:
        body["transcription"] = transcription
    if bundle.urls:
        body["urls"] = bundle.urls
    if bundle.text:
        body["text"] = bundle.text
    if receiver is not None:
        body["callback_url"] = receiver.url
    elif callback_url:
        body["callback_url"] = callback_url
    if notify:
        body["notify"] = True

    # A pending row first: if this process dies once the service has the job
    # but before its id is written, the next submit of these inputs knows.
    token = None
    with contextlib.suppress(sqlite3.Error):
        token = client.ledger.begin(
            service=client.service, request_key=key, summary=bundle.describe()
        )
    try:
        response = _post(client, bundle, body, progress=progress, timeout=timeout)
    except APIError as exc:
        # A 3xx or 4xx answer means no job was created; so does a connection that
        # never opened. Otherwise keep the pending row (the job may exist).
        refused = exc.status_code is not None and 300 <= exc.status_code < 500
        if token is not None and (refused or getattr(exc, "_never_sent", False)):
            with contextlib.suppress(sqlite3.Error):
                client.ledger.abandon(token)
        raise
    try:
        job_id = str(response.json()["job_id"])
    except (ValueError, KeyError, TypeError):
        raise APIError(
            f"POST {_JOBS} answered HTTP {response.status_code} without a "
            f"`job_id`: {(response.text or '')[:200]}",
            response.status_code,
            response=response,
        ) from None
    _record(
        client,
        job_id,
        key=key,
        bundle=bundle,
        config=config,
        fingerprint=fingerprint,
        group_id=group_id,
        pending=token,
    )
    log.info("submitted job %s (%s)", job_id, bundle.describe())
    return Submitted(job_id, total=len(bundle), callback=receiver is not None)


def _record(
    client, job_id, *, key, bundle, config, fingerprint, group_id, pending
) -> None:
    """Write the job to the ledger; never lose its id to a ledger error."""
    try:
        client.ledger.record(
            job_id,
            service=client.service,
            base_url=client.base_url,
            request_key=key,
            summary=bundle.describe(),
            config=config,
            inputs=fingerprint,
            group_id=group_id,
            pending=pending,
        )
    except sqlite3.Error as exc:
        warnings.warn(
            f"Job `{job_id}` was created, but the ledger {client.ledger.path} could "
            f"not record it ({type(exc).__name__}: {exc}). Note the id: "
            f"`client.job('{job_id}')` reattaches to it, and `client.jobs()` will "
            "not list it.",
            HumelabWarning,
            stacklevel=stack_level(),
        )


def _orphans(client, key: str) -> list[dict[str, Any]]:
    try:
        return client.ledger.pending(client.service, key)
    except sqlite3.Error:
        return []


def _recover(client, orphans, bundle, config, fingerprint, key, group_id):
    """Find the job an earlier, unanswered submit of these inputs created.

    Returns the job when the service's list holds exactly one job created since
    then with these inputs and models (it is then recorded); otherwise None,
    after saying so when the list could not tell.
    """
    since = min(r["created_at"] for r in orphans)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since))
    known = {
        r["job_id"]
        for r in _ledger_rows(
            client,
        )
    }
    try:
        listed = client.get_json(
            _JOBS,
            params={
                "limit": 500,
                "when": "created_after",
                # ten minutes of slack for a service clock behind ours
                "timestamp_ms": max(0, int((since - 600) * 1000)),
            },
        )
        matches = [
            item
            for item in listed
            if str(item.get("job_id")) not in known
            and _same_request(item.get("request") or {}, bundle, config)
        ]
    except (APIError, AttributeError, TypeError):
        listed, matches = None, []
    if len(matches) == 1:
        found = matches[0]
        job_id = str(found["job_id"])
        status = (found.get("state") or {}).get("status")
        _record(
            client,
            job_id,
            key=key,
            bundle=bundle,
            config=config,
            fingerprint=fingerprint,
            group_id=group_id,
            pending=orphans[0]["token"],
        )
        _say(
            f"an earlier submit of these inputs and models (at {when}) got no "
            f"answer recorded; the service has it as job `{job_id}` "
            f"({status}), now in the ledger; returning it. Pass "
            "`resubmit=True` (`--resubmit` on the command line) to run them again."
        )
        return found
    if listed is not None and not matches and len(listed) < 500:
        # the service has no such job: the earlier request never created one
        for row in orphans:
            with contextlib.suppress(sqlite3.Error):
                client.ledger.abandon(row["token"])
        return None
    _say(
        f"an earlier submit of these inputs and models (at {when}) may have "
        "created a job whose id was never recorded (the process stopped or the "
        "answer was lost); submitting them again. If you now have two, find "
        "the earlier one in `client.list_jobs()` (the service's own list)."
    )
    return None


def _ledger_rows(client) -> list[dict[str, Any]]:
    try:
        return client.ledger.rows(client.service)
    except sqlite3.Error:
        return []


#: Answers that say the service did not take the request: sent again after a pause.
#: (Only 429: a 503 may come from a gateway after the service took the job, and a
#: duplicate job is worse than an error.)
_NOT_TAKEN = (429,)


def _post(
    client, bundle: Inputs, body: dict, *, progress, timeout
) -> requests.Response:
    """POST the job; a 429 answer (rate limited: the service did not take it) is sent
    again after the pause it asks for (``Retry-After``, at most 60 s) or a growing one,
    up to the client's ``max_retries`` times. Nothing else is retried: a job must
    never be created twice."""
    kwargs = {} if timeout is None else {"timeout": timeout}
    for attempt in range(client.max_retries + 1):
        try:
            if bundle.files:
                return _post_files(client, bundle, body, progress=progress, **kwargs)
            return client.request("POST", _JOBS, json=body, **kwargs)
        except APIError as exc:
            if exc.status_code not in _NOT_TAKEN or attempt >= client.max_retries:
                raise
            client.sleep(_pause(exc.response, attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _pause(response, attempt: int) -> float:
    """Seconds to wait before sending again: ``Retry-After`` when given, else
    0.2 s doubling, at most 60 s."""
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        return min(60.0, max(0.0, float(header)))
    except (TypeError, ValueError):
        return min(60.0, 0.2 * 2**attempt)


def _post_files(
    client, bundle: Inputs, body: dict, *, progress=None, **kwargs
) -> requests.Response:
    """Multipart upload streamed from disk (never the whole body in memory)."""
    with contextlib.ExitStack() as stack:
        fields: list[tuple[str, Any]] = []
        for f in bundle.files:
            ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
            fields.append(("file", (f.name, stack.enter_context(f.open()), ctype)))
        if body:
            fields.append(("json", json.dumps(body)))
        encoder = MultipartEncoder(fields=fields)
        bar = stack.enter_context(
            tqdm(
                total=encoder.len,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"uploading {bundle.describe()}",
                disable=None if progress is None else not progress,
                delay=1.0,
                leave=False,
            )
        )
        body = encoder
        if not bar.disable:  # count bytes only when a bar shows them
            body = MultipartEncoderMonitor(
                encoder, lambda m: bar.update(m.bytes_read - bar.n)
            )
        return client.request(
            "POST",
            _JOBS,
            data=body,
            headers={"Content-Type": encoder.content_type},
            **kwargs,
        )


def _request_key(fingerprint, config: dict) -> str:
    """The ledger's hash of a request: its inputs and its config."""
    text = json.dumps({"inputs": fingerprint, **config}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _existing(client, *keys: str) -> tuple[dict | None, dict | None]:
    """The details of the ledger's live job for these request keys, and of the
    newest one skipped because it completed with every input failed."""
    ids: list[str] = []
    for key in dict.fromkeys(keys):
        try:
            ids += [i for i in client.ledger.find(client.service, key) if i not in ids]
        except sqlite3.Error:
            pass
    all_failed = None
    for job_id in ids:
        try:
            details = client.get_json(f"{_JOBS}/{job_id}")
        except NotFoundError:
            continue
        state = details.get("state") or {}
        status = state.get("status")
        if status == "FAILED":
            continue
        if (
            status == "COMPLETED"
            and not state.get("num_predictions")
            and (state.get("num_errors") or 0) > 0
        ):
            all_failed = all_failed or details
            continue
        return details, None
    return None, all_failed


def _same_request(echo: dict, bundle: Inputs, config: dict) -> bool:
    """True when a service's request echo is of these inputs and this config
    (models and transcription with defaults filled, and any ``callback_url``)."""
    files = echo.get("files") or []
    if [f.get("filename") for f in files] != [f.name for f in bundle.files]:
        return False
    if list(echo.get("urls") or []) != bundle.urls:
        return False
    if list(echo.get("text") or []) != bundle.text:
        return False
    if _filled(config["models"]) != _filled(echo.get("models")):
        return False
    if "transcription" in echo and _filled_transcription(config["transcription"]) != (
        echo["transcription"] or {}
    ):
        return False
    if config["callback_url"] and echo.get("callback_url") != config["callback_url"]:
        return False
    for f, sent in zip(bundle.files, files, strict=True):
        if sent.get("md5sum") and sent["md5sum"] != f.md5():
            return False
    return True


def _numbers_as_floats(obj: Any) -> Any:
    """``obj`` with every number a float, so ``3`` and ``3.0`` hash alike."""
    if isinstance(obj, dict):
        return {k: _numbers_as_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_numbers_as_floats(v) for v in obj]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return float(obj)
    return obj


def _filled(models: dict | None) -> Any:
    """Model configs with the service's defaults filled in (as the service echoes)."""
    return _with_defaults(contract.fill_model_defaults, models)


def _filled_transcription(transcription: dict | None) -> Any:
    """Transcription settings with the service's defaults filled in."""
    return _with_defaults(contract.fill_transcription_defaults, transcription)


def _with_defaults(fill, value):
    try:
        return fill(value)
    except InputError:  # already refused by the checks; hash it as given
        return value
