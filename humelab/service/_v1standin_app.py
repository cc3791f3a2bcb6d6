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

import base64
import datetime as dt
import hashlib
import hmac
import json
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

from ._v1standin_measure import (
    MAX_BODY_BYTES,
    FaceTracker,
    V1Error,
    check_image,
    decode_audio,
    measure_audio,
    measure_images,
)

__all__ = ["Part", "Received", "Failure", "StandInState", "create_app"]

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


@dataclass(frozen=True)
class Part:
    """One multipart part as received (its bytes are not kept)."""

    name: str
    filename: str | None
    content_type: str | None
    size: int
    sha256: str


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


def _failure_response(f: Failure, endpoint: str, request_id: str) -> JSONResponse:
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


# -- multipart ------------------------------------------------------------------------


def _parse_multipart(body: bytes, content_type: str) -> list[tuple[Part, bytes]]:
    """The parts of a ``multipart/form-data`` body, with python-multipart."""
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import (
        MultipartParser,
        MultipartState,
        parse_options_header,
    )

    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise V1Error(
            400,
            "message_invalid",
            f"the request must be multipart/form-data with a boundary, got "
            f"{content_type or 'no Content-Type'!r}.",
        )
    parts: list[tuple[Part, bytes]] = []
    cur: dict = {}

    def on_part_begin():
        cur.clear()
        cur.update(headers={}, hname=b"", hval=b"", data=bytearray())

    def on_header_field(data, start, end):
        cur["hname"] += data[start:end]

    def on_header_value(data, start, end):
        cur["hval"] += data[start:end]

    def on_header_end():
        cur["headers"][cur["hname"].lower()] = cur["hval"]
        cur["hname"], cur["hval"] = b"", b""

    def on_part_data(data, start, end):
        cur["data"] += data[start:end]

    def on_part_end():
        _, opts = parse_options_header(cur["headers"].get(b"content-disposition", b""))
        filename = opts.get(b"filename")
        ctype = cur["headers"].get(b"content-type")
        data = bytes(cur["data"])
        part = Part(
            name=opts.get(b"name", b"").decode("utf-8", "replace"),
            filename=filename.decode("utf-8", "replace") if filename else None,
            content_type=ctype.decode("latin-1").strip() if ctype else None,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        parts.append((part, data))

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise V1Error(
            400, "message_invalid", f"the multipart body is malformed ({exc})."
        ) from None
    if parser.state != MultipartState.END:
        raise V1Error(
            400,
            "message_invalid",
            "the multipart body ended before its closing boundary; send the whole "
            "body.",
        )
    return parts


def _parse_config(raw: bytes | None, endpoint: str) -> dict:
    """The ``config`` part, checked strictly (unknown fields are 400s)."""
    if raw is None:
        return {}
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise V1Error(
            400, "config_invalid", f"config part: not valid JSON ({exc})."
        ) from None
    if not isinstance(cfg, dict):
        raise V1Error(400, "config_invalid", "config part: expected a JSON object.")
    if endpoint == "audio":
        _known(cfg, ("measurement_timer_ms",), "config")
        timer = cfg.get("measurement_timer_ms")
        if timer is not None:
            _int_in(timer, "measurement_timer_ms", 3000, 10000)
        return cfg
    _known(cfg, ("face", "face_state"), "config")
    face = cfg.get("face")
    if face is not None:
        if not isinstance(face, dict):
            raise V1Error(
                400, "config_invalid", "config part: `face` must be an object."
            )
        _known(face, ("threshold", "min_size", "return_face_state"), "face")
        thr = face.get("threshold")
        if thr is not None and (
            isinstance(thr, bool)
            or not isinstance(thr, int | float)
            or not 0 <= thr <= 1
        ):
            raise V1Error(
                400,
                "config_invalid",
                f"config part: `face.threshold` must be a number in 0-1, got {thr!r}.",
            )
        if face.get("min_size") is not None:
            _int_in(face["min_size"], "face.min_size", 1, None)
        rfs = face.get("return_face_state")
        if rfs is not None and not isinstance(rfs, bool):
            raise V1Error(
                400,
                "config_invalid",
                "config part: `face.return_face_state` must be a boolean, got "
                f"{rfs!r}.",
            )
    if cfg.get("face_state") is not None and not isinstance(cfg["face_state"], str):
        raise V1Error(
            400, "config_invalid", "config part: `face_state` must be a string."
        )
    return cfg


def _known(obj: dict, allowed, where: str) -> None:
    for key in obj:
        if key not in allowed:
            raise V1Error(
                400,
                "config_invalid",
                f"config part: unknown field {key} in `{where}`, expected one of "
                f"{', '.join(allowed)}.",
            )


def _int_in(value, name: str, lo: int, hi: int | None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < lo
        or (hi is not None and value > hi)
    ):
        span = f"{lo}-{hi}" if hi is not None else f">= {lo}"
        raise V1Error(
            400,
            "config_invalid",
            f"config part: `{name}` must be an integer {span}, got {value!r}.",
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
        started = dt.datetime.now(dt.timezone.utc)
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            body, over = await read_body(request, rec)
            parts, parse_error = [], None
            if not over:
                try:
                    parts = await anyio.to_thread.run_sync(
                        _parse_multipart, body, request.headers.get("content-type", "")
                    )
                except V1Error as exc:
                    parse_error = exc
            rec.parts = [p for p, _ in parts]
            await gate(request, rec, endpoint)
            rec.run_id = _uuid7()
            media_bytes = sum(p.size for p in rec.parts if p.name == "file")
            echo = _run_config(endpoint, {})
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
                files, config_raw = _split_parts(parts, endpoint)
                config = _parse_config(config_raw, endpoint)
                rec.config = config
                echo = _run_config(endpoint, config)
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
        page_size = _page_size(q.get("page_size"))
        filters = {
            "user_id": q.get("user_id"),
            "status": _enum(q.get("status"), "status", _RUN_STATUSES),
            "mode": _enum(q.get("mode"), "mode", _RUN_MODES),
            "endpoint": _enum(q.get("endpoint"), "endpoint", _RUN_ENDPOINTS),
        }
        after = _when(q.get("started_after"), "started_after")
        before = _when(q.get("started_before"), "started_before")
        start_key = _cursor_key(q.get("cursor"))
        with state.lock:
            runs = sorted(state.runs, key=lambda r: r["_key"], reverse=True)
        picked = []
        for run in runs:
            if start_key is not None and not _key_of(run) < start_key:
                continue
            if any(v is not None and run[k] != v for k, v in filters.items()):
                continue
            if after is not None and run["_started"] < after:
                continue
            if before is not None and run["_started"] >= before:
                continue
            picked.append(run)
            if len(picked) > page_size:
                break
        page = {"runs": [_summary(r) for r in picked[:page_size]]}
        if len(picked) > page_size:
            page["next_cursor"] = _cursor_of(picked[page_size - 1])
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
        _page_size(q.get("page_size"))
        _cursor_key(q.get("cursor"))
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

        await self.app(scope, receive, send_status)


def _split_parts(parts, endpoint: str):
    files, config = [], None
    for part, data in parts:
        if part.name == "file":
            files.append(data)
        elif part.name == "config":
            if config is not None:
                raise V1Error(400, "message_invalid", "more than one `config` part.")
            config = data
        else:
            raise V1Error(
                400,
                "message_invalid",
                f"unknown multipart part {part.name!r}; send `file` and optionally "
                "`config`.",
            )
    if not files:
        raise V1Error(400, "message_invalid", "no `file` part in the request.")
    if endpoint == "audio" and len(files) > 1:
        raise V1Error(
            400,
            "message_invalid",
            f"{len(files)} `file` parts; the audio endpoint takes exactly one file per "
            "request.",
        )
    return files, config


def _run_config(endpoint: str, cfg: dict) -> dict:
    if endpoint == "audio":
        return {
            "schema": "v4",
            "audio": {
                "type": "audio/pcm",
                "encoding": "s16le",
                "sample_rate": 16000,
                "channels": 1,
            },
            "measurement_timer_ms": cfg.get("measurement_timer_ms") or 3000,
        }
    face = cfg.get("face") or {}
    thr = face.get("threshold")
    return {
        "schema": "v4",
        "image": {"type": "image/jpeg"},
        "face": {
            "threshold": round(float(0.9 if thr is None else thr), 4),
            "min_size": face.get("min_size") or 60,
        },
    }


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


# -- runs queries ---------------------------------------------------------------------


def _invalid(message: str) -> V1Error:
    return V1Error(400, "invalid_request", message)


def _page_size(value) -> int:
    if value is None:
        return 50
    try:
        n = int(value)
    except ValueError:
        raise _invalid(
            f"`page_size` must be an integer 1-200, got {value!r}."
        ) from None
    if not 1 <= n <= 200:
        raise _invalid(f"`page_size` must be 1-200, got {n}.")
    return n


def _enum(value, name: str, allowed) -> str | None:
    if value is not None and value not in allowed:
        raise _invalid(f"`{name}` must be one of {', '.join(allowed)}; got {value!r}.")
    return value


def _when(value, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(
            value.replace("Z", "+00:00").replace("z", "+00:00")
        )
    except ValueError:
        raise _invalid(
            f"`{name}` must be an RFC 3339 datetime such as 2026-11-01T00:00:00Z, "
            f"got {value!r}."
        ) from None
    if t.tzinfo is None:
        raise _invalid(f"`{name}` needs a time zone (Z or an offset), got {value!r}.")
    return t


def _key_of(run: dict) -> tuple:
    started, seq = run["_key"]
    return (started.timestamp(), seq)


def _cursor_of(run: dict) -> str:
    ts, seq = _key_of(run)
    raw = json.dumps({"b": ts, "s": seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _cursor_key(value) -> tuple | None:
    if value is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        body = json.loads(raw)
        return (float(body["b"]), int(body["s"]))
    except (ValueError, KeyError, TypeError):
        raise _invalid(
            f"`cursor` {value!r} is not a cursor this API issued; pass `next_cursor` "
            "unchanged."
        ) from None


def _summary(run: dict) -> dict:
    return {
        k: v
        for k, v in run.items()
        if not k.startswith("_") and k not in ("config", "close_code", "close_reason")
    }
