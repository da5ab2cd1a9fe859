"""What a FlexMeasures answer means: decoded JSON, errors, parsed models.

Pure functions, no I/O: `decode` turns a body into JSON (or `NOT_JSON`),
`error_from_response` is the one place where an unsuccessful answer becomes
an error, and `parse` runs a model parser so that any shape problem is an
unexpected response.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
import json
import math
import re
from typing import Any

from .errors import (
    FlexMeasuresAccessDeniedError,
    FlexMeasuresAuthenticationError,
    FlexMeasuresError,
    FlexMeasuresInvalidRequestError,
    FlexMeasuresNotFoundError,
    FlexMeasuresRateLimitError,
    FlexMeasuresServerError,
    FlexMeasuresUnexpectedResponseError,
)

MAX_MESSAGE = 1000  # characters of a server message kept in an error


class _NotJsonType:
    """Marker for an answer whose body is not JSON."""


NOT_JSON: Any = _NotJsonType()

# Keys of the server's nested 422 messages that only say where a field was.
_LOCATION_KEYS = frozenset(
    {"json", "query", "path", "form", "querystring", "headers", "_schema"}
)
_NOT_FOUND_RE = re.compile(
    r"\bnot found\b|\bno \w+ found\b|does not exist", re.IGNORECASE
)


def _flatten_messages(value: Any, key: str | None = None) -> list[str]:
    """Turn the server's (possibly nested) message into readable lines."""
    if isinstance(value, Mapping):
        lines: list[str] = []
        for sub_key, sub_value in value.items():
            name = key if str(sub_key) in _LOCATION_KEYS else str(sub_key)
            if str(sub_key) == "combined_sensor_data_description":
                name = key
            lines.extend(_flatten_messages(sub_value, name))
        return lines
    if isinstance(value, list | tuple):
        return [line for item in value for line in _flatten_messages(item, key)]
    if value is None:
        return []
    return [f"{key}: {value}" if key else str(value)]


def server_message(body: Any, status: int) -> str:
    """A readable message from an error body (`message` or `errors`), bounded."""
    lines: list[str] = []
    if isinstance(body, Mapping):
        try:
            lines = _flatten_messages(body.get("message"))
            if not lines:
                lines = _flatten_messages(body.get("errors"))
        except RecursionError:
            lines = []
    message = "; ".join(lines) if lines else f"HTTP {status}"
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return message


def is_login_refusal(body: Any) -> bool:
    """FlexMeasures' own answer to bad credentials: `{"errors": ["..."], ...}`.

    Reference answers 05 (401, wrong password) and 06 (404, unknown email).
    A proxy's page, or any other JSON, is not a refusal of the credentials.
    """
    if not isinstance(body, Mapping):
        return False
    errors = body.get("errors")
    return (
        isinstance(errors, list)
        and bool(errors)
        and all(isinstance(line, str) for line in errors)
    )


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (RFC 9110), or None.

    Either a number of seconds or an HTTP date (a date in the past: 0).
    Anything else (missing, negative, not a number or a date) says nothing.
    """
    if value is None or not (value := value.strip()):
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except TypeError, ValueError, IndexError, OverflowError:
        return None
    if when.tzinfo is None:  # "-0000": UTC, as HTTP dates are
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def error_from_response(
    status: int, body: Any, *, retry_after: float | None = None
) -> FlexMeasuresError:
    """The one place where an unsuccessful answer becomes an error.

    Only a FlexMeasures JSON body makes a 4xx one of the server's refusals; a
    4xx page from something else (a proxy) is an unexpected response.
    `retry_after` (seconds, from the answer's `Retry-After`) goes with a 429.
    """
    message = server_message(body, status)
    if status == 429:
        return FlexMeasuresRateLimitError(
            message, status=status, details=body, retry_after=retry_after
        )
    if status >= 500:
        return FlexMeasuresServerError(message, status=status, details=body)
    if not isinstance(body, Mapping):
        return FlexMeasuresUnexpectedResponseError(
            f"HTTP {status} without a FlexMeasures JSON body"
        )
    if status == 401:
        return FlexMeasuresAuthenticationError(message)
    if status == 403:
        return FlexMeasuresAccessDeniedError(message, status=status, details=body)
    if status == 404:
        return FlexMeasuresNotFoundError(message, status=status, details=body)
    if status == 400 and body.get("status") == "UNRECOGNIZED_UDI_EVENT":
        return FlexMeasuresNotFoundError(message, status=status, details=body)
    if status == 422 and _NOT_FOUND_RE.search(message):
        return FlexMeasuresNotFoundError(message, status=status, details=body)
    if 400 <= status < 500:
        return FlexMeasuresInvalidRequestError(message, status=status, details=body)
    return FlexMeasuresUnexpectedResponseError(f"Unexpected HTTP status {status}")


def parse[T](parser: Callable[[Any], T], body: Any) -> T:
    """Run a model parser; a body of the wrong shape is an unexpected response.

    Wrong types, missing keys, unparsable or non-finite numbers, numbers too
    large for a float or a timedelta, nesting too deep: all of it.
    """
    try:
        return parser(body)
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        ArithmeticError,
        RecursionError,
    ) as err:
        detail = str(err)[:200]
        raise FlexMeasuresUnexpectedResponseError(
            f"Unexpected answer from FlexMeasures: {type(err).__name__}: {detail}"
        ) from err


def decode(raw: bytes) -> Any:
    """The JSON in a body: None when empty, `NOT_JSON` when it is not JSON.

    JSON is UTF-8 (RFC 8259), whatever charset the Content-Type names: the
    bytes are decoded here, so an unknown or wrong charset never raises.
    """
    if not raw.strip():
        return None
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except ValueError, RecursionError:  # UnicodeDecodeError is a ValueError
        return NOT_JSON
