"""Pure logic of the measurement forwarder (no Home Assistant instance needed).

- `StepAccumulator`: the time-weighted mean of a value per resolution step,
  O(1) per sample.
- `unit_converter`: a function converting Home Assistant units to a
  FlexMeasures sensor's unit (power, energy, temperature, energy prices).
- `parse_forecast` and `resample`: future values carried in state attributes
  (Nord Pool, ENTSO-e, generic `forecast` lists) on a sensor's step grid.
- `runs`: consecutive steps, split at gaps, for one request each.

Times are float seconds since the epoch (UTC); steps are aligned to the epoch,
which puts PT5M/PT15M/PT1H steps on the usual clock boundaries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
import math
import re
from typing import Any, Final

from homeassistant.util.unit_conversion import (
    BaseUnitConverter,
    EnergyConverter,
    PowerConverter,
    TemperatureConverter,
)

# A closed step: (start, mean value)
type Step = tuple[float, float]
# A forecast point: (start, end or None, value)
type ForecastPoint = tuple[float, float | None, float]


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
        "since",
        "start",
        "step",
        "value",
        "weighted",
    )

    def __init__(self, step: float, now: float, value: float | None = None) -> None:
        """Open the step holding `now` with `value` holding from `now`."""
        if step <= 0:
            raise ValueError("step must be positive")
        self.step = step
        self.start = floor_step(now, step)
        self.end = self.start + step
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
        step = self.step
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
                self.start = max(end, floor_step(now, step))
            else:
                self.start = end
            self.end = self.start + step
            self.since = max(self.since, self.start)


def runs(steps: Sequence[Step], step: float, limit: int) -> list[list[Step]]:
    """Split sorted steps into runs of consecutive steps (at most `limit` each)."""
    result: list[list[Step]] = []
    current: list[Step] = []
    for item in steps:
        if current and (
            abs(item[0] - current[-1][0] - step) > 1e-6 or len(current) >= limit
        ):
            result.append(current)
            current = []
        current.append(item)
    if current:
        result.append(current)
    return result


# ---------------------------------------------------------------- units

_CONVERTERS: Final[tuple[type[BaseUnitConverter], ...]] = (
    PowerConverter,
    EnergyConverter,
    TemperatureConverter,
)
_CURRENCY_SYMBOLS: Final = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY"}
_PRICE_RE: Final = re.compile(r"^\s*([^/\s]+)\s*/\s*([^/\s]+)\s*$")


def _normalise(unit: str | None) -> str | None:
    if unit is None:
        return None
    unit = unit.strip()
    return unit or None


def _price_parts(unit: str) -> tuple[str, str] | None:
    """(currency, energy unit) of an energy price unit such as EUR/kWh."""
    match = _PRICE_RE.match(unit)
    if match is None:
        return None
    currency, energy = match.group(1), match.group(2)
    if energy not in EnergyConverter.VALID_UNITS:
        return None
    return _CURRENCY_SYMBOLS.get(currency, currency).upper(), energy


def unit_converter(
    from_unit: str | None, to_unit: str | None
) -> Callable[[float], float] | None:
    """A function from `from_unit` to `to_unit`, or None when not convertible.

    The same unit (or no unit at all on the Home Assistant side) converts as is.
    Power (W/kW/MW), energy (Wh/kWh/MWh), temperature and energy prices
    (EUR/kWh vs EUR/MWh; `€` is EUR) are converted.
    """
    src = _normalise(from_unit)
    dst = _normalise(to_unit)
    if src is None or src == dst:
        return _identity
    if dst is None:
        return None
    for converter in _CONVERTERS:
        if src in converter.VALID_UNITS and dst in converter.VALID_UNITS:
            return converter.converter_factory(src, dst)
    src_price = _price_parts(src)
    dst_price = _price_parts(dst)
    if src_price is None or dst_price is None or src_price[0] != dst_price[0]:
        return None
    # a price per energy: EUR/kWh -> EUR/MWh multiplies by MWh/kWh = 1000
    ratio = EnergyConverter.convert(1.0, dst_price[1], src_price[1])
    return lambda value: value * ratio


def _identity(value: float) -> float:
    return value


# ---------------------------------------------------------------- forecasts

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
