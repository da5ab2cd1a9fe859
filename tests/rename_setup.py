"""Entities registered and renamed as Home Assistant does, for the rename tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
import contextlib
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.const import DOMAIN

from .common import measurement_subentry, mock_account_entry


def register(hass: HomeAssistant, object_id: str, platform: str = "p1") -> None:
    """`sensor.<object_id>` of `platform`, in the entity registry."""
    er.async_get(hass).async_get_or_create(
        "sensor", platform, f"unique-{object_id}", suggested_object_id=object_id
    )


def rename(
    hass: HomeAssistant, old: str, new: str, state: str, unit: str = "kW"
) -> None:
    """What Home Assistant does when a user changes an entity's id."""
    er.async_get(hass).async_update_entity(old, new_entity_id=new)
    hass.states.async_remove(old)
    hass.states.async_set(new, state, {"unit_of_measurement": unit})


@contextlib.contextmanager
def counting_reloads(hass: HomeAssistant) -> Iterator[list[str]]:
    """Every `async_reload` (also the scheduled ones) while the block runs."""
    reloads: list[str] = []
    reload = hass.config_entries.async_reload

    async def counted(entry_id: str) -> bool:
        reloads.append(entry_id)
        return await reload(entry_id)

    with patch.object(hass.config_entries, "async_reload", counted):
        yield reloads


@contextlib.asynccontextmanager
async def house_power_entry(
    hass: HomeAssistant, url: str, subentry_id: str
) -> AsyncIterator[MockConfigEntry]:
    """The toy account sending the registered `sensor.house_power` to sensor 8.

    Set up in the block (at the frozen clock's time); every loaded
    FlexMeasures entry is unloaded after it.
    """
    register(hass, "house_power")
    hass.states.async_set("sensor.house_power", "1", {"unit_of_measurement": "kW"})
    entry = mock_account_entry(
        url,
        subentries_data=[
            measurement_subentry(
                "sensor.house_power", "8", subentry_id=subentry_id, title="House"
            )
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    yield entry
    for each in hass.config_entries.async_entries(DOMAIN):
        if each.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(each.entry_id)
    await hass.async_block_till_done()
