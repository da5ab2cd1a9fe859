"""Faults of sites (issue 18) found in review: each test failed before its fix.

The toy building (asset 5) with the battery (sensor 8, "Home battery") and the
EV charger (sensor 15) below it, planned by the site "Home" (tests/test_site.py).
"""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flexmeasures.const import SUBENTRY_TYPE_SCHEDULE

from .common import setup_integration
from .const import TOY_EV_SENSOR_ID
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import NOW, SUBENTRY_ID, set_soc
from .test_site import (
    EV_DATA,
    EV_ID,
    SITE_ID,
    asset_jobs,
    entity,
    site_entry,
    state_value,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]


async def _charge_now(hass: HomeAssistant, subentry_id: str) -> None:
    await hass.services.async_call(
        "select",
        "select_option",
        {
            "entity_id": entity(hass, "select", f"{subentry_id}_mode"),
            "option": "charge_now",
        },
        blocking=True,
    )


async def test_a_member_stays_stale_when_the_site_job_it_asked_for_fails(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    ev = entry.runtime_data.coordinators[EV_ID]
    site = entry.runtime_data.sites[SITE_ID]
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"

    # what a new standing target (or the state of charge coming back) does
    await ev.async_refresh()
    await hass.async_block_till_done()

    assert site.stale
    assert ev.stale
    assert state_value(hass, "binary_sensor", f"{EV_ID}_stale") == "on"


async def test_a_site_without_devices_says_so_and_sends_nothing(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_soc(hass)
    # the site names only a device no schedule sub-entry stands for
    entry = site_entry(fake_fm, devices=["99"])
    await setup_integration(hass, entry)
    site = entry.runtime_data.sites[SITE_ID]
    assert not site.members

    freezer.tick(timedelta(minutes=16))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert "Unexpected error" not in caplog.text
    assert "ValueError" not in caplog.text

    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": entity(hass, "button", f"{SITE_ID}_reschedule")},
            blocking=True,
        )
    assert err.value.translation_key == "site_without_devices"
    assert not asset_jobs(fake_fm)


async def test_charge_now_on_two_devices_stays_within_the_sites_capacity(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)  # 30 kW; battery 500 kW, EV charger 22 kW
    await setup_integration(hass, entry)
    await _charge_now(hass, SUBENTRY_ID)
    await _charge_now(hass, EV_ID)

    battery = float(state_value(hass, "sensor", f"{SUBENTRY_ID}_power_setpoint"))
    ev = float(state_value(hass, "sensor", f"{EV_ID}_power_setpoint"))
    assert battery >= 0.0
    assert ev >= 0.0
    assert battery + ev <= 30.0 + 1e-9
    assert battery + ev == pytest.approx(30.0)  # the capacity is used, no more


async def test_site_power_follows_a_devices_mode_at_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    await _charge_now(hass, EV_ID)

    battery = float(state_value(hass, "sensor", f"{SUBENTRY_ID}_power_setpoint"))
    ev = float(state_value(hass, "sensor", f"{EV_ID}_power_setpoint"))
    assert ev > 0.0
    site_power = float(state_value(hass, "sensor", f"{SITE_ID}_site_power"))
    assert site_power == pytest.approx(battery + ev)

    # the battery (first of the site's devices) charges now too: it takes the
    # 30 kW, and the EV charger's setpoint, written anew, gets what is left
    await _charge_now(hass, SUBENTRY_ID)
    assert float(state_value(hass, "sensor", f"{SUBENTRY_ID}_power_setpoint")) == 30.0
    assert float(state_value(hass, "sensor", f"{EV_ID}_power_setpoint")) == 0.0
    assert float(state_value(hass, "sensor", f"{SITE_ID}_site_power")) == 30.0


async def test_charge_now_without_a_site_capacity_keeps_within_the_assets(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm, site_power_capacity=None)
    await setup_integration(hass, entry)
    assert "site-power-capacity" not in asset_jobs(fake_fm)[0].payload["flex-context"]
    await _charge_now(hass, SUBENTRY_ID)  # 500 kW
    await _charge_now(hass, EV_ID)  # 22 kW

    battery = float(state_value(hass, "sensor", f"{SUBENTRY_ID}_power_setpoint"))
    ev = float(state_value(hass, "sensor", f"{EV_ID}_power_setpoint"))
    assert battery + ev == pytest.approx(500.0)  # the building's 500 kVA


async def test_a_missing_member_sensor_is_the_one_named(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)
    del fake_fm.sensors[TOY_EV_SENSOR_ID]  # deleted at the server
    await setup_integration(hass, entry)
    site = entry.runtime_data.sites[SITE_ID]
    assert site.stale
    assert site.last_error is not None
    assert site.last_error.translation_key == "sensor_not_accessible"
    assert site.last_error.placeholders["sensor_id"] == str(TOY_EV_SENSOR_ID)


async def test_diagnostics_show_the_site(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    hass_client: ClientSessionGenerator,
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    site = entry.runtime_data.sites[SITE_ID]
    diagnostics: dict[str, Any] = await get_diagnostics_for_config_entry(
        hass, hass_client, entry
    )
    shown = diagnostics["sites"][SITE_ID]
    assert shown["title"] == "Home"
    assert shown["settings"]["asset_id"] == 5
    assert shown["settings"]["device_sensor_ids"] == [8, TOY_EV_SENSOR_ID]
    assert shown["settings"]["site_power_capacity"] == 30.0
    assert shown["members"] == [SUBENTRY_ID, EV_ID]
    assert shown["job_id"] == site.job_id
    assert shown["stale"] is False
    assert shown["plan"]["steps"] == 96
    assert diagnostics["coordinators"][EV_ID]["site"] == SITE_ID
    assert diagnostics["coordinators"][SUBENTRY_ID]["site"] == SITE_ID
    assert "toy-user" not in str(diagnostics)  # still nothing of the login


async def test_a_deleted_device_does_not_come_back_into_the_site(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """A schedule added again later for a removed device plans on its own."""
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    assert hass.config_entries.async_remove_subentry(entry, EV_ID)
    await hass.async_block_till_done()
    site = entry.subentries[SITE_ID]
    assert site.data["devices"] == ["8"]

    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType(dict(EV_DATA)),
            subentry_type=SUBENTRY_TYPE_SCHEDULE,
            title="EV charger",
            unique_id=str(TOY_EV_SENSOR_ID),
        ),
    )
    await hass.async_block_till_done()

    (ev,) = (
        coordinator
        for coordinator in entry.runtime_data.coordinators.values()
        if int(coordinator.subentry.data["power_sensor"]) == TOY_EV_SENSOR_ID
    )
    assert ev.site is None
    assert [
        member.subentry.subentry_id
        for member in entry.runtime_data.sites[SITE_ID].members
    ] == [SUBENTRY_ID]
