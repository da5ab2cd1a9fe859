"""Stored outbox values, made fit for the sensor a mapping sends to now.

Pure: `restore_items` converts values computed for one sensor (unit,
resolution, time zone, energy per step or not) to another, or says why they
cannot be. A mapping reconfigured to another sensor keeps its subentry id, so
its stored values are found and converted rather than silently lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from .grid import DAY, Grid
from .measurements import Step
from .units import per_step_converter, unit_converter


class ComputedFor(NamedTuple):
    """What an outbox's values were computed for."""

    sensor_id: int | None
    unit: str | None  # None: not recorded (a store of version 1.1)
    resolution: float | None  # seconds; None: not recorded
    timezone: str | None
    per_step: bool  # amounts per step (a meter's energy, or its mean power)

    @classmethod
    def from_stored(cls, saved: Mapping[str, Any]) -> ComputedFor:
        """Read back what `MappingOutbox.as_stored` wrote."""
        resolution = saved.get("resolution")
        sensor_id = saved.get("sensor_id")
        return cls(
            None if sensor_id is None else int(sensor_id),
            saved.get("unit"),
            None if resolution is None else float(resolution),
            saved.get("timezone"),
            bool(saved.get("per_step", False)),
        )


def _local_days(resolution: float) -> bool:
    return resolution >= DAY and resolution % DAY == 0


def restore_items(
    items: Sequence[Step],
    source: ComputedFor,
    target: ComputedFor,
    grid: Grid | None = None,
) -> tuple[list[Step], str | None]:
    """`items` for `target` (on `grid`), or no items and why they do not fit."""
    if not items:
        return [], None
    if source.unit is None or source.resolution is None:
        if source.sensor_id == target.sensor_id:
            return list(items), None  # as before: the same sensor
        return [], (
            f"they were computed for sensor {source.sensor_id}, in a unit and "
            "resolution that were not recorded"
        )
    resolution = target.resolution or 0.0
    if source.resolution != resolution:
        return [], (
            f"they were computed for a resolution of {source.resolution:g} s; "
            f"sensor {target.sensor_id} has {resolution:g} s"
        )
    if _local_days(resolution) and source.timezone != target.timezone:
        return [], (
            f"they were computed for days in {source.timezone}; sensor "
            f"{target.sensor_id} counts days in {target.timezone}"
        )
    if source.per_step and grid is not None:
        # energy per step <-> mean power: each step with its own length (DST days)
        converted: list[Step] = []
        for start, value in items:
            convert = per_step_converter(
                source.unit, target.unit, grid.next(start) - start
            )
            if convert is None:
                break
            converted.append((start, convert(value)))
        else:
            return converted, None
    elif (convert := unit_converter(source.unit, target.unit)) is not None:
        return [(start, convert(value)) for start, value in items], None
    return [], (
        f"they were computed for {source.unit}; sensor {target.sensor_id} is "
        f"in {target.unit}"
    )
