"""What the forwarder tests share: a recording client, sensors, start and clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flexmeasures.api import FlexMeasuresClient, Sensor
from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.forwarder import (
    MeasurementForwarder,
    MeasurementMapping,
)

from .common import mock_account_entry

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a PT15M boundary
Q = timedelta(minutes=15)
ENTITY = "sensor.house_power"
ENTRY_ID = "01JFORWARDERTESTENTRY0000"
STORE_KEY = f"{DOMAIN}.outbox.{ENTRY_ID}"


def make_sensor(
    sensor_id: int = 8,
    unit: str = "kW",
    resolution: timedelta = Q,
    timezone: str = "Europe/Amsterdam",
) -> Sensor:
    """A FlexMeasures sensor as the API client returns it."""
    return Sensor(
        id=sensor_id,
        name="power",
        unit=unit,
        event_resolution=resolution,
        timezone=timezone,
        asset_id=6,
    )


class FakeClient:
    """Records posts; raises the queued errors first (or what `fail` says)."""

    def __init__(self) -> None:
        """No calls yet."""
        self.calls: list[dict[str, Any]] = []
        self.errors: list[Exception] = []
        # sensor id -> an error to raise for every post to it
        self.fail: Callable[[int], Exception | None] = lambda _sensor_id: None

    async def post_sensor_data(
        self,
        sensor_id: int,
        *,
        start: datetime,
        duration: timedelta,
        values: list[float | None],
        unit: str,
        prior: datetime | None = None,
    ) -> str:
        """Record the post; fail as told."""
        self.calls.append(
            {
                "sensor_id": sensor_id,
                "start": start,
                "duration": duration,
                "values": list(values),
                "unit": unit,
                "prior": prior,
            }
        )
        if self.errors:
            raise self.errors.pop(0)
        if (error := self.fail(sensor_id)) is not None:
            raise error
        return "PROCESSED"

    def sent(self, sensor_id: int | None = None) -> list[tuple[datetime, float]]:
        """Every (step start, value) posted (to `sensor_id`), in order of posting."""
        return [
            (call["start"] + index * (call["duration"] / len(call["values"])), value)
            for call in self.calls
            if sensor_id is None or call["sensor_id"] == sensor_id
            for index, value in enumerate(call["values"])
        ]


def make_entry(hass: HomeAssistant) -> MockConfigEntry:
    """The config entry the forwarder belongs to."""
    config_entry = mock_account_entry(entry_id=ENTRY_ID)
    config_entry.add_to_hass(hass)
    return config_entry


async def start_forwarder(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    client: FakeClient,
    mappings: list[MeasurementMapping] | None = None,
) -> MeasurementForwarder:
    """A started forwarder (catch-up done)."""
    forwarder = MeasurementForwarder(
        hass,
        entry,
        cast("FlexMeasuresClient", client),
        mappings or [MeasurementMapping("sub1", ENTITY, make_sensor())],
    )
    await forwarder.async_start()
    await hass.async_block_till_done(wait_background_tasks=True)
    return forwarder


async def at(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: datetime
) -> None:
    """Move the clock to `when` and run the timers due."""
    freezer.move_to(when)
    async_fire_time_changed(hass, when)
    await hass.async_block_till_done(wait_background_tasks=True)
