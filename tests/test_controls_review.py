"""Review of 23d3c79 (one base reads, sets and restores a control).

The number `target_soc`, time `ready_by` and select `mode` of a schedule device
attacked through their real services and with hostile states kept across a
restart. The six faults found (section "faults") failed on 23d3c79 and are
fixed; the other tests pin what was checked and found right, each failing if
it broke.
"""

from __future__ import annotations

from datetime import time, timedelta
import math
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.number import NumberEntity
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    mock_restore_cache_with_extra_data,
)

from custom_components.flexmeasures.device_controls import (
    MODE_CONTROL,
    READY_BY_CONTROL,
    TARGET_SOC_CONTROL,
)
from custom_components.flexmeasures.number import FlexMeasuresTargetSocNumber
from custom_components.flexmeasures.select import FlexMeasuresModeSelect
from custom_components.flexmeasures.time import FlexMeasuresReadyByTime

from .common import schedule_subentry, setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    coordinator_of,
    fake_value,
    make_entry,
    set_soc,
)
from .test_device_controls import after_debounce, flex_model, set_value, state
from .test_site import (
    EV_DATA,
    EV_ID,
    asset_jobs,
    entity as entity_of,
    site_entry,
    state_value,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

TARGET = "number.home_battery_target_soc"
READY_BY = "time.home_battery_ready_by"
MODE = "select.home_battery_mode"


@pytest.fixture(autouse=True)
async def amsterdam(hass: HomeAssistant) -> None:
    """Home Assistant in Europe/Amsterdam: NOW (05:37 UTC) is 06:37 there."""
    await hass.config.async_set_time_zone("Europe/Amsterdam")


def kept_target(value: Any, unit: str = "%", **more: Any) -> dict[str, Any]:
    """The extra data RestoreNumber keeps for `target_soc`."""
    return {
        "native_value": value,
        "native_unit_of_measurement": unit,
        "native_min_value": 0,
        "native_max_value": 100 if unit == "%" else 450,
        "native_step": 1 if unit == "%" else 0.1,
        **more,
    }


def targets_sent(fake_fm: FakeFlexMeasures) -> Any:
    """The soc-targets of the last job (None: none)."""
    return flex_model(fake_fm).get("soc-targets")


async def reload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


def two_devices(fake_fm: FakeFlexMeasures) -> MockConfigEntry:
    """The battery and the EV charger, each on its own (no site)."""
    fake_fm.add_ev_charger()
    return make_entry(
        fake_fm,
        more=[schedule_subentry(EV_DATA, subentry_id=EV_ID, title="EV charger")],
    )


# --- faults (fixed) --------------------------------------------------------------


async def test_a_nan_target_through_number_set_value_is_refused(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    jobs = len(fake_fm.jobs)
    with pytest.raises(ServiceValidationError) as refused:
        await set_value(hass, "number", "target_soc", value="nan")
    assert refused.value.translation_key == "target_not_a_number"
    await after_debounce(hass, freezer)
    assert float(state(hass, "number", "target_soc").state) == 0.0
    assert len(fake_fm.jobs) == jobs
    assert targets_sent(fake_fm) is None


async def test_a_kept_nan_target_is_not_taken_back(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    mock_restore_cache_with_extra_data(
        hass, [(State(TARGET, "nan"), kept_target(math.nan))]
    )
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    await after_debounce(hass, freezer)
    assert float(state(hass, "number", "target_soc").state) == 0.0
    assert targets_sent(fake_fm) is None


@pytest.mark.parametrize("kept", ["60", True], ids=["string", "bool"])
async def test_a_kept_target_of_the_wrong_type_leaves_a_working_number(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    caplog: pytest.LogCaptureFixture,
    kept: Any,
) -> None:
    mock_restore_cache_with_extra_data(hass, [(State(TARGET, "60"), kept_target(kept))])
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert "Error adding entity" not in caplog.text
    target = hass.states.get(TARGET)
    assert target is not None
    assert target.state in ("0.0", "60.0")  # the default, or the kept 60 read
    await set_value(hass, "number", "target_soc", value=40)
    assert float(state(hass, "number", "target_soc").state) == 40.0


async def test_a_ready_by_with_microseconds_survives_a_reload(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    await set_value(hass, "time", "ready_by", time=time(6, 15, 30, 500000))
    assert state(hass, "time", "ready_by").state.startswith("06:15:30")
    await reload(hass, entry)
    assert state(hass, "time", "ready_by").state.startswith("06:15:30")


async def test_charge_now_is_kept_across_a_restart_with_the_server_down(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass, "10", "%")
    entry = make_entry(fake_fm, power_capacity=None)
    await setup_integration(hass, entry)
    await set_value(hass, "select", "mode", option="charge_now")
    assert float(state(hass, "sensor", "power_setpoint").state) == 500.0
    fake_fm.down = True
    await reload(hass, entry)
    fake_fm.down = False
    freezer.tick(timedelta(minutes=16))  # the next update reaches the server
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, "binary_sensor", "stale").state == "off"
    assert "charge_now" in state(hass, "select", "mode").attributes["options"]
    assert state(hass, "select", "mode").state == "charge_now"


# --- controls: restore ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kept", "unit", "changes", "shown", "sent"),
    [
        (math.inf, "%", {}, 100.0, "450 kWh"),
        (150.0, "%", {}, 100.0, "450 kWh"),
        (-5.0, "%", {}, 0.0, None),
        (-math.inf, "%", {}, 0.0, None),
        (37.0, "%", {}, 37.0, "166.5 kWh"),
        # in kWh (no capacity): the slider ends at soc_max
        (600.0, "kWh", {"capacity": None}, 450.0, "450 kWh"),
    ],
)
async def test_a_kept_target_is_clamped_into_the_sliders_range(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    *,
    kept: float,
    unit: str,
    changes: dict[str, Any],
    shown: float,
    sent: str | None,
) -> None:
    mock_restore_cache_with_extra_data(
        hass, [(State(TARGET, str(kept)), kept_target(kept, unit))]
    )
    set_soc(hass, "200", "kWh")
    entry = make_entry(fake_fm, **changes)
    await setup_integration(hass, entry)
    assert float(state(hass, "number", "target_soc").state) == shown
    jobs = len(fake_fm.jobs)
    await after_debounce(hass, freezer)
    if sent is None:
        assert len(fake_fm.jobs) == jobs
        assert targets_sent(fake_fm) is None
    else:
        assert len(fake_fm.jobs) == jobs + 1
        assert [target["value"] for target in targets_sent(fake_fm)] == [sent]


@pytest.mark.parametrize(
    "extra",
    [
        {},  # nothing kept beside the state
        {"native_value": 60.0},  # a key missing
        kept_target(None),  # no value
    ],
    ids=["no_extra_data", "missing_keys", "no_value"],
)
async def test_a_target_without_its_kept_number_data_is_the_default(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    extra: dict[str, Any],
) -> None:
    """The state alone ('60') is not read: only the number's kept data is."""
    mock_restore_cache_with_extra_data(hass, [(State(TARGET, "60"), extra)])
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    jobs = len(fake_fm.jobs)
    await after_debounce(hass, freezer)
    assert float(state(hass, "number", "target_soc").state) == 0.0
    assert len(fake_fm.jobs) == jobs


@pytest.mark.parametrize(
    ("kept", "shown"),
    [
        ("25:00", "07:00:00"),
        ("", "07:00:00"),
        ("-1:30", "07:00:00"),
        ("06:15:00+01:00", "07:00:00"),
        ("06:15:30", "06:15:30"),  # seconds are kept
        ("6:5", "06:05:00"),
    ],
)
async def test_a_kept_ready_by_is_read_back_or_left_at_the_default(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, kept: str, shown: str
) -> None:
    mock_restore_cache_with_extra_data(hass, [(State(READY_BY, kept), {})])
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert state(hass, "time", "ready_by").state == shown
    assert coordinator_of(entry).controls.values.ready_by.isoformat() == shown


@pytest.mark.parametrize("kept", ["garbage", "SMART", "Stop", " stop", "charge now"])
async def test_a_kept_mode_the_device_does_not_offer_is_smart(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, kept: str
) -> None:
    mock_restore_cache_with_extra_data(hass, [(State(MODE, kept), {})])
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert state(hass, "select", "mode").state == "smart"
    assert float(state(hass, "sensor", "power_setpoint").state) == fake_value(0)


async def test_a_kept_charge_now_without_a_charging_power_is_smart(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Neither the form nor the asset names a power: charge_now is not offered."""
    fake_fm.assets[6]["flex_model"] = "{}"
    mock_restore_cache_with_extra_data(hass, [(State(MODE, "charge_now"), {})])
    set_soc(hass)
    entry = make_entry(fake_fm, power_capacity=None)
    await setup_integration(hass, entry)
    mode = state(hass, "select", "mode")
    assert mode.attributes["options"] == ["smart", "stop"]
    assert mode.state == "smart"


@pytest.mark.parametrize(("soc", "mode"), [("10", "charge_now"), ("95", "smart")])
async def test_a_kept_charge_now_ends_at_once_when_the_kept_target_is_reached(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, soc: str, mode: str
) -> None:
    """Kept: charge_now to 90 %. At 95 % that is reached already: smart."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State(MODE, "charge_now"), {}),
            (State(TARGET, "90"), kept_target(90.0)),
        ],
    )
    set_soc(hass, soc, "%")
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert state(hass, "select", "mode").state == mode
    setpoint = float(state(hass, "sensor", "power_setpoint").state)
    assert setpoint == (500.0 if mode == "charge_now" else fake_value(0))


# --- controls: the set path through the real services ---------------------------


@pytest.mark.parametrize("value", [150, -1, "inf", "-inf"])
async def test_a_target_out_of_range_is_refused(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    value: Any,
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    jobs = len(fake_fm.jobs)
    with pytest.raises(ServiceValidationError):
        await set_value(hass, "number", "target_soc", value=value)
    await after_debounce(hass, freezer)
    assert float(state(hass, "number", "target_soc").state) == 0.0
    assert len(fake_fm.jobs) == jobs


@pytest.mark.parametrize("option", ["garbage", "SMART", ""])
async def test_a_mode_not_offered_is_refused(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, option: str
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    await set_value(hass, "select", "mode", option="stop")
    with pytest.raises(ServiceValidationError):
        await set_value(hass, "select", "mode", option=option)
    assert state(hass, "select", "mode").state == "stop"


async def test_charge_now_without_a_charging_power_is_refused(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.assets[6]["flex_model"] = "{}"
    set_soc(hass)
    entry = make_entry(fake_fm, power_capacity=None)
    await setup_integration(hass, entry)
    with pytest.raises(ServiceValidationError):
        await set_value(hass, "select", "mode", option="charge_now")
    assert state(hass, "select", "mode").state == "smart"


async def test_a_members_target_changes_are_one_site_job_and_its_mode_acts_at_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The battery inside the site "Home": target and ready_by changes within the
    debounce send one site job with the last values; a mode at once, no request."""
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    jobs = len(asset_jobs(fake_fm))
    for value in (20, 40, 60):
        await set_value(hass, "number", "target_soc", value=value)
    await set_value(hass, "time", "ready_by", time="06:00:00")
    await after_debounce(hass, freezer)
    assert len(asset_jobs(fake_fm)) == jobs + 1
    assert len(fake_fm.jobs) == jobs + 1  # no job of the battery's own
    battery = next(
        model
        for model in asset_jobs(fake_fm)[-1].payload["flex-model"]
        if model["sensor"] == 8
    )
    assert battery["soc-targets"] == [
        {"datetime": "2026-11-24T05:00:00+00:00", "value": "270 kWh"}
    ]

    requests = len(fake_fm.requests)
    ev_before = state_value(hass, "sensor", f"{EV_ID}_power_setpoint")
    await set_value(hass, "select", "mode", option="stop")
    assert float(state(hass, "sensor", "power_setpoint").state) == 0.0
    assert state(hass, "select", "mode").state == "stop"
    assert state_value(hass, "sensor", f"{EV_ID}_power_setpoint") == ev_before
    assert state_value(hass, "select", f"{EV_ID}_mode") == "smart"
    await after_debounce(hass, freezer)  # nor later: a mode asks for no job
    assert len(fake_fm.requests) == requests


# --- controls: reload, two devices, structure -----------------------------------


async def test_a_reload_keeps_the_controls_and_sends_the_target_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Set within the debounce, then reloaded: nothing sent before the reload,
    one job with the kept target after it."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    await set_value(hass, "time", "ready_by", time="06:15:00")
    await set_value(hass, "select", "mode", option="stop")
    await set_value(hass, "number", "target_soc", value=60)
    jobs = len(fake_fm.jobs)
    await reload(hass, entry)
    jobs_after_first_plan = len(fake_fm.jobs)
    assert jobs_after_first_plan == jobs + 1  # the reloaded entry's first plan
    assert state(hass, "time", "ready_by").state == "06:15:00"
    assert float(state(hass, "number", "target_soc").state) == 60.0
    assert state(hass, "select", "mode").state == "stop"
    assert float(state(hass, "sensor", "power_setpoint").state) == 0.0
    await after_debounce(hass, freezer)
    await after_debounce(hass, freezer)
    assert len(fake_fm.jobs) == jobs_after_first_plan + 1
    assert targets_sent(fake_fm) == [
        {"datetime": "2026-11-24T05:15:00+00:00", "value": "270 kWh"}
    ]


async def test_two_devices_do_not_share_their_controls(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The Control objects are shared by all entities; the values are not."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State("select.ev_charger_mode", "charge_now"), {}),
            (State("time.ev_charger_ready_by", "08:30:00"), {}),
        ],
    )
    set_soc(hass)
    entry = two_devices(fake_fm)
    await setup_integration(hass, entry)
    assert entity_of(hass, "select", f"{EV_ID}_mode") == "select.ev_charger_mode"
    assert state_value(hass, "select", f"{EV_ID}_mode") == "charge_now"
    assert state_value(hass, "time", f"{EV_ID}_ready_by") == "08:30:00"
    assert state(hass, "select", "mode").state == "smart"
    assert state(hass, "time", "ready_by").state == "07:00:00"

    await set_value(hass, "number", "target_soc", value=80)
    await set_value(hass, "select", "mode", option="stop")
    await after_debounce(hass, freezer)
    assert float(state_value(hass, "number", f"{EV_ID}_target_soc")) == 0.0
    assert state_value(hass, "select", f"{EV_ID}_mode") == "charge_now"
    assert float(state_value(hass, "sensor", f"{EV_ID}_power_setpoint")) == 22.0
    ev = entry.runtime_data.coordinators[EV_ID].controls
    battery = coordinator_of(entry).controls
    assert ev is not battery
    assert (battery.values.target, ev.values.target) == (80.0, 0.0)
    assert str(battery.values.mode) == "stop"


def test_each_control_entity_binds_its_own_control() -> None:
    """A swapped or missing `_control` is no mypy error in every case (a missing
    one is an AttributeError at run time only)."""
    assert FlexMeasuresTargetSocNumber._control is TARGET_SOC_CONTROL
    assert FlexMeasuresReadyByTime._control is READY_BY_CONTROL
    assert FlexMeasuresModeSelect._control is MODE_CONTROL


def test_no_class_of_the_number_shadows_numberentitys_deprecated_names() -> None:
    """NumberEntity warns about (and will stop supporting) `async_set_value`,
    `value`, ... defined on a subclass; its check looks at the class itself only,
    so the shared bases (which are no NumberEntity) are looked at here too. The
    time entity's `async_set_value` must stay on the time entity."""
    deprecated = {
        "async_set_value",
        "max_value",
        "min_value",
        "set_value",
        "step",
        "unit_of_measurement",
        "value",
    }
    mro = FlexMeasuresTargetSocNumber.__mro__
    ours = mro[: mro.index(NumberEntity)]
    assert all(not deprecated & set(vars(cls)) for cls in ours), [
        (cls.__name__, deprecated & set(vars(cls))) for cls in ours
    ]
    assert FlexMeasuresTargetSocNumber.async_set_value is NumberEntity.async_set_value
    assert "async_set_value" in vars(FlexMeasuresReadyByTime)
