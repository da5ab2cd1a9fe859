"""Adversarial review of issue 16 against the real FlexMeasures server.

A daily price sensor in Europe/Amsterdam has its steps at local midnights
(23:00 UTC in winter). The consumption price is read from a window aligned to
the UTC epoch, which starts between two of its steps: the real server answers
only nulls there. Our sensor on the toy building ("ha-e2e-review16-daily-price")
is made once and reused (FlexMeasures 1.0.1 answers 500 on DELETE /sensors);
the values carry a run-unique jitter.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
import random
from types import MappingProxyType
from zoneinfo import ZoneInfo

import aiohttp
from homeassistant.config_entries import ConfigSubentry
import pytest

from custom_components.flexmeasures.api import FlexMeasuresClient, Schedule
from custom_components.flexmeasures.const import SUBENTRY_TYPE_SCHEDULE
from custom_components.flexmeasures.price_reader import PriceReader

from .test_measurements_e2e import _own_sensor

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
BATTERY = ConfigSubentry(
    data=MappingProxyType({}),
    subentry_id="review",
    subentry_type=SUBENTRY_TYPE_SCHEDULE,
    title="review battery",
    unique_id=None,
)


@pytest.fixture
async def client(fm_server: dict[str, str]) -> AsyncGenerator[FlexMeasuresClient]:
    """The toy account's client on the real server."""
    async with aiohttp.ClientSession() as session:
        yield FlexMeasuresClient(
            session,
            fm_server["FLEXMEASURES_URL"],
            fm_server["FLEXMEASURES_EMAIL"],
            fm_server["FLEXMEASURES_PASSWORD"],
        )


async def test_a_daily_price_on_local_days_is_read(
    client: FlexMeasuresClient, fm_server: dict[str, str]
) -> None:
    sensor_id = await _own_sensor(
        fm_server, "ha-e2e-review16-daily-price", "EUR/kWh", "P1D"
    )
    today = datetime.now(AMSTERDAM).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=AMSTERDAM)
    values = [round(0.2 + random.random() / 10, 6) for _ in range(3)]
    await client.post_sensor_data(
        sensor_id,
        start=midnight,
        duration=timedelta(days=3),
        values=values,
        unit="EUR/kWh",
    )
    # a schedule of the next 12 hours, from the current quarter
    now = datetime.now(UTC)
    start = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)
    schedule = Schedule(0, "review", start, timedelta(minutes=15), "kW", (0.0,) * 48)
    reader = PriceReader(lambda: client, sensor_id, BATTERY)
    await reader.async_update(schedule, None)
    print("forecast:", reader.forecast_attribute())  # noqa: T201
    print("source:", reader.diagnostics())  # noqa: T201
    assert reader.value_at(now) == pytest.approx(values[0])


async def test_an_hourly_price_on_half_hours_is_read(
    client: FlexMeasuresClient, fm_server: dict[str, str]
) -> None:
    """An hourly price in Asia/Kolkata (+05:30) has its steps on half hours (UTC)."""
    sensor_id = await _own_sensor(
        fm_server,
        "ha-e2e-review16-kolkata-hourly-price",
        "EUR/kWh",
        "PT1H",
        timezone="Asia/Kolkata",
    )
    kolkata = ZoneInfo("Asia/Kolkata")
    hour = datetime.now(kolkata).replace(minute=0, second=0, microsecond=0)
    values = [round(0.2 + random.random() / 10, 6) for _ in range(14)]
    await client.post_sensor_data(
        sensor_id,
        start=hour,
        duration=timedelta(hours=14),
        values=values,
        unit="EUR/kWh",
    )
    now = datetime.now(UTC)
    start = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)
    schedule = Schedule(0, "review", start, timedelta(minutes=15), "kW", (0.0,) * 48)
    reader = PriceReader(lambda: client, sensor_id, BATTERY)
    await reader.async_update(schedule, None)
    print("forecast:", reader.forecast_attribute())  # noqa: T201
    assert reader.value_at(now) == pytest.approx(values[0])
    # the price changes on the local hours: half past the UTC hour
    change = reader.next_change(now)
    assert change is not None
    assert change.astimezone(kolkata).minute == 0
    assert reader.value_at(change) == pytest.approx(values[1])
