"""Future values carried in state attributes, on a FlexMeasures sensor's step grid.

Pure functions: `parse_forecast` reads Nord Pool (`raw_today`/`raw_tomorrow`),
ENTSO-e (`prices_today`/`prices_tomorrow`) and generic `forecast` lists;
`resample` takes their time-weighted mean per step of a sensor's grid, within
a window (`window`: from the step before now to FORECAST_AHEAD ahead), so a
point "valid until further notice" (an end years away, or none) is never
expanded step by step beyond it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
import math
from typing import Any, Final

from .grid import Grid
from .measurements import Step, as_grid

# A forecast point: (start, end or None, value)
type ForecastPoint = tuple[float, float | None, float]

# How far ahead forecasts are sent: 7 days, as much as the outbox holds.
FORECAST_AHEAD: Final = 7 * 86400.0

# attribute -> the attributes read together with it
_COMPANIONS: Final = {
    "raw_today": ("raw_today", "raw_tomorrow"),
    "raw_tomorrow": ("raw_today", "raw_tomorrow"),
    "prices_today": ("prices_today", "prices_tomorrow"),
    "prices_tomorrow": ("prices_today", "prices_tomorrow"),
}
_START_KEYS: Final = ("start", "datetime", "time", "period_start", "from")
_END_KEYS: Final = ("end", "period_end", "till", "to")
_VALUE_KEYS: Final = ("value", "price", "native_value", "pv_estimate", "total")


def forecast_attributes(attribute: str) -> tuple[str, ...]:
    """The attributes that make up the forecast named `attribute`."""
    return _COMPANIONS.get(attribute, (attribute,))


def _timestamp(raw: Any) -> float | None:
    if isinstance(raw, datetime):
        when = raw
    elif isinstance(raw, str):
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            return None
    else:
        return None
    if when.tzinfo is None:
        return None  # a naive time is ambiguous: skip it
    return when.timestamp()


def _first(item: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if key in item:
            return item[key]
    return None


def parse_forecast(
    attributes: Mapping[str, Any], attribute: str
) -> list[ForecastPoint]:
    """Future values from a state's attributes, sorted by start.

    Understands Nord Pool (`raw_today`/`raw_tomorrow`: start, end, value),
    ENTSO-e (`prices_today`/`prices_tomorrow`: time, price), and a generic list
    of `{datetime|start|time, value|price, [end]}`. Items without an aware time
    or a finite number are skipped.
    """
    points: list[ForecastPoint] = []
    for name in forecast_attributes(attribute):
        items = attributes.get(name)
        if not isinstance(items, list | tuple):
            continue
        for item in items:
            if not isinstance(item, Mapping):
                continue
            start = _timestamp(_first(item, _START_KEYS))
            raw_value = _first(item, _VALUE_KEYS)
            if start is None or isinstance(raw_value, bool) or raw_value is None:
                continue
            try:
                value = float(raw_value)
            except TypeError, ValueError:
                continue
            if not math.isfinite(value):
                continue
            points.append((start, _timestamp(_first(item, _END_KEYS)), value))
    points.sort(key=lambda point: point[0])
    return points


def window(grid: Grid, now: float) -> tuple[float, float]:
    """The steps a forecast known at `now` is sent for: `[first start, end)`.

    From the step before the one holding `now` to FORECAST_AHEAD ahead, on
    step boundaries (no step is cut short).
    """
    return grid.floor(grid.floor(now) - 1.0), grid.floor(now + FORECAST_AHEAD)


def resample(
    points: Sequence[ForecastPoint],
    grid: Grid | float,
    bounds: tuple[float, float] | None = None,
) -> list[Step]:
    """Time-weighted mean of forecast points per step of `grid`: (start, value).

    A point without an end lasts until the next point starts (the last one:
    as long as the one before it, or one step). Steps no point covers are
    left out, and so are steps outside `bounds` (step starts `[first, end)`,
    see `window`), however far a point reaches.
    """
    grid = as_grid(grid)
    first, last = bounds if bounds is not None else (-math.inf, math.inf)
    sums: dict[float, list[float]] = {}  # step start -> [weighted, covered]
    for index, (point_start, given_end, value) in enumerate(points):
        if given_end is not None:
            end = given_end
        elif index + 1 < len(points):
            end = points[index + 1][0]
        elif index > 0:
            end = point_start + (point_start - points[index - 1][0])
        else:
            end = grid.next(grid.floor(point_start)) - grid.floor(point_start)
            end += point_start
        start = max(point_start, first)
        end = min(end, last)
        if end <= start:
            continue
        step_start = grid.floor(start)
        while step_start < end:
            step_end = grid.next(step_start)
            overlap = min(end, step_end) - max(start, step_start)
            if overlap > 0:
                entry = sums.setdefault(step_start, [0.0, 0.0])
                entry[0] += value * overlap
                entry[1] += overlap
            step_start = step_end
    return [(start, w / c) for start, (w, c) in sorted(sums.items())]
