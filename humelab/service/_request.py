"""Validation of Batch job requests and the request echo of job objects.

A request (the JSON body, or the ``json`` part of a multipart upload) is checked field
by field against the v0 contract (``reference/batch-api-v0.md`` section 3) and turned
into its echo form: every model key present, requested models filled with defaults,
the others ``None``. Every rejection names the field and what to send instead.
"""

from __future__ import annotations

import json

from .. import contract
from ..errors import InputError
from ._netguard import Refused

__all__ = [
    "RequestRejected",
    "parse_json_bytes",
    "validate_request",
    "check_http_url",
]


class RequestRejected(InputError):
    """A request to the service is invalid; carries the HTTP status and error name.

    Parameters
    ----------
    message : str
        Sentence naming the field, limit or item and what to do.
    status : int
        HTTP status to answer with.
    error : str
        Short CamelCase error name for the JSON body.
    """

    def __init__(
        self, message: str, *, status: int = 400, error: str = "InvalidRequest"
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.error = error


_TOP_KEYS = ("models", "transcription", "urls", "text", "callback_url", "notify")


def _fail(message: str) -> RequestRejected:
    return RequestRejected(message)


def _bool(value, field):
    if not isinstance(value, bool):
        raise _fail(f"`{field}` must be true or false, got {value!r}.")
    return value


def _models(value) -> dict:
    try:
        return contract.require_a_model(contract.fill_model_defaults(value))
    except InputError as exc:
        raise _fail(str(exc)) from None


def _transcription(value, present: bool):
    if present and value is None:
        return None  # explicit null: transcription disabled
    try:
        return contract.fill_transcription_defaults(value)
    except InputError as exc:
        raise _fail(str(exc)) from None


def check_http_url(url, field: str, guard=None) -> str:
    """Check that ``url`` is an absolute http(s) URL; return it.

    Parameters
    ----------
    url : str
        The URL as given.
    field : str
        Where it came from, for the message.
    guard : humelab.service._netguard.NetGuard, optional
        When given, a host that is a non-public address literal (in any spelling)
        or ``localhost`` is refused too (names are checked when resolved).

    Raises
    ------
    RequestRejected
        Naming ``field`` (see :func:`humelab.contract.check_http_url`).
    """
    try:
        url = contract.check_http_url(url, field)
    except InputError as exc:
        raise _fail(str(exc)) from None
    except ValueError as exc:  # a parse error the contract did not foresee
        raise _fail(f"`{field}` = {url!r} is not a valid URL ({exc}).") from None
    if guard is not None:
        try:
            guard.check_url(url)
        except Refused as exc:
            raise _fail(f"`{field}` = {url!r} is refused: {exc}") from None
    return url


def _str_list(value, field, *, limit, what):
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(f"`{field}` must be a list of strings, got {type(value).__name__}.")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _fail(f"`{field}[{i}]` must be a string, got {item!r}.")
    if len(value) > limit:
        raise RequestRejected(
            f"`{field}` has {len(value)} items; at most {limit} {what} are allowed per "
            f"request. Split the request, or pack media into an archive "
            f"(.zip, .tar.gz, .tar.bz2, .tar.xz).",
            error="LimitExceeded",
        )
    return list(value)


#: Deepest nesting of arrays and objects a request may have (a job request needs 4).
MAX_JSON_DEPTH = 32


def parse_json_bytes(data: bytes, where: str = "request body") -> dict:
    """Decode a JSON object from bytes; malformed JSON gets a clear message.

    Besides syntax, refuses nesting deeper than :data:`MAX_JSON_DEPTH` and strings
    holding lone UTF-16 surrogates (``"\\ud800"``: not text, and not storable as
    UTF-8), naming where they are.
    """
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except RecursionError:
        raise RequestRejected(
            f"the {where} is nested too deeply; a job request needs at most "
            f"{MAX_JSON_DEPTH} levels of arrays and objects.",
            error="MalformedJSON",
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestRejected(
            f"the {where} is not valid JSON ({exc}); send a JSON object such as "
            '{"urls": ["https://..."], "models": {"face": {}}}.',
            error="MalformedJSON",
        ) from None
    if not isinstance(obj, dict):
        raise RequestRejected(
            f"the {where} must be a JSON object, got {type(obj).__name__}.",
            error="MalformedJSON",
        )
    _check_tree(obj, where)
    return obj


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_tree(obj, where: str) -> None:
    """Refuse deep nesting and lone surrogates anywhere in a decoded request."""
    stack = [(obj, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise RequestRejected(
                f"the {where} is nested too deeply (more than {MAX_JSON_DEPTH} "
                f"levels at `{path}`); a job request needs only a few.",
                error="MalformedJSON",
            )
        if isinstance(value, dict):
            for k, v in value.items():
                sub = f"{path}.{k}" if path else str(k)
                if _has_surrogate(k):
                    sub = sub.encode("utf-8", "backslashreplace").decode("ascii")
                    raise RequestRejected(
                        f"the key `{sub}` of the {where} holds a lone UTF-16 "
                        "surrogate, which is not text; send valid Unicode."
                    )
                stack.append((v, sub, depth + 1))
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
        elif isinstance(value, str) and _has_surrogate(value):
            shown = value.encode("utf-8", "backslashreplace").decode("utf-8")[:60]
            raise RequestRejected(
                f"`{path}` holds a lone UTF-16 surrogate ({shown!r}), which is not "
                "text; send valid Unicode (a surrogate must be half of a pair)."
            )


def validate_request(
    obj: dict,
    *,
    max_urls: int = 100,
    max_texts: int = 100,
    max_file_bytes: int,
    guard=None,
) -> dict:
    """Validate a request object and return its echo form.

    Parameters
    ----------
    obj : dict
        The decoded ``InferenceBaseRequest``.
    max_urls, max_texts : int
        Item limits per request.
    max_file_bytes : int
        Size cap of any single item (applies to each text string in UTF-8).
    guard : humelab.service._netguard.NetGuard, optional
        Refuses ``urls`` and ``callback_url`` on non-public address literals.

    Returns
    -------
    dict
        ``{"callback_url", "models", "notify", "text", "transcription", "urls"}`` with
        defaults filled in (models: all six keys, ``None`` for models not requested).

    Raises
    ------
    RequestRejected
        Naming the offending field.
    """
    unknown = [k for k in obj if k not in _TOP_KEYS + ("registry_files", "files")]
    if unknown:
        raise _fail(
            f"unknown request field `{unknown[0]}`; fields are "
            f"{', '.join(f'`{k}`' for k in _TOP_KEYS)}."
        )
    if obj.get("registry_files"):
        raise _fail("`registry_files` are not supported by this service; send `urls`.")
    if obj.get("files"):
        raise _fail(
            "`files` cannot be given in JSON; upload files as multipart `file` parts."
        )
    urls = _str_list(obj.get("urls"), "urls", limit=max_urls, what="URLs")
    urls = [check_http_url(u, f"urls[{i}]", guard) for i, u in enumerate(urls)]
    text = _str_list(obj.get("text"), "text", limit=max_texts, what="text items")
    for i, t in enumerate(text):
        if _has_surrogate(t):
            raise _fail(
                f"`text[{i}]` holds a lone UTF-16 surrogate, which is not text; send "
                "valid Unicode."
            )
        if len(t.encode("utf-8")) > max_file_bytes:
            raise RequestRejected(
                f"`text[{i}]` is larger than the {max_file_bytes}-byte limit per item; "
                "split it into several items.",
                error="LimitExceeded",
            )
    callback = obj.get("callback_url")
    if callback is not None:
        callback = check_http_url(callback, "callback_url", guard)
    notify = obj.get("notify")
    notify = False if notify is None else _bool(notify, "notify")
    return {
        "callback_url": callback,
        "models": _models(obj.get("models")),
        "notify": notify,
        "text": text,
        "transcription": _transcription(
            obj.get("transcription"), "transcription" in obj
        ),
        "urls": urls,
    }
