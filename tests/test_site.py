"""A home, not a device: several devices planned together behind one connection.

The toy building (asset 5) with the battery (sensor 8) and the EV charger
(sensor 15) below it; a site sub-entry plans both in one job (issue 18).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_SITE
from custom_components.flexmeasures.requests import SiteSettings, site_flex_context

from .common import schedule_subentry, setup_integration
from .const import TOY_EV_SENSOR_ID
from .fake_flexmeasures import FakeFlexMeasures, default_part
from .schedule_setup import NOW, SCHEDULE_DATA, SUBENTRY_ID, make_entry, set_soc

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

EV_ID = "01JSCHEDULEEVCHARGER000000"
SITE_ID = "01JSITETOYBUILDING00000000"
EV_DATA: dict[str, Any] = {
    **SCHEDULE_DATA,
    "power_sensor": str(TOY_EV_SENSOR_ID),
    "soc_entity": "",
    "capacity": 60.0,
    "soc_min": 0.0,
    "soc_max": 60.0,
    "power_capacity": 22.0,
}
SITE_DATA: dict[str, Any] = {
    "name": "Home",
    "asset": "5",
    "devices": ["8", str(TOY_EV_SENSOR_ID)],
    "site_power_capacity": 30.0,
    "consumption_price_sensor": "7",
    "production_price_sensor": "asset",
    "duration": 24,
    "update_interval": 15,
}


def site_subentry(data: dict[str, Any]) -> ConfigSubentryData:
    return ConfigSubentryData(
        data=data, subentry_id=SITE_ID, subentry_type=SUBENTRY_TYPE_SITE, title="Home"
    )


def site_entry(fake_fm: FakeFlexMeasures, **site: Any) -> MockConfigEntry:
    """The battery and the EV charger, in the site "Home"."""
    fake_fm.add_ev_charger()
    return make_entry(
        fake_fm,
        more=[
            schedule_subentry(EV_DATA, subentry_id=EV_ID, title="EV charger"),
            site_subentry({**SITE_DATA, **site}),
        ],
    )


def entity(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None, unique_id
    return found


def state_value(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    found = hass.states.get(entity(hass, platform, unique_id))
    assert found is not None
    return found.state


def asset_jobs(fake_fm: FakeFlexMeasures) -> list[Any]:
    return [job for job in fake_fm.jobs.values() if len(job.sensor_ids) > 1]


async def test_one_job_plans_all_devices_and_each_follows_its_part(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)

    assert len(fake_fm.jobs) == 1
    (job,) = fake_fm.jobs.values()
    assert job.sensor_ids == [8, TOY_EV_SENSOR_ID]
    models = job.payload["flex-model"]
    assert [model["sensor"] for model in models] == [8, TOY_EV_SENSOR_ID]
    assert models[0]["soc-at-start"] == "225 kWh"  # the battery's 50 % of 450
    assert models[1]["power-capacity"] == "22 kW"
    assert job.payload["flex-context"] == {
        "consumption-price": {"sensor": 7},
        "site-power-capacity": "30 kW",
    }
    assert "/api/v3_0/assets/5/schedules/trigger" in fake_fm.paths()
    battery = float(state_value(hass, "sensor", f"{SUBENTRY_ID}_power_setpoint"))
    ev = float(state_value(hass, "sensor", f"{EV_ID}_power_setpoint"))
    assert battery == default_part(0, 96)[0]
    assert ev == default_part(1, 96)[0]
    site = hass.states.get(entity(hass, "sensor", f"{SITE_ID}_site_power"))
    assert site is not None
    assert float(site.state) == pytest.approx(battery + ev)
    assert site.attributes["devices"] == [
        entity(hass, "sensor", f"{SUBENTRY_ID}_power_setpoint"),
        entity(hass, "sensor", f"{EV_ID}_power_setpoint"),
    ]
    assert site.attributes["schedule"][0]["value"] == pytest.approx(battery + ev)


async def test_one_job_per_site_update_and_none_of_the_devices_own(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    freezer.tick(timedelta(minutes=16))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(fake_fm.jobs) == 2
    assert all(len(job.sensor_ids) == 2 for job in fake_fm.jobs.values())
    assert not [
        p
        for p in fake_fm.paths()
        if p.startswith("/api/v3_0/sensors/8/schedules/trigger")
    ]


async def test_a_devices_reschedule_runs_the_site_job(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": entity(hass, "button", f"{EV_ID}_reschedule")},
        blocking=True,
    )
    jobs = asset_jobs(fake_fm)
    assert len(jobs) == 2
    assert jobs[-1].payload["force-new-job-creation"] is True


async def test_a_member_trigger_takes_its_own_overrides_and_refuses_the_sites(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    ev = entry.runtime_data.coordinators[EV_ID]
    await ev.async_trigger(soc_at_start="10 kWh", flex_model={"soc-max": "50 kWh"})
    models = asset_jobs(fake_fm)[-1].payload["flex-model"]
    assert models[1]["soc-at-start"] == "10 kWh"
    assert models[1]["soc-max"] == "50 kWh"
    assert models[0]["soc-max"] == "450 kWh"  # the battery as configured
    with pytest.raises(ServiceValidationError) as err:
        await ev.async_trigger(duration=timedelta(hours=4))
    assert err.value.translation_key == "set_on_the_site"
    with pytest.raises(ServiceValidationError):
        await ev.async_trigger(flex_context={"site-power-capacity": "1 kW"})


async def test_the_site_shows_the_cost_and_its_devices_do_not(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    cost = hass.states.get(entity(hass, "sensor", f"{SITE_ID}_planned_cost"))
    assert cost is not None
    assert cost.state != "unavailable"
    assert cost.attributes["unit_of_measurement"] == "EUR"
    assert state_value(hass, "sensor", f"{SUBENTRY_ID}_planned_cost") == "unavailable"


async def test_a_failed_site_job_makes_the_site_and_its_devices_stale(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    site = entry.runtime_data.sites[SITE_ID]
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    with pytest.raises(HomeAssistantError):
        await site.async_trigger()
    await hass.async_block_till_done()
    assert state_value(hass, "binary_sensor", f"{SITE_ID}_stale") == "on"
    assert state_value(hass, "binary_sensor", f"{SUBENTRY_ID}_stale") == "on"
    assert state_value(hass, "binary_sensor", f"{EV_ID}_stale") == "on"
    # the devices keep following their parts of the last plan
    assert state_value(hass, "sensor", f"{EV_ID}_power_setpoint") != "unavailable"


async def test_charge_now_in_a_site_takes_at_most_what_the_others_leave(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """30 kW site, the battery planned at -10 kW now: the EV gets at most 22 kW."""
    set_soc(hass)
    fake_fm.job_parts = {8: [15.0] * 96}
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    ev = entry.runtime_data.coordinators[EV_ID]
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": entity(hass, "select", f"{EV_ID}_mode"), "option": "charge_now"},
        blocking=True,
    )
    assert ev.job.charging_power == 22.0
    assert float(state_value(hass, "sensor", f"{EV_ID}_power_setpoint")) == 15.0


async def test_a_device_leaving_the_site_goes_back_to_its_own_schedule(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    hass.config_entries.async_update_subentry(
        entry,
        entry.subentries[SITE_ID],
        data={**SITE_DATA, "devices": ["8"]},
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    ev = entry.runtime_data.coordinators[EV_ID]
    assert ev.site is None
    assert ev.data is not None
    own = [job for job in fake_fm.jobs.values() if job.sensor_ids == [TOY_EV_SENSOR_ID]]
    assert len(own) == 1
    assert state_value(hass, "sensor", f"{EV_ID}_planned_cost") != "unavailable"


def test_the_sites_request_context_names_its_capacity_and_prices() -> None:
    settings = SiteSettings.from_data(SITE_DATA)
    assert settings.device_sensor_ids == (8, TOY_EV_SENSOR_ID)
    assert site_flex_context(settings) == {
        "consumption-price": {"sensor": 7},
        "site-power-capacity": "30 kW",
    }
    bare = SiteSettings.from_data({"asset": "5", "devices": ["8"]})
    assert site_flex_context(bare) == {}


async def test_actions_on_the_site_device_run_and_read_the_sites_plan(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """trigger_schedule on the site takes the horizon and flex-context; get reads the sum."""
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, SITE_ID), entry.entry_id
    )
    assert device is not None
    answer = await hass.services.async_call(
        DOMAIN,
        "trigger_schedule",
        {
            "device_id": device.id,
            "duration": 6,
            "flex_context": {"site-power-capacity": "20 kW"},
        },
        blocking=True,
        return_response=True,
    )
    job = asset_jobs(fake_fm)[-1]
    assert job.payload["duration"] == "PT6H"
    assert job.payload["flex-context"]["site-power-capacity"] == "20 kW"
    assert answer is not None
    first = default_part(0, 24)[0] + default_part(1, 24)[0]
    assert answer["values"][0] == pytest.approx(first)
    got = await hass.services.async_call(
        DOMAIN,
        "get_schedule",
        {"device_id": device.id},
        blocking=True,
        return_response=True,
    )
    assert got == answer
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "trigger_schedule",
            {"device_id": device.id, "soc_at_start": 100},
            blocking=True,
        )
    assert err.value.translation_key == "set_on_a_device"
