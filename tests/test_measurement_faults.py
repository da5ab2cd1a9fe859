"""Review of issue 12: measurements you can trust (xfail until fixed).

Each test shows one way the forwarder sends a wrong value, loses one, sends
one twice, invents one, or stalls; it is marked xfail(strict=True) with the
defect, so it turns the suite red once the defect is fixed (drop the mark).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import math
import time
from typing import Any, cast
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.api import (
    FlexMeasuresClient,
    FlexMeasuresConnectionError,
)
from custom_components.flexmeasures.delivery import utc
from custom_components.flexmeasures.forwarder import MeasurementMapping

from .conftest import JSON_HEADERS, FlexMeasuresHTTPMock
from .const import FM_URL, TOY_EMAIL, TOY_PASSWORD
from .forwarder_common import (
    ENTITY,
    STORE_KEY,
    T0,
    FakeClient,
    Q,
    at,
    make_entry,
    make_sensor,
    start_forwarder,
)

METER = "sensor.grid_import"
TOTAL_INCREASING = {"unit_of_measurement": "kWh", "state_class": "total_increasing"}
KW = {"unit_of_measurement": "kW"}


@pytest.fixture
def entry(hass: HomeAssistant) -> MockConfigEntry:
    return make_entry(hass)


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


async def test_a_backward_clock_jump_does_not_lump_an_hour_into_one_meter_step(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    monotonic = [1000.0]
    with patch(
        "custom_components.flexmeasures.gaps.monotonic",
        side_effect=lambda: monotonic[0],
    ):
        freezer.move_to(T0)
        hass.states.async_set(METER, "100.0", TOTAL_INCREASING)
        mapping = MeasurementMapping("sub1", METER, make_sensor(unit="kWh"))
        forwarder = await start_forwarder(hass, entry, client, [mapping])
        monotonic[0] += Q.total_seconds()
        await at(hass, freezer, T0 + Q)
        # 1 kWh per real quarter of an hour throughout
        reading = 100.0
        wall = T0 + Q
        for _ in range(2):  # two more real quarters
            reading += 1.0
            wall += Q
            monotonic[0] += Q.total_seconds()
            await at(hass, freezer, wall - timedelta(seconds=1))
            hass.states.async_set(METER, f"{reading}", TOTAL_INCREASING)
            await at(hass, freezer, wall)
        sent_before = len(client.sent())
        # NTP sets the clock back an hour (it ran ahead); time goes on
        wall -= timedelta(hours=1)
        freezer.move_to(wall)
        for _ in range(6):  # six real quarters: 6 kWh
            reading += 1.0
            wall += Q
            monotonic[0] += Q.total_seconds()
            await at(hass, freezer, wall - timedelta(seconds=1))
            hass.states.async_set(METER, f"{reading}", TOTAL_INCREASING)
            await at(hass, freezer, wall)
        await forwarder.async_stop()
    after = client.sent()[sent_before:]
    assert after, "steps after the jump were sent"
    # no quarter of an hour consumed more than 1 kWh
    assert all(value <= 1.0 + 1e-9 for _, value in after)


async def test_a_clock_behind_the_last_step_at_start_does_not_overwrite_sent_steps(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
    hass_storage: dict[str, Any],
) -> None:
    # Steps up to T0 + 1 h were sent before the stop; the Raspberry Pi boots
    # with the time its fake-hwclock saved, an hour behind (NTP is not up yet).
    sent_until = T0 + timedelta(hours=1)
    hass_storage[STORE_KEY] = {
        "version": 1,
        "minor_version": 2,
        "key": STORE_KEY,
        "data": {
            "tracks": {
                "sub1": {
                    "sensor_id": 8,
                    "unit": "kW",
                    "resolution": Q.total_seconds(),
                    "timezone": "Europe/Amsterdam",
                    "per_step": False,
                    "outbox": [],
                    "last_end": sent_until.timestamp(),
                    "delivered_end": sent_until.timestamp(),
                }
            },
            "gaps": [],
        },
    }
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "5", KW)
    forwarder = await start_forwarder(hass, entry, client)
    await at(hass, freezer, T0 + 2 * Q)
    await forwarder.async_stop()
    # the steps before T0 + 1 h were delivered with their true values
    assert [when for when, _ in client.sent() if when < sent_until] == []


H = timedelta(hours=1)


def _forecast(first_hour: int, value: float) -> dict[str, Any]:
    return {
        "unit_of_measurement": "EUR/MWh",
        "forecast": [
            {"start": (T0 + h * H).isoformat(), "value": value + h}
            for h in range(first_hour, first_hour + 4)
        ],
    }


async def test_a_forecast_waiting_at_a_restart_is_sent_or_counted_not_lost(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
) -> None:
    client = FakeClient()
    client.fail = lambda _sensor_id: FlexMeasuresConnectionError("down")
    freezer.move_to(T0)
    sensor = make_sensor(3, unit="EUR/MWh", resolution=H)
    mapping = MeasurementMapping("p", "sensor.price", sensor, "forecast")
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    hass.states.async_set("sensor.price", "1", _forecast(0, 10.0))  # known at T0
    await hass.async_block_till_done()
    freezer.move_to(T0 + timedelta(minutes=1))
    hass.states.async_set("sensor.price", "1", _forecast(0, 20.0))  # revised
    await hass.async_block_till_done()
    waiting = forwarder.status("p")
    assert waiting is not None
    assert waiting.pending == 8
    await forwarder.async_stop()  # the server is still down: both wait

    client = FakeClient()
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    priors = {call["prior"] for call in client.calls}
    status = forwarder.status("p")
    await forwarder.async_stop()
    assert status is not None
    # the forecast known at T0 went up, or at least counts as dropped
    assert T0 in priors or status.dropped == 4


async def test_a_forecast_open_to_a_far_end_is_bounded_not_expanded_in_the_loop(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    # a fixed tariff "valid until further notice": 3 years here; 9999 hangs
    freezer.move_to(T0)
    sensor = make_sensor(3, unit="EUR/MWh")
    mapping = MeasurementMapping("p", "sensor.tariff", sensor, "forecast")
    client.fail = lambda _sensor_id: FlexMeasuresConnectionError("down")
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    far = T0.replace(year=T0.year + 3)
    hass.states.async_set(
        "sensor.tariff",
        "250",
        {
            "unit_of_measurement": "EUR/MWh",
            "forecast": [
                {"start": T0.isoformat(), "end": far.isoformat(), "value": 250}
            ],
        },
    )
    await hass.async_block_till_done()
    status = forwarder.status("p")
    await forwarder.async_stop()
    assert status is not None
    # 105 000 quarter hours were built in the event loop and wait to be sent;
    # the outbox is meant to hold 7 days of steps
    assert status.pending <= 7 * 96 + 1


async def test_a_huge_but_finite_state_is_never_sent_as_infinity(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1", KW)
    forwarder = await start_forwarder(hass, entry, client)
    await at(hass, freezer, T0 + timedelta(minutes=5))
    hass.states.async_set(ENTITY, "1e307", KW)  # a garbled Modbus register
    await at(hass, freezer, T0 + timedelta(minutes=6))
    hass.states.async_set(ENTITY, "1", KW)
    await at(hass, freezer, T0 + Q)
    await forwarder.async_stop()
    # orjson writes inf as null: the step is lost or refused, not measured
    assert all(math.isfinite(value) for _, value in client.sent())


async def test_a_429_is_retried_after_the_servers_retry_after_not_before(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    fm_http: FlexMeasuresHTTPMock,
) -> None:
    data_url = f"{FM_URL}/api/v3_0/sensors/8/data"
    fm_http.mocker.post(
        data_url,
        status=429,
        headers={**JSON_HEADERS, "Retry-After": "300"},
        json={"message": "Too many requests, retry in 5 minutes", "status": 429},
    )
    client = FlexMeasuresClient(
        async_get_clientsession(hass), FM_URL, TOY_EMAIL, TOY_PASSWORD
    )
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1", KW)
    forwarder = await start_forwarder(hass, entry, cast("FakeClient", client))
    await at(hass, freezer, T0 + Q)

    def posts() -> int:
        return sum(1 for call in fm_http.mocker.mock_calls if str(call[1]) == data_url)

    assert posts() == 1
    for seconds in (11, 31, 71, 151, 290):  # the backoff of 10 s doubling
        await at(hass, freezer, T0 + Q + timedelta(seconds=seconds))
    tries = posts()
    await forwarder.async_stop()
    # the server said: not before 5 minutes
    assert tries == 1


@pytest.mark.parametrize(
    "middle",
    [
        pytest.param({}, id="last_reset missing on one state"),
        pytest.param(
            {"last_reset": "2026-01-05T01:00:00+01:00"},
            id="the same last_reset in another offset",
        ),
    ],
)
async def test_a_total_meter_keeps_its_cycle_while_last_reset_means_the_same(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
    middle: dict[str, str],
) -> None:
    meter = {"unit_of_measurement": "kWh", "state_class": "total"}
    cycle = {**meter, "last_reset": "2026-01-05T00:00:00+00:00"}
    freezer.move_to(T0)
    hass.states.async_set(METER, "500.0", cycle)
    mapping = MeasurementMapping("sub1", METER, make_sensor(unit="kWh"))
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    # e.g. the integration reloads: one state before it knows its last_reset
    await at(hass, freezer, T0 + timedelta(minutes=5))
    hass.states.async_set(METER, "500.5", {**meter, **middle})
    await at(hass, freezer, T0 + timedelta(minutes=10))
    hass.states.async_set(METER, "501.0", cycle)  # the same cycle as before
    await at(hass, freezer, T0 + Q)
    await forwarder.async_stop()
    # Home Assistant's statistics compare last_reset as UTC instants and
    # ignore a missing one: no new cycle, 1 kWh in the step
    assert client.sent() == [(T0, pytest.approx(1.0))]


async def test_a_one_telegram_glitch_of_a_meter_does_not_send_its_size(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(METER, "12345.0", TOTAL_INCREASING)
    mapping = MeasurementMapping("sub1", METER, make_sensor(unit="kWh"))
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    await at(hass, freezer, T0 + timedelta(minutes=5))
    hass.states.async_set(METER, "1234567.0", TOTAL_INCREASING)  # a garbled digit
    await at(hass, freezer, T0 + timedelta(minutes=5, seconds=10))
    hass.states.async_set(METER, "12345.5", TOTAL_INCREASING)  # the next telegram
    await at(hass, freezer, T0 + Q)
    await forwarder.async_stop()
    # 0.5 kWh went through the meter; sent: the spike, then the whole meter
    # reading again as a "reset" (12 345.5 kWh)
    assert client.sent() == [(T0, pytest.approx(0.5))]


async def test_a_renamed_entity_is_still_forwarded(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    registry = er.async_get(hass)
    registry.async_get_or_create(
        "sensor", "p1", "grid-power", suggested_object_id="house_power"
    )
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1", KW)
    forwarder = await start_forwarder(hass, entry, client)
    await at(hass, freezer, T0 + Q)
    assert client.sent() == [(T0, 1.0)]
    # the user renames it in Home Assistant's entity settings
    registry.async_update_entity(ENTITY, new_entity_id="sensor.grid_power")
    hass.states.async_remove(ENTITY)
    hass.states.async_set("sensor.grid_power", "2", KW)
    await at(hass, freezer, T0 + 3 * Q)
    await forwarder.async_stop()
    # the step open at the rename goes on with the renamed entity
    assert client.sent()[1:] == [(T0 + Q, 2.0), (T0 + 2 * Q, 2.0)]


async def test_rebuilding_days_of_a_chatty_entity_does_not_block_the_event_loop(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    client: FakeClient,
    hass_storage: dict[str, Any],
) -> None:
    # The sensor was unreachable for 2 days while Home Assistant ran (the
    # mapping was skipped): the recorder holds 2 days of a 1 Hz power entity.
    now = time.time()
    begin = now - now % 900 - 2 * 86400
    hass_storage[STORE_KEY] = {
        "version": 1,
        "minor_version": 2,
        "key": STORE_KEY,
        "data": {
            "tracks": {
                "sub1": {
                    "sensor_id": 8,
                    "unit": "kW",
                    "resolution": 900.0,
                    "timezone": "Europe/Amsterdam",
                    "per_step": False,
                    "outbox": [],
                    "last_end": begin,
                }
            },
            "gaps": [],
        },
    }
    attributes = {"unit_of_measurement": "W"}
    past = [
        State(ENTITY, str(index % 3000), attributes, last_updated=utc(begin + index))
        for index in range(2 * 86400)
    ]
    longest = 0.0
    running = True

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0)
            tick = time.perf_counter()
            longest = max(longest, tick - last)
            last = tick

    async def history(*_args: Any) -> tuple[dict[str, Any], list[Any]]:
        return {"sub1": (begin, past)}, []

    ticking = asyncio.get_running_loop().create_task(ticker())
    await asyncio.sleep(0)  # ticking
    with patch(
        "custom_components.flexmeasures.forwarder.async_history", side_effect=history
    ):
        forwarder = await start_forwarder(hass, entry, client)
    running = False
    await ticking
    await forwarder.async_stop()
    assert len(client.sent()) == 2 * 96
    # 172 800 states replayed in one go in the event loop (about 5 times
    # longer on a Raspberry Pi; a week of several entities: tens of seconds)
    assert longest < 0.1, f"the event loop was blocked for {longest:.2f} s"


async def test_an_outbox_saved_with_a_huge_value_still_starts_after_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    client = FakeClient()
    client.fail = lambda _sensor_id: FlexMeasuresConnectionError("down")
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1", KW)
    forwarder = await start_forwarder(hass, entry, client)
    hass.states.async_set(ENTITY, "1e307", KW)  # a garbled Modbus register
    await at(hass, freezer, T0 + timedelta(minutes=1))
    hass.states.async_set(ENTITY, "1", KW)
    await at(hass, freezer, T0 + Q + timedelta(minutes=1))
    hass.states.async_set(ENTITY, "2", KW)
    await at(hass, freezer, T0 + 2 * Q)
    await forwarder.async_stop()  # the step's inf is saved as JSON null
    # after a restart the entry's setup (schedules too) fails with a TypeError
    # on every start, until the storage file is edited by hand
    forwarder = await start_forwarder(hass, entry, FakeClient())
    sent = forwarder.status("sub1")
    await forwarder.async_stop()
    assert sent is not None
