"""Adversarial review of issue 16 (consumption_price, planned_cost): defects found.

Each test shows a defect on the code as it is and is marked
`xfail(strict=True)`: when the defect is fixed the test passes, the strict
xfail fails, and the mark comes off.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, State
import pytest

from custom_components.flexmeasures.const import DOMAIN

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    coordinator_of,
    entity_id,
    make_entry,
    set_soc,
)
from .test_services_schedule import device_id

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

HOUR = timedelta(hours=1)


def state_of(hass: HomeAssistant, key: str) -> State:
    """The state of the schedule device's sensor with this key."""
    state = hass.states.get(entity_id(hass, "sensor", key))
    assert state is not None
    return state


def local_steps(
    zone: str, first: datetime, step: timedelta, values: list[float]
) -> dict[datetime, float]:
    """Price data on the sensor's own steps (from `first`, a local wall-clock time)."""
    start = first.replace(tzinfo=ZoneInfo(zone))
    return {start + step * i: v for i, v in enumerate(values)}


@pytest.mark.parametrize(
    "case",
    [
        # local midnights: 23:00 UTC in winter
        ("Europe/Amsterdam", "P1D", timedelta(days=1), datetime(2026, 11, 22)),
        # local hours: half past the UTC hour
        ("Asia/Kolkata", "PT1H", HOUR, datetime(2026, 11, 23, 9)),
    ],
    ids=["daily-amsterdam", "hourly-kolkata"],
)
async def test_a_price_on_local_steps_is_read(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    case: tuple[str, str, timedelta, datetime],
) -> None:
    """The price now is the value of the sensor's step holding now."""
    zone, resolution, step, first = case
    fake_fm.add_sensor(11, "local prices", 5, "EUR/kWh", resolution, timezone=zone)
    values = [round(0.2 + 0.01 * i, 4) for i in range(60)]
    fake_fm.data[11] = local_steps(zone, first, step, values)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, consumption_price_sensor="11"))

    now_step = max(t for t in fake_fm.data[11] if t <= NOW)
    price = state_of(hass, "consumption_price")
    assert price.state not in ("unknown", STATE_UNAVAILABLE), price
    assert float(price.state) == fake_fm.data[11][now_step]
    assert price.attributes["forecast"], "no price over the planning horizon"


async def test_a_price_in_cents_gives_the_cost_in_euros(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.add_sensor(11, "prices in cents", 5, "cEUR/kWh", "PT1H")
    fake_fm.data[11] = local_steps("UTC", datetime(2026, 11, 23), HOUR, [21.0] * 60)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, consumption_price_sensor="11"))
    assert state_of(hass, "consumption_price").attributes["unit_of_measurement"] == (
        "cEUR/kWh"
    )
    cost = state_of(hass, "planned_cost")
    # FlexMeasures: shared_currency_unit = ur.Quantity("cEUR").to_base_units() = EUR
    assert cost.attributes["unit_of_measurement"] == "EUR"


async def test_planned_cost_follows_the_kept_plan_after_an_offline_restart(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    cost = state_of(hass, "planned_cost").state
    assert cost != STATE_UNAVAILABLE

    fake_fm.down = True
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert coordinator_of(entry).data is not None  # the kept plan is followed
    assert state_of(hass, "power_setpoint").state != STATE_UNAVAILABLE
    assert state_of(hass, "planned_cost").state == cost


async def test_a_slow_price_read_does_not_hold_back_the_new_schedule(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    first_job = coordinator.job_id
    price_path = "/api/v3_0/sensors/7/data"
    fake_fm.fail_next_at(price_path, "slow")  # the fake sleeps 5 s on it
    reads = fake_fm.paths().count(price_path)

    task = hass.async_create_task(
        hass.services.async_call(
            DOMAIN,
            "trigger_schedule",
            {"device_id": device_id(hass)},
            blocking=True,
            return_response=True,
        )
    )
    try:
        async with asyncio.timeout(10):
            while fake_fm.paths().count(price_path) == reads:
                await asyncio.sleep(0.02)
        # the schedule is at hand; the price is still on its way
        new_job = next(reversed(fake_fm.jobs))
        assert new_job != first_job
        await asyncio.sleep(0.3)
        assert coordinator.job_id == new_job
        assert coordinator.data is not None
        assert coordinator.data.job_id == new_job
    finally:
        await task


async def test_the_price_shown_is_the_price_the_schedule_used(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.data[7] = local_steps("UTC", datetime(2026, 11, 23), HOUR, [0.2] * 60)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    assert float(state_of(hass, "consumption_price").state) == 0.2

    await hass.services.async_call(
        DOMAIN,
        "trigger_schedule",
        {
            "device_id": device_id(hass),
            "flex_context": {"consumption-price": "0.5 EUR/kWh"},
        },
        blocking=True,
        return_response=True,
    )
    await hass.async_block_till_done()
    assert float(state_of(hass, "consumption_price").state) == 0.5


async def test_a_fixed_price_with_spaces_has_a_plain_unit(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.assets[5]["flex_context"] = '{"consumption-price": "0.3 EUR / kWh"}'
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm, consumption_price_sensor=""))
    state = state_of(hass, "consumption_price")
    assert float(state.state) == 0.3
    assert state.attributes["unit_of_measurement"] == "EUR/kWh"
