"""Energy meters, fair delivery and local days against a real FlexMeasures server.

Like test_forwarder_e2e.py: Home Assistant's clock ticks on a random past day
(each test its own, distinct from that module's days) and values carry a
run-unique jitter. Our own sensors on the toy building ("ha-e2e-energy",
"ha-e2e-power", "ha-e2e-daily") are made once and reused: FlexMeasures 1.0.1
answers 500 on DELETE /sensors.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.const import CONF_EMAIL, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from yarl import URL

from custom_components.flexmeasures.api import FlexMeasuresClient
from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_MEASUREMENT

from .test_forwarder_e2e import DAY, JITTER, Q, _at, posts, unload

__all__ = ["posts", "unload"]  # fixtures used here

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.freeze_time(DAY, tick=True),
]

METER = {"unit_of_measurement": "kWh", "state_class": "total_increasing"}
KW = {"unit_of_measurement": "kW"}


async def _own_sensor(
    fm_server: dict[str, str],
    name: str,
    unit: str,
    resolution: str,
    timezone: str = "Europe/Amsterdam",
) -> int:
    """Our sensor `name` on the toy building (made once, then reused)."""
    base = fm_server["FLEXMEASURES_URL"].rstrip("/")
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/api/requestAuthToken",
            json={
                "email": fm_server["FLEXMEASURES_EMAIL"],
                "password": fm_server["FLEXMEASURES_PASSWORD"],
            },
        ) as resp:
            headers = {"Authorization": (await resp.json())["auth_token"]}
        building = fm_server["FM_TOY_BUILDING_ASSET_ID"]
        async with session.get(
            f"{base}/api/v3_0/sensors",
            params={"asset_id": building, "per_page": "200"},
            headers=headers,
        ) as resp:
            body = await resp.json()
        listed = body["data"] if isinstance(body, dict) else body
        for sensor in listed:
            if sensor["name"] == name:
                assert sensor["unit"] == unit
                return int(sensor["id"])
        async with session.post(
            f"{base}/api/v3_0/sensors",
            json={
                "name": name,
                "generic_asset_id": int(building),
                "unit": unit,
                "event_resolution": resolution,
                "timezone": timezone,
            },
            headers=headers,
        ) as resp:
            assert resp.status in (200, 201), await resp.text()
            return int((await resp.json())["id"])


def _entry(
    fm_server: dict[str, str],
    mappings: list[tuple[str, str, int]],
    url: str | None = None,
) -> MockConfigEntry:
    """An entry with one measurement subentry per (subentry id, entity, sensor)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Toy Account",
        unique_id=f"{fm_server['FLEXMEASURES_URL']}_e2e",
        data={
            CONF_URL: url or fm_server["FLEXMEASURES_URL"],
            CONF_EMAIL: fm_server["FLEXMEASURES_EMAIL"],
            CONF_PASSWORD: fm_server["FLEXMEASURES_PASSWORD"],
            CONF_VERIFY_SSL: True,
        },
        subentries_data=[
            ConfigSubentryData(
                data={"entity_id": entity_id, "sensor": str(sensor_id)},
                subentry_id=subentry_id,
                subentry_type=SUBENTRY_TYPE_MEASUREMENT,
                title=f"{entity_id} -> {sensor_id}",
                unique_id=f"{entity_id}_{sensor_id}",
            )
            for subentry_id, entity_id, sensor_id in mappings
        ],
    )


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.forwarder is not None


async def _read(
    entry: MockConfigEntry,
    sensor_id: int,
    start: datetime,
    duration: timedelta,
    unit: str,
) -> list[float | None]:
    client: FlexMeasuresClient = entry.runtime_data.client
    data = await client.get_sensor_data(
        sensor_id, start=start, duration=duration, unit=unit
    )
    return list(data.values)


async def test_an_energy_meter_arrives_as_energy_per_step_and_as_mean_power(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    fm_server: dict[str, str],
    posts: list[dict[str, Any]],
    unload: None,
) -> None:
    start = DAY - timedelta(days=3)
    energy = await _own_sensor(fm_server, "ha-e2e-energy", "kWh", "PT15M")
    power = await _own_sensor(fm_server, "ha-e2e-power", "kW", "PT15M")
    meter = "sensor.e2e_grid_import"
    reading = 1000.0 + JITTER
    freezer.move_to(start - timedelta(minutes=5))  # opens mid-step: not known
    hass.states.async_set(meter, str(reading), METER)
    entry = _entry(fm_server, [("e", meter, energy), ("p", meter, power)])
    await _setup(hass, entry)

    # step 1: 0.5 + 0.9 kWh; step 2: 0.3 kWh, then a reset and 0.2 kWh since
    used = [0.5 + JITTER, 0.9 + JITTER, 0.3 + JITTER]
    await _at(hass, freezer, start)
    for minute, increase in zip((5, 10, 20), used, strict=True):
        await _at(hass, freezer, start + timedelta(minutes=minute))
        reading += increase
        hass.states.async_set(meter, str(reading), METER)
    await _at(hass, freezer, start + timedelta(minutes=25))
    hass.states.async_set(meter, str(0.2 + JITTER), METER)  # a new meter cycle
    await _at(hass, freezer, start + 2 * Q)

    step_energy = [used[0] + used[1], used[2] + 0.2 + JITTER]
    assert await _read(entry, energy, start, 2 * Q, "kWh") == pytest.approx(
        step_energy, abs=1e-6
    )
    assert await _read(entry, power, start, 2 * Q, "kW") == pytest.approx(
        [value * 4 for value in step_energy], abs=1e-6
    )
    # nothing for the step the meter was first seen in
    assert {call["start"] for call in posts} == {start, start + Q}
    assert all(call["status"] == "PROCESSED" for call in posts)


class RefusingProxy:
    """An HTTP proxy on 127.0.0.1 that answers 503 to posts for one sensor."""

    def __init__(self, target: str, sensor_id: int) -> None:
        """Forward to `target`; refuse posts of `sensor_id` while `refusing`."""
        self._target = URL(target)
        self._path = f"/api/v3_0/sensors/{sensor_id}/data"
        self.refusing = True
        self.refused = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        """Listen on a free port."""
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.refusing and request.method == "POST" and request.path == self._path:
            self.refused += 1
            return web.json_response(
                {"message": "Service Unavailable", "status": 503}, status=503
            )
        assert self._session is not None
        headers = {
            key: value
            for key, value in request.headers.items()
            if key.lower() in ("authorization", "content-type", "accept")
        }
        async with self._session.request(
            request.method,
            self._target.with_path(request.path).with_query(request.query),
            data=await request.read(),
            headers=headers,
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            return web.Response(
                body=body,
                status=upstream.status,
                content_type=upstream.content_type,
                headers={
                    key: value
                    for key, value in upstream.headers.items()
                    if key.lower() == "flexmeasures-version"
                },
            )


@pytest.fixture
async def refusing_power_proxy(
    fm_server: dict[str, str],
) -> AsyncGenerator[tuple[RefusingProxy, int]]:
    """A proxy to the server refusing posts to our "ha-e2e-power" sensor."""
    power = await _own_sensor(fm_server, "ha-e2e-power", "kW", "PT15M")
    proxy = RefusingProxy(fm_server["FLEXMEASURES_URL"], power)
    await proxy.start()
    yield proxy, power
    await proxy.stop()


async def test_a_refused_sensor_never_delays_another_and_catches_up_later(
    hass: HomeAssistant,
    *,
    freezer: FrozenDateTimeFactory,
    fm_server: dict[str, str],
    posts: list[dict[str, Any]],
    refusing_power_proxy: tuple[RefusingProxy, int],
    unload: None,
) -> None:
    proxy, power = refusing_power_proxy
    solar = int(fm_server["FM_TOY_SOLAR_SENSOR_ID"])
    start = DAY - timedelta(days=4)
    freezer.move_to(start + timedelta(seconds=5))
    hass.states.async_set("sensor.e2e_refused", str(1.0 + JITTER), KW)
    hass.states.async_set("sensor.e2e_flowing", str(2.0 + JITTER), KW)
    entry = _entry(
        fm_server,
        [
            ("refused", "sensor.e2e_refused", power),
            ("flowing", "sensor.e2e_flowing", solar),
        ],
        url=proxy.url,
    )
    await _setup(hass, entry)

    for step in range(1, 5):  # an hour of refusals for one of them
        await _at(hass, freezer, start + step * Q)
        hass.states.async_set("sensor.e2e_refused", str(step + 1 + JITTER), KW)
        hass.states.async_set("sensor.e2e_flowing", str(step + 2 + JITTER), KW)
        flowing = [c for c in posts if c["sensor_id"] == solar]
        assert flowing[-1]["status"] == "PROCESSED"
        assert flowing[-1]["start"] + (len(flowing[-1]["values"]) - 1) * Q == (
            start + (step - 1) * Q
        )  # this step's value went up at its end
    # (states change a moment after each boundary on the ticking clock)
    assert await _read(entry, solar, start, 4 * Q, "kW") == pytest.approx(
        [2.0 + JITTER + i for i in range(4)], abs=2e-3
    )
    assert proxy.refused >= 3
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    assert forwarder.as_diagnostics()["mappings"]["refused"]["outbox_length"] == 4

    proxy.refusing = False  # the server takes them again: the backoff runs out
    await _at(hass, freezer, start + 4 * Q + timedelta(minutes=11))
    assert forwarder.as_diagnostics()["mappings"]["refused"]["outbox_length"] == 0
    assert await _read(entry, power, start, 4 * Q, "kW") == pytest.approx(
        [1.0 + JITTER + i for i in range(4)], abs=2e-3
    )


async def test_a_daily_sensor_gets_the_local_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    fm_server: dict[str, str],
    posts: list[dict[str, Any]],
    unload: None,
) -> None:
    daily = await _own_sensor(fm_server, "ha-e2e-daily", "kW", "P1D")
    amsterdam = ZoneInfo("Europe/Amsterdam")
    day = (DAY - timedelta(days=5)).astimezone(amsterdam)
    midnight = datetime(day.year, day.month, day.day, tzinfo=amsterdam)
    freezer.move_to(midnight + timedelta(seconds=5))
    hass.states.async_set("sensor.e2e_daily", str(2.0 + JITTER), KW)
    entry = _entry(fm_server, [("d", "sensor.e2e_daily", daily)])
    await _setup(hass, entry)
    await _at(hass, freezer, midnight + timedelta(hours=12))
    hass.states.async_set("sensor.e2e_daily", str(4.0 + JITTER), KW)
    tomorrow = midnight.date() + timedelta(days=1)
    next_midnight = datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=amsterdam
    )
    await _at(hass, freezer, next_midnight)
    assert [call["status"] for call in posts] == ["PROCESSED"]
    hours = (next_midnight.timestamp() - midnight.timestamp()) / 3600
    first_half = (12 * 3600 - 5) / 3600
    expected = ((2.0 + JITTER) * first_half + (4.0 + JITTER) * (hours - 12)) / (
        hours - 5 / 3600
    )
    # (setting up takes a moment of the ticking clock: a little tolerance)
    assert await _read(entry, daily, midnight, timedelta(days=1), "kW") == (
        pytest.approx([expected], abs=1e-3)
    )
    assert posts[0]["start"].utcoffset() == midnight.utcoffset()
