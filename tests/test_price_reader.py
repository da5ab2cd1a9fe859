"""The price reader: read after the schedule is handed over, kept across restarts,
kept over a failed read, and the price a job's own flex-context names."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
import time
from types import MappingProxyType
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, State
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.flexmeasures.api import FlexMeasuresClient, Schedule
from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_SCHEDULE
from custom_components.flexmeasures.price_reader import KeptPrice, PriceReader
from custom_components.flexmeasures.prices import FixedPrice, PriceSensor
from custom_components.flexmeasures.schedule import Segment
from custom_components.flexmeasures.store import EntryStore

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    STEP_START,
    SUBENTRY_ID,
    coordinator_of,
    entity_id,
    fire_at,
    make_entry,
    set_soc,
)
from .test_services_schedule import device_id
from .test_site import EV_ID, SITE_ID, entity, site_entry

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

HOUR = timedelta(hours=1)
HOUR_START = STEP_START.replace(minute=0)
PRICE_DATA = "/api/v3_0/sensors/7/data"
QUARTER = timedelta(minutes=15)
# the schedule sub-entry a reader is of, by itself
BATTERY = ConfigSubentry(
    data=MappingProxyType({}),
    subentry_id="sub",
    subentry_type=SUBENTRY_TYPE_SCHEDULE,
    title="Home battery",
    unique_id=None,
)


def seed(fake_fm: FakeFlexMeasures, sensor_id: int = 7, first: float = 0.1) -> None:
    """Hourly prices from 04:00 UTC for 30 hours, each a cent more."""
    fake_fm.data[sensor_id] = {
        HOUR_START - HOUR + HOUR * i: round(first + 0.01 * i, 4) for i in range(30)
    }


def price_state(hass: HomeAssistant, key: str = "consumption_price") -> State:
    state = hass.states.get(entity_id(hass, "sensor", key))
    assert state is not None
    return state


async def restart(hass: HomeAssistant, entry: Any) -> None:
    """Unload and set up again, as a restart of Home Assistant does."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


# --- kept in the store -----------------------------------------------------------

SOURCES = st.one_of(
    st.none(),
    st.builds(
        PriceSensor,
        st.integers(1, 10**6),
        st.sampled_from(["EUR/kWh", "cEUR/kWh", "EUR/MWh"]),
        st.sampled_from([QUARTER, HOUR, timedelta(days=1)]),
        st.one_of(st.none(), st.integers(1, 10**6)),
    ),
    st.builds(
        FixedPrice,
        st.floats(-1e6, 1e6, allow_nan=False),
        st.sampled_from(["EUR/kWh", "€/MWh"]),
        st.one_of(st.none(), st.integers(1, 10**6)),
    ),
)


def _forecast(values: list[float]) -> tuple[Segment, ...]:
    return tuple(
        Segment(STEP_START + HOUR * i, STEP_START + HOUR * (i + 1), v)
        for i, v in enumerate(values)
    )


@given(
    configured=st.one_of(st.none(), st.integers(1, 10**6)),
    source=SOURCES,
    shown=SOURCES,
    values=st.one_of(
        st.none(), st.lists(st.floats(-1e3, 1e3, allow_nan=False), max_size=5)
    ),
)
@settings(
    max_examples=60,
    deadline=None,
    # a new store each example; hass only schedules its (delayed) save
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
async def test_a_kept_price_reads_back(
    hass: HomeAssistant,
    configured: int | None,
    source: Any,
    shown: Any,
    values: list[float] | None,
) -> None:
    store = EntryStore(hass, "entry")
    kept = KeptPrice(
        configured,
        source,
        None if values is None else _forecast(values),
        None if shown is None else shown.unit,
        shown,
    )
    store.keep_price("sub", kept)
    assert store.price("sub") == kept


async def test_a_broken_kept_price_is_none(hass: HomeAssistant) -> None:
    store = EntryStore(hass, "entry")
    store.keep_price("sub", KeptPrice(7, FixedPrice(0.3, "EUR/kWh", 5)))
    store._data["prices"]["sub"]["source"]["kind"] = "table"
    assert store.price("sub") is None
    store._data["prices"]["sub"] = {"forecast": [{"start": "yesterday"}]}
    assert store.price("sub") is None


async def test_the_kept_price_goes_with_its_sub_entry(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    store = EntryStore(hass, "entry")
    store.keep_price("gone", KeptPrice(7, FixedPrice(0.3, "EUR/kWh", 5)))
    store.keep_price("here", KeptPrice(None, FixedPrice(0.2, "EUR/kWh", 5)))
    await store.async_save_now()
    again = EntryStore(hass, "entry")
    await again.async_load(["here"])
    assert again.price("gone") is None
    assert again.price("here") == KeptPrice(None, FixedPrice(0.2, "EUR/kWh", 5))


# --- a failed read ------------------------------------------------------------------


async def test_a_kept_forecast_goes_once_it_no_longer_covers_now(
    fake_fm: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A failed read keeps the last forecast while it spans now; not after."""
    seed(fake_fm)
    reader = PriceReader(lambda: fm_client, 7, BATTERY)
    schedule = Schedule(8, "job", STEP_START, QUARTER, "kW", (0.0,) * 8)  # 2 hours
    await reader.async_update(schedule, None)
    assert reader.value_at(NOW) == 0.11

    fake_fm.fail_next_at(PRICE_DATA, 503, times=2)
    await reader.async_update(schedule, None)
    assert reader.available
    assert reader.value_at(NOW) == 0.11
    assert reader.diagnostics()["last_problem"] is not None

    freezer.move_to(STEP_START + 2 * HOUR)  # the end of the forecast
    await reader.async_update(schedule, None)
    assert not reader.available
    assert reader.unit == "EUR/kWh"  # the source stays known


class Memory:
    """A price memory in a dict."""

    def __init__(self) -> None:
        self.kept: dict[str, KeptPrice] = {}

    def price(self, key: str) -> KeptPrice | None:
        return self.kept.get(key)

    def keep_price(self, key: str, kept: KeptPrice) -> None:
        self.kept[key] = kept


async def test_a_kept_forecast_stays_when_finding_the_source_fails_after_a_restart(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """The first read after a start finds the source anew; a 503 on that keeps
    the forecast kept from before the restart (same source); a read that
    names its own price does not."""
    seed(fake_fm)
    memory = Memory()
    schedule = Schedule(8, "job", STEP_START, QUARTER, "kW", (0.0,) * 8)
    first = PriceReader(lambda: fm_client, 7, BATTERY, memory)
    await first.async_update(schedule, None)
    assert memory.kept["sub"].forecast is not None

    fake_fm.fail_next_at("/api/v3_0/sensors/7", 503)
    again = PriceReader(lambda: fm_client, 7, BATTERY, memory)
    assert again.value_at(NOW) == 0.11  # from the memory, before any read
    await again.async_update(schedule, None)
    assert again.value_at(NOW) == 0.11
    assert again.diagnostics()["last_problem"] is not None

    fake_fm.fail_next_at("/api/v3_0/sensors/12", 503)
    await again.async_update(schedule, None, {"consumption-price": {"sensor": 12}})
    assert not again.available
    assert memory.kept["sub"].forecast is None
    assert memory.kept["sub"].source == PriceSensor(7, "EUR/kWh", HOUR)


# --- handed over first --------------------------------------------------------------


async def test_unloading_cancels_a_slow_price_read(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    reads = fake_fm.paths().count(PRICE_DATA)
    fake_fm.fail_next_at(PRICE_DATA, "slow")  # 5 s
    await hass.services.async_call(
        DOMAIN,
        "trigger_schedule",
        {"device_id": device_id(hass)},
        blocking=True,
        return_response=True,
    )
    async with asyncio.timeout(5):
        while fake_fm.paths().count(PRICE_DATA) == reads:
            await asyncio.sleep(0.02)
    task = coordinator_of(entry).prices._task
    assert task is not None
    assert not task.done()

    began = time.monotonic()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert time.monotonic() - began < 2
    assert task.cancelled()


async def test_a_site_hands_over_its_plan_before_its_price(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The same in a site: its devices follow the new plan; the price follows."""
    seed(fake_fm)
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    site = entry.runtime_data.sites[SITE_ID]
    member_price = entity(hass, "sensor", f"{EV_ID}_consumption_price")
    state = hass.states.get(member_price)
    assert state is not None
    assert float(state.state) == 0.11

    # the price read is held until released: no real 5 s answer to wait for
    held = fake_fm.hold_next_at(PRICE_DATA)
    seed(fake_fm, first=0.5)
    async with asyncio.timeout(3):
        await site.async_trigger()
    ev = entry.runtime_data.coordinators[EV_ID]
    assert ev.data is not None
    assert ev.data.job_id == site.job_id
    async with asyncio.timeout(3):
        await held.arrived.wait()  # the price was asked for...
    state = hass.states.get(member_price)
    assert state is not None
    assert float(state.state) == 0.11  # ...and is still on its way
    held.release.set()
    async with asyncio.timeout(10):
        await hass.async_block_till_done(wait_background_tasks=True)
    for unique_id in (f"{EV_ID}_consumption_price", f"{SUBENTRY_ID}_consumption_price"):
        state = hass.states.get(entity(hass, "sensor", unique_id))
        assert state is not None
        assert float(state.state) == 0.51


# --- a restart without the server -----------------------------------------------------


async def test_the_price_follows_the_kept_forecast_after_an_offline_restart(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    seed(fake_fm)
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    before = price_state(hass)
    assert float(before.state) == 0.11

    fake_fm.down = True
    await restart(hass, entry)
    after = price_state(hass)
    assert after.state == before.state
    assert after.attributes["unit_of_measurement"] == "EUR/kWh"
    assert after.attributes["forecast"] == before.attributes["forecast"]
    # and it moves on along the kept forecast, without the server
    await fire_at(hass, freezer, HOUR_START + HOUR)
    assert float(price_state(hass).state) == 0.12


async def test_a_site_keeps_its_price_and_cost_over_an_offline_restart(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    seed(fake_fm)
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    cost = entity(hass, "sensor", f"{SITE_ID}_planned_cost")
    price = entity(hass, "sensor", f"{EV_ID}_consumption_price")
    before = [hass.states.get(cost), hass.states.get(price)]
    assert all(s is not None and s.state != STATE_UNAVAILABLE for s in before)

    fake_fm.down = True
    await restart(hass, entry)
    after = [hass.states.get(cost), hass.states.get(price)]
    assert [(s.state, s.attributes.get("unit_of_measurement")) for s in after if s] == [
        (s.state, s.attributes.get("unit_of_measurement")) for s in before if s
    ]


async def test_a_kept_price_of_another_configuration_is_not_used(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The kept source is for the configured price sensor it was found for."""
    seed(fake_fm)
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    store = entry.runtime_data.store
    kept = store.price(SUBENTRY_ID)
    assert kept is not None
    assert kept.configured_sensor_id == 7
    store.keep_price(SUBENTRY_ID, replace(kept, configured_sensor_id=11))

    fake_fm.down = True
    await restart(hass, entry)
    assert price_state(hass).state == STATE_UNAVAILABLE
    assert price_state(hass, "planned_cost").state == STATE_UNAVAILABLE


# --- the price a job's flex-context names -------------------------------------------


async def trigger(hass: HomeAssistant, flex_context: dict[str, Any]) -> None:
    await hass.services.async_call(
        DOMAIN,
        "trigger_schedule",
        {"device_id": device_id(hass), "flex_context": flex_context},
        blocking=True,
        return_response=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_a_price_sensor_named_by_the_trigger_is_the_price_shown(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Until the next update, which plans with the configured price again."""
    seed(fake_fm)
    fake_fm.add_sensor(11, "other prices", 5, "EUR/MWh", "PT1H")
    seed(fake_fm, 11, first=300.0)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    assert float(price_state(hass).state) == 0.11

    await trigger(hass, {"consumption-price": {"sensor": 11}})
    state = price_state(hass)
    # in the device's unit: the server converts 300.01 EUR/MWh
    assert state.attributes["unit_of_measurement"] == "EUR/kWh"
    assert float(state.state) == pytest.approx(0.30001)

    await fire_at(hass, freezer, NOW + timedelta(minutes=15, seconds=30))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(price_state(hass).state) == 0.11


async def test_a_fixed_price_in_another_unit_named_by_the_trigger(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    seed(fake_fm)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    await trigger(hass, {"consumption-price": "250 EUR/MWh"})
    state = price_state(hass)
    assert state.attributes["unit_of_measurement"] == "EUR/kWh"
    assert float(state.state) == 0.25
    # another currency is shown as it is, and the cost in it
    await trigger(hass, {"consumption-price": "0.4 USD/kWh"})
    assert price_state(hass).attributes["unit_of_measurement"] == "USD/kWh"
    assert price_state(hass, "planned_cost").attributes["unit_of_measurement"] == "USD"


async def test_a_trigger_price_in_another_form_is_unknown_for_that_job(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A time series of prices is not read here: no price rather than a wrong one."""
    seed(fake_fm)
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    series = [
        {"start": STEP_START.isoformat(), "duration": "PT1H", "value": "1 EUR/kWh"}
    ]
    await trigger(hass, {"consumption-price": series})
    assert price_state(hass).state == STATE_UNAVAILABLE
    # the device's own price is still known: the next update shows it
    await fire_at(hass, freezer, NOW + timedelta(minutes=15, seconds=30))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(price_state(hass).state) == 0.11
