"""Time entity of a schedule device: the standing target's `ready_by`."""

from __future__ import annotations

from datetime import time
from typing import Final, override

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.core import State
from homeassistant.util import dt as dt_util

from .device_controls import READY_BY_CONTROL
from .entity import FlexMeasuresValueControlEntity, platform_setup, schedule_entities

PARALLEL_UPDATES = 0

READY_BY: Final = TimeEntityDescription(key="ready_by", translation_key="ready_by")


# the `ready_by` time of each schedule device
async_setup_entry = platform_setup(
    schedule_entities(
        lambda coordinator: [FlexMeasuresReadyByTime(coordinator, READY_BY)]
    )
)


class FlexMeasuresReadyByTime(FlexMeasuresValueControlEntity[time], TimeEntity):
    """When the standing target (`target_soc`) must be reached, each day.

    A time of day in Home Assistant's time zone. A new one asks for a new
    schedule when a target stands (debounced).
    """

    _control = READY_BY_CONTROL

    @override
    async def async_set_value(self, value: time) -> None:
        """Set the time, to the second: its state is read back after a restart."""
        await self.async_set_control(value.replace(microsecond=0))

    @override
    async def _async_restored(self, last: State) -> time | None:
        """The time set before the restart, to the second.

        An older version kept microseconds (06:15:30.500000): read too.
        """
        if (kept := dt_util.parse_time(last.state)) is not None:
            return kept
        try:
            kept = time.fromisoformat(last.state)
        except ValueError:
            return None
        return None if kept.tzinfo is not None else kept.replace(microsecond=0)
