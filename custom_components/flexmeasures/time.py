"""Time entity of a schedule device: the standing target's `ready_by`."""

from __future__ import annotations

from datetime import time
from typing import Final, override

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity
from homeassistant.util import dt as dt_util

from .data import FlexMeasuresConfigEntry
from .entity import FlexMeasuresScheduleEntity, async_add_schedule_entities

PARALLEL_UPDATES = 0

READY_BY: Final = TimeEntityDescription(key="ready_by", translation_key="ready_by")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexMeasuresConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the `ready_by` time of each schedule device."""
    async_add_schedule_entities(
        entry,
        async_add_entities,
        lambda coordinator: [FlexMeasuresReadyByTime(coordinator, READY_BY)],
    )


class FlexMeasuresReadyByTime(FlexMeasuresScheduleEntity, TimeEntity, RestoreEntity):
    """When the standing target (`target_soc`) must be reached, each day."""

    _always_available = True

    @property
    @override
    def native_value(self) -> time:
        """The time of day, in Home Assistant's time zone."""
        return self.coordinator.controls.values.ready_by

    @override
    async def async_set_value(self, value: time) -> None:
        """A new time: a new schedule when a target stands (debounced)."""
        self.coordinator.controls.set_ready_by(value)

    @override
    async def async_added_to_hass(self) -> None:
        """Take back the time set before the restart."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is None or last.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
            return
        if (restored := dt_util.parse_time(last.state)) is not None:
            self.coordinator.controls.set_ready_by(restored)
