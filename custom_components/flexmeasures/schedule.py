"""Pure functions on a schedule: value at a time, next change, windows.

A schedule is a start, a fixed step length and one value per step (power in
kW, consumption positive: charging > 0, discharging < 0).

All arithmetic is done in UTC. Aware datetimes that share a `ZoneInfo` are
subtracted and added on the wall clock by Python, which is wrong across a DST
change (Europe/Amsterdam 2026-10-25 has a 25-hour day); converting to UTC first
makes every step exactly `resolution` long.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from .api.models import Schedule

# Below this (kW, i.e. 1 W) a step is idle: LP solvers return values like 1e-9.
POWER_EPSILON: Final = 0.001
# Values in the `schedule` attribute are rounded to whole watts, so float noise
# does not stop equal steps from merging.
ATTRIBUTE_DECIMALS: Final = 3


class WindowKind(StrEnum):
    """What a device does during a window."""

    CHARGING = "charging"
    DISCHARGING = "discharging"


@dataclass(frozen=True, slots=True)
class Segment:
    """Consecutive steps with the same value, [start, end)."""

    start: datetime
    end: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Window:
    """Consecutive steps that all charge or all discharge, [start, end).

    Powers and energy are magnitudes (>= 0); `kind` says the direction.
    """

    start: datetime
    end: datetime
    kind: WindowKind
    mean_power: float
    max_power: float
    energy: float


def as_utc(when: datetime) -> datetime:
    """The same instant in UTC; naive datetimes are refused."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime: {when!r}")
    return when.astimezone(UTC)


def schedule_start(schedule: Schedule) -> datetime:
    """The start of the first step, in UTC."""
    return as_utc(schedule.start)


def schedule_end(schedule: Schedule) -> datetime:
    """The end of the last step, in UTC."""
    return schedule.end


def covers(schedule: Schedule | None, when: datetime) -> bool:
    """Whether a step of the schedule covers `when`."""
    return step_index(schedule, when) is not None


def step_index(schedule: Schedule | None, when: datetime) -> int | None:
    """The index of the step covering `when`, or None outside the schedule."""
    return None if schedule is None else schedule.step_index(when)


def value_at(schedule: Schedule | None, when: datetime) -> float | None:
    """The value of the step covering `when`, or None outside the schedule."""
    return None if schedule is None else schedule.value_at(when)


def _steps_after(
    schedule: Schedule | None, when: datetime
) -> tuple[datetime, int] | None:
    """The schedule's start, and how many of its steps begin at or before `when`.

    0 before the schedule; None without steps, or at or after the end.
    """
    if schedule is None or not schedule.values:
        return None
    start = schedule_start(schedule)
    if as_utc(when) < start:
        return start, 0
    index = step_index(schedule, when)
    return None if index is None else (start, index + 1)


def next_step_boundary(schedule: Schedule | None, when: datetime) -> datetime | None:
    """The first step boundary strictly after `when` (the start or an end).

    None when `when` is at or after the end of the schedule.
    """
    if schedule is None or (found := _steps_after(schedule, when)) is None:
        return None
    start, begun = found
    return start + schedule.resolution * begun


def next_change(
    schedule: Schedule | None, when: datetime, *, tolerance: float = 0.0
) -> datetime | None:
    """The first step boundary after `when` where the value changes.

    Before the schedule that is its start; the end of the schedule counts as a
    change (the value stops). None when `when` is at or after the end. Values
    closer than `tolerance` count as equal.
    """
    if schedule is None or (found := _steps_after(schedule, when)) is None:
        return None
    start, begun = found
    if begun == 0:
        return start
    current = schedule.values[begun - 1]
    for later in range(begun, len(schedule.values)):
        if abs(schedule.values[later] - current) > tolerance:
            return start + schedule.resolution * later
    return schedule_end(schedule)


def segments(
    schedule: Schedule | None, *, decimals: int | None = None
) -> list[Segment]:
    """The schedule as runs of equal values (after rounding to `decimals`)."""
    if schedule is None or not schedule.values:
        return []
    start = schedule_start(schedule)
    resolution = schedule.resolution
    result: list[Segment] = []
    run_start = 0
    run_value = _round(schedule.values[0], decimals)
    for index in range(1, len(schedule.values)):
        value = _round(schedule.values[index], decimals)
        if value != run_value:
            result.append(
                Segment(
                    start + resolution * run_start,
                    start + resolution * index,
                    run_value,
                )
            )
            run_start, run_value = index, value
    result.append(
        Segment(start + resolution * run_start, schedule_end(schedule), run_value)
    )
    return result


def schedule_attribute(
    schedule: Schedule | None, *, decimals: int = ATTRIBUTE_DECIMALS
) -> list[dict[str, str | float]]:
    """The `schedule` attribute: [{start, end, value}] with equal runs merged.

    Times are ISO 8601 strings in UTC; values are rounded to `decimals`.
    """
    return [
        {
            "start": segment.start.isoformat(),
            "end": segment.end.isoformat(),
            "value": segment.value,
        }
        for segment in segments(schedule, decimals=decimals)
    ]


def kind_of(
    value: float | None, *, epsilon: float = POWER_EPSILON
) -> WindowKind | None:
    """Charging above +epsilon, discharging below -epsilon, else None (idle)."""
    if value is None:
        return None
    if value > epsilon:
        return WindowKind.CHARGING
    if value < -epsilon:
        return WindowKind.DISCHARGING
    return None


def windows(
    schedule: Schedule | None,
    *,
    epsilon: float = POWER_EPSILON,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Window]:
    """Charge and discharge windows: consecutive steps with the same sign.

    A sign change or an idle step (|value| <= epsilon) ends a window. With
    `start`/`end`, only windows overlapping [start, end) are returned (whole).
    """
    found = list(_iter_windows(schedule, epsilon))
    if start is None and end is None:
        return found
    low = as_utc(start) if start is not None else None
    high = as_utc(end) if end is not None else None
    return [
        window
        for window in found
        if (low is None or window.end > low) and (high is None or window.start < high)
    ]


def _iter_windows(schedule: Schedule | None, epsilon: float) -> Iterator[Window]:
    """Yield the windows of a schedule in time order."""
    if schedule is None or not schedule.values:
        return
    start = schedule_start(schedule)
    resolution = schedule.resolution
    hours = resolution / timedelta(hours=1)
    run: list[float] = []
    run_kind: WindowKind | None = None
    run_start = 0
    for index, value in enumerate((*schedule.values, 0.0)):
        kind = kind_of(value, epsilon=epsilon) if index < len(schedule.values) else None
        if kind is run_kind:
            run.append(value)
            continue
        if run_kind is not None and run:
            magnitudes = [abs(power) for power in run]
            yield Window(
                start=start + resolution * run_start,
                end=start + resolution * index,
                kind=run_kind,
                mean_power=sum(magnitudes) / len(magnitudes),
                max_power=max(magnitudes),
                energy=sum(magnitudes) * hours,
            )
        run, run_kind, run_start = [value], kind, index


def align_down(when: datetime, resolution: timedelta) -> datetime:
    """The start of the step of length `resolution` (counted from the Unix epoch, UTC) containing `when`."""
    when = as_utc(when)
    if resolution <= timedelta(0):
        return when
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((when - epoch) // resolution) * resolution


def _round(value: float, decimals: int | None) -> float:
    """Round to `decimals` (None: leave as is); -0.0 becomes 0.0."""
    if decimals is None:
        return value
    return round(value, decimals) + 0.0


def earliest(*times: datetime | None) -> datetime | None:
    """The earliest of the times given (None ones left out), or None."""
    present = [when for when in times if when is not None]
    return min(present) if present else None


def sum_schedules(parts: Sequence[Schedule], *, job_id: str) -> Schedule | None:
    """The schedules of a site's devices added up, step by step (kW).

    On the grid of the finest resolution, from the earliest start to the latest
    end; a device whose schedule does not cover a step adds nothing to it.
    None without any part.
    """
    if not parts:
        return None
    resolution = min(part.resolution for part in parts)
    if resolution <= timedelta(0):
        return None
    start = min(schedule_start(part) for part in parts)
    end = max(schedule_end(part) for part in parts)
    count = -(-(end - start) // resolution)
    values = tuple(
        sum(value_at(part, start + resolution * index) or 0.0 for part in parts) + 0.0
        for index in range(count)
    )
    info = parts[0].scheduler_info
    return Schedule(
        sensor_id=0,
        job_id=job_id,
        start=start,
        resolution=resolution,
        unit="kW",
        values=values,
        scheduler_info=dict(info),
    )
