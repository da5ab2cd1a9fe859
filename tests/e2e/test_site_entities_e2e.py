"""A site in Home Assistant against the real FlexMeasures server (issue 18).

The account's battery (50 kW) and EV charger (22 kW) are schedule sub-entries
and the site "Home" plans both on the demo building behind 60 kW. After setup,
one job planned both: the parts added up stay within plus and minus 60 kW in
every step, each device's setpoint is its own part of the job as the server
gives it back, and `site_power` is the sum of the setpoints.

FlexMeasures 1.0.1 answers `GET /sensors/<id>/schedules/<job>` with the
sensor's latest beliefs over the job's window, whichever job wrote them: a
concurrent job on the battery over the same hours (other engineers' e2e runs,
the browser checks' Home Assistant) would be read instead. So Home Assistant's
clock is set to a random quarter of the day after tomorrow of the server's
price seed (its prices cover the seed's day before until three days after;
the tests that plan from the real now, for at most a day, never reach it).
"""

# ruff: noqa: T201  (the figures are printed for the report: run with -s)

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
import random
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.api import Schedule
from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_SITE
from custom_components.flexmeasures.schedule import value_at
from tests.common import schedule_subentry, setup_integration
from tests.e2e.common import e2e_entry

STEP = timedelta(minutes=15)
SITE_KW = 60.0
BATTERY_KW = 50.0
EV_KW = 22.0
DURATION_H = 6  # hours; see _window
BATTERY_ID = "01JE2ESITEBATTERY000000000"
EV_ID = "01JE2ESITEEVCHARGER0000000"
SITE_ID = "01JE2ESITEHOME000000000000"
SOC_ENTITY = "sensor.e2e_site_battery_soc"


def _seed_day(fm_server: dict[str, str]) -> date:
    """The day the demo server's prices were seeded (today if unknown)."""
    try:
        text = Path(fm_server["FM_SERVER_DIR"], "prices.date").read_text()
        return date.fromisoformat(text.strip())
    except KeyError, OSError, ValueError:
        return datetime.now(UTC).date()


def _window(fm_server: dict[str, str], half: int = 0) -> datetime:
    """A random quarter of the first 6 hours of one half of the seed's day after
    tomorrow, 7 minutes in: a plan of DURATION_H from there ends within that
    half (the first for this module, the second for test_site_faults_e2e.py),
    within the prices, and overlaps no other test's."""
    day = datetime.combine(_seed_day(fm_server) + timedelta(days=2), time(0), UTC)
    quarters = (12 - DURATION_H) * 4
    return (
        day
        + timedelta(hours=12 * half)
        + STEP * random.randrange(quarters)
        + timedelta(minutes=7)
    )


def site_subentries(
    fm_server: dict[str, str],
    *,
    battery_kw: float,
    site_kw: float | None,
    titles: tuple[str, str, str],
    ids: tuple[str, str, str] = (BATTERY_ID, EV_ID, SITE_ID),
    soc_entity: str = SOC_ENTITY,
    **device: Any,
) -> list[ConfigSubentryData]:
    """The battery (`battery_kw`) and the EV charger, in a site on the building.

    `device` adds to both schedules' settings; `site_kw` None: the site sets
    no capacity of its own. `titles` and `ids`: the battery's, the EV
    charger's and the site's sub-entry.
    """
    price = fm_server["FM_TOY_PRICE_SENSOR_ID"]
    prices = {"consumption_price_sensor": price, "production_price_sensor": "asset"}
    common = {**prices, "update_interval": 60, **device}
    battery = schedule_subentry(
        {
            **common,
            "power_sensor": fm_server["FM_TOY_BATTERY_SENSOR_ID"],
            "soc_entity": soc_entity,
            "capacity": 450.0,
            "soc_min": 50.0,
            "soc_max": 450.0,
            "power_capacity": battery_kw,
        },
        subentry_id=ids[0],
        title=titles[0],
    )
    ev = schedule_subentry(
        {
            **common,
            "power_sensor": fm_server["FM_TOY_EV_SENSOR_ID"],
            "capacity": 60.0,
            "soc_min": 0.0,
            "soc_max": 60.0,
            "power_capacity": EV_KW,
        },
        subentry_id=ids[1],
        title=titles[1],
    )
    data: dict[str, Any] = {
        "asset": fm_server["FM_TOY_BUILDING_ASSET_ID"],
        "devices": [
            fm_server["FM_TOY_BATTERY_SENSOR_ID"],
            fm_server["FM_TOY_EV_SENSOR_ID"],
        ],
        **prices,
        "duration": DURATION_H,
        "update_interval": 60,
    }
    if site_kw is not None:
        data["site_power_capacity"] = site_kw
    site = ConfigSubentryData(
        data=data,
        subentry_id=ids[2],
        subentry_type=SUBENTRY_TYPE_SITE,
        title=titles[2],
        unique_id=f"site_{fm_server['FM_TOY_BUILDING_ASSET_ID']}",
    )
    return [battery, ev, site]


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("socket_enabled"),
    # moved to the window before the entry is set up
    pytest.mark.freeze_time(datetime(2026, 1, 1, tzinfo=UTC), tick=True),
]


@pytest.fixture
async def entry(
    hass: HomeAssistant, fm_server: dict[str, str], freezer: FrozenDateTimeFactory
) -> AsyncGenerator[MockConfigEntry]:
    """The battery and the EV charger scheduled, in the site "Home" (60 kW)."""
    freezer.move_to(_window(fm_server))
    hass.states.async_set(SOC_ENTITY, "100", {"unit_of_measurement": "kWh"})
    subentries = site_subentries(
        fm_server,
        battery_kw=BATTERY_KW,
        site_kw=SITE_KW,
        titles=("Site battery", "Site EV charger", "Home"),
        roundtrip_efficiency=90.0,
        duration=24,
    )
    config_entry = e2e_entry(fm_server, subentries_data=subentries)
    await setup_integration(hass, config_entry)
    yield config_entry
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()


def state_of(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def test_site_devices_follow_their_parts_within_the_capacity(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    fm_server: dict[str, str],
    record_property: pytest.RecordProperty,
) -> None:
    """Battery 50 kW + EV charger 22 kW behind 60 kW, planned by the site."""
    assert SITE_KW < BATTERY_KW + EV_KW
    battery = int(fm_server["FM_TOY_BATTERY_SENSOR_ID"])
    ev = int(fm_server["FM_TOY_EV_SENSOR_ID"])
    runtime = entry.runtime_data
    site = runtime.sites[SITE_ID]
    plan = site.data
    assert plan is not None, "the site's first job gave no plan"
    members = {BATTERY_ID: battery, EV_ID: ev}
    # the devices ran no job of their own: their plans are the site job's parts
    for subentry_id in members:
        assert runtime.coordinators[subentry_id].site is site
        own = runtime.coordinators[subentry_id].data
        assert own is not None
        assert own.job_id == plan.job_id

    # the job's parts, read back from the server with the client
    client = runtime.client
    horizon = plan.total.end - plan.total.start
    parts: dict[int, Schedule] = {}
    for sensor in (battery, ev):
        parts[sensor] = await client.get_schedule(
            sensor, plan.job_id, resolution=STEP, duration=horizon
        )
    start = dt_util.utcnow().replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 15)
    for sensor, limit in ((battery, BATTERY_KW), (ev, EV_KW)):
        part = parts[sensor]
        assert part.start == start
        assert len(part.values) == DURATION_H * 4
        over = [
            (str(part.start + i * STEP), value)
            for i, value in enumerate(part.values)
            if abs(value) > limit + 1e-6
        ]
        assert not over, (
            f"sensor {sensor} beyond {limit} kW in job {plan.job_id} "
            f"(another job's beliefs over the window?): {over[:4]}"
        )
    for subentry_id, sensor in members.items():
        followed = runtime.coordinators[subentry_id].data
        assert followed is not None
        assert followed.values == pytest.approx(parts[sensor].values, abs=1e-9), (
            "a device does not follow its part of the job (or another job wrote "
            "the sensor's window meanwhile)"
        )

    # within plus and minus the site's capacity, in every step
    sums = [b + e for b, e in zip(parts[battery].values, parts[ev].values, strict=True)]
    largest = max(sums, key=abs)
    record_property("largest_summed_step_kw", largest)
    print(
        f"site job {plan.job_id}: {len(sums)} steps from {start:%Y-%m-%d %H:%M}Z, "
        f"largest summed step {largest:.3f} kW against +-{SITE_KW:g} kW "
        f"(battery up to {max(map(abs, parts[battery].values)):.1f} kW, "
        f"EV charger up to {max(map(abs, parts[ev].values)):.1f} kW)"
    )
    assert all(abs(total) <= SITE_KW + 1e-6 for total in sums)
    assert plan.total.values == pytest.approx(sums, abs=1e-9)

    # the entities now: each setpoint its own part; site_power their sum
    now = dt_util.utcnow()
    setpoints = {}
    for subentry_id, sensor in members.items():
        setpoints[sensor] = float(
            state_of(hass, "sensor", f"{subentry_id}_power_setpoint")
        )
        assert setpoints[sensor] == pytest.approx(
            value_at(parts[sensor], now), abs=1e-6
        )
    site_power = float(state_of(hass, "sensor", f"{SITE_ID}_site_power"))
    print(
        f"now {now:%H:%M}Z: battery {setpoints[battery]:.3f} kW + EV charger "
        f"{setpoints[ev]:.3f} kW = site_power {site_power:.3f} kW"
    )
    assert site_power == pytest.approx(setpoints[battery] + setpoints[ev], abs=1e-6)
    assert state_of(hass, "binary_sensor", f"{SITE_ID}_stale") == "off"
