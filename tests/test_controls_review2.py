"""Review of b29d408 (NaN target, kept targets, ready_by to the second, and the
asset's power capacity kept with its sensor for charge_now without the server).

Section "faults": each failed on b29d408 and is fixed (the site's stored
capacity is kept too, kept capacities must be positive, a ready_by kept with
microseconds is read, diagnostics show the asset's power capacity). Section
"controls": what was checked and found right, each failing if it broke.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    mock_restore_cache_with_extra_data,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flexmeasures.store import EntryStore

from .common import schedule_subentry, setup_integration
from .const import (
    TOY_BATTERY_ASSET_ID,
    TOY_BUILDING_ASSET_ID,
    TOY_EMAIL,
    TOY_EV_SENSOR_ID,
    TOY_PASSWORD,
)
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    SUBENTRY_ID,
    coordinator_of,
    fake_value,
    make_entry,
    set_soc,
)
from .test_device_controls import set_value, state
from .test_site import EV_DATA, EV_ID, SITE_DATA, site_subentry

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

READY_BY = "time.home_battery_ready_by"
TRANSLATIONS = (
    Path(__file__).parent.parent / "custom_components" / "flexmeasures" / "translations"
)


@pytest.fixture(autouse=True)
async def amsterdam(hass: HomeAssistant) -> None:
    """Home Assistant in Europe/Amsterdam: NOW (05:37 UTC) is 06:37 there."""
    await hass.config.async_set_time_zone("Europe/Amsterdam")


async def reload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def server_answers_again(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The server is back; the next update (15 minutes on) reaches it."""
    fake_fm.down = False
    freezer.tick(timedelta(minutes=16))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, "binary_sensor", "stale").state == "off"


def kept_sensor(entry: MockConfigEntry, subentry_id: str = SUBENTRY_ID) -> Any:
    """What the entry's store keeps for a sub-entry's sensor (its raw dict)."""
    store: EntryStore = entry.runtime_data.store
    return store._data["sensors"][subentry_id]


def options(hass: HomeAssistant) -> list[str]:
    return list(state(hass, "select", "mode").attributes["options"])


def setpoint(hass: HomeAssistant) -> float:
    return float(state(hass, "sensor", "power_setpoint").state)


def flattened(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flattened(item, f"{prefix}.{key}")
    else:
        yield prefix, value


async def asset_capacity_device_online(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, soc: str = "10"
) -> MockConfigEntry:
    """The battery without a form power capacity: the asset's 500 kVA is used."""
    set_soc(hass, soc, "%")
    entry = make_entry(fake_fm, power_capacity=None)
    await setup_integration(hass, entry)
    assert coordinator_of(entry).job.charging_power == 500.0
    assert kept_sensor(entry)["asset_power_capacity"] == 500.0
    return entry


async def site_with_asset_capacity_battery(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, site_power_capacity: float | None
) -> MockConfigEntry:
    """Site "Home": the battery (asset's 500 kVA) and the EV planned at 10 kW."""
    fake_fm.add_ev_charger()
    fake_fm.job_parts = {TOY_EV_SENSOR_ID: [10.0] * 96}
    set_soc(hass, "10", "%")
    entry = make_entry(
        fake_fm,
        power_capacity=None,
        more=[
            schedule_subentry(EV_DATA, subentry_id=EV_ID, title="EV charger"),
            site_subentry({**SITE_DATA, "site_power_capacity": site_power_capacity}),
        ],
    )
    await setup_integration(hass, entry)
    return entry


# --- faults ---------------------------------------------------------------------


async def test_a_member_charging_now_offline_stays_within_the_sites_asset_capacity(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Site "Home" sets no capacity; its asset stores 30 kW. The EV is planned at
    10 kW: the battery charging now gets 20 kW, online and offline alike."""
    fake_fm.assets[TOY_BUILDING_ASSET_ID]["flex_context"] = (
        '{"consumption-price": {"sensor": 7}, "site-power-capacity": "30 kW"}'
    )
    entry = await site_with_asset_capacity_battery(hass, fake_fm, None)
    await set_value(hass, "select", "mode", option="charge_now")
    assert setpoint(hass) == 20.0
    fake_fm.down = True
    await reload(hass, entry)
    assert state(hass, "select", "mode").state == "charge_now"
    assert setpoint(hass) <= 30.0


async def test_a_damaged_negative_kept_capacity_does_not_make_charge_now_discharge(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    entry = await asset_capacity_device_online(hass, fake_fm)
    await set_value(hass, "select", "mode", option="charge_now")
    fake_fm.down = True
    kept_sensor(entry)["asset_power_capacity"] = -500.0
    await reload(hass, entry)
    charging = coordinator_of(entry).job.charging_power
    assert charging is None or charging > 0
    if "charge_now" in options(hass):
        assert setpoint(hass) > 0


async def test_a_ready_by_kept_with_microseconds_by_an_older_version_is_read_back(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    mock_restore_cache_with_extra_data(hass, [(State(READY_BY, "06:15:30.500000"), {})])
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert state(hass, "time", "ready_by").state == "06:15:30"


async def test_the_diagnostics_show_the_asset_power_capacity_charge_now_uses(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    fake_fm: FakeFlexMeasures,
) -> None:
    entry = await asset_capacity_device_online(hass, fake_fm)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    device = diagnostics["coordinators"][SUBENTRY_ID]
    assert any(
        "power_capacity" in key and value == 500.0 for key, value in flattened(device)
    ), device


# --- controls -------------------------------------------------------------------


async def test_a_capacity_changed_on_the_server_is_used_once_it_answers_again(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The kept capacity is not used for good: the server's answer reloads the
    entry (connection.py), which reads the asset again."""
    entry = await asset_capacity_device_online(hass, fake_fm)
    fake_fm.down = True
    await reload(hass, entry)
    assert coordinator_of(entry).job.charging_power == 500.0  # as kept: right
    fake_fm.assets[TOY_BATTERY_ASSET_ID]["flex_model"] = (
        '{"soc-max": "450 kWh", "power-capacity": "100 kW", '
        '"roundtrip-efficiency": "90%"}'
    )
    await server_answers_again(hass, fake_fm, freezer)
    assert coordinator_of(entry).job.charging_power == 100.0
    assert kept_sensor(entry)["asset_power_capacity"] == 100.0
    await set_value(hass, "select", "mode", option="charge_now")
    assert setpoint(hass) == 100.0


async def test_an_older_store_without_the_capacity_reads_it_when_the_server_answers(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A store from before b29d408 (sensor without the key): charge_now comes
    back with the server's answer."""
    entry = await asset_capacity_device_online(hass, fake_fm)
    fake_fm.down = True
    del kept_sensor(entry)["asset_power_capacity"]  # as an older version kept it
    await reload(hass, entry)
    assert "charge_now" not in options(hass)  # nothing known: right
    await server_answers_again(hass, fake_fm, freezer)
    assert coordinator_of(entry).job.charging_power == 500.0
    assert "charge_now" in options(hass)


async def test_charge_now_offline_at_the_kept_capacity_ends_at_the_target(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    entry = await asset_capacity_device_online(hass, fake_fm)
    await set_value(hass, "number", "target_soc", value=60)
    await set_value(hass, "select", "mode", option="charge_now")
    fake_fm.down = True
    await reload(hass, entry)
    assert state(hass, "binary_sensor", "stale").state == "on"
    assert state(hass, "select", "mode").state == "charge_now"
    assert setpoint(hass) == 500.0
    set_soc(hass, "61", "%")
    await hass.async_block_till_done()
    assert state(hass, "select", "mode").state == "smart"
    assert setpoint(hass) != 500.0


async def test_a_capacity_kept_for_another_power_sensor_is_not_used(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Kept for sensor 10 (before a reconfigure): not for sensor 8."""
    entry = await asset_capacity_device_online(hass, fake_fm)
    fake_fm.down = True
    kept_sensor(entry).update(id=10, asset_power_capacity=77.0)
    await reload(hass, entry)
    assert coordinator_of(entry).job.charging_power is None
    assert "charge_now" not in options(hass)
    assert setpoint(hass) == fake_value(0)  # the kept plan is still followed


async def test_the_forms_power_capacity_wins_over_a_kept_asset_capacity(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    entry = await asset_capacity_device_online(hass, fake_fm)
    fake_fm.down = True
    kept_sensor(entry)["asset_power_capacity"] = 77.0
    await hass.config_entries.async_unload(entry.entry_id)
    subentry = entry.subentries[SUBENTRY_ID]
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "power_capacity": 11.0}
    )
    await reload(hass, entry)
    assert coordinator_of(entry).job.asset_power_capacity == 77.0
    await set_value(hass, "select", "mode", option="charge_now")
    assert setpoint(hass) == 11.0


async def test_a_removed_device_leaves_no_kept_sensor_or_plan(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.add_ev_charger()
    set_soc(hass)
    entry = make_entry(
        fake_fm,
        power_capacity=None,
        more=[schedule_subentry(EV_DATA, subentry_id=EV_ID, title="EV charger")],
    )
    await setup_integration(hass, entry)
    assert SUBENTRY_ID in entry.runtime_data.store._data["sensors"]
    assert hass.config_entries.async_remove_subentry(entry, SUBENTRY_ID)
    await hass.async_block_till_done(wait_background_tasks=True)
    data = entry.runtime_data.store._data
    assert SUBENTRY_ID not in data["sensors"]
    assert SUBENTRY_ID not in data["plans"]
    assert EV_ID in data["sensors"]


async def test_a_nan_target_is_refused_with_its_translated_message(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    with pytest.raises(ServiceValidationError) as refused:
        await set_value(hass, "number", "target_soc", value=float("nan"))
    assert refused.value.translation_domain == "flexmeasures"
    # Home Assistant shows the message without its full stop
    assert str(refused.value) == "The target must be a number"
    messages = {
        language: json.loads((TRANSLATIONS / f"{language}.json").read_text())[
            "exceptions"
        ]["target_not_a_number"]["message"]
        for language in ("en", "de", "nl")
    }
    assert len(set(messages.values())) == 3, messages  # each its own language


async def test_offline_diagnostics_leak_no_secret(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    fake_fm: FakeFlexMeasures,
) -> None:
    entry = await asset_capacity_device_online(hass, fake_fm)
    fake_fm.down = True
    await reload(hass, entry)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    for secret in (fake_fm.url, TOY_PASSWORD, TOY_EMAIL):
        assert secret not in text


async def test_a_site_member_keeps_its_asset_capacity_and_offline_the_sites_own_bounds_it(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The site's form says 30 kW: offline the battery charging now still gets
    30 - 10 (the EV's kept part), its asset's 500 kW kept as well."""
    entry = await site_with_asset_capacity_battery(hass, fake_fm, 30.0)
    assert kept_sensor(entry)["asset_power_capacity"] == 500.0
    await set_value(hass, "select", "mode", option="charge_now")
    assert setpoint(hass) == 20.0
    fake_fm.down = True
    await reload(hass, entry)
    assert state(hass, "binary_sensor", "stale").state == "on"
    assert coordinator_of(entry).job.charging_power == 500.0
    assert state(hass, "select", "mode").state == "charge_now"
    assert setpoint(hass) == 20.0
