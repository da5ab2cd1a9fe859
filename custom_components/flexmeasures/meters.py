"""Energy meters: a running total whose change per step is what FlexMeasures gets.

An entity with `state_class` `total_increasing` or `total` in an energy unit is
a meter (`meter_mode`). `MeterAccumulator` (pure, O(1) per reading) keeps the
meter's increase since it opened, with resets handled as Home Assistant's
long-term statistics handle them:

- `total_increasing`: a drop below 90 % of the last reading is a new cycle
  that counts from zero; a smaller dip is kept as is (and comes back when the
  meter recovers), so the sum stays the meter's own difference;
- `total` with `last_reset`: a new `last_reset` is a new cycle from zero;
- `total` without `last_reset` may go down (a net meter): its decreases are
  kept.

A step's energy is the increase between the readings held at its start and at
its end. When either is not known (the meter was unavailable, Home Assistant
was not running, the clock jumped, or the step is the first one seen) the
step is not emitted: an increase across a gap is never spread over, or lumped
into, the steps the gap spans.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from homeassistant.components.sensor import SensorStateClass
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT

from .grid import Grid
from .measurements import Step, as_grid
from .units import is_energy_unit

ATTR_STATE_CLASS: Final = "state_class"
ATTR_LAST_RESET: Final = "last_reset"
# Home Assistant's statistics: a drop below 90 % of the last reading is a reset.
RESET_RATIO: Final = 0.9


class MeterMode(StrEnum):
    """How a meter counts."""

    TOTAL_INCREASING = SensorStateClass.TOTAL_INCREASING
    TOTAL = SensorStateClass.TOTAL


def meter_mode(attributes: Mapping[str, Any]) -> MeterMode | None:
    """The meter kind of a state's attributes, or None for anything else."""
    state_class = attributes.get(ATTR_STATE_CLASS)
    if state_class not in (
        SensorStateClass.TOTAL_INCREASING,
        SensorStateClass.TOTAL,
    ) or not is_energy_unit(attributes.get(ATTR_UNIT_OF_MEASUREMENT)):
        return None
    return MeterMode(state_class)


class MeterAccumulator:
    """The increase of a meter per step of a grid (readings in one unit)."""

    __slots__ = (
        "end",
        "grid",
        "increasing",
        "last",
        "start",
        "start_total",
        "total",
        "valid",
    )

    def __init__(
        self,
        grid: Grid | float,
        now: float,
        reading: float | None = None,
        *,
        increasing: bool = True,
    ) -> None:
        """Open the step holding `now`, with `reading` held from `now`.

        The step's start reading is known only when `now` is the step's start.
        """
        self.grid = as_grid(grid)
        self.start = self.grid.floor(now)
        self.end = self.grid.next(self.start)
        self.increasing = increasing
        self.total = 0.0  # the increase since the accumulator opened
        self.last = reading
        self.valid = reading is not None
        self.start_total: float | None = (
            0.0 if reading is not None and now == self.start else None
        )

    def add(
        self,
        ts: float,
        reading: float | None,
        out: list[Step],
        new_cycle: bool = False,
    ) -> None:
        """The meter reads `reading` at `ts` (None: a gap); closed steps to `out`.

        `new_cycle`: the meter restarted from zero (a new `last_reset`).
        """
        if ts >= self.end:
            self.close_until(ts, out)
        if reading is None:
            self.valid = False
            return
        last = self.last
        if last is not None:
            if self.increasing:
                if reading < 0:
                    return  # not a reading of a meter that only goes up
                new_cycle = new_cycle or reading < RESET_RATIO * last
            self.total += reading if new_cycle else reading - last
        self.last = reading
        self.valid = True

    def close_until(self, now: float, out: list[Step]) -> None:
        """Close every step that ends at or before `now`, appending to `out`."""
        grid = self.grid
        while self.end <= now:
            if self.valid:
                if self.start_total is not None:
                    out.append((self.start, self.total - self.start_total))
                self.start_total = self.total
                self.start = self.end
            else:
                # nothing is known until the next reading: skip to `now`
                self.start_total = None
                self.start = max(self.end, grid.floor(now))
            self.end = grid.next(self.start)
