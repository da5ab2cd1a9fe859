"""The FlexMeasures API client.

INTERFACE STUB: the signatures below are the contract the rest of the
integration codes against; the bodies are being implemented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp

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

DEFAULT_TIMEOUT = 30.0


class FlexMeasuresClient:
    """Talk to one FlexMeasures server as one user."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        email: str,
        password: str,
        *,
        verify_ssl: bool = True,
        request_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Keep the session and credentials; nothing is sent yet.

        `url` is the server's base URL with scheme, optional port and path
        prefix (e.g. `https://fm.example.com/prefix`); a trailing slash is fine.
        Raises ValueError for a URL without http(s) scheme or host.
        """
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The normalised base URL (no trailing slash)."""
        raise NotImplementedError

    @property
    def user_id(self) -> int | None:
        """The id of the logged-in user, known after the first login."""
        raise NotImplementedError

    async def login(self) -> int:
        """Get a fresh token (`POST /api/requestAuthToken`); return the user id."""
        raise NotImplementedError

    async def get_server_info(self) -> ServerInfo:
        """`GET /api/` (no login needed)."""
        raise NotImplementedError

    async def get_health(self) -> bool:
        """`GET /api/v3_0/health/ready`: True when ready."""
        raise NotImplementedError

    async def get_current_user(self) -> User:
        """The logged-in user (`GET /api/v3_0/users/<user_id>`; logs in if needed)."""
        raise NotImplementedError

    async def get_account(self, account_id: int | None = None) -> Account:
        """An account (default: the logged-in user's)."""
        raise NotImplementedError

    async def get_assets(self, *, include_public: bool = False) -> list[Asset]:
        """All assets of the user's account (all pages), optionally public ones."""
        raise NotImplementedError

    async def get_asset(self, asset_id: int) -> Asset:
        """One asset."""
        raise NotImplementedError

    async def get_sensors(
        self, *, asset_id: int | None = None, include_public: bool = False
    ) -> list[Sensor]:
        """Sensors of the account (all pages), or of one asset."""
        raise NotImplementedError

    async def get_sensor(self, sensor_id: int) -> Sensor:
        """One sensor."""
        raise NotImplementedError

    async def post_sensor_data(
        self,
        sensor_id: int,
        *,
        start: datetime,
        duration: timedelta,
        values: Sequence[float | None],
        unit: str,
        prior: datetime | None = None,
    ) -> str:
        """`POST /api/v3_0/sensors/<id>/data`; return the server's status string."""
        raise NotImplementedError

    async def get_sensor_data(
        self,
        sensor_id: int,
        *,
        start: datetime,
        duration: timedelta,
        unit: str,
        resolution: timedelta | None = None,
        source: int | None = None,
    ) -> SensorData:
        """`GET /api/v3_0/sensors/<id>/data`."""
        raise NotImplementedError

    async def trigger_schedule(
        self,
        sensor_id: int,
        *,
        start: datetime,
        duration: timedelta,
        flex_model: Mapping[str, Any] | None = None,
        flex_context: Mapping[str, Any] | None = None,
        asset_id: int | None = None,
        force_new_job: bool = False,
    ) -> str:
        """Trigger a schedule; return the job uuid.

        With `asset_id` it uses `POST /assets/<asset_id>/schedules/trigger` with
        `flex-model` as a list `[{"sensor": sensor_id, **flex_model}]`; without,
        `POST /sensors/<sensor_id>/schedules/trigger`.
        """
        raise NotImplementedError

    async def get_schedule(
        self, sensor_id: int, job_id: str, *, duration: timedelta | None = None
    ) -> Schedule:
        """One request for a schedule.

        Raises FlexMeasuresSchedulePendingError (202) or
        FlexMeasuresScheduleFailedError (400 UNKNOWN_SCHEDULE).
        """
        raise NotImplementedError

    async def wait_for_schedule(
        self,
        sensor_id: int,
        job_id: str,
        *,
        duration: timedelta | None = None,
        max_wait: float = 120.0,
        first_delay: float = 0.1,
        max_delay: float = 2.0,
    ) -> Schedule:
        """Poll `get_schedule` (first_delay doubling to max_delay) until done.

        Raises FlexMeasuresSchedulePendingError when `max_wait` seconds pass.
        """
        raise NotImplementedError

    async def get_job_status(self, job_id: str) -> JobStatus:
        """`GET /api/v3_0/jobs/<uuid>`."""
        raise NotImplementedError
