"""Delivery: each mapping retries on its own; forecasts keep their own times."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.api import (
    FlexMeasuresConnectionError,
    FlexMeasuresRateLimitError,
    FlexMeasuresServerError,
)
from custom_components.flexmeasures.forwarder import MeasurementMapping

from .forwarder_common import (
    T0,
    FakeClient,
    Q,
    at,
    make_entry,
    make_sensor,
    start_forwarder,
)

KW = {"unit_of_measurement": "kW"}
H = timedelta(hours=1)


@pytest.fixture
def entry(hass: HomeAssistant) -> MockConfigEntry:
    return make_entry(hass)


async def test_a_failing_mapping_never_delays_another(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry
) -> None:
    client = FakeClient()
    refusing = True
    client.fail = lambda sensor_id: (
        FlexMeasuresServerError("busy", status=503)
        if sensor_id == 8 and refusing
        else None
    )
    freezer.move_to(T0)
    for entity in ("sensor.a", "sensor.b", "sensor.c"):
        hass.states.async_set(entity, "1", KW)
    mappings = [
        MeasurementMapping("a", "sensor.a", make_sensor(8)),  # refused for a while
        MeasurementMapping("b", "sensor.b", make_sensor(9)),
        MeasurementMapping("c", "sensor.c", make_sensor(10)),
    ]
    forwarder = await start_forwarder(hass, entry, client, mappings)
    for step in range(1, 9):  # two hours of steps
        await at(hass, freezer, T0 + step * Q)
        for sensor_id in (9, 10):  # every step arrives at its end
            assert [start for start, _ in client.sent(sensor_id)] == [
                T0 + index * Q for index in range(step)
            ]
    diagnostics = forwarder.as_diagnostics()["mappings"]
    assert diagnostics["a"]["outbox_length"] == 8
    assert diagnostics["b"]["outbox_length"] == 0
    tries = len([call for call in client.calls if call["sensor_id"] == 8])
    assert 3 <= tries <= 8  # backing off, not hammering
    refusing = False
    await at(hass, freezer, T0 + 8 * Q + timedelta(minutes=10))
    assert [start for start, _ in client.sent(8)][-8:] == [
        T0 + index * Q for index in range(8)
    ]
    assert forwarder.as_diagnostics()["mappings"]["a"]["outbox_length"] == 0
    await forwarder.async_stop()


async def test_each_mapping_has_its_own_backoff(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry
) -> None:
    client = FakeClient()
    down = {8}
    client.fail = lambda sensor_id: (
        FlexMeasuresConnectionError("refused") if sensor_id in down else None
    )
    freezer.move_to(T0)
    hass.states.async_set("sensor.a", "1", KW)
    hass.states.async_set("sensor.b", "2", KW)
    mappings = [
        MeasurementMapping("a", "sensor.a", make_sensor(8)),
        MeasurementMapping("b", "sensor.b", make_sensor(9)),
    ]
    forwarder = await start_forwarder(hass, entry, client, mappings)
    await at(hass, freezer, T0 + Q)  # a fails (retry in 10 s), b goes through
    down.add(9)
    await at(hass, freezer, T0 + 2 * Q)  # b fails now: its own first retry is 10 s
    diagnostics = forwarder.as_diagnostics()["mappings"]
    assert diagnostics["a"]["retry_in_seconds"] > 10  # a backed off further
    assert diagnostics["b"]["retry_in_seconds"] == 10
    await forwarder.async_stop()


async def test_forecast_arriving_while_the_last_one_is_sent_keeps_its_times(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry
) -> None:
    release = asyncio.Event()

    class SlowClient(FakeClient):
        async def post_sensor_data(self, sensor_id: int, **kwargs: Any) -> str:
            if not self.calls:
                await release.wait()
            return await super().post_sensor_data(sensor_id, **kwargs)

    def forecast(first_hour: int) -> dict[str, Any]:
        return {
            "unit_of_measurement": "EUR/MWh",
            "forecast": [
                {"start": (T0 + h * H).isoformat(), "value": 10.0 * h}
                for h in range(first_hour, first_hour + 4)
            ],
        }

    client = SlowClient()
    freezer.move_to(T0)
    sensor = make_sensor(3, unit="EUR/MWh", resolution=H)
    mapping = MeasurementMapping("p", "sensor.price", sensor, "forecast")
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    hass.states.async_set("sensor.price", "1", forecast(0))  # known at T0
    await hass.async_block_till_done()
    freezer.move_to(T0 + timedelta(minutes=1))
    hass.states.async_set("sensor.price", "1", forecast(2))  # known at T0 + 1 min
    await hass.async_block_till_done()
    release.set()
    await hass.async_block_till_done(wait_background_tasks=True)
    posted = [(c["start"], c["values"], c["prior"]) for c in client.calls]
    assert posted == [
        (T0, [0.0, 10.0, 20.0, 30.0], T0),
        (T0 + 2 * H, [20.0, 30.0, 40.0, 50.0], T0 + timedelta(minutes=1)),
    ]
    await forwarder.async_stop()


async def test_forecast_prior_is_when_it_was_known_not_when_it_was_sent(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry
) -> None:
    client = FakeClient()
    client.errors = [FlexMeasuresServerError("busy", status=503)]
    freezer.move_to(T0)
    sensor = make_sensor(3, unit="EUR/MWh", resolution=H)
    mapping = MeasurementMapping("p", "sensor.price", sensor, "forecast")
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    hass.states.async_set(
        "sensor.price",
        "1",
        {"forecast": [{"start": (T0 + H).isoformat(), "value": 5.0}]},
    )
    await hass.async_block_till_done()
    await at(hass, freezer, T0 + timedelta(seconds=11))  # the retry
    priors: list[datetime | None] = [call["prior"] for call in client.calls]
    assert priors == [T0, T0]
    await forwarder.async_stop()


@pytest.mark.parametrize(
    ("retry_after", "first_retry"),
    [
        pytest.param(120.0, 120, id="told-120-s"),
        pytest.param(None, 10, id="not-told"),  # the mapping's own backoff
        pytest.param(1e9, 3600, id="told-years-capped-at-an-hour"),
    ],
)
async def test_a_429_holds_every_mapping_of_the_account_as_long_as_told(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    retry_after: float | None,
    first_retry: int,
) -> None:
    client = FakeClient()
    freezer.move_to(T0)
    hass.states.async_set("sensor.a", "1", KW)
    hass.states.async_set("sensor.b", "2", KW)
    mappings = [
        MeasurementMapping("a", "sensor.a", make_sensor(8)),
        MeasurementMapping("b", "sensor.b", make_sensor(9)),
    ]
    forwarder = await start_forwarder(hass, entry, client, mappings)
    client.errors = [
        FlexMeasuresRateLimitError("slow down", status=429, retry_after=retry_after)
    ]
    await at(hass, freezer, T0 + Q)  # a is told to wait; b goes after a
    sent = {call["sensor_id"] for call in client.calls}
    assert len(client.calls) == (1 if retry_after else 2)
    assert forwarder.as_diagnostics()["mappings"]["a"]["retry_in_seconds"] == (
        first_retry
    )
    await at(hass, freezer, T0 + Q + timedelta(seconds=first_retry - 1))
    assert {call["sensor_id"] for call in client.calls} == sent  # nothing yet
    await at(hass, freezer, T0 + Q + timedelta(seconds=first_retry + 1))
    await forwarder.async_stop()
    assert client.sent(8)[:2] == [(T0, 1.0), (T0, 1.0)]  # tried again, then
    assert client.sent(9)[0] == (T0, 2.0)
