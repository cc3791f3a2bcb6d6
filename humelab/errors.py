"""Exception and warning hierarchy of humelab, and nothing else.

Every error humelab raises on purpose derives from :class:`HumelabError`, so a notebook
can catch them all with one ``except``. Messages say what happened, the offending value,
and what to do next.
"""

from __future__ import annotations

__all__ = [
    "HumelabError",
    "APIError",
    "AuthError",
    "NotFoundError",
    "RateLimitError",
    "JobError",
    "JobFailedError",
    "JobTimeoutError",
    "SchemaError",
    "ReadError",
    "InputError",
    "HumelabWarning",
    "HumelabDeprecationWarning",
]


class HumelabError(Exception):
    """Base class of every error humelab raises on purpose."""


class APIError(HumelabError):
    """An HTTP request to a Batch service failed.

    Parameters
    ----------
    message : str
        Human-readable message: method, path, status and the service's reason.
    status_code : int or None
        HTTP status, or None when no response arrived.
    request : requests.PreparedRequest, optional
        The request that failed (its headers never include the API key in repr).
    response : requests.Response, optional
        The response, when one arrived.
    """

    def __init__(self, message, status_code=None, *, request=None, response=None):
        super().__init__(message)
        self.status_code = status_code
        self.request = request
        self.response = response


class AuthError(APIError):
    """The service rejected the API key (HTTP 401 or 403)."""


class NotFoundError(APIError):
    """The job or resource does not exist on this service (HTTP 404)."""


class RateLimitError(APIError):
    """The service is rate limiting us (HTTP 429) and retries were exhausted."""


class JobError(HumelabError):
    """Base class of errors about a job's outcome."""


class JobFailedError(JobError):
    """A job ended in state ``FAILED``.

    Parameters
    ----------
    job_id : str
        The failed job.
    status : str
        Its final status (``FAILED``).
    detail : str
        The service's message.
    job : object, optional
        The :class:`humelab.Job` handle, when available.
    """

    def __init__(self, job_id, status="FAILED", detail="", *, job=None):
        self.job_id = job_id
        self.status = status
        self.detail = detail
        self.job = job
        msg = (
            f"Job `{job_id}` ended {status}: {detail or 'no message from the service'}."
        )
        super().__init__(msg)


class JobTimeoutError(JobError, TimeoutError):
    """Waiting for a job timed out; the job itself keeps running."""

    def __init__(self, message, *, job_id=None, status=None, job=None):
        super().__init__(message)
        self.job_id = job_id
        self.status = status
        self.job = job


class SchemaError(HumelabError, ValueError):
    """A DataFrame does not match the tidy column contract of :mod:`humelab.schema`."""


class ReadError(HumelabError, ValueError):
    """A result file could not be read (malformed, truncated, or the wrong reader)."""


class InputError(HumelabError, ValueError):
    """Inputs or options for a job are invalid (unknown model, over a limit, ...)."""


class HumelabWarning(UserWarning):
    """Base class of humelab's warnings (for example, files that failed in a job)."""


class HumelabDeprecationWarning(HumelabWarning, FutureWarning):
    """A humelab feature is deprecated; the message names its replacement."""
