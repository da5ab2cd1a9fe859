"""Time entity of a schedule device: the standing target's `ready_by`."""

from __future__ import annotations

from datetime import time
from typing import Final, override

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.core import State
from homeassistant.util import dt as dt_util

from .entity import FlexMeasuresControlEntity, platform_setup, schedule_entities

PARALLEL_UPDATES = 0

READY_BY: Final = TimeEntityDescription(key="ready_by", translation_key="ready_by")


# the `ready_by` time of each schedule device
async_setup_entry = platform_setup(
    schedule_entities(
        lambda coordinator: [FlexMeasuresReadyByTime(coordinator, READY_BY)]
    )
)


class FlexMeasuresReadyByTime(FlexMeasuresControlEntity, TimeEntity):
    """When the standing target (`target_soc`) must be reached, each day."""

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
    async def _async_restore(self, last: State) -> None:
        """Take back the time set before the restart."""
        if (restored := dt_util.parse_time(last.state)) is not None:
            self.coordinator.controls.set_ready_by(restored)
