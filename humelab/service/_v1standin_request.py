"""Reading the v1 stand-in's requests: multipart bodies, ``config`` parts, run queries.

Rules from ``reference/v1-api.md``: the ``file`` and ``config`` parts (3.1, 4.1),
strict config keys and ranges (3.2, 4.2; a bad one is 400 ``config_invalid``), an
unreadable body 400 ``message_invalid``, run list and events queries (5.1, 5.3;
a bad one is 400 ``invalid_request``) with opaque forward cursors.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from ._v1standin_measure import V1Error

__all__ = [
    "Part",
    "parse_multipart",
    "parse_config",
    "split_parts",
    "run_config",
    "page_size",
    "enum_param",
    "when_param",
    "cursor_of",
    "cursor_key",
    "key_of",
    "summary",
]


@dataclass(frozen=True)
class Part:
    """One multipart part as received (its bytes are not kept)."""

    name: str
    filename: str | None
    content_type: str | None
    size: int
    sha256: str


# -- multipart ------------------------------------------------------------------------


def parse_multipart(body: bytes, content_type: str) -> list[tuple[Part, bytes]]:
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


def parse_config(raw: bytes | None, endpoint: str) -> dict:
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


def split_parts(parts, endpoint: str):
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


def run_config(endpoint: str, cfg: dict) -> dict:
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


# -- runs queries ---------------------------------------------------------------------


def _invalid(message: str) -> V1Error:
    return V1Error(400, "invalid_request", message)


def page_size(value) -> int:
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


def enum_param(value, name: str, allowed) -> str | None:
    if value is not None and value not in allowed:
        raise _invalid(f"`{name}` must be one of {', '.join(allowed)}; got {value!r}.")
    return value


def when_param(value, name: str) -> dt.datetime | None:
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


def key_of(run: dict) -> tuple:
    started, seq = run["_key"]
    return (started.timestamp(), seq)


def cursor_of(run: dict) -> str:
    ts, seq = key_of(run)
    raw = json.dumps({"b": ts, "s": seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def cursor_key(value) -> tuple | None:
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


def summary(run: dict) -> dict:
    return {
        k: v
        for k, v in run.items()
        if not k.startswith("_") and k not in ("config", "close_code", "close_reason")
    }
