"""A small typed async client for the FlexMeasures API (aiohttp only).

This package imports nothing from Home Assistant and could be published on its
own.
"""

from .client import FlexMeasuresClient
from .errors import (
    FlexMeasuresAccessDeniedError,
    FlexMeasuresAuthenticationError,
    FlexMeasuresConnectionError,
    FlexMeasuresError,
    FlexMeasuresInvalidRequestError,
    FlexMeasuresNotFoundError,
    FlexMeasuresRateLimitError,
    FlexMeasuresRedirectError,
    FlexMeasuresResponseError,
    FlexMeasuresScheduleFailedError,
    FlexMeasuresSchedulePendingError,
    FlexMeasuresServerError,
    FlexMeasuresUnexpectedResponseError,
)
from .models import (
    Account,
    Asset,
    JobStatus,
    Schedule,
    Sensor,
    SensorData,
    ServerInfo,
    User,
)
from .urls import UrlHasCredentialsError, normalise_url

__all__ = [
    "Account",
    "Asset",
    "FlexMeasuresAccessDeniedError",
    "FlexMeasuresAuthenticationError",
    "FlexMeasuresClient",
    "FlexMeasuresConnectionError",
    "FlexMeasuresError",
    "FlexMeasuresInvalidRequestError",
    "FlexMeasuresNotFoundError",
    "FlexMeasuresRateLimitError",
    "FlexMeasuresRedirectError",
    "FlexMeasuresResponseError",
    "FlexMeasuresScheduleFailedError",
    "FlexMeasuresSchedulePendingError",
    "FlexMeasuresServerError",
    "FlexMeasuresUnexpectedResponseError",
    "JobStatus",
    "Schedule",
    "Sensor",
    "SensorData",
    "ServerInfo",
    "UrlHasCredentialsError",
    "User",
    "normalise_url",
]
