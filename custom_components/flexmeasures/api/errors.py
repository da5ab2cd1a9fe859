"""Errors raised by the FlexMeasures API client.

Every failure the client can meet is one of these, so callers can tell an
authentication problem from a network problem from a rejected request.
"""

from __future__ import annotations

from typing import Any


class FlexMeasuresError(Exception):
    """Base class for all FlexMeasures client errors."""


class FlexMeasuresConnectionError(FlexMeasuresError):
    """The server could not be reached (DNS, refused, timeout, TLS, dropped)."""


class FlexMeasuresAuthenticationError(FlexMeasuresError):
    """The credentials were rejected (wrong password, unknown user)."""


class FlexMeasuresRedirectError(FlexMeasuresError):
    """The server answered with a redirect (3xx); the client never follows one.

    Following it would send the request again, body and credentials included,
    to wherever the server points (another host, or http instead of https).
    `status` is the HTTP status; `location` the absolute target without user
    info, query or fragment (None when the answer named none or nothing
    usable); `suggested_url` the base URL the target stands for, when the
    target is the requested path below another base (e.g. the same server
    with https), else None. The message names neither, so it can go into logs
    and diagnostics.
    """

    def __init__(
        self,
        status: int,
        *,
        location: str | None = None,
        suggested_url: str | None = None,
    ) -> None:
        """Keep where the server pointed."""
        super().__init__(f"The server answered with a redirect (HTTP {status})")
        self.status = status
        self.location = location
        self.suggested_url = suggested_url


class FlexMeasuresResponseError(FlexMeasuresError):
    """The server answered with an error status.

    `status` is the HTTP status, `message` the server's message, and `details`
    the decoded body (for 422: the server's field messages).
    """

    def __init__(self, message: str, *, status: int, details: Any = None) -> None:
        """Keep the status and the server's own explanation."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


class FlexMeasuresNotFoundError(FlexMeasuresResponseError):
    """The object does not exist (404, or 422 for an unknown id)."""


class FlexMeasuresAccessDeniedError(FlexMeasuresResponseError):
    """The account may not touch this object (403)."""


class FlexMeasuresInvalidRequestError(FlexMeasuresResponseError):
    """The server refused the request's content (400/422); will never succeed."""


class FlexMeasuresRateLimitError(FlexMeasuresResponseError):
    """Too many requests (429); retry later.

    `retry_after` is how many seconds the server asked to wait (its
    `Retry-After` header), or None when it did not say.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        details: Any = None,
        retry_after: float | None = None,
    ) -> None:
        """Keep the status, the server's explanation and how long to wait."""
        super().__init__(message, status=status, details=details)
        self.retry_after = retry_after


class FlexMeasuresServerError(FlexMeasuresResponseError):
    """The server failed (5xx); retry later."""


class FlexMeasuresUnexpectedResponseError(FlexMeasuresError):
    """The answer was not what a FlexMeasures server sends (HTML, broken JSON)."""


class FlexMeasuresSchedulePendingError(FlexMeasuresError):
    """The scheduling job has not finished yet (202)."""


class FlexMeasuresScheduleFailedError(FlexMeasuresError):
    """The scheduling job failed (400 UNKNOWN_SCHEDULE), e.g. infeasible.

    `reason` is the server's explanation.
    """

    def __init__(self, reason: str) -> None:
        """Keep the server's reason."""
        super().__init__(reason)
        self.reason = reason
