"""Button of a schedule device: ask FlexMeasures for a new schedule now."""

from __future__ import annotations

from typing import Final, override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import FlexMeasuresConfigEntry
from .entity import FlexMeasuresScheduleEntity, async_add_schedule_entities
from .site_entities import async_add_site_entities

PARALLEL_UPDATES = 1

RESCHEDULE: Final = ButtonEntityDescription(
    key="reschedule", translation_key="reschedule"
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexMeasuresConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the reschedule button of each schedule and each site device."""
    async_add_schedule_entities(
        entry,
        async_add_entities,
        lambda coordinator: [FlexMeasuresRescheduleButton(coordinator, RESCHEDULE)],
    )
    async_add_site_entities(entry, async_add_entities, Platform.BUTTON)


class FlexMeasuresRescheduleButton(FlexMeasuresScheduleEntity, ButtonEntity):
    """Trigger a new schedule with the configured flex model.

    Always available: pressing it is how to get a schedule when none covers now.
    """

    _always_available = True

    @override
    async def async_press(self) -> None:
        """Trigger, wait and update the entities; failures are raised to the user."""
        await self.coordinator.async_trigger()
