"""Pure logic of the measurement forwarder (no Home Assistant instance needed).

- `StepAccumulator`: the time-weighted mean of a value per step of a grid
  (`grid.py`), O(1) per sample.
- `runs`: consecutive steps, split at gaps, for one request each.

Times are float seconds since the epoch (UTC). Energy meters, whose change per
step is sent instead of a mean, are in `meters.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
import math

from .grid import Grid, UtcGrid

# A closed step: (start, value)
type Step = tuple[float, float]


def parse_value(state: str) -> float | None:
    """A state's numeric value, or None (a gap) for anything else."""
    try:
        value = float(state)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def floor_step(ts: float, step: float) -> float:
    """The start of the step (epoch-aligned) that holds `ts`."""
    return ts - (ts % step)


def as_grid(grid: Grid | float) -> Grid:
    """A grid, or the UTC grid of a step length in seconds."""
    return UtcGrid(grid) if isinstance(grid, int | float) else grid


class StepAccumulator:
    """Time-weighted mean per step of a piecewise-constant signal.

    Each `add(ts, value)` adds value*seconds of the previous value to the open
    step: no allocation, O(1). A value of None is a gap: it counts for nothing
    and the mean is taken over the covered time only. A step with no covered
    time is not emitted.
    """

    __slots__ = (
        "covered",
        "end",
        "grid",
        "since",
        "start",
        "value",
        "weighted",
    )

    def __init__(
        self, grid: Grid | float, now: float, value: float | None = None
    ) -> None:
        """Open the step holding `now` with `value` holding from `now`."""
        self.grid = as_grid(grid)
        self.start = self.grid.floor(now)
        self.end = self.grid.next(self.start)
        self.value = value
        self.since = now
        self.weighted = 0.0
        self.covered = 0.0

    def add(self, ts: float, value: float | None, out: list[Step]) -> None:
        """The signal changes to `value` at `ts`; closed steps go to `out`."""
        if ts >= self.end:
            self.close_until(ts, out)
        ts = max(ts, self.since)  # out of order: count from the latest time
        old = self.value
        if old is not None:
            dt = ts - self.since
            self.weighted += old * dt
            self.covered += dt
        self.value = value
        self.since = ts

    def close_until(self, now: float, out: list[Step]) -> None:
        """Close every step that ends at or before `now`, appending to `out`."""
        grid = self.grid
        while self.end <= now:
            end = self.end
            value = self.value
            covered = self.covered
            weighted = self.weighted
            if value is not None:
                dt = end - self.since
                weighted += value * dt
                covered += dt
            if covered > 0:
                out.append((self.start, weighted / covered))
            self.weighted = 0.0
            self.covered = 0.0
            self.since = end
            if value is None:
                # jump straight to the step holding `now`: nothing in between
                self.start = max(end, grid.floor(now))
            else:
                self.start = end
            self.end = grid.next(self.start)
            self.since = max(self.since, self.start)


def runs(steps: Sequence[Step], grid: Grid | float, limit: int) -> list[list[Step]]:
    """Split sorted steps into runs of consecutive steps (at most `limit` each).

    FlexMeasures spreads the values of one request evenly over its duration, so
    on a grid of local days a run only holds days of the nominal length: a
    23- or 25-hour day (DST) goes up on its own.
    """
    grid = as_grid(grid)
    result: list[list[Step]] = []
    current: list[Step] = []
    step = grid.step
    for item in steps:
        odd = not grid.uniform and abs(grid.next(item[0]) - item[0] - step) > 1e-6
        if current and (
            odd or len(current) >= limit or abs(item[0] - current[-1][0] - step) > 1e-6
        ):
            result.append(current)
            current = []
        current.append(item)
        if odd:
            result.append(current)
            current = []
    if current:
        result.append(current)
    return result
