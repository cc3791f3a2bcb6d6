"""HTTP transport to a Batch service: one session, the key header, retries, errors.

One :class:`requests.Session` per :class:`Transport`, the API key in a header (never
in a repr, log, exception or file), timeouts always set, GETs retried on connection
errors, 429 and 5xx with back-off, POSTs retried only when they never reached the
service, redirects never followed, and every HTTP error mapped to a
:class:`humelab.APIError` subclass that states the method, path, status and the
service's message. :class:`humelab.Client` and the jobs use it; it knows nothing of
jobs.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.util.retry import Retry

from ..errors import APIError, AuthError, InputError, NotFoundError, RateLimitError
from ..settings import timeout_pair

__all__ = ["Transport", "MAX_RETRY_AFTER"]

log = logging.getLogger("humelab.client")

_RETRY_STATUS = (429, 500, 502, 503, 504)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
_MAYBE_SENT = (
    " The request may have reached the service, so it was not retried: look for "
    "the job in `client.list_jobs()` before submitting again."
)
_NOT_RUNNING = " Is the service running? Check `base_url` / HUMELAB_URL."
#: Longest ``Retry-After`` honoured between two retries, in seconds.
MAX_RETRY_AFTER = 60.0


class _Retry(Retry):
    """urllib3 Retry that honours ``Retry-After`` up to :data:`MAX_RETRY_AFTER`."""

    def get_retry_after(self, response):
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(max(seconds, 0.0), MAX_RETRY_AFTER)


# -- the client ---------------------------------------------------------------------


def _message(response: requests.Response) -> str:
    """The service's reason: JSON ``message``/``error``, else the body text."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return text[:300] or response.reason or "no message"
    if isinstance(body, dict):
        if "fault" in body and isinstance(body["fault"], dict):
            return str(body["fault"].get("faultstring") or body["fault"])
        parts = [str(body[k]) for k in ("message", "error") if body.get(k)]
        if parts:
            return parts[0]
    return json.dumps(body)[:300]


class Transport:
    """Requests to one Batch service.

    Parameters
    ----------
    base_url : str
        The service, e.g. ``"http://127.0.0.1:8000"``.
    api_key : str or None
        Sent as ``X-Hume-Api-Key``; never shown.
    timeout : float or (float, float) or None
        See :func:`humelab.settings.timeout_pair`.
    max_retries : int
        Retries of a GET (connection errors, 429, 5xx).
    """

    def __init__(self, base_url: str, api_key: str | None, *, timeout, max_retries):
        self.base_url = base_url.rstrip("/")
        self.__api_key = api_key
        self.timeout = timeout_pair(timeout)
        if (
            not isinstance(max_retries, int)
            or isinstance(max_retries, bool)
            or max_retries < 0
        ):
            raise InputError(
                f"`max_retries` must be a whole number >= 0; got {max_retries!r}."
            )
        self.max_retries = max_retries
        self._session = self._make_session()

    @property
    def has_key(self) -> bool:
        """Whether a key is sent (the key itself is never exposed)."""
        return bool(self.__api_key)

    def __repr__(self) -> str:
        key = "***" if self.__api_key else None
        return f"Transport(base_url={self.base_url!r}, api_key={key})"

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def _make_session(self) -> requests.Session:
        session = requests.Session()
        retry = _Retry(
            total=self.max_retries,
            connect=self.max_retries,
            read=self.max_retries,
            status=self.max_retries,
            other=0,
            allowed_methods=_IDEMPOTENT,
            status_forcelist=_RETRY_STATUS,
            backoff_factor=0.2,
            backoff_max=5.0,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=8)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = "humelab"
        if self.__api_key:
            session.headers["X-Hume-Api-Key"] = self.__api_key
        return session

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """Send one request and map errors (documented at :meth:`Client.request`)."""
        kwargs["timeout"] = (
            self.timeout
            if kwargs.get("timeout") is None
            else timeout_pair(kwargs["timeout"])
        )
        # Never follow a redirect: requests would forward the key header to any host
        # in `Location` (it strips only `Authorization`).
        kwargs["allow_redirects"] = False
        url = self.base_url + path
        try:
            response = self._send(method, path, url, kwargs)
        except requests.exceptions.RetryError as exc:
            raise APIError(
                f"{method} {path} failed after {self.max_retries} retries: {exc}. "
                "The service keeps failing; try again later."
            ) from None
        except requests.exceptions.ConnectionError as exc:
            never_sent = _never_sent(exc)
            maybe_sent = method not in _IDEMPOTENT and not never_sent
            hint = _MAYBE_SENT if maybe_sent else _NOT_RUNNING
            err = APIError(
                f"{method} {path}: no response from {self.base_url} "
                f"({type(exc).__name__}).{hint}"
            )
            err._never_sent = never_sent
            raise err from None
        except requests.exceptions.Timeout:
            hint = _MAYBE_SENT if method not in _IDEMPOTENT else ""
            raise APIError(
                f"{method} {path}: no answer from {self.base_url} within "
                f"{kwargs['timeout'][1]:g} s. Pass a larger `timeout=`.{hint}"
            ) from None
        except requests.exceptions.RequestException as exc:
            # A body cut off mid-stream (retried above for GETs), a garbled answer:
            # never a raw `requests` exception.
            hint = _MAYBE_SENT if method not in _IDEMPOTENT else " Try again."
            raise APIError(
                f"{method} {path}: the answer from {self.base_url} broke off or was "
                f"garbled ({type(exc).__name__}).{hint}"
            ) from None
        log.debug("%s %s -> %s", method, path, response.status_code)
        # The response keeps the request it answered, key header and all; hand on
        # a copy without the key (errors carry the response).
        response.request = _without_key(response.request)
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("Location") or "(no Location header)"
            if self.__api_key:
                location = location.replace(self.__api_key, "***")
                response.headers["Location"] = location
            response.close()
            raise APIError(
                f"{method} {path} was answered with a redirect (HTTP {status}) to "
                f"`{location[:300]}`, which humelab does not follow, so the API key "
                "is never sent to another address. Set `base_url` / HUMELAB_URL to "
                "the service's own address.",
                status,
                request=response.request,
                response=response,
            )
        if response.ok:
            return response
        reason = _message(response).strip().rstrip(".")
        msg = f"{method} {path} failed with HTTP {status}: {reason}"
        if status in (401, 403):
            cls = AuthError
            given = (
                ". The key was refused"
                if self.__api_key
                else ". No key was given (none as `api_key=`, none in HUMELAB_API_KEY)"
            )
            msg += (
                f"{given}: pass the service's key as `api_key=` (`--api-key` on the "
                "command line) or set HUMELAB_API_KEY (HUME_API_KEY is Hume's own "
                "key, used only by the service's `hume` engine)."
            )
        elif status == 404:
            cls = NotFoundError
            msg += ". Check the job id and that `base_url` is the service that ran it."
        elif status == 429:
            cls = RateLimitError
            msg += ". The service is rate limiting; wait a little and try again."
        else:
            cls = APIError
            msg += "."
        raise cls(msg, status, request=response.request, response=response)

    def _send(self, method: str, path: str, url: str, kwargs) -> requests.Response:
        """One request; a GET whose body breaks off after the headers is sent again
        (urllib3's ``Retry`` covers only what happens before the headers)."""
        attempts = self.max_retries + 1 if method in _IDEMPOTENT else 1
        for attempt in range(attempts):
            try:
                return self._session.request(method, url, **kwargs)
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ):
                if attempt + 1 >= attempts:
                    raise
                log.debug("%s %s: body broke off; retrying", method, path)
                time.sleep(min(5.0, 0.2 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json(self, path: str, **kwargs) -> Any:
        """The parsed JSON body of GET ``path`` (see :meth:`Client.get_json`)."""
        response = self.request("GET", path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise APIError(
                f"GET {path} returned HTTP {response.status_code} but the body is not "
                "JSON; is `base_url` a humelab/Hume Batch service?",
                response.status_code,
                response=response,
            ) from None


def _without_key(request: requests.PreparedRequest | None):
    """A copy of ``request`` whose ``X-Hume-Api-Key`` header reads ``***``."""
    if request is None or "X-Hume-Api-Key" not in request.headers:
        return request
    safe = request.copy()
    safe.headers["X-Hume-Api-Key"] = "***"
    return safe


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection failed before the request was sent."""
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError)) or isinstance(
        exc, requests.exceptions.ConnectTimeout
    )
