"""The one place where failures become what Home Assistant and its users see.

A FlexMeasures client error (api/errors.py), or a problem found before a
request is sent (the state of charge), becomes a `ScheduleRequestError`: a
`kind` that callers branch on, and a translation key with placeholders that
users read. Its `update_error` and `action_error` give the Home Assistant
exception for a coordinator update and for an action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    HomeAssistantError,
    ServiceValidationError,
)
from homeassistant.helpers.update_coordinator import UpdateFailed

from .api import errors as fm
from .const import DOMAIN

# How much of the server's explanation of a refused request is shown.
MAX_DETAILS = 500


class ErrorKind(StrEnum):
    """What went wrong, as far as a caller needs to know."""

    AUTH = "auth"  # the login was refused: reauthenticate
    UNREACHABLE = "unreachable"  # network, timeout, 5xx, 429, odd answers: retry
    NOT_ACCESSIBLE = "not_accessible"  # the sensor is gone or not ours
    REFUSED = "refused"  # FlexMeasures refused the request's content
    INFEASIBLE = "infeasible"  # the job ran and failed (a repair issue)
    TIMEOUT = "timeout"  # the job did not finish in time
    SOC_UNAVAILABLE = "soc_unavailable"  # the state of charge has no value (yet)
    SOC_UNIT = "soc_unit"  # the state of charge cannot be read as energy
    CANCELLED = "cancelled"  # the entry was unloaded while the job ran


@dataclass(eq=False)
class ScheduleRequestError(Exception):
    """A schedule could not be had; translated once, raised as fits the caller."""

    kind: ErrorKind
    translation_key: str
    placeholders: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Let `str()` name the key (the translated text comes with HA errors)."""
        super().__init__(self.translation_key)

    @property
    def reason(self) -> str | None:
        """The server's reason for a failed (e.g. infeasible) job."""
        return self.placeholders.get("reason")

    def update_error(
        self, *, retry_after: float | None = None
    ) -> ConfigEntryAuthFailed | UpdateFailed:
        """What a coordinator update raises: auth failures start reauth."""
        if self.kind is ErrorKind.AUTH:
            return ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key=self.translation_key,
                translation_placeholders=self.placeholders,
            )
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=self.translation_key,
            translation_placeholders=self.placeholders,
            retry_after=retry_after,
        )

    def action_error(self, *, overrides_given: bool) -> HomeAssistantError:
        """What an action raises.

        A request refused for its content is the caller's to fix when the
        caller gave overrides (ServiceValidationError); otherwise it is a
        failure (HomeAssistantError).
        """
        error_class = (
            ServiceValidationError
            if self.kind is ErrorKind.REFUSED and overrides_given
            else HomeAssistantError
        )
        return error_class(
            translation_domain=DOMAIN,
            translation_key=self.translation_key,
            translation_placeholders=self.placeholders,
        )


def account_error(
    err: fm.FlexMeasuresError, url: str, sensor_id: int
) -> tuple[ErrorKind, str, dict[str, str]]:
    """Kind, translation key and placeholders of an error with the account or a sensor.

    Shared by schedules and measurement actions; what a refused request or a
    job's result means differs between them, so they map those first.
    """
    if isinstance(err, fm.FlexMeasuresAuthenticationError):
        return ErrorKind.AUTH, "invalid_auth", {"url": url}
    if isinstance(err, fm.FlexMeasuresNotFoundError | fm.FlexMeasuresAccessDeniedError):
        return (
            ErrorKind.NOT_ACCESSIBLE,
            "sensor_not_accessible",
            {"sensor_id": str(sensor_id), "error": str(err)},
        )
    if isinstance(err, fm.FlexMeasuresRedirectError):
        # never followed (credentials would go along); the server moved?
        return (
            ErrorKind.UNREACHABLE,
            "redirected",
            {
                "url": url,
                "redirect_url": err.suggested_url or err.location or "-",
            },
        )
    if isinstance(err, fm.FlexMeasuresRateLimitError):
        return ErrorKind.UNREACHABLE, "rate_limited", {"url": url}
    if isinstance(err, fm.FlexMeasuresConnectionError):
        return ErrorKind.UNREACHABLE, "cannot_connect", {"url": url}
    return ErrorKind.UNREACHABLE, "api_error", {"url": url, "error": str(err)}


def schedule_error(
    err: fm.FlexMeasuresError,
    *,
    url: str,
    device: str,
    sensor_id: int,
    max_wait: float,
) -> ScheduleRequestError:
    """A client error met while triggering or fetching a schedule."""
    if isinstance(err, fm.FlexMeasuresScheduleFailedError):
        return ScheduleRequestError(
            ErrorKind.INFEASIBLE,
            "schedule_failed",
            {"device": device, "reason": err.reason},
        )
    if isinstance(err, fm.FlexMeasuresSchedulePendingError):
        return ScheduleRequestError(
            ErrorKind.TIMEOUT,
            "schedule_timeout",
            {"device": device, "seconds": f"{max_wait:g}"},
        )
    if isinstance(err, fm.FlexMeasuresInvalidRequestError):
        return ScheduleRequestError(
            ErrorKind.REFUSED,
            "request_rejected",
            {"device": device, "error": server_details(err)},
        )
    return ScheduleRequestError(*account_error(err, url, sensor_id))


def measurement_action_error(
    err: fm.FlexMeasuresError, url: str, sensor_id: int
) -> HomeAssistantError:
    """What a measurement action raises when FlexMeasures did not do what was asked.

    The sensor id is the action's input: a sensor that is not there or not
    ours, or values the server refuses, are the caller's to fix.
    """
    if isinstance(err, fm.FlexMeasuresInvalidRequestError):
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="measurements_refused",
            translation_placeholders={
                "sensor_id": str(sensor_id),
                "error": err.message,
            },
        )
    kind, key, placeholders = account_error(err, url, sensor_id)
    error_class = (
        ServiceValidationError
        if kind is ErrorKind.NOT_ACCESSIBLE
        else HomeAssistantError
    )
    return error_class(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )


def server_details(err: fm.FlexMeasuresResponseError) -> str:
    """The server's explanation of a refused request, short and readable.

    `message` is the server's field messages flattened to text (never a
    Python representation of its JSON).
    """
    return err.message[:MAX_DETAILS]
