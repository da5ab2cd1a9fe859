"""Data models of the FlexMeasures API (plain dataclasses, aware datetimes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What `GET /api/` says about the server."""

    version: str
    api_versions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Account:
    """A FlexMeasures account."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class User:
    """The logged-in user."""

    id: int
    email: str
    username: str
    account_id: int
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class Asset:
    """A generic asset; JSON-in-string fields are parsed."""

    id: int
    name: str
    account_id: int | None
    asset_type: str
    parent_asset_id: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    flex_context: dict[str, Any] = field(default_factory=dict)
    flex_model: dict[str, Any] = field(default_factory=dict)
    sensor_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Sensor:
    """A sensor: where measurements go and schedules come from."""

    id: int
    name: str
    unit: str
    event_resolution: timedelta
    timezone: str
    asset_id: int | None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SensorData:
    """Values of a sensor at a fixed resolution; None for a missing value."""

    start: datetime
    resolution: timedelta
    unit: str
    values: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule for one power sensor (consumption positive)."""

    sensor_id: int
    job_id: str
    start: datetime
    resolution: timedelta
    unit: str
    values: tuple[float, ...]
    scheduler_info: dict[str, Any] = field(default_factory=dict)

    @property
    def end(self) -> datetime:
        """The end of the last step."""
        return self.start + self.resolution * len(self.values)

    def value_at(self, when: datetime) -> float | None:
        """The value of the step covering `when`, or None outside the schedule."""
        if not self.values or when < self.start or when >= self.end:
            return None
        return self.values[int((when - self.start) / self.resolution)]


@dataclass(frozen=True, slots=True)
class JobStatus:
    """What `GET /api/v3_0/jobs/<uuid>` says about a scheduling job."""

    job_id: str
    status: str
    enqueued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    message: str | None = None
