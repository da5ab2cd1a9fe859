"""Calendar of a schedule device: its charge and discharge windows."""

from __future__ import annotations

from datetime import datetime
from typing import Final, override

from homeassistant.components.calendar import (
    CalendarEntity,
    CalendarEntityDescription,
    CalendarEvent,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .data import FlexMeasuresConfigEntry
from .entity import FlexMeasuresScheduleEntity, async_add_schedule_entities
from .schedule import Window, WindowKind, windows

PARALLEL_UPDATES = 0

SCHEDULE_CALENDAR: Final = CalendarEntityDescription(
    key="schedule", translation_key="schedule"
)

_SUMMARY: Final = {
    WindowKind.CHARGING: "Charging",
    WindowKind.DISCHARGING: "Discharging",
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexMeasuresConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the calendar of each schedule device."""
    async_add_schedule_entities(
        entry,
        async_add_entities,
        lambda coordinator: [
            FlexMeasuresScheduleCalendar(coordinator, SCHEDULE_CALENDAR)
        ],
    )


def window_event(window: Window, uid_prefix: str) -> CalendarEvent:
    """A calendar event for a window, e.g. "Charging 3.2 kW"."""
    return CalendarEvent(
        start=dt_util.as_local(window.start),
        end=dt_util.as_local(window.end),
        summary=f"{_SUMMARY[window.kind]} {window.mean_power:.1f} kW",
        description=(
            f"Mean {window.mean_power:.2f} kW, max {window.max_power:.2f} kW, "
            f"{window.energy:.2f} kWh"
        ),
        uid=f"{uid_prefix}_{window.start.isoformat()}",
    )


class FlexMeasuresScheduleCalendar(FlexMeasuresScheduleEntity, CalendarEntity):
    """The kept schedule's charge and discharge windows as events."""

    @property
    @override
    def event(self) -> CalendarEvent | None:
        """The current window, or else the next one."""
        now = dt_util.utcnow()
        upcoming = windows(self.coordinator.data, start=now)
        if not upcoming:
            return None
        return window_event(upcoming[0], self.coordinator.subentry_id)

    @override
    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """The windows overlapping [start_date, end_date)."""
        return [
            window_event(window, self.coordinator.subentry_id)
            for window in windows(self.coordinator.data, start=start_date, end=end_date)
        ]
