"""Schedule device sensors consumption_price and planned_cost (fake server)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
import pytest

from custom_components.flexmeasures.diagnostics import schedule_diagnostics

from .common import setup_integration
from .fake_flexmeasures import COMMITMENT_COSTS, FakeFlexMeasures
from .schedule_setup import (
    NOW,
    STEP_START,
    coordinator_of,
    entity_id,
    fake_value,
    fire_at,
    make_entry,
    set_soc,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

HOUR = timedelta(hours=1)
HOUR_START = STEP_START.replace(minute=0)  # 05:00 UTC
PRICE_DATA = "/api/v3_0/sensors/7/data"
# 15 minutes after setup (the update interval), and a bit
NEXT_UPDATE = NOW + timedelta(minutes=15, seconds=30)


def hourly(first: float = 0.1) -> list[float | None]:
    """Different prices for 30 hours from 04:00 UTC."""
    return [round(first + 0.01 * hour, 4) for hour in range(30)]


def seed(
    fake_fm: FakeFlexMeasures,
    values: Sequence[float | None],
    *,
    sensor_id: int = 7,
    start: datetime = HOUR_START - HOUR,
    step: timedelta = HOUR,
) -> None:
    """Store price data at the fake server (None: no value)."""
    fake_fm.data[sensor_id] = {
        start + step * index: value
        for index, value in enumerate(values)
        if value is not None
    }


def state_of(hass: HomeAssistant, key: str) -> State:
    """The state of the schedule device's sensor with this key."""
    state = hass.states.get(entity_id(hass, "sensor", key))
    assert state is not None
    return state


async def next_update(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the periodic update run (15 minutes on)."""
    await fire_at(hass, freezer, NEXT_UPDATE)
    await hass.async_block_till_done(wait_background_tasks=True)


def data_requests(fake_fm: FakeFlexMeasures, since: int = 0) -> list[str]:
    """The price data requests among the requests since index `since`."""
    return [p for p in fake_fm.paths()[since:] if p.endswith("/data")]


async def test_price_now_and_forecast_from_the_configured_sensor(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The configured sensor (EUR/kWh, hourly): the price of 05:00-06:00 now."""
    prices = hourly()
    seed(fake_fm, prices)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))

    state = state_of(hass, "consumption_price")
    assert float(state.state) == prices[1]
    assert state.attributes["unit_of_measurement"] == "EUR/kWh"
    assert state.attributes["state_class"] == "measurement"
    assert "device_class" not in state.attributes
    forecast = state.attributes["forecast"]
    # the schedule's horizon (05:30 + 24 h), the prices changing on their hours
    # (read on the schedule's steps: the server resamples the hourly price)
    assert len(forecast) == 25
    assert forecast[0] == {
        "start": STEP_START.isoformat(),
        "end": (HOUR_START + HOUR).isoformat(),
        "value": prices[1],
    }
    assert forecast[1]["start"] == (HOUR_START + HOUR).isoformat()
    assert forecast[-1]["end"] == (STEP_START + 24 * HOUR).isoformat()
    assert [item["value"] for item in forecast] == prices[1:26]
    # read in the sensor's own unit, after the schedule
    paths = fake_fm.paths()
    assert paths.index(PRICE_DATA) > paths.index("/api/v3_0/assets/6/schedules/trigger")


async def test_the_forecast_is_kept_out_of_the_recorder(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    seed(fake_fm, hourly())
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    state = state_of(hass, "consumption_price")
    entity = hass.data["entity_components"]["sensor"].get_entity(state.entity_id)
    assert "forecast" in entity._unrecorded_attributes


async def test_a_price_in_eur_per_mwh_and_the_cost_in_eur(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.add_sensor(11, "day-ahead MWh", 5, "EUR/MWh", "PT15M")
    quarter = timedelta(minutes=15)
    seed(fake_fm, [40.0 + i for i in range(120)], sensor_id=11, step=quarter)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, consumption_price_sensor="11"))

    price = state_of(hass, "consumption_price")
    # 05:30 is the 7th quarter from 04:00
    assert float(price.state) == 46.0
    assert price.attributes["unit_of_measurement"] == "EUR/MWh"
    # equal neighbours never, so one segment per quarter over 24 h
    assert len(price.attributes["forecast"]) == 96
    cost = state_of(hass, "planned_cost")
    assert cost.attributes["unit_of_measurement"] == "EUR"
    assert ("GET", "/api/v3_0/sensors/11/data") in fake_fm.requests


async def test_a_gap_in_the_price_data(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """No value now: unknown (not unavailable); the next hour's price at 06:00."""
    prices = hourly()
    prices[1] = None  # 05:00-06:00
    prices[3] = None  # 07:00-08:00
    seed(fake_fm, prices)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))

    state = state_of(hass, "consumption_price")
    assert state.state == STATE_UNKNOWN
    starts = [item["start"] for item in state.attributes["forecast"]]
    assert (HOUR_START + HOUR).isoformat() in starts
    assert HOUR_START.isoformat() not in starts
    assert (HOUR_START + 2 * HOUR).isoformat() not in starts
    assert len(starts) == 23

    requests = len(fake_fm.requests)
    await fire_at(hass, freezer, HOUR_START + HOUR)
    assert float(state_of(hass, "consumption_price").state) == prices[2]
    await fire_at(hass, freezer, HOUR_START + 2 * HOUR)
    assert state_of(hass, "consumption_price").state == STATE_UNKNOWN
    # the periodic updates meanwhile read the prices again; nothing else did
    assert set(fake_fm.paths()[requests:]) <= {
        PRICE_DATA,
        "/api/v3_0/assets/6/schedules/trigger",
        *(f"/api/v3_0/sensors/8/schedules/{job}" for job in fake_fm.jobs),
    }


async def test_the_price_follows_its_own_steps_between_schedule_steps(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A 5-minute price changes at 05:40, inside the 05:30-05:45 schedule step."""
    fake_fm.add_sensor(11, "5-minute prices", 5, "EUR/MWh", "PT5M")
    five = timedelta(minutes=5)
    seed(fake_fm, [float(i) for i in range(400)], sensor_id=11, step=five)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, consumption_price_sensor="11"))
    assert float(state_of(hass, "consumption_price").state) == 19.0  # 05:35
    requests = len(fake_fm.requests)

    await fire_at(hass, freezer, STEP_START + 2 * five)
    assert float(state_of(hass, "consumption_price").state) == 20.0
    assert float(state_of(hass, "power_setpoint").state) == fake_value(0)
    assert len(fake_fm.requests) == requests


@pytest.mark.parametrize("stored", ["", "asset"])
async def test_price_from_the_flex_context_of_an_ancestor(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, stored: str
) -> None:
    """As in the demo: the battery's flex-context is empty, the building's not."""
    prices = hourly()
    seed(fake_fm, prices)
    set_soc(hass)
    entry = make_entry(fake_fm, consumption_price_sensor=stored)
    await setup_integration(hass, entry)
    state = state_of(hass, "consumption_price")
    assert float(state.state) == prices[1]
    assert state.attributes["unit_of_measurement"] == "EUR/kWh"
    assert {"/api/v3_0/assets/6", "/api/v3_0/assets/5"} <= set(fake_fm.paths())
    # diagnostics say where the price was found
    diagnostics = schedule_diagnostics(coordinator_of(entry))["consumption_price"]
    assert diagnostics == {
        "source": {"kind": "sensor", "sensor_id": 7, "asset_id": 5, "unit": "EUR/kWh"},
        "resolved": True,
        "available": True,
        "forecast_steps": 25,
        "last_problem": None,
    }


async def test_price_from_the_flex_context_of_the_asset_itself(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.add_sensor(11, "battery prices", 6, "EUR/MWh", "PT1H")
    fake_fm.assets[6]["flex_context"] = '{"consumption-price": {"sensor": 11}}'
    seed(fake_fm, [100.0 + i for i in range(30)], sensor_id=11)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, consumption_price_sensor=""))
    state = state_of(hass, "consumption_price")
    assert float(state.state) == 101.0
    assert state.attributes["unit_of_measurement"] == "EUR/MWh"
    assert "/api/v3_0/assets/5" not in fake_fm.paths()


async def test_a_fixed_price_is_a_constant_over_the_horizon(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    fake_fm.assets[5]["flex_context"] = '{"consumption-price": "0.3 EUR/kWh"}'
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, consumption_price_sensor=""))
    state = state_of(hass, "consumption_price")
    assert float(state.state) == 0.3
    assert state.attributes["unit_of_measurement"] == "EUR/kWh"
    assert state.attributes["forecast"] == [
        {
            "start": STEP_START.isoformat(),
            "end": (STEP_START + 24 * HOUR).isoformat(),
            "value": 0.3,
        }
    ]
    assert state_of(hass, "planned_cost").attributes["unit_of_measurement"] == "EUR"
    await next_update(hass, freezer)
    assert float(state_of(hass, "consumption_price").state) == 0.3
    # a fixed price needs no data
    assert data_requests(fake_fm) == []


@pytest.mark.parametrize(
    "building_context",
    ['{"site-power-capacity": "500 kVA"}', '{"consumption-price": [{"x": 1}]}'],
    ids=["no price stored", "a price in a form not read"],
)
async def test_no_price_anywhere_is_unavailable(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, building_context: str
) -> None:
    """Nothing configured, nothing (readable) stored: unavailable, setpoint fine."""
    fake_fm.assets[5]["flex_context"] = building_context
    set_soc(hass)
    entry = make_entry(fake_fm, consumption_price_sensor="")
    await setup_integration(hass, entry)
    assert state_of(hass, "consumption_price").state == STATE_UNAVAILABLE
    # no currency to show a cost in
    assert state_of(hass, "planned_cost").state == STATE_UNAVAILABLE
    assert float(state_of(hass, "power_setpoint").state) == fake_value(0)
    assert not coordinator_of(entry).stale
    assert data_requests(fake_fm) == []


async def test_exactly_one_extra_request_per_update(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The source is found once (two assets, one sensor); then one GET per update."""
    seed(fake_fm, hourly())
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, consumption_price_sensor="asset"))
    first = fake_fm.paths()
    assert [p for p in first if p.split("/")[-2] in ("assets", "sensors")] == [
        "/api/v3_0/sensors/8",
        "/api/v3_0/assets/6",
        "/api/v3_0/assets/5",
        "/api/v3_0/sensors/7",
    ]
    assert data_requests(fake_fm) == [PRICE_DATA]

    for update in range(3):
        since = len(fake_fm.requests)
        await fire_at(hass, freezer, NEXT_UPDATE + update * timedelta(minutes=15))
        await hass.async_block_till_done(wait_background_tasks=True)
        job = next(reversed(fake_fm.jobs))
        # the update's own requests, and the price: nothing else
        assert fake_fm.paths()[since:] == [
            "/api/v3_0/assets/6/schedules/trigger",
            f"/api/v3_0/sensors/8/schedules/{job}",
            PRICE_DATA,
        ]


async def test_a_failed_price_read_does_not_fail_the_update(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The price read before stays while it covers now; the setpoint follows
    the new schedule; logged once. (It went unavailable until the next update
    before: one failed read blanked the price line for an update interval.)"""
    prices = hourly()
    seed(fake_fm, prices)
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert float(state_of(hass, "consumption_price").state) == prices[1]
    coordinator = coordinator_of(entry)
    first_job = coordinator.job_id

    caplog.set_level(logging.INFO, logger="custom_components.flexmeasures")
    fake_fm.fail_next_at(PRICE_DATA, 500, "broken_json")
    await next_update(hass, freezer)
    assert coordinator.job_id != first_job
    assert not coordinator.stale
    assert float(state_of(hass, "consumption_price").state) == prices[1]
    assert state_of(hass, "consumption_price").attributes["forecast"]
    problem = schedule_diagnostics(coordinator)["consumption_price"]["last_problem"]
    assert "FlexMeasuresServerError" in problem
    assert float(state_of(hass, "power_setpoint").state) == fake_value(0)
    assert state_of(hass, "planned_cost").state != STATE_UNAVAILABLE

    await fire_at(hass, freezer, NEXT_UPDATE + timedelta(minutes=15))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(state_of(hass, "consumption_price").state) == prices[2]  # 06:07
    failures = [
        r
        for r in caplog.records
        if r.levelno >= logging.INFO and "consumption price" in r.getMessage()
    ]
    assert len(failures) == 1, failures
    assert "Home battery" in failures[0].getMessage()

    # it comes back with the next update
    await fire_at(hass, freezer, NEXT_UPDATE + timedelta(minutes=30))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(state_of(hass, "consumption_price").state) == prices[2]
    assert "Consumption price of Home battery is back" in caplog.text


async def test_a_failure_while_finding_the_price_is_tried_again(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A 503 reading the building: no price now, found at the next update."""
    seed(fake_fm, hourly())
    fake_fm.fail_next_at("/api/v3_0/assets/5", 503)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, consumption_price_sensor=""))
    assert state_of(hass, "consumption_price").state == STATE_UNAVAILABLE
    assert float(state_of(hass, "power_setpoint").state) == fake_value(0)

    await next_update(hass, freezer)
    assert float(state_of(hass, "consumption_price").state) == hourly()[1]


async def test_a_configured_sensor_that_is_gone_is_not_asked_again(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, consumption_price_sensor="99"))
    assert state_of(hass, "consumption_price").state == STATE_UNAVAILABLE
    assert fake_fm.paths().count("/api/v3_0/sensors/99") == 1
    await next_update(hass, freezer)
    assert fake_fm.paths().count("/api/v3_0/sensors/99") == 1
    assert not [p for p in fake_fm.paths() if p.startswith("/api/v3_0/sensors/99/")]
    assert float(state_of(hass, "power_setpoint").state) == fake_value(0)


async def test_planned_cost_is_the_net_energy_commitment(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    seed(fake_fm, hourly())
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    state = state_of(hass, "planned_cost")
    assert float(state.state) == pytest.approx(-57.27938935118323)
    assert state.attributes["unit_of_measurement"] == "EUR"
    assert state.attributes["device_class"] == "monetary"
    assert "state_class" not in state.attributes
    assert state.attributes["electricity_any_consumption_breach"] == 0.0
    assert state.attributes["prefer_a_full_storage_0_sooner"] == pytest.approx(
        0.004586969591155539
    )
    assert "electricity_net_energy" not in state.attributes

    # the next schedule has another cost
    fake_fm.job_commitment_costs = {**COMMITMENT_COSTS, "electricity net energy": 3.5}
    await next_update(hass, freezer)
    assert float(state_of(hass, "planned_cost").state) == 3.5


async def test_planned_cost_unavailable_when_the_server_does_not_report_it(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    seed(fake_fm, hourly())
    fake_fm.job_commitment_costs = None
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    assert state_of(hass, "planned_cost").state == STATE_UNAVAILABLE
    assert float(state_of(hass, "consumption_price").state) == hourly()[1]
    assert float(state_of(hass, "power_setpoint").state) == fake_value(0)

    # only the other terms: still no cost of the energy
    fake_fm.job_commitment_costs = {"electricity any consumption breach": 0.0}
    await next_update(hass, freezer)
    assert state_of(hass, "planned_cost").state == STATE_UNAVAILABLE
    fake_fm.job_commitment_costs = dict(COMMITMENT_COSTS)
    await fire_at(hass, freezer, NEXT_UPDATE + timedelta(minutes=15))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(state_of(hass, "planned_cost").state) == pytest.approx(-57.2794)


async def test_price_and_cost_end_with_the_kept_schedule(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Updates fail: both follow the kept plan, then go unavailable at its end."""
    prices = hourly()
    seed(fake_fm, prices)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, duration=1))
    fake_fm.down = True
    await fire_at(hass, freezer, HOUR_START + HOUR + timedelta(minutes=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(state_of(hass, "consumption_price").state) == prices[2]
    assert state_of(hass, "planned_cost").state != STATE_UNAVAILABLE
    await fire_at(hass, freezer, STEP_START + HOUR)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "consumption_price").state == STATE_UNAVAILABLE
    assert state_of(hass, "planned_cost").state == STATE_UNAVAILABLE
