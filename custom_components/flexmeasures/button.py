"""Button of a schedule device: ask FlexMeasures for a new schedule now."""

from __future__ import annotations

from typing import Final, override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import Platform

from .entity import FlexMeasuresScheduleEntity, platform_setup, schedule_entities
from .site_entities import site_entities

PARALLEL_UPDATES = 1

RESCHEDULE: Final = ButtonEntityDescription(
    key="reschedule", translation_key="reschedule"
)


# the reschedule button of each schedule and each site device
async_setup_entry = platform_setup(
    schedule_entities(
        lambda coordinator: [FlexMeasuresRescheduleButton(coordinator, RESCHEDULE)]
    ),
    site_entities(Platform.BUTTON),
)


class FlexMeasuresRescheduleButton(FlexMeasuresScheduleEntity, ButtonEntity):
    """Trigger a new schedule with the configured flex model.

    Always available: pressing it is how to get a schedule when none covers now.
    """

    _always_available = True

    @override
    async def async_press(self) -> None:
        """Trigger, wait and update the entities; failures are raised to the user."""
        await self.coordinator.async_trigger()
