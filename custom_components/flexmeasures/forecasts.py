"""Future values carried in state attributes, on a FlexMeasures sensor's step grid.

Pure functions: `parse_forecast` reads Nord Pool (`raw_today`/`raw_tomorrow`),
ENTSO-e (`prices_today`/`prices_tomorrow`) and generic `forecast` lists;
`resample` takes their time-weighted mean per step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
import math
from typing import Any, Final

from .measurements import floor_step

# A forecast point: (start, end or None, value)
type ForecastPoint = tuple[float, float | None, float]

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


def resample(
    points: Sequence[ForecastPoint], step: float
) -> tuple[float, list[float | None]] | None:
    """Time-weighted mean of forecast points per step: (first start, values).

    A point without an end lasts until the next point starts (the last one:
    as long as the one before it, or one step). Steps no point covers are None.
    """
    if not points:
        return None
    intervals: list[tuple[float, float, float]] = []
    for index, (start, given_end, value) in enumerate(points):
        if given_end is not None:
            end = given_end
        elif index + 1 < len(points):
            end = points[index + 1][0]
        elif index > 0:
            end = start + (start - points[index - 1][0])
        else:
            end = start + step
        if end > start:
            intervals.append((start, end, value))
    if not intervals:
        return None
    first = floor_step(intervals[0][0], step)
    last_end = max(end for _, end, _ in intervals)
    count = math.ceil((last_end - first) / step - 1e-9)
    weighted = [0.0] * count
    covered = [0.0] * count
    for start, end, value in intervals:
        index = int((start - first) // step)
        while index < count:
            step_start = first + index * step
            overlap = min(end, step_start + step) - max(start, step_start)
            if overlap <= 0:
                break
            weighted[index] += value * overlap
            covered[index] += overlap
            index += 1
    values: list[float | None] = [
        w / c if c > 0 else None for w, c in zip(weighted, covered, strict=True)
    ]
    return first, values
