"""The consumption price a device's schedule uses, and the plan's cost.

Where the price comes from is settled once (`async_resolve_source`): the
configured price sensor, or else the `consumption-price` in the flex-context of
the power sensor's asset, then of its parent, and so on (a sensor, or a fixed
quantity such as "0.3 EUR/kWh"), the way FlexMeasures finds it. Then, after
each schedule, the price over the schedule's horizon is read in one request
(`GET /sensors/<id>/data`, `price_window`; none for a fixed price) by
`price_reader.PriceReader`. The plan's cost is what FlexMeasures reports with
the schedule (`scheduler_info.commitment_costs`). No Home Assistant state is
read here.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import math
import re
from typing import Any, Final, Self

from homeassistant.util import slugify

from .api import (
    FlexMeasuresAccessDeniedError,
    FlexMeasuresClient,
    FlexMeasuresInvalidRequestError,
    FlexMeasuresNotFoundError,
    Schedule,
    Sensor,
    SensorData,
)
from .schedule import Segment, align_down, as_utc
from .units import price_parts

# The flex-context field of the consumption price (FlexMeasures >= 0.21), and
# the older one that names a sensor id.
CONSUMPTION_PRICE: Final = "consumption-price"
CONSUMPTION_PRICE_SENSOR: Final = "consumption-price-sensor"
# The commitment of the energy bought and sold: the plan's cost.
NET_ENERGY_COST: Final = "electricity net energy"
# How far up the asset tree a price is looked for (a guard against loops).
MAX_ANCESTORS: Final = 10
# Prices keep this many significant digits: unit conversion at the server
# gives values such as 0.06534999999999999.
SIGNIFICANT_DIGITS: Final = 12

_QUANTITY_RE: Final = re.compile(
    r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)\s*$"
)
# SI prefixes FlexMeasures' currencies take (pint: cEUR, mEUR, kEUR), before
# an ISO 4217 code or a currency symbol that stands for one.
_CURRENCY_PREFIXES: Final = frozenset("cmk")
_CURRENCY_SYMBOLS: Final = frozenset("€$£¥")
_ISO_CURRENCY_RE: Final = re.compile(r"^[A-Z]{3}$")
# Answers that will not change by asking again: the price is not there.
PERMANENT_ERRORS: Final = (
    FlexMeasuresNotFoundError,
    FlexMeasuresAccessDeniedError,
    FlexMeasuresInvalidRequestError,
)


class UnsupportedPriceError(ValueError):
    """The flex-context has a consumption price in a form not read here."""


@dataclass(frozen=True, slots=True)
class PriceSensor:
    """The price is a FlexMeasures sensor's data."""

    sensor_id: int
    unit: str
    resolution: timedelta
    # the asset whose flex-context names it; None: configured in the sub-entry
    asset_id: int | None = None

    @classmethod
    def of(cls, sensor: Sensor, asset_id: int | None = None) -> Self:
        """The price of a FlexMeasures sensor, in its unit and at its resolution."""
        return cls(sensor.id, sensor.unit, sensor.event_resolution, asset_id)


@dataclass(frozen=True, slots=True)
class FixedPrice:
    """The price is one quantity in a flex-context ("0.3 EUR/kWh")."""

    value: float
    unit: str
    # the asset whose flex-context names it; None: a job's own flex-context
    asset_id: int | None = None


type PriceSource = PriceSensor | FixedPrice


# --- where the price comes from -------------------------------------------------


def parse_price_quantity(text: str) -> tuple[float, str]:
    """A price quantity string ("0.3 EUR/kWh") as (value, unit).

    Raises UnsupportedPriceError when it is not a finite number with a price
    unit (a currency per energy).
    """
    match = _QUANTITY_RE.match(text)
    if match is None or price_parts(match.group(2)) is None:
        raise UnsupportedPriceError(f"not a price: {text!r}")
    value = float(match.group(1))
    if not math.isfinite(value):
        raise UnsupportedPriceError(f"not a price: {text!r}")
    return value, plain_price_unit(match.group(2))


def plain_price_unit(unit: str) -> str:
    """A price unit as `currency/energy`, without blanks ("EUR / kWh" -> "EUR/kWh")."""
    return "/".join(part.strip() for part in unit.split("/"))


def price_in_flex_context(
    flex_context: Mapping[str, Any],
) -> int | tuple[float, str] | None:
    """The consumption price a flex-context names: a sensor id, a fixed price.

    None when it names none (look further up). Raises UnsupportedPriceError for
    a price in another form (e.g. a time series): FlexMeasures uses that one,
    so a price further up would be the wrong one.
    """
    value = flex_context.get(CONSUMPTION_PRICE)
    if value is None:
        value = flex_context.get(CONSUMPTION_PRICE_SENSOR)
        if value is None:
            return None
        value = {"sensor": value}
    if isinstance(value, Mapping) and set(value) == {"sensor"}:
        sensor = value["sensor"]
        if isinstance(sensor, int) and not isinstance(sensor, bool):
            return sensor
        if isinstance(sensor, str) and sensor.isdigit():
            return int(sensor)
    if isinstance(value, str):
        return parse_price_quantity(value)
    raise UnsupportedPriceError(f"unsupported consumption price: {value!r}")


async def async_price_sensor(
    client: FlexMeasuresClient, sensor_id: int, asset_id: int | None
) -> PriceSensor:
    """The price sensor (its unit and resolution are read once)."""
    return PriceSensor.of(await client.get_sensor(sensor_id), asset_id)


async def async_resolve_source(
    client: FlexMeasuresClient,
    configured_sensor_id: int | None,
    asset_id: int | None,
) -> PriceSource | None:
    """Where the consumption price comes from; None when nothing names one.

    The configured sensor wins; without one, the flex-context of `asset_id`
    (the power sensor's asset) and then of its ancestors. Raises
    FlexMeasuresError (and UnsupportedPriceError).
    """
    if configured_sensor_id is not None:
        return await async_price_sensor(client, configured_sensor_id, None)
    seen: set[int] = set()
    while asset_id is not None and asset_id not in seen and len(seen) < MAX_ANCESTORS:
        seen.add(asset_id)
        asset = await client.get_asset(asset_id)
        spec = price_in_flex_context(asset.flex_context)
        if isinstance(spec, int):
            return await async_price_sensor(client, spec, asset.id)
        if spec is not None:
            return FixedPrice(spec[0], spec[1], asset.id)
        asset_id = asset.parent_asset_id
    return None


def currency_of(source: PriceSource | None) -> str | None:
    """The currency of a price ("EUR" for EUR/kWh), None when not a price unit."""
    return None if source is None else currency_of_unit(source.unit)


def currency_of_unit(unit: str | None) -> str | None:
    """The currency of a price unit ("EUR" for EUR/kWh), None when not one.

    As FlexMeasures reports costs: in the base currency, so an SI prefix on an
    ISO 4217 code is dropped ("cEUR/kWh" -> "EUR", as pint's
    `Quantity("cEUR").to_base_units()`).
    """
    parts = None if unit is None else price_parts(unit)
    if unit is None or parts is None:
        return None
    written = unit.split("/", 1)[0].strip()
    base = written[1:]
    if written[:1] in _CURRENCY_PREFIXES and (
        _ISO_CURRENCY_RE.match(base) or base in _CURRENCY_SYMBOLS
    ):
        base_parts = price_parts(f"{base}/kWh")
        if base_parts is not None:
            return base_parts[0]
    return parts[0]


# --- the price over time ---------------------------------------------------------


def price_window(
    start: datetime, end: datetime, resolution: timedelta, step: timedelta
) -> tuple[datetime, timedelta, timedelta | None]:
    """(start, duration, resolution to ask) to read a price sensor over [start, end).

    `resolution` is the price sensor's, `step` the schedule's. FlexMeasures
    answers the values on the grid of the window asked, and only gaps where
    that grid misses the sensor's own steps: those of a daily price lie on
    local midnights, those of an hourly one in a +05:30 zone on half hours.
    So a price coarser than the schedule is read at the schedule's step from
    the schedule's start: the server resamples it there, as its scheduler does
    for the plan. A price as fine or finer is read at its own resolution (the
    third item is then None), from its step holding `start` (UTC grid).
    """
    start, end = as_utc(start), as_utc(end)
    if resolution <= timedelta(0):
        return start, max(end - start, timedelta(0)), None
    if timedelta(0) < step < resolution:
        steps = max(1, math.ceil((end - start) / step))
        return start, step * steps, step
    first = align_down(start, resolution)
    steps = max(1, math.ceil((end - first) / resolution))
    return first, resolution * steps, None


def clean_price(value: float) -> float:
    """A price without the float noise of a unit conversion."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def price_segments(data: SensorData) -> tuple[Segment, ...]:
    """The values as runs of equal prices (UTC); a missing value is a gap."""
    start = as_utc(data.start)
    found: list[Segment] = []
    for index, raw in enumerate(data.values):
        if raw is None or not math.isfinite(raw):
            continue
        value = clean_price(raw)
        step_start = start + data.resolution * index
        step_end = step_start + data.resolution
        if found and found[-1].end == step_start and found[-1].value == value:
            found[-1] = Segment(found[-1].start, step_end, value)
        else:
            found.append(Segment(step_start, step_end, value))
    return tuple(found)


def price_at(segments: tuple[Segment, ...], when: datetime) -> float | None:
    """The price of the segment covering `when`, None in a gap or outside."""
    when = as_utc(when)
    index = bisect_right([segment.start for segment in segments], when) - 1
    if index < 0 or when >= segments[index].end:
        return None
    return segments[index].value


def next_price_change(segments: tuple[Segment, ...], when: datetime) -> datetime | None:
    """The first segment start or end strictly after `when` (None: none left)."""
    when = as_utc(when)
    for segment in segments:
        if segment.start > when:
            return segment.start
        if segment.end > when:
            return segment.end
    return None


def forecast_attribute(
    segments: tuple[Segment, ...],
) -> list[dict[str, str | float]]:
    """The `forecast` attribute: [{start, end, value}], times in UTC."""
    return [
        {
            "start": segment.start.isoformat(),
            "end": segment.end.isoformat(),
            "value": segment.value,
        }
        for segment in segments
    ]


# --- the plan's cost -------------------------------------------------------------


def commitment_costs(schedule: Schedule | None) -> dict[str, float]:
    """The numeric `scheduler_info.commitment_costs` of a schedule ({} if none)."""
    costs = (
        None if schedule is None else schedule.scheduler_info.get("commitment_costs")
    )
    if not isinstance(costs, Mapping):
        return {}
    return {
        str(name): float(value)
        for name, value in costs.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    }


def planned_cost(schedule: Schedule | None) -> float | None:
    """The cost of the planned energy (negative: it earns), None if not reported."""
    return commitment_costs(schedule).get(NET_ENERGY_COST)


def other_costs(schedule: Schedule | None) -> dict[str, float]:
    """The other commitment costs, by slug ("electricity_any_consumption_breach")."""
    return {
        slugify(name): value
        for name, value in commitment_costs(schedule).items()
        if name != NET_ENERGY_COST
    }
