"""The dashboard's controls of a schedule device, as pure functions.

- the standing target: `target_soc` (kWh, or % of the capacity) by `ready_by`
  (a wall-clock time in Home Assistant's time zone), at its next occurrence;
- the mode: `smart` follows the FlexMeasures plan, `charge_now` charges at the
  device's charging power until the state of charge reaches the target (or
  `soc_max`), `stop` holds the device at 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Final

from .requests import ScheduleSettings, SocTarget
from .units import kwh_quantity

DEFAULT_READY_BY: Final = time(7, 0)
# Sliders send many values: changes are collected this long before one job.
CONTROL_DEBOUNCE: Final = 3.0


class Mode(StrEnum):
    """What the setpoint follows."""

    SMART = "smart"
    CHARGE_NOW = "charge_now"
    STOP = "stop"


@dataclass(slots=True)
class Controls:
    """The controls' current values (restored by their entities)."""

    ready_by: time = DEFAULT_READY_BY
    target: float = 0.0  # in the target entity's unit (% or kWh); 0: none
    mode: Mode = Mode.SMART


def target_in_percent(settings: ScheduleSettings) -> bool:
    """The target is a percentage of the capacity when one is configured."""
    return settings.capacity is not None


def target_kwh(settings: ScheduleSettings, target: float) -> float | None:
    """The standing target in kWh (None: no target, or 0)."""
    if target <= 0:
        return None
    if settings.capacity is not None:
        return target / 100.0 * settings.capacity
    return target


def next_occurrence(when: time, now: datetime, zone: tzinfo) -> datetime:
    """The next `when` on the wall clock of `zone` after `now` (UTC result).

    Today if still ahead, else tomorrow. A time that a DST change skips (02:30
    on the spring-forward day) moves to the next valid time (03:00); a time
    that occurs twice (autumn) is its first occurrence.
    """
    local = now.astimezone(zone)
    for day in (local.date(), local.date() + timedelta(days=1)):
        candidate = _valid_wall_time(day, when, zone)
        if candidate > now:
            return candidate
    return _valid_wall_time(local.date() + timedelta(days=2), when, zone)


def _valid_wall_time(day: date, when: time, zone: tzinfo) -> datetime:
    """`when` on `day` in `zone`, moved past a DST gap if it falls in one."""
    naive = datetime.combine(day, when.replace(tzinfo=None, fold=0))
    for _minute in range(24 * 60):
        aware = naive.replace(tzinfo=zone)
        if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
            return aware.astimezone(UTC)
        naive += timedelta(minutes=1)
    raise ValueError(f"no valid time after {when} on {day}")  # pragma: no cover


def standing_target(
    settings: ScheduleSettings, controls: Controls, now: datetime, zone: tzinfo
) -> SocTarget | None:
    """The soc target the controls stand for, at the next `ready_by`."""
    kwh = target_kwh(settings, controls.target)
    if kwh is None:
        return None
    low, high = settings.soc_bounds
    kwh = max(low, kwh if high is None else min(high, kwh))
    return SocTarget(next_occurrence(controls.ready_by, now, zone), kwh_quantity(kwh))


def due_on_the_grid(target: SocTarget, start: datetime, step: timedelta) -> SocTarget:
    """The target moved to the last step boundary at or before its time.

    FlexMeasures holds a target at the end of the step its time falls in: one
    at 07:10 in 15-minute steps would be reached at 07:15, after `ready_by`.
    A time in the first step (from `start`) is due at that step's end, the
    earliest a schedule can reach anything.
    """
    if step <= timedelta(0):
        return target
    due = start + step * ((target.when - start) // step)
    if due <= start:
        due = start + step
    return target if due == target.when else replace(target, when=due)


def horizon_for(
    start: datetime, horizon: timedelta, target: SocTarget | None, step: timedelta
) -> timedelta:
    """The planning horizon, extended to cover the standing target."""
    if target is None or target.when <= start + horizon or step <= timedelta(0):
        return horizon
    return step * -(-(target.when - start) // step)  # whole steps, rounded up


def charge_now_limit(settings: ScheduleSettings, controls: Controls) -> float | None:
    """The state of charge (kWh) at which charge_now ends (None: never by itself).

    The target, but at most `soc_max`: the state of charge read from its
    entity is clamped into the configured range, so it never passes that.
    """
    high = settings.soc_bounds[1]
    if (kwh := target_kwh(settings, controls.target)) is not None:
        return kwh if high is None else min(kwh, high)
    return high


def mode_setpoint(
    mode: Mode, charging_power: float | None, planned: float | None
) -> float | None:
    """The setpoint the mode asks for (kW, consumption positive)."""
    if mode is Mode.STOP:
        return 0.0
    if mode is Mode.CHARGE_NOW:
        return charging_power
    return planned
