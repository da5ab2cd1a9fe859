"""Faults of sites found in review (issue 18), against the real FlexMeasures server.

The demo building (which stores `site-power-capacity: 500 kVA` in its
flex-context) with the battery and the seeded EV charger, both in the site
"Home". Each test sets both devices to Charge now and checks that their
setpoints added up stay within the site's capacity: the sub-entry's, or, when
it is empty, the one the real asset stores.

Home Assistant's clock is moved to a random quarter of the second half of the
day after tomorrow of the price seed (test_site_entities_e2e.py plans in the
first half and reads the server's latest beliefs back; no other test plans
there).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.const import DOMAIN
from tests.common import setup_integration
from tests.e2e.common import e2e_entry
from tests.e2e.test_site_entities_e2e import DURATION_H, _window, site_subentries

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.freeze_time(datetime(2026, 1, 1, tzinfo=UTC), tick=True),
]

BATTERY_ID = "01JE2EFAULTBATTERY00000000"
EV_ID = "01JE2EFAULTEVCHARGER000000"
SITE_ID = "01JE2EFAULTHOME00000000000"
SOC_ENTITY = "sensor.e2e_fault_battery_soc"

type MakeEntry = Callable[[float, float | None], Awaitable[MockConfigEntry]]


@pytest.fixture
async def make_entry(
    hass: HomeAssistant, fm_server: dict[str, str], freezer: FrozenDateTimeFactory
) -> Any:
    """An entry with the battery (`battery_kw`) and the EV charger in one site."""
    made: list[MockConfigEntry] = []

    async def make(battery_kw: float, site_kw: float | None) -> MockConfigEntry:
        freezer.move_to(_window(fm_server, half=1))
        hass.states.async_set(SOC_ENTITY, "100", {"unit_of_measurement": "kWh"})
        subentries = site_subentries(
            fm_server,
            battery_kw=battery_kw,
            site_kw=site_kw,
            titles=("Fault battery", "Fault EV charger", "Fault home"),
            ids=(BATTERY_ID, EV_ID, SITE_ID),
            soc_entity=SOC_ENTITY,
            duration=DURATION_H,
        )
        entry = e2e_entry(fm_server, subentries_data=subentries)
        await setup_integration(hass, entry)
        made.append(entry)
        return entry

    yield make
    for entry in made:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


def _entity(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None, unique_id
    return found


async def _both_charge_now(hass: HomeAssistant) -> float:
    """Both devices to Charge now; their setpoints added up (kW)."""
    for subentry_id in (BATTERY_ID, EV_ID):
        await hass.services.async_call(
            "select",
            "select_option",
            {
                "entity_id": _entity(hass, "select", f"{subentry_id}_mode"),
                "option": "charge_now",
            },
            blocking=True,
        )
    total = 0.0
    for subentry_id in (BATTERY_ID, EV_ID):
        state = hass.states.get(
            _entity(hass, "sensor", f"{subentry_id}_power_setpoint")
        )
        assert state is not None
        total += float(state.state)
    return total


async def test_charge_now_on_both_devices_stays_within_the_sites_capacity(
    hass: HomeAssistant, make_entry: MakeEntry
) -> None:
    entry = await make_entry(50.0, 60.0)
    assert entry.runtime_data.sites[SITE_ID].data is not None
    total = await _both_charge_now(hass)
    print(f"both charging now: {total:.3f} kW behind 60 kW")  # noqa: T201
    assert total <= 60.0 + 1e-6


async def test_charge_now_without_a_site_capacity_keeps_to_the_buildings(
    hass: HomeAssistant, make_entry: MakeEntry
) -> None:
    entry = await make_entry(490.0, None)
    assert entry.runtime_data.sites[SITE_ID].data is not None
    total = await _both_charge_now(hass)
    print(f"both charging now: {total:.3f} kW behind the building's 500 kVA")  # noqa: T201
    assert total <= 500.0 + 1e-6
