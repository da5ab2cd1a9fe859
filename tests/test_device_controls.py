"""Targets and overrides from the dashboard: ready by, target, mode (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant, State
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    mock_restore_cache_with_extra_data,
)

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    SOC_ENTITY,
    STEP_START,
    coordinator_of,
    entity_id,
    fake_value,
    make_entry,
    set_soc,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]


@pytest.fixture(autouse=True)
async def amsterdam(hass: HomeAssistant) -> None:
    """Home Assistant in Europe/Amsterdam: NOW (05:37 UTC) is 06:37 there."""
    await hass.config.async_set_time_zone("Europe/Amsterdam")


def flex_model(fake_fm: FakeFlexMeasures) -> dict[str, Any]:
    """The flex-model of the last job."""
    model = list(fake_fm.jobs.values())[-1].payload["flex-model"]
    return model[0] if isinstance(model, list) else model


async def set_value(hass: HomeAssistant, platform: str, key: str, **data: Any) -> None:
    service = {"time": "set_value", "number": "set_value", "select": "select_option"}
    await hass.services.async_call(
        platform,
        service[platform],
        {"entity_id": entity_id(hass, platform, key), **data},
        blocking=True,
    )


async def after_debounce(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    freezer.tick(timedelta(seconds=4))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def state(hass: HomeAssistant, platform: str, key: str) -> State:
    found = hass.states.get(entity_id(hass, platform, key))
    assert found is not None
    return found


async def test_target_by_ready_by_is_sent_as_a_soc_target(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """80 % of 450 kWh by 07:00 local (06:00 UTC): one job, with that target."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert state(hass, "number", "target_soc").attributes["unit_of_measurement"] == "%"
    assert state(hass, "time", "ready_by").state == "07:00:00"
    jobs = len(fake_fm.jobs)

    await set_value(hass, "number", "target_soc", value=80)
    await after_debounce(hass, freezer)

    assert len(fake_fm.jobs) == jobs + 1
    assert flex_model(fake_fm)["soc-targets"] == [
        {"datetime": "2026-11-23T06:00:00+00:00", "value": "360 kWh"}
    ]


async def test_several_changes_within_the_debounce_send_one_job(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Moving a slider: many values, one job with the last one."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    jobs = len(fake_fm.jobs)
    for value in (10, 20, 30, 40):
        await set_value(hass, "number", "target_soc", value=value)
        freezer.tick(timedelta(seconds=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    await set_value(hass, "time", "ready_by", time="06:00:00")
    await after_debounce(hass, freezer)
    assert len(fake_fm.jobs) == jobs + 1
    assert flex_model(fake_fm)["soc-targets"] == [
        {"datetime": "2026-11-24T05:00:00+00:00", "value": "180 kWh"}
    ]


async def test_the_horizon_is_extended_to_reach_the_target(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A 6 h horizon and a target tomorrow 05:00 (04:00 UTC): planned until then."""
    set_soc(hass)
    entry = make_entry(fake_fm, duration=6)
    await setup_integration(hass, entry)
    await set_value(hass, "time", "ready_by", time="05:00:00")
    await set_value(hass, "number", "target_soc", value=50)
    await after_debounce(hass, freezer)
    job = list(fake_fm.jobs.values())[-1]
    assert job.payload["duration"] == "PT22H30M"
    assert flex_model(fake_fm)["soc-targets"][0]["datetime"] == (
        "2026-11-24T04:00:00+00:00"
    )


async def test_target_in_kwh_without_a_capacity(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass, "200", "kWh")
    entry = make_entry(fake_fm, capacity=None)
    await setup_integration(hass, entry)
    target = state(hass, "number", "target_soc")
    assert target.attributes["unit_of_measurement"] == "kWh"
    assert target.attributes["max"] == 450
    await set_value(hass, "number", "target_soc", value=300)
    await after_debounce(hass, freezer)
    assert flex_model(fake_fm)["soc-targets"][0]["value"] == "300 kWh"


async def test_stop_and_charge_now_set_the_setpoint_at_once_without_a_request(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The setpoint follows the mode; the plan stays in the schedule attribute."""
    set_soc(hass, "50", "%")
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    planned = state(hass, "sensor", "power_setpoint")
    assert float(planned.state) == fake_value(0)
    requests = len(fake_fm.requests)

    await set_value(hass, "select", "mode", option="stop")
    setpoint = state(hass, "sensor", "power_setpoint")
    assert float(setpoint.state) == 0.0
    assert setpoint.attributes["mode"] == "stop"
    assert setpoint.attributes["schedule"] == planned.attributes["schedule"]
    assert state(hass, "binary_sensor", "discharging").state == "off"
    assert state(hass, "sensor", "next_change").state == "unknown"

    await set_value(hass, "select", "mode", option="charge_now")
    assert float(state(hass, "sensor", "power_setpoint").state) == 500.0
    assert state(hass, "binary_sensor", "charging").state == "on"

    await set_value(hass, "select", "mode", option="smart")
    assert float(state(hass, "sensor", "power_setpoint").state) == fake_value(0)
    assert len(fake_fm.requests) == requests


async def test_charge_now_falls_back_to_smart_at_the_target(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """charge_now ends when the state of charge reaches the target (80 %)."""
    set_soc(hass, "50", "%")
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    await set_value(hass, "number", "target_soc", value=80)
    await after_debounce(hass, freezer)
    await set_value(hass, "select", "mode", option="charge_now")
    set_soc(hass, "79", "%")
    await hass.async_block_till_done()
    assert state(hass, "select", "mode").state == "charge_now"
    set_soc(hass, "80", "%")
    await hass.async_block_till_done()
    assert state(hass, "select", "mode").state == "smart"
    assert state(hass, "sensor", "power_setpoint").attributes["mode"] == "smart"


async def test_charge_now_when_already_full_is_smart_at_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass, "100", "%")
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    await set_value(hass, "select", "mode", option="charge_now")
    assert state(hass, "select", "mode").state == "smart"


async def test_charge_now_without_a_soc_entity_lasts_until_the_mode_changes(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    entry = make_entry(fake_fm, soc_entity=None, soc_min=0)
    await setup_integration(hass, entry)
    await set_value(hass, "select", "mode", option="charge_now")
    hass.states.async_set(SOC_ENTITY, "100", {"unit_of_measurement": "%"})
    await hass.async_block_till_done()
    assert state(hass, "select", "mode").state == "charge_now"


async def test_charge_now_is_not_offered_without_a_charging_power(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Neither the form nor the asset's flex-model names a power capacity."""
    fake_fm.assets[6]["flex_model"] = "{}"
    set_soc(hass)
    entry = make_entry(fake_fm, power_capacity=None)
    await setup_integration(hass, entry)
    assert state(hass, "select", "mode").attributes["options"] == ["smart", "stop"]


async def test_charge_now_uses_the_asset_power_capacity(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The demo battery's flex-model says "500 kVA"."""
    set_soc(hass, "10", "%")
    entry = make_entry(fake_fm, power_capacity=None)
    await setup_integration(hass, entry)
    assert "charge_now" in state(hass, "select", "mode").attributes["options"]
    await set_value(hass, "select", "mode", option="charge_now")
    assert float(state(hass, "sensor", "power_setpoint").state) == 500.0


async def test_controls_are_restored_after_a_restart(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """ready_by, target_soc and mode come back; the target goes into the next job."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State("time.home_battery_ready_by", "06:15:00"), {}),
            (State("select.home_battery_mode", "stop"), {}),
            (
                State("number.home_battery_target_soc", "60"),
                {
                    "native_value": 60.0,
                    "native_unit_of_measurement": "%",
                    "native_min_value": 0,
                    "native_max_value": 100,
                    "native_step": 1,
                },
            ),
        ],
    )
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert state(hass, "time", "ready_by").state == "06:15:00"
    assert float(state(hass, "number", "target_soc").state) == 60.0
    assert state(hass, "select", "mode").state == "stop"
    assert float(state(hass, "sensor", "power_setpoint").state) == 0.0
    await after_debounce(hass, freezer)
    assert flex_model(fake_fm)["soc-targets"] == [
        {"datetime": "2026-11-24T05:15:00+00:00", "value": "270 kWh"}
    ]


async def test_the_calendar_shows_the_standing_target(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    await set_value(hass, "number", "target_soc", value=80)
    await after_debounce(hass, freezer)
    result = await hass.services.async_call(
        "calendar",
        "get_events",
        {
            "entity_id": entity_id(hass, "calendar", "schedule"),
            "start_date_time": STEP_START,
            "end_date_time": STEP_START + timedelta(hours=12),
        },
        blocking=True,
        return_response=True,
    )
    assert result is not None
    events = next(iter(result.values()))["events"]  # type: ignore[index]
    targets = [event for event in events if event["summary"] == "Target 80 %"]
    assert len(targets) == 1
    assert datetime.fromisoformat(targets[0]["start"]) == datetime(
        2026, 11, 23, 6, 0, tzinfo=UTC
    )
    assert coordinator_of(entry).controls.target_kwh() == pytest.approx(360.0)


async def test_charge_now_ends_at_soc_max_when_the_target_lies_above_it(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A 100 % target with soc_max 400 of 450 kWh: the state of charge (clamped
    into the range) never passes 400 kWh, so charge_now ends there."""
    set_soc(hass, "50", "%")
    entry = make_entry(fake_fm, soc_max=400.0)
    await setup_integration(hass, entry)
    await set_value(hass, "number", "target_soc", value=100)
    await after_debounce(hass, freezer)
    await set_value(hass, "select", "mode", option="charge_now")
    set_soc(hass, "88", "%")  # 396 kWh
    await hass.async_block_till_done()
    assert state(hass, "select", "mode").state == "charge_now"
    set_soc(hass, "100", "%")  # read as 400 kWh, the most it may hold
    await hass.async_block_till_done()
    assert state(hass, "select", "mode").state == "smart"
    assert float(state(hass, "sensor", "power_setpoint").state) == fake_value(0)


async def test_lowering_the_target_below_the_soc_ends_charge_now_at_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Charging now to 80 % at 70 %: a target of 60 % is reached already."""
    set_soc(hass, "70", "%")
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    await set_value(hass, "number", "target_soc", value=80)
    await after_debounce(hass, freezer)
    await set_value(hass, "select", "mode", option="charge_now")
    assert state(hass, "select", "mode").state == "charge_now"
    await set_value(hass, "number", "target_soc", value=60)
    assert state(hass, "select", "mode").state == "smart"
    assert float(state(hass, "sensor", "power_setpoint").state) == fake_value(0)


async def test_moving_ready_by_without_a_target_sends_no_job(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """target_soc 0: no standing target, so the request would be the same."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    jobs = len(fake_fm.jobs)
    await set_value(hass, "time", "ready_by", time="06:00:00")
    await after_debounce(hass, freezer)
    assert state(hass, "time", "ready_by").state == "06:00:00"
    assert len(fake_fm.jobs) == jobs
    # once a target stands, the time it is due counts
    await set_value(hass, "number", "target_soc", value=50)
    await after_debounce(hass, freezer)
    assert len(fake_fm.jobs) == jobs + 1
    await set_value(hass, "time", "ready_by", time="05:00:00")
    await after_debounce(hass, freezer)
    assert len(fake_fm.jobs) == jobs + 2
    assert flex_model(fake_fm)["soc-targets"] == [
        {"datetime": "2026-11-24T04:00:00+00:00", "value": "225 kWh"}
    ]


@pytest.mark.parametrize(
    ("kept", "kept_unit", "changes", "unit"),
    [
        # 300 kWh kept from before a capacity was configured: not 100 % (450 kWh)
        (300.0, "kWh", {}, "%"),
        # 80 % kept from before the capacity was removed: not 80 kWh
        (80.0, "%", {"capacity": None}, "kWh"),
    ],
)
async def test_a_target_kept_in_the_other_unit_is_not_taken_back(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    *,
    kept: float,
    kept_unit: str,
    changes: dict[str, Any],
    unit: str,
) -> None:
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State("number.home_battery_target_soc", str(kept)),
                {
                    "native_value": kept,
                    "native_unit_of_measurement": kept_unit,
                    "native_min_value": 0,
                    "native_max_value": 450 if kept_unit == "kWh" else 100,
                    "native_step": 0.1 if kept_unit == "kWh" else 1,
                },
            ),
        ],
    )
    set_soc(hass, "200", "kWh")
    entry = make_entry(fake_fm, **changes)
    await setup_integration(hass, entry)
    jobs = len(fake_fm.jobs)
    await after_debounce(hass, freezer)
    target = state(hass, "number", "target_soc")
    assert target.attributes["unit_of_measurement"] == unit
    assert float(target.state) == 0.0
    assert len(fake_fm.jobs) == jobs
    assert "soc-targets" not in flex_model(fake_fm)


async def test_charge_now_outlasts_an_unavailable_state_of_charge(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """No value to compare: keep charging; the next value that reaches soc_max
    ends it."""
    set_soc(hass, "unavailable", None)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    await set_value(hass, "select", "mode", option="charge_now")
    assert state(hass, "select", "mode").state == "charge_now"
    assert float(state(hass, "sensor", "power_setpoint").state) == 500.0
    set_soc(hass, "90", "%")
    await hass.async_block_till_done()
    set_soc(hass, "unknown", None)
    await hass.async_block_till_done()
    assert state(hass, "select", "mode").state == "charge_now"
    hass.states.async_remove(SOC_ENTITY)
    await hass.async_block_till_done()
    assert state(hass, "select", "mode").state == "charge_now"
    set_soc(hass, "100", "%")
    await hass.async_block_till_done()
    assert state(hass, "select", "mode").state == "smart"


async def test_unloading_within_the_debounce_sends_no_job(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    jobs = len(fake_fm.jobs)
    await set_value(hass, "number", "target_soc", value=80)
    await set_value(hass, "select", "mode", option="charge_now")
    controls = coordinator_of(entry).controls
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await after_debounce(hass, freezer)
    assert len(fake_fm.jobs) == jobs
    set_soc(hass, "100", "%")  # no longer watched: nothing changes
    await hass.async_block_till_done()
    assert controls.values.mode == "charge_now"


async def test_unloading_within_the_debounce_leaves_no_timer(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The test harness fails a test that leaves a timer behind."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    await set_value(hass, "number", "target_soc", value=80)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_a_changed_target_shows_at_once_and_is_sent_after_the_debounce(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The slider shows the new value and the calendar its event before the job."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    jobs = len(fake_fm.jobs)
    await set_value(hass, "number", "target_soc", value=70)
    assert float(state(hass, "number", "target_soc").state) == 70.0
    freezer.tick(timedelta(seconds=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert len(fake_fm.jobs) == jobs
    freezer.tick(timedelta(seconds=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(fake_fm.jobs) == jobs + 1
    # back to 0: one more job, now without a standing target
    await set_value(hass, "number", "target_soc", value=0)
    await after_debounce(hass, freezer)
    assert len(fake_fm.jobs) == jobs + 2
    assert "soc-targets" not in flex_model(fake_fm)


@pytest.mark.parametrize("kept", ["unknown", "unavailable", "half past six"])
async def test_ready_by_without_a_kept_time_is_the_default(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, kept: str
) -> None:
    mock_restore_cache_with_extra_data(
        hass, [(State("time.home_battery_ready_by", kept), {})]
    )
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert state(hass, "time", "ready_by").state == "07:00:00"


@pytest.mark.parametrize(
    ("ready_by", "sent"),
    [
        # 07:10 local is 06:10 UTC, inside the 06:00-06:15 step: due at 06:00
        ("07:10:00", "2026-11-23T06:00:00+00:00"),
        ("07:14:59", "2026-11-23T06:00:00+00:00"),
        ("07:15:00", "2026-11-23T06:15:00+00:00"),
        # in the step holding now (05:30-05:45 UTC): the earliest, its end
        ("06:40:00", "2026-11-23T05:45:00+00:00"),
    ],
)
async def test_a_ready_by_between_steps_is_due_at_the_step_before_it(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    ready_by: str,
    sent: str,
) -> None:
    """FlexMeasures puts a target at the end of the step holding its time: one
    at 07:10 would be reached at 07:15, after the car has left."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    await set_value(hass, "time", "ready_by", time=ready_by)
    await set_value(hass, "number", "target_soc", value=80)
    await after_debounce(hass, freezer)
    assert flex_model(fake_fm)["soc-targets"] == [
        {"datetime": sent, "value": "360 kWh"}
    ]


async def test_a_ready_by_between_steps_is_due_at_the_step_before_it_in_a_site(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The same for a device planned in its site's job (ready_by 07:10 local)."""
    set_soc(hass)
    site = ConfigSubentryData(
        data={
            "name": "Home",
            "asset": "5",
            "devices": ["8"],
            "consumption_price_sensor": "7",
            "production_price_sensor": "",
            "duration": 24,
            "update_interval": 15,
        },
        subentry_id="01JSITEHOME000000000000000",
        subentry_type="site",
        title="Home",
        unique_id="5",
    )
    entry = make_entry(fake_fm, more=[site])
    await setup_integration(hass, entry)
    assert coordinator_of(entry).site is not None
    jobs = len(fake_fm.jobs)
    await set_value(hass, "time", "ready_by", time="07:10:00")
    await set_value(hass, "number", "target_soc", value=80)
    await after_debounce(hass, freezer)
    assert len(fake_fm.jobs) == jobs + 1
    assert flex_model(fake_fm)["soc-targets"] == [
        {"datetime": "2026-11-23T06:00:00+00:00", "value": "360 kWh"}
    ]
    # a changed target is never taken from FlexMeasures' job cache
    assert list(fake_fm.jobs.values())[-1].payload["force-new-job-creation"] is True


async def test_a_changed_target_forces_a_new_job_at_the_server(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """FlexMeasures hands back its earlier job for a request it has seen (within
    its job cache's time to live), and reads that job's schedule as the sensor's
    latest beliefs, i.e. those of whatever job ran last: 60 %, then 56 %, then 60 %
    again within one step would follow the 56 % plan. A changed target is never
    taken from the cache; a periodic update with nothing changed may be."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)

    def forced() -> bool:
        payload = list(fake_fm.jobs.values())[-1].payload
        return bool(payload.get("force-new-job-creation"))

    assert not forced()  # the first plan
    for value in (60, 56, 60):
        await set_value(hass, "number", "target_soc", value=value)
        await after_debounce(hass, freezer)
        assert forced()
    await coordinator_of(entry).async_refresh()  # nothing changed since
    assert not forced()
    await set_value(hass, "time", "ready_by", time="06:00:00")
    await after_debounce(hass, freezer)
    assert forced()
