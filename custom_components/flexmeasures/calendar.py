"""Calendar of a schedule device: its charge and discharge windows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, override

from homeassistant.components.calendar import (
    CalendarEntity,
    CalendarEntityDescription,
    CalendarEvent,
)
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .controls import target_in_percent
from .coordinator import ScheduleCoordinator
from .entity import FlexMeasuresScheduleEntity, platform_setup, schedule_entities
from .schedule import Window, WindowKind, windows

PARALLEL_UPDATES = 0

SCHEDULE_CALENDAR: Final = CalendarEntityDescription(
    key="schedule", translation_key="schedule"
)

# The target is a moment; a calendar event needs some length.
TARGET_EVENT_LENGTH: Final = timedelta(minutes=1)

_SUMMARY: Final = {
    WindowKind.CHARGING: "Charging",
    WindowKind.DISCHARGING: "Discharging",
}


# the calendar of each schedule device
async_setup_entry = platform_setup(
    schedule_entities(
        lambda coordinator: [
            FlexMeasuresScheduleCalendar(coordinator, SCHEDULE_CALENDAR)
        ]
    )
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


def target_event(
    coordinator: ScheduleCoordinator, now: datetime
) -> CalendarEvent | None:
    """The standing target (`target_soc` by `ready_by`) as an event at its time."""
    if (target := coordinator.controls.standing_target(now)) is None:
        return None
    values = coordinator.controls.values
    shown = (
        f"{values.target:g} %"
        if target_in_percent(coordinator.settings)
        else f"{values.target:g} kWh"
    )
    return CalendarEvent(
        start=dt_util.as_local(target.when),
        end=dt_util.as_local(target.when + TARGET_EVENT_LENGTH),
        summary=f"Target {shown}",
        description=f"Reach {target.value} by then",
        uid=f"{coordinator.subentry_id}_target",
    )


class FlexMeasuresScheduleCalendar(FlexMeasuresScheduleEntity, CalendarEntity):
    """The kept schedule's charge and discharge windows (and the target) as events."""

    def _events(self, start: datetime, end: datetime | None) -> list[CalendarEvent]:
        coordinator = self.coordinator
        events = [
            window_event(window, coordinator.subentry_id)
            for window in windows(coordinator.data, start=start, end=end)
        ]
        target = target_event(coordinator, dt_util.utcnow())
        if (
            target is not None
            and target.end_datetime_local > start
            and (end is None or target.start_datetime_local < end)
        ):
            events.append(target)
        return sorted(events, key=lambda event: event.start_datetime_local)

    @property
    @override
    def event(self) -> CalendarEvent | None:
        """The current event, or else the next one."""
        upcoming = self._events(dt_util.utcnow(), None)
        return upcoming[0] if upcoming else None

    @override
    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """The events overlapping [start_date, end_date)."""
        return self._events(start_date, end_date)
