"""What an account keeps across restarts (store.py): kept, read back, or refused.

A kept state is read by a start without the server; a damaged one (edited by
hand, written by an older version, cut short) must read as "nothing kept" for
that item, never as a wrong plan, price or sensor, and never stop the entry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.flexmeasures.api import (
    Account,
    Schedule,
    Sensor,
    ServerInfo,
    User,
)
from custom_components.flexmeasures.price_reader import KeptPrice
from custom_components.flexmeasures.prices import FixedPrice, PriceSensor
from custom_components.flexmeasures.schedule import Segment
from custom_components.flexmeasures.store import EntryStore

ENTRY_ID = "entry1"
KEY = f"flexmeasures.state.{ENTRY_ID}"
T0 = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)

SENSOR = Sensor(
    id=8,
    name="toy-battery power",
    unit="MW",
    event_resolution=timedelta(minutes=15),
    timezone="Europe/Amsterdam",
    asset_id=4,
)
SCHEDULE = Schedule(
    sensor_id=8,
    job_id="job-1",
    start=T0,
    resolution=timedelta(minutes=15),
    unit="kW",
    values=(1.5, -2.0, 0.0),
    scheduler_info={"scheduler": "StorageScheduler"},
)


def stored(hass_storage: dict[str, Any], data: dict[str, Any]) -> None:
    hass_storage[KEY] = {"version": 1, "minor_version": 1, "key": KEY, "data": data}


async def loaded(hass: HomeAssistant, *subentry_ids: str) -> EntryStore:
    store = EntryStore(hass, ENTRY_ID)
    await store.async_load(subentry_ids or ("s1",))
    return store


async def test_what_is_kept_reads_back_after_a_restart(hass: HomeAssistant) -> None:
    store = await loaded(hass)
    store.keep_account(
        ServerInfo(version="0.31.0", api_versions=("v3_0",)),
        User(
            id=3,
            email="toy-user@flexmeasures.io",
            username="toy",
            account_id=2,
            timezone="Europe/Amsterdam",
        ),
        Account(id=2, name="Toy account"),
    )
    store.keep_sensor("s1", SENSOR)
    store.keep_plan("s1", SCHEDULE, T0 + timedelta(minutes=3))
    price = KeptPrice(
        12,
        PriceSensor(12, "EUR/MWh", timedelta(hours=1), 5),
        (Segment(T0, T0 + timedelta(hours=1), 0.25),),
        "EUR/kWh",
        FixedPrice(0.3, "EUR/kWh", None),
    )
    store.keep_price("s1", price)
    await store.async_save_now()

    again = await loaded(hass)
    account = again.account
    assert account is not None
    assert account.user.email == "toy-user@flexmeasures.io"
    assert account.account.name == "Toy account"
    assert again.sensor("s1") == SENSOR
    plan = again.plan("s1")
    assert plan is not None
    assert plan.schedule == SCHEDULE
    assert plan.arrived == T0 + timedelta(minutes=3)
    assert again.price("s1") == price


async def test_a_removed_sub_entry_leaves_nothing_behind(hass: HomeAssistant) -> None:
    store = await loaded(hass, "s1", "s2")
    store.keep_plan("s1", SCHEDULE, T0)
    store.keep_plan("s2", SCHEDULE, T0)
    await store.async_save_now()

    again = await loaded(hass, "s2")
    assert again.plan("s1") is None
    assert again.plan("s2") is not None


async def test_a_file_that_cannot_be_read_is_nothing_kept(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    with patch(
        "homeassistant.helpers.storage.Store.async_load",
        side_effect=ValueError("cut short"),
    ):
        store = await loaded(hass)
    assert store.account is None
    assert store.plan("s1") is None
    assert "Could not read the kept FlexMeasures state" in caplog.text


@pytest.mark.parametrize(
    "account",
    [
        "not a mapping",
        {"server_version": "0.31.0"},  # cut short
        {
            "server_version": "0.31.0",
            "api_versions": ["v3_0"],
            "user_id": "three",
            "email": "a@b.c",
            "username": "a",
            "account_id": 2,
            "account_name": "x",
        },
    ],
)
async def test_a_damaged_account_is_not_kept(
    hass: HomeAssistant, hass_storage: dict[str, Any], account: Any
) -> None:
    stored(hass_storage, {"account": account})
    assert (await loaded(hass)).account is None


def _plan(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "sensor_id": 8,
        "job_id": "job-1",
        "start": T0.isoformat(),
        "resolution": "PT15M",
        "unit": "kW",
        "values": [1.0, 2.0],
        "scheduler_info": {},
        "arrived": T0.isoformat(),
    }
    raw.update(changes)
    return {key: value for key, value in raw.items() if value is not ...}


@pytest.mark.parametrize(
    "plan",
    [
        _plan(values=[1.0, None]),
        _plan(values=[1.0, "NaN"]),
        _plan(values=[math.inf]),
        _plan(resolution="PT0M"),
        _plan(resolution="-PT15M"),
        _plan(resolution="soon"),
        _plan(start="yesterday"),
        _plan(start="9999-12-31T23:45:00+00:00", values=[1.0, 2.0]),  # ends past 9999
        _plan(job_id=...),
        _plan(sensor_id="eight"),
        "a string",
    ],
    ids=[
        "null",
        "nan",
        "inf",
        "zero-step",
        "negative-step",
        "no-duration",
        "no-date",
        "past-9999",
        "no-job",
        "no-sensor",
        "not-a-mapping",
    ],
)
async def test_a_damaged_plan_is_not_followed(
    hass: HomeAssistant, hass_storage: dict[str, Any], plan: Any
) -> None:
    stored(hass_storage, {"plans": {"s1": plan}})
    assert (await loaded(hass)).plan("s1") is None


@pytest.mark.parametrize(
    "sensor",
    [
        {
            "id": 8,
            "name": "x",
            "unit": "MW",
            "event_resolution": "soon",
            "timezone": "UTC",
        },
        {"id": 8, "name": "x"},
        {
            "id": "eight",
            "name": "x",
            "unit": "MW",
            "event_resolution": "PT15M",
            "timezone": "UTC",
        },
    ],
)
async def test_a_damaged_sensor_is_not_kept(
    hass: HomeAssistant, hass_storage: dict[str, Any], sensor: Any
) -> None:
    stored(hass_storage, {"sensors": {"s1": sensor}})
    assert (await loaded(hass)).sensor("s1") is None


def _price(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "configured_sensor_id": None,
        "source": {"kind": "fixed", "value": 0.3, "unit": "EUR/kWh", "asset_id": None},
        "forecast": [
            {
                "start": T0.isoformat(),
                "end": (T0 + timedelta(hours=1)).isoformat(),
                "value": 0.3,
            }
        ],
        "forecast_unit": "EUR/kWh",
        "forecast_source": None,
    }
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    "price",
    [
        _price(source={"kind": "fixed", "value": "inf", "unit": "EUR/kWh"}),
        _price(source={"kind": "tariff", "unit": "EUR/kWh"}),
        _price(
            source={
                "kind": "sensor",
                "sensor_id": 1,
                "unit": "EUR/MWh",
                "resolution": "x",
            }
        ),
        _price(
            forecast=[{"start": T0.isoformat(), "end": T0.isoformat(), "value": 0.3}]
        ),
        _price(
            forecast=[
                {
                    "start": T0.isoformat(),
                    "end": (T0 + timedelta(hours=1)).isoformat(),
                    "value": "NaN",
                }
            ]
        ),
        _price(forecast=[{"start": T0.isoformat()}]),
        _price(configured_sensor_id="twelve"),
    ],
    ids=[
        "inf-price",
        "unknown-kind",
        "bad-resolution",
        "empty-segment",
        "nan-forecast",
        "cut-forecast",
        "bad-sensor-id",
    ],
)
async def test_a_damaged_price_is_not_kept(
    hass: HomeAssistant, hass_storage: dict[str, Any], price: dict[str, Any]
) -> None:
    stored(hass_storage, {"prices": {"s1": price}})
    assert (await loaded(hass)).price("s1") is None


async def test_since_when_the_server_is_offline_reads_back_until_it_answers(
    hass: HomeAssistant,
) -> None:
    store = await loaded(hass)
    assert store.disconnected_since is None  # nothing kept: not offline
    store.keep_disconnected_since(T0)
    await store.async_save_now()
    again = await loaded(hass)
    assert again.disconnected_since == T0
    again.keep_disconnected_since(None)
    await again.async_save_now()
    assert (await loaded(hass)).disconnected_since is None


@pytest.mark.parametrize(
    "since",
    [
        "yesterday",
        17,
        "",
        "9999-12-31T25:00:00",
        "0001-01-01T00:00:00+05:00",
        "0001-01-01T00:00:00+00:00",  # before year 1 in US/Pacific
        "1970-01-01T00:00:00+00:00",  # a clock not set yet
    ],
)
async def test_a_damaged_since_when_is_not_kept(
    hass: HomeAssistant, hass_storage: dict[str, Any], since: Any
) -> None:
    stored(hass_storage, {"disconnected_since": since})
    assert (await loaded(hass)).disconnected_since is None


async def test_a_store_from_before_since_when_was_kept_loads(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    stored(hass_storage, {"plans": {"s1": _plan()}})
    store = await loaded(hass)
    assert store.disconnected_since is None
    assert store.plan("s1") is not None


async def test_a_removed_entry_forgets_everything(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    store = await loaded(hass)
    store.keep_plan("s1", SCHEDULE, T0)
    await store.async_save_now()
    assert KEY in hass_storage
    await store.async_remove()
    assert KEY not in hass_storage
    assert (await loaded(hass)).plan("s1") is None


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=96
    ),
    minutes=st.sampled_from([1, 5, 15, 60, 1440]),
    offset=st.integers(min_value=-10_000, max_value=10_000),
)
async def test_any_plan_kept_reads_back_as_it_was(
    hass: HomeAssistant, values: list[float], minutes: int, offset: int
) -> None:
    schedule = Schedule(
        sensor_id=8,
        job_id="job",
        start=T0 + timedelta(minutes=offset * minutes),
        resolution=timedelta(minutes=minutes),
        unit="kW",
        values=tuple(values),
    )
    store = await loaded(hass)
    store.keep_plan("s1", schedule, T0)
    await store.async_save_now()
    plan = (await loaded(hass)).plan("s1")
    assert plan is not None
    assert plan.schedule == schedule


@pytest.mark.parametrize(
    ("kept", "read"),
    [
        (12.5, 12.5),
        (None, None),
        ("abc", None),
        (True, None),
        (math.nan, None),
        (math.inf, None),
    ],
)
async def test_an_assets_power_capacity_is_kept_with_its_sensor(
    hass: HomeAssistant, kept: Any, read: float | None
) -> None:
    """Read back for charge_now without the server; a damaged one is none."""
    store = await loaded(hass)
    store.keep_sensor("s1", SENSOR, asset_power_capacity=12.5)
    store._data["sensors"]["s1"]["asset_power_capacity"] = kept
    await store.async_save_now()

    again = await loaded(hass)
    assert again.sensor("s1") == SENSOR
    assert again.asset_power_capacity("s1") == read


async def test_a_sensor_without_its_asset_keeps_no_capacity(
    hass: HomeAssistant,
) -> None:
    store = await loaded(hass)
    store.keep_sensor("s1", SENSOR)
    assert store.asset_power_capacity("s1") is None
    assert store.asset_power_capacity("s2") is None


async def test_a_sites_capacity_is_kept_for_its_asset(hass: HomeAssistant) -> None:
    """Read back for the asset it was read from; another asset's, or a damaged one, is none."""
    store = await loaded(hass)
    store.keep_site_power_capacity("s1", 5, 30.0)
    await store.async_save_now()

    again = await loaded(hass)
    assert again.site_power_capacity("s1", 5) == 30.0
    assert again.site_power_capacity("s1", 6) is None  # reconfigured to another asset
    assert again.site_power_capacity("s2", 5) is None
    again.keep_site_power_capacity("s1", 5, -30.0)
    assert again.site_power_capacity("s1", 5) is None
    await again.async_save_now()
    assert (await loaded(hass, "s2")).site_power_capacity("s1", 5) is None  # removed
