"""The HTTP app of the v1 stand-in (Starlette): Hume's v1 Expression Measurement paths.

Routes, bodies, codes and statuses follow ``reference/v1-api.md`` (sections 2-6 and
the checklist of section 13):

- ``POST /v1/expression/audio/file`` and ``POST /v1/expression/video/file``:
  multipart ``file`` part(s) and an optional JSON ``config`` part (strict keys),
  parsed with python-multipart; 25,000,000-byte body cap; content sniffed;
- ``GET /v1/expression/run``, ``/run/{run_id}``, ``/run/{run_id}/events``: the runs
  recorded for upload requests, newest first, opaque forward cursors;
- auth: ``X-Hume-Api-Key`` (or ``Authorization: Bearer``) checked first, 401
  ``{"message", "request_id"?}``; service errors are
  ``{"type": "error", "code", "message", "request_id"}``; an unknown path is a
  gateway 404 ``{"message"}``; a rate limit a gateway 429 ``{"message"}`` with
  ``Retry-After``.

Upload answers carry one extension key the SDK's models accept and expose as
``model_extra``: ``"simulated": true``, because the scores are synthetic (also sent
as the header ``X-Humelab-Simulated: true``). Realtime (WebSocket) endpoints are
not part of the stand-in.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import _v1standin_request as rq
from ._v1standin_measure import (
    MAX_BODY_BYTES,
    FaceTracker,
    V1Error,
    check_image,
    decode_audio,
    measure_audio,
    measure_images,
)

__all__ = ["Received", "Failure", "StandInState", "create_app"]

#: Headers whose values are never recorded.
_SECRET_HEADERS = {"x-hume-api-key", "authorization"}
#: Bytes of an over-limit body read (and dropped) so the client sees the answer.
_DRAIN_BYTES = 64 * 1024 * 1024
_USER_ID = "usr_standin"
_RUN_STATUSES = ("live", "ended", "errored")
_RUN_MODES = ("realtime", "file")
_RUN_ENDPOINTS = ("audio", "video")
_CODE_BY_STATUS = {
    400: "message_invalid",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    500: "internal_error",
    503: "server_busy",
}


@dataclass
class Received:
    """What one request brought and how it was answered (key headers masked)."""

    method: str
    path: str
    query: dict
    headers: dict
    request_id: str
    bytes: int = 0
    parts: list = field(default_factory=list)
    config: object = None
    status: int | None = None
    code: str | None = None
    run_id: str | None = None

    @property
    def files(self) -> list:
        """The ``file`` parts."""
        return [p for p in self.parts if p.name == "file"]


@dataclass
class Failure:
    """A queued injected failure (see :meth:`V1StandIn.fail_next`)."""

    status: int
    retry_after: float | None = None
    endpoint: str | None = None
    code: str | None = None
    message: str | None = None
    times: int = 1


class StandInState:
    """Mutable state shared by the app and :class:`V1StandIn`, guarded by a lock."""

    def __init__(
        self,
        *,
        api_key: str,
        latency_ms: float,
        fail_rate: float,
        retry_after: float,
        seed: int,
        faces_measured: int,
    ):
        import random

        self.api_key = api_key
        self.latency_ms = float(latency_ms)
        self.fail_rate = float(fail_rate)
        self.retry_after = retry_after
        self.faces_measured = int(faces_measured)
        self.secret = secrets.token_bytes(32)  # signs face_state tokens
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.failures: list[Failure] = []
        self.requests: list[Received] = []
        self.runs: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._seq = 0

    def next_failure(self, endpoint: str) -> Failure | None:
        with self.lock:
            for f in self.failures:
                if f.endpoint in (None, endpoint):
                    f.times -= 1
                    if f.times <= 0:
                        self.failures.remove(f)
                    return f
            if endpoint != "runs" and self.fail_rate > 0:
                if self.rng.random() < self.fail_rate:
                    status = self.rng.choice((429, 503))
                    return Failure(status, retry_after=self.retry_after)
        return None

    def add_run(self, run: dict) -> None:
        with self.lock:
            self._seq += 1
            run["_key"] = (run["_started"], self._seq)
            self.runs.append(run)


# -- small helpers --------------------------------------------------------------------


def _request_id() -> str:
    return secrets.token_hex(16)


def _uuid7() -> str:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{t.microsecond // 1000:03d}Z"
    )


def _error_body(status: int, code: str, message: str, request_id: str) -> dict:
    return {"type": "error", "code": code, "message": message, "request_id": request_id}


class _Reply(Exception):
    """Answer now with this response (auth failures, injected failures)."""

    def __init__(self, response: JSONResponse):
        self.response = response


class _Dropped:
    """An answer cut off: headers announce a body that never comes, then the
    connection closes (the client sees a protocol error, as on a lost link)."""

    status_code = 200

    async def __call__(self, scope, receive, send):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"1000"),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b'{"request_id', "more_body": True}
        )
        raise _DropConnection


class _DropConnection(Exception):
    """Raised after a partial answer so the server closes the connection."""


def _failure_response(f: Failure, endpoint: str, request_id: str):
    if f.status == "drop":
        return _Dropped()
    headers = {}
    if f.retry_after is not None:
        headers["Retry-After"] = f"{f.retry_after:g}"
    if f.status == 401:
        body = {"message": f.message or "Unauthorized", "request_id": request_id}
    elif f.code is None and f.status not in _CODE_BY_STATUS | {413: "", 415: ""}:
        # Gateway answers (429, 502, 504...): a message-only body.
        default = "API rate limit exceeded" if f.status == 429 else "Gateway error"
        body = {"message": f.message or default}
    else:
        code = (
            f.code
            or {
                413: "audio_too_long" if endpoint == "audio" else "image_too_large",
                415: "unsupported_media_type",
            }.get(f.status)
            or _CODE_BY_STATUS.get(f.status, "internal_error")
        )
        message = f.message or f"injected failure ({f.status} {code})"
        body = _error_body(f.status, code, message, request_id)
    return JSONResponse(body, status_code=f.status, headers=headers)


def _auth(request: Request, state: StandInState, request_id: str) -> None:
    key = request.headers.get("x-hume-api-key")
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    given = key if key is not None else token
    if not given:
        raise _Reply(
            JSONResponse(
                {"message": "Missing credentials: send X-Hume-Api-Key."},
                status_code=401,
            )
        )
    if not hmac.compare_digest(given.encode(), state.api_key.encode()):
        raise _Reply(
            JSONResponse(
                {"message": "Invalid API key.", "request_id": request_id},
                status_code=401,
            )
        )


# -- the app --------------------------------------------------------------------------


def create_app(state: StandInState) -> Starlette:
    """The v1 stand-in's ASGI app over ``state`` (see the module docstring)."""
    import anyio

    def rec_of(request: Request) -> Received:
        return request.scope["humelab.v1"]

    async def read_body(request: Request, rec: Received) -> tuple[bytes, bool]:
        buf, over = bytearray(), False
        async for chunk in request.stream():
            rec.bytes += len(chunk)
            if not over:
                buf += chunk
                if len(buf) > MAX_BODY_BYTES:
                    over, buf = True, bytearray()
            if rec.bytes > MAX_BODY_BYTES + _DRAIN_BYTES:
                break
        return bytes(buf), over

    async def gate(request: Request, rec: Received, endpoint: str) -> None:
        """Latency, injected failures, then credentials (in that order)."""
        if endpoint != "runs" and state.latency_ms > 0:
            await anyio.sleep(state.latency_ms / 1000)
        failure = state.next_failure(endpoint)
        if failure is not None:
            raise _Reply(_failure_response(failure, endpoint, rec.request_id))
        _auth(request, state, rec.request_id)

    def record_run(rec, endpoint, config, *, started, media_bytes, metered, ok):
        run = {
            "run_id": rec.run_id,
            "user_id": _USER_ID,
            "status": "ended" if ok else "errored",
            "endpoint": endpoint,
            "mode": "file",
            "started_at": _rfc3339(started),
            "ended_at": _rfc3339(dt.datetime.now(dt.timezone.utc)),
            "bytes_received": media_bytes,
            "bytes_recorded": None,
            "metered_seconds": metered if ok else 0.0,
            "config": config,
            "_started": started,
        }
        state.add_run(run)

    async def upload(request: Request, endpoint: str) -> JSONResponse:
        rec = rec_of(request)
        now = dt.datetime.now(dt.timezone.utc)
        started = now.replace(
            microsecond=now.microsecond // 1000 * 1000
        )  # ms, as shown
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            body, over = await read_body(request, rec)
            parts, parse_error = [], None
            if not over:
                try:
                    parts = await anyio.to_thread.run_sync(
                        rq.parse_multipart,
                        body,
                        request.headers.get("content-type", ""),
                    )
                except V1Error as exc:
                    parse_error = exc
            rec.parts = [p for p, _ in parts]
            await gate(request, rec, endpoint)
            rec.run_id = _uuid7()
            media_bytes = sum(p.size for p in rec.parts if p.name == "file")
            echo = rq.run_config(endpoint, {})
            try:
                if over:
                    what = (
                        "audio_too_long" if endpoint == "audio" else "image_too_large"
                    )
                    raise V1Error(
                        413,
                        what,
                        f"request body exceeds 25 MB ({MAX_BODY_BYTES} bytes); "
                        + (
                            "split the audio into shorter files."
                            if endpoint == "audio"
                            else "send fewer or smaller images per request."
                        ),
                    )
                if parse_error is not None:
                    raise parse_error
                files, config_raw = rq.split_parts(parts, endpoint)
                config = rq.parse_config(config_raw, endpoint)
                rec.config = config
                echo = rq.run_config(endpoint, config)
                if endpoint == "audio":
                    result = await anyio.to_thread.run_sync(_do_audio, files[0], config)
                    metered = max(10.0, result["received"]["audio_duration_ms"] / 1000)
                else:
                    result = await anyio.to_thread.run_sync(
                        _do_video, files, config, state
                    )
                    metered = max(10.0, round(len(files) / 3, 3))
            except V1Error:
                record_run(
                    rec,
                    endpoint,
                    echo,
                    started=started,
                    media_bytes=media_bytes,
                    metered=0.0,
                    ok=False,
                )
                raise
            record_run(
                rec,
                endpoint,
                echo,
                started=started,
                media_bytes=media_bytes,
                metered=metered,
                ok=True,
            )
            out = {"request_id": rec.request_id, "run_id": rec.run_id}
            out.update(result)
            out["simulated"] = True
            return JSONResponse(out, headers={"X-Humelab-Simulated": "true"})
        finally:
            with state.lock:
                state.in_flight -= 1

    async def audio_file(request: Request):
        return await upload(request, "audio")

    async def video_file(request: Request):
        return await upload(request, "video")

    async def list_runs(request: Request):
        rec = rec_of(request)
        await gate(request, rec, "runs")
        q = request.query_params
        size = rq.page_size(q.get("page_size"))
        filters = {
            "user_id": q.get("user_id"),
            "status": rq.enum_param(q.get("status"), "status", _RUN_STATUSES),
            "mode": rq.enum_param(q.get("mode"), "mode", _RUN_MODES),
            "endpoint": rq.enum_param(q.get("endpoint"), "endpoint", _RUN_ENDPOINTS),
        }
        after = rq.when_param(q.get("started_after"), "started_after")
        before = rq.when_param(q.get("started_before"), "started_before")
        start_key = rq.cursor_key(q.get("cursor"))
        with state.lock:
            runs = sorted(state.runs, key=lambda r: r["_key"], reverse=True)
        picked = []
        for run in runs:
            if start_key is not None and not rq.key_of(run) < start_key:
                continue
            if any(v is not None and run[k] != v for k, v in filters.items()):
                continue
            if after is not None and run["_started"] < after:
                continue
            if before is not None and run["_started"] >= before:
                continue
            picked.append(run)
            if len(picked) > size:
                break
        page = {"runs": [rq.summary(r) for r in picked[:size]]}
        if len(picked) > size:
            page["next_cursor"] = rq.cursor_of(picked[size - 1])
        return JSONResponse(page)

    def find_run(run_id: str, rec: Received) -> dict:
        with state.lock:
            for run in state.runs:
                if run["run_id"] == run_id:
                    return run
        raise V1Error(404, "not_found", f"no run with ID {run_id!r}.")

    async def get_run(request: Request):
        rec = rec_of(request)
        await gate(request, rec, "runs")
        run = find_run(request.path_params["run_id"], rec)
        return JSONResponse({k: v for k, v in run.items() if not k.startswith("_")})

    async def run_events(request: Request):
        rec = rec_of(request)
        await gate(request, rec, "runs")
        q = request.query_params
        rq.page_size(q.get("page_size"))
        rq.cursor_key(q.get("cursor"))
        find_run(request.path_params["run_id"], rec)
        # File runs record no events (only realtime sessions do).
        return JSONResponse(
            {"events": [], "at_cap": False, "capped_kinds": [], "gaps": False}
        )

    async def on_v1_error(request: Request, exc: V1Error):
        rec = rec_of(request)
        rec.code = exc.code
        return JSONResponse(
            _error_body(exc.status, exc.code, exc.message, rec.request_id),
            status_code=exc.status,
            headers=exc.headers,
        )

    async def on_reply(request: Request, exc: _Reply):
        return exc.response

    async def on_http(request: Request, exc: HTTPException):
        rec = rec_of(request)
        if exc.status_code == 405:
            rec.code = "method_not_allowed"
            return JSONResponse(
                _error_body(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed on {request.url.path}.",
                    rec.request_id,
                ),
                status_code=405,
                headers=dict(exc.headers or {}),
            )
        # Unknown paths are answered by the gateway: a message-only body.
        return JSONResponse({"message": "Not Found"}, status_code=exc.status_code)

    async def on_crash(request: Request, exc: Exception):
        rec = rec_of(request)
        if isinstance(exc, _DropConnection):
            return JSONResponse({})  # never sent: the answer had started
        rec.code = "internal_error"
        return JSONResponse(
            _error_body(500, "internal_error", "internal error", rec.request_id),
            status_code=500,
        )

    base = "/v1/expression"
    app = Starlette(
        routes=[
            Route(f"{base}/audio/file", audio_file, methods=["POST"]),
            Route(f"{base}/video/file", video_file, methods=["POST"]),
            Route(f"{base}/run", list_runs, methods=["GET"]),
            Route(f"{base}/run/{{run_id}}", get_run, methods=["GET"]),
            Route(f"{base}/run/{{run_id}}/events", run_events, methods=["GET"]),
        ],
        exception_handlers={
            V1Error: on_v1_error,
            _Reply: on_reply,
            HTTPException: on_http,
            Exception: on_crash,
        },
    )
    return _Recorder(app, state)


class _Recorder:
    """ASGI wrapper: one :class:`Received` per HTTP request, with the final status."""

    def __init__(self, app, state: StandInState):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {}
        for k, v in scope.get("headers", []):
            name = k.decode("latin-1").lower()
            headers[name] = "***" if name in _SECRET_HEADERS else v.decode("latin-1")
        from urllib.parse import parse_qsl

        rec = Received(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
            headers=headers,
            request_id=_request_id(),
        )
        scope["humelab.v1"] = rec
        with self.state.lock:
            self.state.requests.append(rec)

        async def send_status(message):
            if message["type"] == "http.response.start":
                rec.status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except _DropConnection:
            # An injected drop: leave the answer incomplete; uvicorn closes the
            # connection (and logs that the app did not complete the response).
            rec.code = "dropped"


def _do_audio(data: bytes, cfg: dict) -> dict:
    samples = decode_audio(data)
    return measure_audio(
        samples, measurement_timer_ms=cfg.get("measurement_timer_ms") or 3000
    )


def _do_video(files: list[bytes], cfg: dict, state: StandInState) -> dict:
    sizes = [check_image(data, i) for i, data in enumerate(files)]  # all, first
    face = cfg.get("face") or {}
    tracker = FaceTracker.from_state(cfg.get("face_state"), state.secret)
    thr = face.get("threshold")
    measurements = measure_images(
        files,
        sizes=sizes,
        threshold=0.9 if thr is None else float(thr),
        min_size=face.get("min_size") or 60,
        max_measured=state.faces_measured,
        tracker=tracker,
    )
    out = {"received": {"frames": len(files)}, "measurements": measurements}
    if face.get("return_face_state"):
        out["face_state"] = tracker.to_state(state.secret)
    return out
