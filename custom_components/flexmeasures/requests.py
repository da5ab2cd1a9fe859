"""Pure building of FlexMeasures scheduling requests.

The settings of a schedule sub-entry, state of charge targets, and the
flex-model and flex-context of one device; `asset_flex_models` puts the
models of several devices into the list that one asset-level job takes. No
Home Assistant state is read here: the coordinator passes values in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
import math
import re
from typing import Any, Final

from . import const
from .exceptions import ErrorKind, ScheduleRequestError
from .units import (
    energy_factor_to_kwh,
    is_percentage,
    kw_quantity,
    kwh_quantity,
    percent_quantity,
)


def _optional_float(data: Mapping[str, Any], key: str) -> float | None:
    """A number from sub-entry data; missing, None or "" is None."""
    value = data.get(key)
    if value is None or value == "":
        return None
    return float(value)


# A price sensor option meaning "what is stored on the asset's flex-context"
# (older sub-entries store "" for it).
ASSET_PRICE: Final = "asset"


def _optional_sensor_id(data: Mapping[str, Any], key: str) -> int | None:
    """A FlexMeasures sensor id (stored as a string); "", "asset" or missing is None."""
    value = data.get(key)
    if value is None or value in ("", ASSET_PRICE):
        return None
    return int(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSettings:
    """What schedule and site sub-entries both set: prices (None: the asset's) and timing."""

    consumption_price_sensor_id: int | None = None
    production_price_sensor_id: int | None = None
    duration: timedelta = timedelta(hours=const.DEFAULT_DURATION)
    update_interval: timedelta = timedelta(minutes=const.DEFAULT_UPDATE_INTERVAL)

    @staticmethod
    def plan_fields(data: Mapping[str, Any]) -> dict[str, Any]:
        """These fields from sub-entry data: horizon in hours, interval in minutes."""
        hours = _optional_float(data, const.CONF_DURATION) or const.DEFAULT_DURATION
        minutes = (
            _optional_float(data, const.CONF_UPDATE_INTERVAL)
            or const.DEFAULT_UPDATE_INTERVAL
        )
        return {
            "consumption_price_sensor_id": _optional_sensor_id(
                data, const.CONF_CONSUMPTION_PRICE_SENSOR
            ),
            "production_price_sensor_id": _optional_sensor_id(
                data, const.CONF_PRODUCTION_PRICE_SENSOR
            ),
            "duration": timedelta(hours=hours),
            "update_interval": timedelta(minutes=minutes),
        }


def soc_bounds(
    *, capacity: float | None, soc_min: float | None, soc_max: float | None
) -> tuple[float, float | None]:
    """The state of charge range in kWh: (soc_min or 0, soc_max or capacity)."""
    return soc_min or 0.0, soc_max if soc_max is not None else capacity


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleSettings(PlanSettings):
    """A schedule sub-entry's data, parsed (README "Schedule settings")."""

    power_sensor_id: int
    soc_entity: str | None = None
    capacity: float | None = None
    soc_min: float | None = None
    soc_max: float | None = None
    roundtrip_efficiency: float | None = None
    power_capacity: float | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ScheduleSettings:
        """Parse sub-entry data."""
        return cls(
            power_sensor_id=int(data[const.CONF_POWER_SENSOR]),
            soc_entity=data.get(const.CONF_SOC_ENTITY) or None,
            capacity=_optional_float(data, const.CONF_CAPACITY),
            soc_min=_optional_float(data, const.CONF_SOC_MIN),
            soc_max=_optional_float(data, const.CONF_SOC_MAX),
            roundtrip_efficiency=_optional_float(data, const.CONF_ROUNDTRIP_EFFICIENCY),
            power_capacity=_optional_float(data, const.CONF_POWER_CAPACITY),
            **cls.plan_fields(data),
        )

    @property
    def soc_bounds(self) -> tuple[float, float | None]:
        """The state of charge range in kWh (the upper bound may be unknown)."""
        return soc_bounds(
            capacity=self.capacity, soc_min=self.soc_min, soc_max=self.soc_max
        )

    def soc_in_range(self, kwh: float) -> bool:
        """Whether a state of charge in kWh lies within the configured range."""
        low, high = self.soc_bounds
        return low <= kwh and (high is None or kwh <= high)

    def clamp_soc(self, kwh: float) -> float:
        """A state of charge moved into the configured range.

        A battery a little over its configured maximum would make the problem
        infeasible at FlexMeasures.
        """
        low, high = self.soc_bounds
        return max(low, kwh if high is None else min(high, kwh))


@dataclass(frozen=True, slots=True)
class SocTarget:
    """A state of charge to reach at a time (FlexMeasures `soc-targets`)."""

    when: datetime  # aware, UTC
    value: str  # a quantity string, e.g. "40 kWh"

    def as_flex_model(self) -> dict[str, str]:
        """The `soc-targets` item."""
        return {"datetime": self.when.isoformat(), "value": self.value}


_QUANTITY_RE = re.compile(
    r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(%|[A-Za-z]+)?\s*$"
)


def soc_kwh(value: float | str, capacity: float | None) -> float:
    """A state of charge given by a user, in kWh.

    A number is kWh; a string is a number with an energy unit ("0.4 MWh",
    "400 kWh", "400000 Wh"; none is kWh) or a percentage of the capacity
    ("80%"). Raises ValueError for anything else: not finite, another unit, a
    percentage without a capacity.
    """
    unit: str | None = None
    if isinstance(value, str):
        match = _QUANTITY_RE.match(value)
        if match is None:
            raise ValueError(f"not a state of charge: {value}")
        number, unit = float(match.group(1)), match.group(2)
    else:
        number = float(value)
    if not math.isfinite(number):
        raise ValueError("state of charge is not a finite number")
    if unit is None:
        return number
    if is_percentage(unit):
        if capacity is None:
            raise ValueError("a percentage needs the capacity")
        return number / 100.0 * capacity
    if (factor := energy_factor_to_kwh(unit)) is None:
        raise ValueError(f"not an energy unit: {unit}")
    return number * factor


def soc_targets_attribute(
    targets: Sequence[SocTarget], now: datetime, capacity: float | None
) -> list[dict[str, str | float]]:
    """The targets still in force (after `now`): [{datetime (UTC ISO), value (kWh)}].

    A target whose value cannot be read as kWh (not sent through the action,
    which refuses those) is left out.
    """
    shown: list[dict[str, str | float]] = []
    for target in targets:
        if target.when <= now:
            continue
        try:
            kwh = soc_kwh(target.value, capacity)
        except ValueError:
            continue
        shown.append({"datetime": target.when.isoformat(), "value": round(kwh, 6)})
    return shown


def soc_kwh_from_state(
    settings: ScheduleSettings, entity_id: str, state: str | None, unit: str | None
) -> float:
    """The state of charge in kWh from an entity's state (None: no such entity).

    A percentage needs the capacity; an energy unit is converted. The value is
    clamped into the configured range. Raises ScheduleRequestError
    (SOC_UNAVAILABLE, SOC_UNIT).
    """
    value: float | None = None
    if state is not None:
        try:
            value = float(state)
        except ValueError:
            value = None
    if value is None or not math.isfinite(value):
        raise ScheduleRequestError(
            ErrorKind.SOC_UNAVAILABLE,
            "soc_unavailable",
            {"entity_id": entity_id, "state": "missing" if state is None else state},
        )
    if is_percentage(unit):
        if settings.capacity is None:
            raise ScheduleRequestError(
                ErrorKind.SOC_UNIT,
                "soc_unit",
                {"entity_id": entity_id, "unit": str(unit)},
            )
        return settings.clamp_soc(value / 100.0 * settings.capacity)
    factor = energy_factor_to_kwh(unit)
    if factor is None:
        raise ScheduleRequestError(
            ErrorKind.SOC_UNIT,
            "soc_unit",
            {"entity_id": entity_id, "unit": unit or "none"},
        )
    return settings.clamp_soc(value * factor)


def device_flex_model(
    settings: ScheduleSettings,
    *,
    soc_at_start: str | None,
    soc_targets: Sequence[SocTarget],
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """The flex-model of one device from its settings and the state of charge.

    Without a state of charge (no entity, none given) the device is assumed to
    start at its minimum: FlexMeasures would start at 0 kWh, and a minimum
    above 0 that the device cannot reach in the first step is infeasible. A
    device without limits (one that only consumes, e.g. an EV charger without
    a state of charge) then starts at 0 kWh, bounded below only.
    Targets outside (start, end] are left out (kept for a later update).
    """
    model: dict[str, Any] = {}
    low, high = settings.soc_bounds
    model["soc-at-start"] = (
        soc_at_start if soc_at_start is not None else (kwh_quantity(low))
    )
    # Always send soc-min: without it the battery is unbounded below.
    model["soc-min"] = kwh_quantity(low)
    if high is not None:
        model["soc-max"] = kwh_quantity(high)
    if settings.roundtrip_efficiency is not None:
        model["roundtrip-efficiency"] = percent_quantity(settings.roundtrip_efficiency)
    if settings.power_capacity is not None:
        model["power-capacity"] = kw_quantity(settings.power_capacity)
    if targets := [
        target.as_flex_model() for target in soc_targets if start < target.when <= end
    ]:
        model["soc-targets"] = targets
    return model


def price_flex_context(settings: PlanSettings) -> dict[str, Any]:
    """The price sensors; none configured means what is stored on the asset."""
    context: dict[str, Any] = {}
    if (price := settings.consumption_price_sensor_id) is not None:
        context["consumption-price"] = {"sensor": price}
    if (price := settings.production_price_sensor_id) is not None:
        context["production-price"] = {"sensor": price}
    return context


def asset_flex_models(
    models: Mapping[int, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The `flex-model` list of an asset-level job: one model per power sensor."""
    # the sensor last: an override naming another sensor must not redirect it
    return [{**model, "sensor": sensor_id} for sensor_id, model in models.items()]


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSettings(PlanSettings):
    """A site sub-entry's data, parsed: devices below one asset, one job."""

    asset_id: int
    device_sensor_ids: tuple[int, ...]
    site_power_capacity: float | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SiteSettings:
        """Parse sub-entry data (`devices`: power sensor ids as strings)."""
        return cls(
            asset_id=int(data[const.CONF_ASSET]),
            device_sensor_ids=tuple(int(d) for d in data.get(const.CONF_DEVICES, ())),
            site_power_capacity=_optional_float(data, const.CONF_SITE_POWER_CAPACITY),
            **cls.plan_fields(data),
        )


def site_flex_context(settings: SiteSettings) -> dict[str, Any]:
    """The site's prices and, when set, its power capacity (else the asset's)."""
    context = price_flex_context(settings)
    if settings.site_power_capacity is not None:
        context["site-power-capacity"] = kw_quantity(settings.site_power_capacity)
    return context
