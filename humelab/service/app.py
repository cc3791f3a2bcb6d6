"""The HTTP app of the Batch service (Starlette): the v0 ``/v0/batch/jobs`` endpoints.

Paths, bodies and shapes follow ``reference/batch-api-v0.md``. Every request needs the
``X-Hume-Api-Key`` header with the key the service was started with. Errors are JSON
``{"status": <code>, "error": "<ShortName>", "message": "<what, what to do>"}``.
Job objects carry two extensions old clients ignore: top-level ``engine`` and
``simulated``, and ``state.progress = {"done": n, "total": m}``. Details of a job
run on a paid engine (``hume``) also carry ``usage``: what was sent (``requests``,
``retries``, ``media_seconds``, ``images``, ``billed_seconds``).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import shutil
import threading
import uuid
import zipfile
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from ._netguard import NetGuard
from ._request import RequestRejected, parse_json_bytes, validate_request
from .artifacts import write_artifacts
from .intake import (
    DiskReserve,
    Limits,
    LowDisk,
    body_chunks,
    check_zip_upload,
    is_archive,
    receive_multipart,
    safe_filename,
)
from .store import STATUSES, TERMINAL, JobStore

__all__ = ["create_app", "job_object"]

log = logging.getLogger(__name__)

_SORT_BY = ("created", "started", "ended")
_DIRECTIONS = ("asc", "desc")
_WHEN = ("created_before", "created_after")
_TYPES = ("INFERENCE", "EMBEDDING_GENERATION", "TL_INFERENCE", "TRAINING")


def _error(status: int, error: str, message: str, **extra) -> JSONResponse:
    body = {"status": status, "error": error, "message": message}
    body.update(extra)
    return JSONResponse(body, status_code=status)


def job_object(row: dict) -> dict:
    """The v0 job object (details and list items) of a stored job row.

    Parameters
    ----------
    row : dict
        A row from :meth:`JobStore.get`.

    Returns
    -------
    dict
        ``{"job_id", "request", "state", "type", "engine", "simulated"}``; ``state``
        holds the fields of its status (reference section 4) plus ``progress``.
        Keys of ``request`` are alphabetical at every level, as in Hume's bodies;
        the stored row is not changed.
    """
    status = row["status"]
    state = {"created_timestamp_ms": row["created_ms"], "status": status}
    if status != "QUEUED":
        state["started_timestamp_ms"] = row["started_ms"]
    if status in TERMINAL:
        state["ended_timestamp_ms"] = row["ended_ms"]
    if status == "COMPLETED":
        state["num_predictions"] = row["num_predictions"]
        state["num_errors"] = row["num_errors"]
    if status == "FAILED":
        state["message"] = row["message"] or "The job failed."
    done, total = row["done"], row["total"]
    if status == "COMPLETED":
        done = total
    state["progress"] = {"done": done, "total": total}
    return {
        "job_id": row["job_id"],
        "request": _sorted_keys(row["request"]),
        "state": {k: state[k] for k in sorted(state)},
        "type": "INFERENCE",
        "engine": row["engine"],
        "simulated": row["simulated"],
    }


def _sorted_keys(value):
    """``value`` with the keys of every nested dict in alphabetical order.

    Hume's job objects list keys alphabetically at every level of ``request``
    (``models.face.descriptions`` before ``fps_pred``); lists keep their order.
    """
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def create_app(
    *,
    store: JobStore,
    runner,
    engine,
    api_key: str,
    limits: Limits | None = None,
    guard=None,
) -> Starlette:
    """Build the Starlette app of the Batch service.

    Parameters
    ----------
    store : JobStore
        The job store.
    runner : humelab.service.runner.Runner
        Receives new jobs (``runner.submit(job_id)``).
    engine : humelab.service.engines.Engine
        The engine jobs run on (its ``name`` and ``simulated`` are recorded per job).
    api_key : str
        The key every request must send in ``X-Hume-Api-Key``.
    limits : Limits, optional
        Request caps (default: :class:`Limits`).
    guard : humelab.service._netguard.NetGuard, optional
        Refuses ``urls`` and ``callback_url`` on non-public address literals at
        request time (default: public addresses only).

    Returns
    -------
    starlette.applications.Starlette
        The ASGI app; ``app.state.limits`` holds the caps.
    """
    limits = limits or Limits()
    guard = guard or NetGuard()
    disk = DiskReserve(store.data_dir, limits.min_free_bytes)
    key_bytes = api_key.encode("utf-8")
    artifact_locks: dict[str, threading.Lock] = {}
    locks_guard = threading.Lock()

    def authorize(request: Request) -> None:
        given = request.headers.get("x-hume-api-key")
        if given is None:
            raise RequestRejected(
                "missing API key: send the service's key in the `X-Hume-Api-Key` "
                "header (see `humelab serve` output or `server.api_key`).",
                status=401,
                error="InvalidApiKey",
            )
        if not hmac.compare_digest(given.encode("utf-8"), key_bytes):
            raise RequestRejected(
                "invalid API key: the `X-Hume-Api-Key` header does not match the key "
                "this service was started with (`--api-key`, HUMELAB_API_KEY, or the "
                "generated key it printed at start).",
                status=401,
                error="InvalidApiKey",
            )

    def load_job(job_id: str) -> dict:
        row = store.get(job_id)
        if row is None:
            raise RequestRejected(
                f"job not found: there is no job `{job_id}` on this service. List "
                "jobs with GET /v0/batch/jobs.",
                status=404,
                error="JobNotFound",
            )
        return row

    def require_completed(row: dict, what: str) -> None:
        if row["status"] == "COMPLETED":
            return
        job_id, status = row["job_id"], row["status"]
        if status == "FAILED":
            detail = f"it FAILED ({row['message']}) and has no {what}. Resubmit it."
        else:
            detail = (
                f"its status is {status}; {what} are available once it is COMPLETED. "
                f"Poll GET /v0/batch/jobs/{job_id} until then."
            )
        raise RequestRejected(
            f"job `{job_id}` is not completed: {detail}",
            status=409,
            error="JobNotCompleted",
        )

    # -- endpoints --------------------------------------------------------------------

    async def index(request: Request):
        return JSONResponse(
            {
                "service": "humelab batch service (Hume v0 Batch API contract)",
                "engine": engine.name,
                "simulated": bool(engine.simulated),
                "jobs": "/v0/batch/jobs",
            }
        )

    def check_disk() -> None:
        try:
            disk.check()
        except LowDisk as exc:
            raise RequestRejected(
                f"no new job: {exc}", status=507, error="InsufficientStorage"
            ) from None

    async def create_job(request: Request):
        authorize(request)
        check_disk()
        ctype = request.headers.get("content-type", "").lower()
        if ctype.startswith("multipart/form-data"):
            job_id = await _create_multipart(request)
        elif ctype.startswith("application/json") or not ctype:
            body = await _read_capped(
                request, limits.max_json_bytes, limits.upload_idle_timeout
            )
            obj = parse_json_bytes(body)
            echo = validate_request(
                obj,
                max_urls=limits.max_urls,
                max_texts=limits.max_texts,
                max_file_bytes=limits.max_file_bytes,
                guard=guard,
            )
            if not echo["urls"] and not echo["text"]:
                raise RequestRejected(
                    "the request has no inputs: give `urls` or `text`, or upload files "
                    "as multipart `file` parts."
                )
            echo["files"] = []
            job_id = store.create(
                request=echo,
                uploads=[],
                staging=None,
                engine=engine.name,
                simulated=bool(engine.simulated),
                total=len(echo["urls"]) + len(echo["text"]),
            )
        else:
            raise RequestRejected(
                f"unsupported Content-Type {ctype!r}; send application/json or "
                "multipart/form-data.",
                status=415,
                error="UnsupportedMediaType",
            )
        runner.submit(job_id)
        return JSONResponse({"job_id": job_id})

    async def _create_multipart(request: Request) -> str:
        staging = store.new_staging_dir()
        try:
            uploads, options = await receive_multipart(request, staging, limits, disk)
            echo = validate_request(
                options or {},
                max_urls=limits.max_urls,
                max_texts=limits.max_texts,
                max_file_bytes=limits.max_file_bytes,
                guard=guard,
            )
            if not uploads and not echo["urls"] and not echo["text"]:
                raise RequestRejected(
                    "the multipart request has no `file` parts and no `urls` or `text` "
                    "in its `json` part; add at least one input."
                )
            declared = 0
            for up in uploads:
                name = safe_filename(up.filename)
                if is_archive(name, up.path) and zipfile.is_zipfile(up.path):
                    declared += check_zip_upload(up.path, name, limits)
            if declared > limits.max_expanded_bytes:
                raise RequestRejected(
                    f"the archives of this request expand to {declared} bytes, over "
                    f"the {limits.max_expanded_bytes}-byte limit per request for all "
                    "archives together (`max_expanded_bytes`). Send them in several "
                    "jobs.",
                    error="LimitExceeded",
                )
            echo["files"] = [
                {
                    "filename": u.filename,
                    "content_type": u.content_type,
                    "md5sum": u.md5sum,
                }  # fmt: skip
                for u in uploads
            ]
            stored = [
                {
                    "filename": u.filename,
                    "content_type": u.content_type,
                    "md5sum": u.md5sum,
                    "size": u.size,
                    "path": os.path.join("uploads", str(i), u.path.name),
                }
                for i, u in enumerate(uploads)
            ]
            return store.create(
                request=echo,
                uploads=stored,
                staging=staging,
                engine=engine.name,
                simulated=bool(engine.simulated),
                total=len(uploads) + len(echo["urls"]) + len(echo["text"]),
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    async def list_jobs(request: Request):
        authorize(request)
        q = request.query_params
        limit = _int_param(q.get("limit"), "limit", default=50, lo=1, hi=_MAX_LIMIT)
        statuses = q.getlist("status")
        for s in statuses:
            _enum_param(s, "status", STATUSES)
        types = q.getlist("type")
        for t in types:
            _enum_param(t, "type", _TYPES)
        when = q.get("when")
        if when is not None:
            _enum_param(when, "when", _WHEN)
        ts = q.get("timestamp_ms")
        if ts is not None:
            ts = _int_param(ts, "timestamp_ms", default=None, lo=0, hi=_MAX_TS)
        sort_by = _enum_param(q.get("sort_by", "created"), "sort_by", _SORT_BY)
        direction = _enum_param(q.get("direction", "desc"), "direction", _DIRECTIONS)
        if types and "INFERENCE" not in types:
            return JSONResponse([])
        rows = store.list(
            limit=limit,
            statuses=statuses or None,
            when=when,
            timestamp_ms=ts,
            sort_by=sort_by,
            direction=direction,
        )
        return JSONResponse([job_object(r) for r in rows])

    async def job_details(request: Request):
        authorize(request)
        obj = job_object(load_job(request.path_params["job_id"]))
        used = store.job_dir(obj["job_id"]) / "scripts.json"  # written by the runner
        if used.is_file():  # {file: script}: the simulation followed these scripts
            obj["scripts"] = json.loads(used.read_text(encoding="utf-8"))
        usage = store.job_dir(obj["job_id"]) / "usage.json"  # written by the runner
        if usage.is_file():  # what a paid engine sent: requests, seconds, images
            obj["usage"] = json.loads(usage.read_text(encoding="utf-8"))
        return JSONResponse(obj)

    async def job_predictions(request: Request):
        authorize(request)
        row = load_job(request.path_params["job_id"])
        require_completed(row, "predictions")
        path = store.predictions_path(row["job_id"])
        if not path.is_file():
            raise RequestRejected(
                f"the predictions of job `{row['job_id']}` are missing from the "
                f"service's data directory ({store.data_dir}). Resubmit the job.",
                status=410,
                error="ResultsGone",
            )
        return FileResponse(path, media_type="application/json")

    def ensure_artifacts(job_id: str):
        path = store.artifacts_path(job_id)
        with locks_guard:
            lock = artifact_locks.setdefault(job_id, threading.Lock())
        with lock:
            if path.is_file():
                return path
            preds_path = store.predictions_path(job_id)
            if not preds_path.is_file():
                return None
            predictions = json.loads(preds_path.read_text(encoding="utf-8"))
            tmp = path.with_name(f".artifacts.{uuid.uuid4().hex}.tmp")
            try:
                write_artifacts(predictions, tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        return path

    async def job_artifacts(request: Request):
        import anyio

        authorize(request)
        row = load_job(request.path_params["job_id"])
        require_completed(row, "artifacts")
        path = await anyio.to_thread.run_sync(ensure_artifacts, row["job_id"])
        if path is None:
            raise RequestRejected(
                f"the results of job `{row['job_id']}` are missing from the service's "
                f"data directory ({store.data_dir}). Resubmit the job.",
                status=410,
                error="ResultsGone",
            )
        return FileResponse(
            path, media_type="application/zip", filename="artifacts.zip"
        )

    # -- error handlers ---------------------------------------------------------------

    async def on_rejected(request: Request, exc: RequestRejected):
        extra = {}
        if exc.status == 401:
            # Legacy clients look for an Apigee-style fault with "InvalidApiKey".
            extra["fault"] = {
                "faultstring": "Invalid ApiKey",
                "detail": {"errorcode": "oauth.v2.InvalidApiKey"},
            }
        resp = _error(exc.status, exc.error, exc.message, **extra)
        if exc.status == 408:  # a stalled body: do not wait for the rest of it
            resp.headers["Connection"] = "close"
        return resp

    async def on_http(request: Request, exc: HTTPException):
        if exc.status_code == 404:
            return _error(
                404,
                "NotFound",
                f"no endpoint at {request.url.path}; the Batch API lives under "
                "/v0/batch/jobs.",
            )
        if exc.status_code == 405:
            return _error(
                405,
                "MethodNotAllowed",
                f"{request.method} is not allowed on {request.url.path}.",
            )
        return _error(exc.status_code, "HTTPError", str(exc.detail))

    async def on_disconnect(request: Request, exc: ClientDisconnect):
        # The client went away mid-request (often mid-upload): nothing to answer,
        # nothing was created (the staging folder is removed), one line is enough.
        log.info(
            "client disconnected during %s %s; request dropped",
            request.method,
            request.url.path,
        )
        return _error(400, "ClientDisconnect", "the client disconnected.")

    async def openapi(request: Request):
        return FileResponse(
            Path(__file__).with_name("openapi.json"), media_type="application/json"
        )

    async def on_exception(request: Request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(
            500,
            "InternalError",
            f"the service failed on {request.method} {request.url.path} "
            f"({type(exc).__name__}); see the service log.",
        )

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v0/batch/jobs", list_jobs, methods=["GET"]),
        Route("/v0/batch/jobs", create_job, methods=["POST"]),
        Route("/v0/batch/jobs/{job_id}", job_details, methods=["GET"]),
        Route("/v0/batch/jobs/{job_id}/predictions", job_predictions, methods=["GET"]),
        Route("/v0/batch/jobs/{job_id}/artifacts", job_artifacts, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            RequestRejected: on_rejected,
            ClientDisconnect: on_disconnect,
            HTTPException: on_http,
            Exception: on_exception,
        },
    )
    app.state.limits = limits
    return app


#: Largest ``limit`` of the list endpoint, and largest ``timestamp_ms`` (SQLite's
#: signed 64-bit integers).
_MAX_LIMIT = 1_000_000
_MAX_TS = 2**63 - 1


async def _read_capped(request: Request, cap: int, idle: float) -> bytes:
    buf = bytearray()
    async for chunk in body_chunks(request, idle):
        buf += chunk
        if len(buf) > cap:
            raise RequestRejected(
                f"the JSON body is larger than the {cap}-byte limit; upload media as "
                "files or send URLs instead of inlining data.",
                error="LimitExceeded",
            )
    return bytes(buf)


def _int_param(value, name, *, default, lo, hi):
    if value is None:
        return default
    shown = value if len(value) <= 40 else value[:40] + "..."
    try:
        if len(value) > 40:
            raise ValueError
        n = int(value)
    except ValueError:
        raise RequestRejected(
            f"query parameter `{name}` must be an integer from {lo} to {hi}, got "
            f"{shown!r}."
        ) from None
    if not lo <= n <= hi:
        raise RequestRejected(
            f"query parameter `{name}` must be from {lo} to {hi}, got {n}."
        )
    return n


def _enum_param(value, name, allowed):
    if value not in allowed:
        raise RequestRejected(
            f"query parameter `{name}` must be one of {', '.join(allowed)}; got "
            f"{value!r}."
        )
    return value
