"""A restart during a server outage, against the real FlexMeasures server (issue 13).

Home Assistant reaches the server through a loopback proxy that the test cuts
(it then answers 502 like a reverse proxy in front of a server that is down).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.schedule import value_at
from tests.common import schedule_subentry, setup_integration
from tests.e2e.common import e2e_entry
from tests.e2e.loopback import LoopbackProxy, running

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]

SUBENTRY_ID = "01JE2EOFFLINETOYBATTERY000"
SOC_ENTITY = "sensor.e2e_offline_battery_soc"


@pytest.fixture
async def proxy(fm_server: dict[str, str]) -> AsyncGenerator[LoopbackProxy]:
    """A proxy to the real server that the test can cut."""
    async with running(LoopbackProxy(fm_server["FLEXMEASURES_URL"])) as found:
        yield found


def toy_battery_entry(
    fm_server: dict[str, str],
    proxy: LoopbackProxy,
    subentry_id: str,
    title: str,
    **changes: Any,
) -> MockConfigEntry:
    """The account, through the proxy, with the toy battery as a schedule device."""
    return e2e_entry(
        fm_server,
        url=proxy.url,
        subentries_data=[
            schedule_subentry(
                {
                    "power_sensor": fm_server["FM_TOY_BATTERY_SENSOR_ID"],
                    "consumption_price_sensor": fm_server["FM_TOY_PRICE_SENSOR_ID"],
                    "production_price_sensor": "",
                    "soc_entity": SOC_ENTITY,
                    "capacity": 450,
                    "soc_min": 50,
                    "soc_max": 450,
                    "duration": 12,
                    "update_interval": 60,
                    **changes,
                },
                subentry_id=subentry_id,
                title=title,
            )
        ],
    )


async def restart(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Home Assistant stops the entry and sets it up again."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def state(hass: HomeAssistant, platform: str, key: str, unique: str) -> str:
    entity = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique)
    assert entity is not None, key
    found = hass.states.get(entity)
    assert found is not None
    return found.state


async def test_restart_during_an_outage_follows_the_plan_then_takes_a_fresh_one(
    hass: HomeAssistant, fm_server: dict[str, str], proxy: LoopbackProxy
) -> None:
    """Schedule, cut, restart: the setpoint follows the plan; restore: a fresh plan."""
    hass.states.async_set(SOC_ENTITY, "200", {"unit_of_measurement": "kWh"})
    entry = toy_battery_entry(
        fm_server, proxy, SUBENTRY_ID, "Offline battery", roundtrip_efficiency=90
    )
    await setup_integration(hass, entry)
    plan = entry.runtime_data.coordinators[SUBENTRY_ID].data
    assert plan is not None
    setpoint_key = f"{SUBENTRY_ID}_power_setpoint"
    stale_key = f"{SUBENTRY_ID}_stale"
    connected_key = f"{entry.entry_id}_connected"

    # the server goes away, Home Assistant restarts
    proxy.cut = True
    await restart(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    kept = entry.runtime_data.coordinators[SUBENTRY_ID].data
    assert kept == plan
    expected = value_at(plan, dt_util.utcnow())
    assert expected is not None
    setpoint = state(hass, "sensor", "power_setpoint", setpoint_key)
    assert float(setpoint) == pytest.approx(expected, abs=1e-3)
    assert state(hass, "binary_sensor", "stale", stale_key) == "on"
    assert state(hass, "binary_sensor", "connected", connected_key) == "off"

    # the server is back: the next retry sets the account up afresh
    proxy.cut = False
    restored = dt_util.utcnow()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done(wait_background_tasks=True)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert entry.state is ConfigEntryState.LOADED
    coordinator = entry.runtime_data.coordinators[SUBENTRY_ID]
    assert coordinator.data is not None
    # a fresh update (FlexMeasures may answer the same job for the same request)
    assert coordinator.last_success is not None
    assert coordinator.last_success >= restored
    assert state(hass, "binary_sensor", "stale", stale_key) == "off"
    assert state(hass, "binary_sensor", "connected", connected_key) == "on"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


CHARGE_NOW_SUBENTRY_ID = "01JE2EOFFLINECHARGENOW0000"


async def test_charge_now_by_the_assets_power_capacity_survives_a_restart_during_an_outage(
    hass: HomeAssistant, fm_server: dict[str, str], proxy: LoopbackProxy
) -> None:
    """No power capacity in the form: charge_now charges at the toy battery
    asset's "500 kVA", read from the real server. The server goes away and Home
    Assistant restarts: the kept mode and the kept capacity go on charging."""
    hass.states.async_set(SOC_ENTITY, "100", {"unit_of_measurement": "kWh"})
    entry = toy_battery_entry(
        fm_server, proxy, CHARGE_NOW_SUBENTRY_ID, "Charge now battery"
    )
    await setup_integration(hass, entry)
    mode = er.async_get(hass).async_get_entity_id(
        "select", DOMAIN, f"{CHARGE_NOW_SUBENTRY_ID}_mode"
    )
    assert mode is not None
    await hass.services.async_call(
        "select", "select_option", {"entity_id": mode, "option": "charge_now"}, True
    )
    setpoint_key = f"{CHARGE_NOW_SUBENTRY_ID}_power_setpoint"
    assert float(state(hass, "sensor", "power_setpoint", setpoint_key)) == 500.0

    proxy.cut = True
    await restart(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    connected_key = f"{entry.entry_id}_connected"
    assert state(hass, "binary_sensor", "connected", connected_key) == "off"
    shown = hass.states.get(mode)
    assert shown is not None
    print("after the restart without the server:", shown.state, shown.attributes)  # noqa: T201
    assert "charge_now" in shown.attributes["options"]
    assert shown.state == "charge_now"
    assert float(state(hass, "sensor", "power_setpoint", setpoint_key)) == 500.0
    proxy.cut = False
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
