"""The dashboard's controls against a real FlexMeasures server (issue 17).

`target_soc` and `ready_by` set through their entities send one job (after the
debounce) whose schedule brings the state of charge to the target by then;
FlexMeasures treats targets as soft, so the state of charge reached by
`ready_by` is computed from the schedule's values and compared with the target
within a few kWh. The mode changes the setpoint without a job.
"""

# ruff: noqa: T201  (the figures reached are printed for the reader)

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
import math
import time
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flexmeasures.api import Schedule
from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.controls import CONTROL_DEBOUNCE
from custom_components.flexmeasures.coordinator import ScheduleCoordinator
from custom_components.flexmeasures.schedule import schedule_start, value_at
from tests.common import schedule_subentry, setup_integration
from tests.e2e.common import e2e_entry

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]

SUBENTRY_ID = "01JE2ECONTROLSTOYBATTERY00"
SOC_ENTITY = "sensor.e2e_controls_battery_soc"
TIME_ZONE = "Europe/Amsterdam"
CAPACITY = 450.0  # kWh: target_soc is in % of it
SOC_START = 100.0  # kWh
SOC_MIN = 50.0
SOC_MAX = 450.0
EFFICIENCY = 0.9  # roundtrip
DURATION = 3  # hours: shorter than the way to ready_by, which extends it
AHEAD = timedelta(hours=5)  # ready_by, from now
TOLERANCE = 3.0  # kWh: "close to the target" for a soft target


@pytest.fixture
async def entry(
    hass: HomeAssistant, fm_server: dict[str, str]
) -> AsyncGenerator[MockConfigEntry]:
    """The toy battery, no power capacity in the form (the asset's is used)."""
    await hass.config.async_set_time_zone(TIME_ZONE)
    hass.states.async_set(SOC_ENTITY, str(SOC_START), {"unit_of_measurement": "kWh"})
    config_entry = e2e_entry(
        fm_server,
        subentries_data=[
            schedule_subentry(
                {
                    "power_sensor": fm_server["FM_TOY_BATTERY_SENSOR_ID"],
                    "consumption_price_sensor": fm_server["FM_TOY_PRICE_SENSOR_ID"],
                    "production_price_sensor": "",
                    "soc_entity": SOC_ENTITY,
                    "capacity": CAPACITY,
                    "soc_min": SOC_MIN,
                    "soc_max": SOC_MAX,
                    "roundtrip_efficiency": EFFICIENCY * 100,
                    "duration": DURATION,
                    "update_interval": 60,
                },
                subentry_id=SUBENTRY_ID,
                title="Toy battery",
            )
        ],
    )
    await setup_integration(hass, config_entry)
    yield config_entry
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()


def coordinator(entry: MockConfigEntry) -> ScheduleCoordinator:
    """The toy battery's coordinator."""
    return entry.runtime_data.coordinators[SUBENTRY_ID]


def entity_id(hass: HomeAssistant, platform: str, key: str) -> str:
    """The toy battery's entity with this key."""
    found = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{SUBENTRY_ID}_{key}"
    )
    assert found is not None
    return found


def state_of(hass: HomeAssistant, platform: str, key: str) -> str:
    state = hass.states.get(entity_id(hass, platform, key))
    assert state is not None
    return state.state


def soc_at(schedule: Schedule, when: datetime) -> float:
    """The state of charge at `when` (a step boundary) from the schedule's values.

    FlexMeasures splits the roundtrip efficiency evenly over charging and
    discharging: stored = charged * sqrt(eff), delivered = taken / sqrt(eff).
    """
    steps = (when - schedule_start(schedule)) / schedule.resolution
    assert steps == int(steps), "not a step boundary"
    hours = schedule.resolution / timedelta(hours=1)
    eta = math.sqrt(EFFICIENCY)
    energy = SOC_START
    for power in schedule.values[: int(steps)]:
        energy += (power * eta if power > 0 else power / eta) * hours
    return energy


async def pass_the_debounce(hass: HomeAssistant) -> None:
    """Fire the debounce timer now instead of waiting; wait for the job it starts."""
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(seconds=CONTROL_DEBOUNCE + 1)
    )
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize("past_the_quarter", [0, 7], ids=["on_the_grid", "07_past"])
async def test_target_soc_is_reached_by_ready_by(
    hass: HomeAssistant, entry: MockConfigEntry, past_the_quarter: int
) -> None:
    """ready_by 5 h ahead (in Amsterdam) at a target between 55 and 84 % (unique
    per run): the server's schedule reaches it by then. A ready_by between two
    15-minute steps (xx:07) is reached at the step boundary before it (xx:00),
    not after it."""
    before = coordinator(entry).data
    assert before is not None
    job_before = coordinator(entry).job_id
    jobs = []
    ready_local = dt_util.now() + AHEAD
    ready_local = ready_local.replace(
        minute=ready_local.minute // 15 * 15 + past_the_quarter,
        second=0,
        microsecond=0,
    )
    percent = 55 + int(time.time()) % 30
    target = percent / 100 * CAPACITY

    await hass.services.async_call(
        "time",
        "set_value",
        {
            "entity_id": entity_id(hass, "time", "ready_by"),
            "time": ready_local.strftime("%H:%M:%S"),
        },
        blocking=True,
    )
    for value in (percent - 10, percent - 5, percent):  # a slider moved
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": entity_id(hass, "number", "target_soc"), "value": value},
            blocking=True,
        )
    assert coordinator(entry).job_id == job_before  # debounced: no job yet
    with patch.object(
        entry.runtime_data.client,
        "trigger_schedule",
        wraps=entry.runtime_data.client.trigger_schedule,
    ) as trigger:
        await pass_the_debounce(hass)
    assert trigger.call_count == 1  # four changes, one job
    jobs.append(coordinator(entry).job_id)

    schedule = coordinator(entry).data
    assert schedule is not None
    assert schedule.job_id == jobs[0] != job_before
    ready_by = dt_util.as_utc(ready_local)
    standing = coordinator(entry).controls.standing_target(dt_util.utcnow())
    assert standing is not None
    assert standing.when == ready_by
    # due at the last step boundary at or before ready_by; the horizon (3 h)
    # was extended to reach it (5 h ahead)
    due = ready_by - timedelta(minutes=past_the_quarter)
    assert schedule.end >= due > before.end
    reached = soc_at(schedule, due)
    charged = sum(
        value * schedule.resolution / timedelta(hours=1)
        for value in schedule.values[
            : int((due - schedule_start(schedule)) / schedule.resolution)
        ]
    )
    print(
        f"target {percent} % = {target:.1f} kWh by {ready_local.isoformat()}, "
        f"from {SOC_START} kWh: reached {reached:.2f} kWh at "
        f"{dt_util.as_local(due).strftime('%H:%M')} "
        f"(net {charged:.2f} kWh through the meter), job {schedule.job_id}"
    )
    assert reached == pytest.approx(target, abs=TOLERANCE), list(schedule.values)
    # The setpoint follows the new schedule.
    assert float(state_of(hass, "sensor", "power_setpoint")) == pytest.approx(
        value_at(schedule, dt_util.utcnow()), abs=1e-3
    )


async def test_modes_set_the_setpoint_without_a_job(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """stop is 0 kW; charge_now is the asset flex-model's power capacity (the
    toy battery's "500 kVA"); smart is the plan again. No job for any of it."""
    schedule = coordinator(entry).data
    assert schedule is not None
    job = coordinator(entry).job_id
    mode = entity_id(hass, "select", "mode")
    options = hass.states.get(mode).attributes["options"]  # type: ignore[union-attr]
    assert options == ["smart", "charge_now", "stop"]
    seen = {}
    for option in ("stop", "charge_now", "smart"):
        await hass.services.async_call(
            "select",
            "select_option",
            {"entity_id": mode, "option": option},
            blocking=True,
        )
        seen[option] = float(state_of(hass, "sensor", "power_setpoint"))
    print("setpoint per mode (kW):", seen)
    assert seen["stop"] == 0.0
    assert seen["charge_now"] == pytest.approx(500.0)
    assert seen["smart"] == pytest.approx(
        value_at(schedule, dt_util.utcnow()), abs=1e-3
    )
    assert coordinator(entry).job_id == job


async def test_a_target_set_back_gets_its_own_plan(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A, then B, then A again within one step: FlexMeasures' job cache would
    hand back A's job, whose schedule it reads as the sensor's latest beliefs
    (B's). The plan must reach A, not B."""
    ready_local = dt_util.now() + AHEAD
    ready_local = ready_local.replace(
        minute=ready_local.minute // 15 * 15, second=0, microsecond=0
    )
    ready_by = dt_util.as_utc(ready_local)
    first = 55 + int(time.time() * 1000) % 25  # unique per run
    await hass.services.async_call(
        "time",
        "set_value",
        {
            "entity_id": entity_id(hass, "time", "ready_by"),
            "time": ready_local.strftime("%H:%M:%S"),
        },
        blocking=True,
    )
    reached: dict[int, float] = {}
    jobs = []
    for percent in (first, first - 10, first):
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": entity_id(hass, "number", "target_soc"), "value": percent},
            blocking=True,
        )
        await pass_the_debounce(hass)
        schedule = coordinator(entry).data
        assert schedule is not None
        jobs.append(schedule.job_id)
        reached[len(jobs)] = soc_at(schedule, ready_by)
    print(
        f"targets {first}, {first - 10}, {first} %: reached "
        + ", ".join(f"{kwh:.2f}" for kwh in reached.values())
        + f" kWh; jobs {jobs}"
    )
    assert len(set(jobs)) == 3
    assert reached[3] == pytest.approx(first / 100 * CAPACITY, abs=TOLERANCE)
