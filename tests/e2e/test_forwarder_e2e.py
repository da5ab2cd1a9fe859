"""The measurement forwarder against a real FlexMeasures server.

Home Assistant's clock runs (ticking) on a random day some weeks back, so a
15-minute step takes a `freezer.move_to` instead of 15 minutes, and runs of
this test do not write over each other's data. The server takes measurements
for past times.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
import random
from typing import Any

import aiohttp
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from yarl import URL

from custom_components.flexmeasures.api import FlexMeasuresClient
from custom_components.flexmeasures.const import DOMAIN
from tests.common import measurement_subentry, setup_integration
from tests.e2e.common import e2e_entry

# A random 10:00 UTC some 3 weeks to 5 years back; each test uses its own day.
_RANDOM = random.Random()
_DAYS_BACK = _RANDOM.randint(21, 5 * 365)
# The demo server keeps what earlier runs sent: a run-unique jitter (under 1 W,
# or 0.001 EUR/kWh) makes every value new, so the server never answers
# ALREADY_RECEIVED to a run that happens to land on an earlier run's day.
JITTER = _RANDOM.randint(1, 999_999) / 1e9
DAY = (datetime.now(UTC) - timedelta(days=_DAYS_BACK)).replace(
    hour=10, minute=0, second=0, microsecond=0
)
Q = timedelta(minutes=15)
SUBENTRY_ID = "01JE2EMEASUREMENTSUBENTRY0"
PRICE_SENSOR_NAME = "ha-e2e-prices"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.freeze_time(DAY, tick=True),
]


def _w(watts: float) -> str:
    """A state in W with this run's jitter."""
    return str(watts + JITTER * 1000)


def _kw(kilowatts: float) -> str:
    """A state in kW with this run's jitter."""
    return str(kilowatts + JITTER)


class TcpProxy:
    """A TCP proxy on 127.0.0.1 to the server that a test can close and reopen."""

    def __init__(self, target: URL) -> None:
        """Forward to `target`'s host and port."""
        self._host = target.host or "127.0.0.1"
        self._port = target.port or 80
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def open(self) -> None:
        """Listen (on the same port as before, if any)."""
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and cut every open connection: the server is 'down'."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def _entry(
    fm_server: dict[str, str],
    entity_id: str,
    sensor_id: str,
    *,
    url: str | None = None,
    forecast_attribute: str | None = None,
) -> MockConfigEntry:
    optional = {"forecast_attribute": forecast_attribute} if forecast_attribute else {}
    return e2e_entry(
        fm_server,
        url=url,
        subentries_data=[
            measurement_subentry(
                entity_id, sensor_id, subentry_id=SUBENTRY_ID, **optional
            )
        ],
    )


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await setup_integration(hass, entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data.forwarder is not None


async def _at(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: datetime
) -> None:
    freezer.move_to(when)
    async_fire_time_changed(hass, when)
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.fixture
async def unload(hass: HomeAssistant) -> AsyncGenerator[None]:
    """Unload every FlexMeasures entry after the test (stops the forwarder)."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
def posts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every post_sensor_data attempt: its start, values and outcome."""
    calls: list[dict[str, Any]] = []
    original: Callable[..., Awaitable[str]] = FlexMeasuresClient.post_sensor_data

    async def spy(self: FlexMeasuresClient, sensor_id: int, **kwargs: Any) -> str:
        call = {
            "sensor_id": sensor_id,
            "start": kwargs["start"],
            "values": list(kwargs["values"]),
            "prior": kwargs.get("prior"),
            "status": None,
        }
        calls.append(call)
        try:
            call["status"] = await original(self, sensor_id, **kwargs)
        except Exception as err:
            call["status"] = type(err).__name__
            raise
        return str(call["status"])

    monkeypatch.setattr(FlexMeasuresClient, "post_sensor_data", spy)
    return calls


async def _read_back(
    entry: MockConfigEntry, sensor_id: int, start: datetime, duration: timedelta
) -> list[float | None]:
    client: FlexMeasuresClient = entry.runtime_data.client
    data = await client.get_sensor_data(
        sensor_id, start=start, duration=duration, unit="kW"
    )
    return list(data.values)


async def test_three_steps_of_an_entity_arrive_as_three_values(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    fm_server: dict[str, str],
    posts: list[dict[str, Any]],
    unload: None,
) -> None:
    start = DAY
    solar = int(fm_server["FM_TOY_SOLAR_SENSOR_ID"])
    entity = "sensor.e2e_solar_power"
    freezer.move_to(start + timedelta(seconds=5))
    hass.states.async_set(entity, _w(1500), {"unit_of_measurement": "W"})
    entry = _entry(fm_server, entity, str(solar))
    await _setup(hass, entry)

    # step 1: 1.5 kW all along; step 2: 2 kW, then 4 kW for its last third
    await _at(hass, freezer, start + Q)
    hass.states.async_set(entity, _w(2000), {"unit_of_measurement": "W"})
    await _at(hass, freezer, start + Q + timedelta(minutes=10))
    hass.states.async_set(entity, _w(4000), {"unit_of_measurement": "W"})
    await _at(hass, freezer, start + 2 * Q)
    hass.states.async_set(entity, _w(3250), {"unit_of_measurement": "W"})
    await _at(hass, freezer, start + 3 * Q)

    values = await _read_back(entry, solar, start, 3 * Q)
    assert values == pytest.approx([1.5, 2.0 * 2 / 3 + 4.0 / 3, 3.25], abs=2e-3)
    assert [call["start"] for call in posts] == [start, start + Q, start + 2 * Q]
    assert all(call["status"] == "PROCESSED" for call in posts)


async def test_outage_of_two_steps_loses_nothing_and_sends_nothing_twice(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    fm_server: dict[str, str],
    posts: list[dict[str, Any]],
    unload: None,
) -> None:
    start = DAY - timedelta(days=1)
    solar = int(fm_server["FM_TOY_SOLAR_SENSOR_ID"])
    entity = "sensor.e2e_solar_outage"
    proxy = TcpProxy(URL(fm_server["FLEXMEASURES_URL"]))
    await proxy.open()
    try:
        freezer.move_to(start + timedelta(seconds=5))
        hass.states.async_set(entity, _kw(1.0), {"unit_of_measurement": "kW"})
        entry = _entry(
            fm_server, entity, str(solar), url=f"http://127.0.0.1:{proxy.port}"
        )
        await _setup(hass, entry)
        assert proxy.connections > 0  # the entry talks through the proxy

        await proxy.close()  # the server is "down" for two steps
        await _at(hass, freezer, start + Q)
        hass.states.async_set(entity, _kw(2.0), {"unit_of_measurement": "kW"})
        await _at(hass, freezer, start + 2 * Q)
        hass.states.async_set(entity, _kw(3.0), {"unit_of_measurement": "kW"})
        failed = [call for call in posts if call["status"] != "PROCESSED"]
        assert failed, "the forwarder should have tried while the server was down"
        assert all(call["status"] == "FlexMeasuresConnectionError" for call in failed)
        forwarder = entry.runtime_data.forwarder
        assert forwarder is not None
        diagnostics = forwarder.as_diagnostics()
        assert diagnostics["mappings"][SUBENTRY_ID]["outbox_length"] == 2

        await proxy.open()  # back: the third step and the retry send all of it
        await _at(hass, freezer, start + 3 * Q)
        await _at(hass, freezer, start + 3 * Q + timedelta(minutes=2))

        delivered = [call for call in posts if call["status"] == "PROCESSED"]
        sent_starts = [
            call["start"] + index * Q
            for call in delivered
            for index in range(len(call["values"]))
        ]
        assert sorted(sent_starts) == [start, start + Q, start + 2 * Q]  # once each
        assert not [c for c in posts if str(c["status"]).startswith("ALREADY")]
        assert forwarder.as_diagnostics()["mappings"][SUBENTRY_ID]["outbox_length"] == 0
        values = await _read_back(entry, solar, start, 3 * Q)
        assert values == pytest.approx([1.0, 2.0, 3.0], abs=2e-3)
    finally:
        await proxy.close()


async def test_a_renamed_entity_goes_on_to_its_sensor_and_after_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    fm_server: dict[str, str],
    posts: list[dict[str, Any]],
    unload: None,
) -> None:
    """Renamed in the entity settings: no step is lost, a restart follows it."""
    start = DAY - timedelta(days=7)
    solar = int(fm_server["FM_TOY_SOLAR_SENSOR_ID"])
    old, new = "sensor.e2e_rename_power", "sensor.e2e_renamed_power"
    er.async_get(hass).async_get_or_create(
        "sensor", "e2e", "rename-power", suggested_object_id="e2e_rename_power"
    )
    freezer.move_to(start + timedelta(seconds=5))
    hass.states.async_set(old, _w(1000), {"unit_of_measurement": "W"})
    entry = _entry(fm_server, old, str(solar))
    await _setup(hass, entry)
    await _at(hass, freezer, start + Q + timedelta(minutes=5))
    # renamed 5 minutes into the second step, and the value changes with it
    er.async_get(hass).async_update_entity(old, new_entity_id=new)
    hass.states.async_remove(old)
    hass.states.async_set(new, _w(4000), {"unit_of_measurement": "W"})
    await _at(hass, freezer, start + 2 * Q)
    assert entry.subentries[SUBENTRY_ID].data["entity_id"] == new
    # a restart: the entry starts again from the sub-entry as saved
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    hass.states.async_set(new, _w(2000), {"unit_of_measurement": "W"})
    await _at(hass, freezer, start + 3 * Q)

    values = await _read_back(entry, solar, start, 3 * Q)
    assert values == pytest.approx([1.0, (5 * 1.0 + 10 * 4.0) / 15, 2.0], abs=2e-3)
    assert all(call["status"] == "PROCESSED" for call in posts)


async def test_an_entity_renamed_while_the_account_is_disabled_goes_on_after(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    fm_server: dict[str, str],
    posts: list[dict[str, Any]],
    unload: None,
) -> None:
    """Renamed while nothing of the account runs: enabled, it sends the new id."""
    start = DAY - timedelta(days=8)
    solar = int(fm_server["FM_TOY_SOLAR_SENSOR_ID"])
    old, new = "sensor.e2e_offline_rename_power", "sensor.e2e_offline_renamed_power"
    er.async_get(hass).async_get_or_create(
        "sensor", "e2e", "offline-rename", suggested_object_id=old.split(".")[1]
    )
    freezer.move_to(start + timedelta(seconds=5))
    hass.states.async_set(old, _w(1000), {"unit_of_measurement": "W"})
    entry = _entry(fm_server, old, str(solar))
    await _setup(hass, entry)
    await _at(hass, freezer, start + Q)
    assert await hass.config_entries.async_set_disabled_by(
        entry.entry_id, ConfigEntryDisabler.USER
    )
    er.async_get(hass).async_update_entity(old, new_entity_id=new)
    hass.states.async_remove(old)
    hass.states.async_set(old, _w(9000), {"unit_of_measurement": "W"})  # another
    assert entry.subentries[SUBENTRY_ID].data["entity_id"] == new
    await _at(hass, freezer, start + Q + timedelta(minutes=5))
    hass.states.async_set(new, _w(3000), {"unit_of_measurement": "W"})
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, None)
    await hass.async_block_till_done(wait_background_tasks=True)
    await _at(hass, freezer, start + 3 * Q)

    values = await _read_back(entry, solar, start, 3 * Q)
    # the second step is the mean of its known part (from the start again),
    # of the renamed entity: not the 9 kW of the entity that took the old id
    assert values == pytest.approx([1.0, 3.0, 3.0], abs=2e-3)
    assert all(call["status"] == "PROCESSED" for call in posts)


async def _price_sensor_id(fm_server: dict[str, str]) -> int:
    """Our own hourly EUR/MWh sensor on the toy building (made once, then reused)."""
    base = fm_server["FLEXMEASURES_URL"].rstrip("/")
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/api/requestAuthToken",
            json={
                "email": fm_server["FLEXMEASURES_EMAIL"],
                "password": fm_server["FLEXMEASURES_PASSWORD"],
            },
        ) as resp:
            token = (await resp.json())["auth_token"]
        headers = {"Authorization": token}
        building = fm_server["FM_TOY_BUILDING_ASSET_ID"]
        async with session.get(
            f"{base}/api/v3_0/sensors",
            params={"asset_id": building, "per_page": "200"},
            headers=headers,
        ) as resp:
            body = await resp.json()
        listed = body["data"] if isinstance(body, dict) else body
        for sensor in listed:
            if sensor["name"] == PRICE_SENSOR_NAME:
                return int(sensor["id"])
        async with session.post(
            f"{base}/api/v3_0/sensors",
            json={
                "name": PRICE_SENSOR_NAME,
                "generic_asset_id": int(building),
                "unit": "EUR/MWh",
                "event_resolution": "PT1H",
                "timezone": "Europe/Amsterdam",
            },
            headers=headers,
        ) as resp:
            assert resp.status in (200, 201), await resp.text()
            return int((await resp.json())["id"])


async def test_nord_pool_prices_become_forecasts_that_steer_a_battery_schedule(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    fm_server: dict[str, str],
    posts: list[dict[str, Any]],
    unload: None,
) -> None:
    day = (DAY - timedelta(days=2)).replace(hour=0)
    cheap_hour = 5
    prices = [(0.01 if hour == cheap_hour else 0.30) + JITTER for hour in range(24)]
    raw_today = [
        {
            "start": (day + timedelta(hours=hour)).isoformat(),
            "end": (day + timedelta(hours=hour + 1)).isoformat(),
            "value": price,
        }
        for hour, price in enumerate(prices)
    ]
    price_sensor = await _price_sensor_id(fm_server)
    entity = "sensor.e2e_nord_pool_price"
    freezer.move_to(day + timedelta(minutes=1))
    hass.states.async_set(
        entity,
        "0.30",
        {"unit_of_measurement": "EUR/kWh", "raw_today": raw_today, "raw_tomorrow": []},
    )
    entry = _entry(fm_server, entity, str(price_sensor), forecast_attribute="raw_today")
    await _setup(hass, entry)

    forecast_posts = [call for call in posts if call["prior"] is not None]
    assert forecast_posts, "the forecast should have been sent at start-up"
    assert all(call["status"] == "PROCESSED" for call in forecast_posts)
    client: FlexMeasuresClient = entry.runtime_data.client
    data = await client.get_sensor_data(
        price_sensor, start=day, duration=timedelta(hours=24), unit="EUR/MWh"
    )
    assert list(data.values) == pytest.approx([p * 1000 for p in prices])

    battery = int(fm_server["FM_TOY_BATTERY_SENSOR_ID"])
    job = await client.trigger_schedule(
        battery,
        start=day,
        duration=timedelta(hours=24),
        flex_model={
            "soc-at-start": "50 kWh",
            "soc-min": "50 kWh",
            "soc-max": "450 kWh",
            "roundtrip-efficiency": "90%",
        },
        flex_context={
            "consumption-price": {"sensor": price_sensor},
            "production-price": {"sensor": price_sensor},
        },
        force_new_job=True,
    )
    schedule = await client.wait_for_schedule(
        battery,
        job,
        resolution=(await client.get_sensor(battery)).event_resolution,
        duration=timedelta(hours=24),
        max_wait=120,
    )
    per_hour = int(timedelta(hours=1) / schedule.resolution)
    offset = int((day - schedule.start) / schedule.resolution)
    hourly = [
        sum(schedule.values[offset + h * per_hour : offset + (h + 1) * per_hour])
        / per_hour
        for h in range(24)
    ]
    # it charges in the one cheap hour, and more than in any other hour
    assert hourly[cheap_hour] > 0
    assert hourly[cheap_hour] == max(hourly)
    assert all(value <= 1e-6 for hour, value in enumerate(hourly[:cheap_hour]))
