"""All unit knowledge of the integration, on Home Assistant's unit converters.

Power, energy and temperature units are Home Assistant's (`PowerConverter`,
`EnergyConverter`, `TemperatureConverter`); a price is a currency per energy
unit (`EUR/kWh`, `€/MWh`). FlexMeasures writes quantities as strings with a
unit (`"40 kWh"`, `"500 kW"`), which `kwh_quantity` and `kw_quantity` make.
"""

from __future__ import annotations

from collections.abc import Callable
import re
from typing import Final

from homeassistant.const import PERCENTAGE, UnitOfEnergy, UnitOfPower
from homeassistant.util.unit_conversion import (
    BaseUnitConverter,
    EnergyConverter,
    PowerConverter,
    TemperatureConverter,
)

_CONVERTERS: Final[tuple[type[BaseUnitConverter], ...]] = (
    PowerConverter,
    EnergyConverter,
    TemperatureConverter,
)
_CURRENCY_SYMBOLS: Final = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY"}
_PRICE_RE: Final = re.compile(r"^\s*([^/\s]+)\s*/\s*([^/\s]+)\s*$")

type Converter = Callable[[float], float]


def _normalise(unit: str | None) -> str | None:
    """A unit without surrounding blanks; None for no unit at all."""
    if unit is None:
        return None
    unit = unit.strip()
    return unit or None


def is_power_unit(unit: str | None) -> bool:
    """W, kW, MW, ...: a unit Home Assistant's PowerConverter knows."""
    return _normalise(unit) in PowerConverter.VALID_UNITS


def is_energy_unit(unit: str | None) -> bool:
    """Wh, kWh, MWh, ...: a unit Home Assistant's EnergyConverter knows."""
    return _normalise(unit) in EnergyConverter.VALID_UNITS


def is_percentage(unit: str | None) -> bool:
    """The unit `%`."""
    return _normalise(unit) == PERCENTAGE


def power_factor_to_kw(unit: str | None) -> float | None:
    """The factor that turns a power in `unit` into kW, or None if not power."""
    src = _normalise(unit)
    if src not in PowerConverter.VALID_UNITS:
        return None
    return PowerConverter.convert(1.0, src, UnitOfPower.KILO_WATT)


def energy_factor_to_kwh(unit: str | None) -> float | None:
    """The factor that turns an energy in `unit` into kWh, or None if not energy."""
    src = _normalise(unit)
    if src not in EnergyConverter.VALID_UNITS:
        return None
    return EnergyConverter.convert(1.0, src, UnitOfEnergy.KILO_WATT_HOUR)


def price_parts(unit: str | None) -> tuple[str, str] | None:
    """(currency, energy unit) of an energy price unit such as EUR/kWh, or None.

    `€` is EUR (and `$` USD, `£` GBP, `¥` JPY); the currency is upper-cased. A
    quantity over an energy (kW/kWh, Wh/kWh) is not a price.
    """
    text = _normalise(unit)
    match = None if text is None else _PRICE_RE.match(text)
    if match is None:
        return None
    currency, energy = match.group(1), match.group(2)
    if (
        energy not in EnergyConverter.VALID_UNITS
        or any(currency in converter.VALID_UNITS for converter in _CONVERTERS)
        or currency[0].isdigit()
    ):
        return None
    return _CURRENCY_SYMBOLS.get(currency, currency).upper(), energy


def is_price_unit(unit: str | None) -> bool:
    """A currency per energy, e.g. EUR/MWh or EUR/kWh."""
    return price_parts(unit) is not None


def unit_converter(from_unit: str | None, to_unit: str | None) -> Converter | None:
    """A function from `from_unit` to `to_unit`, or None when not convertible.

    The same unit (or no unit at all on the Home Assistant side) converts as is.
    Power, energy, temperature and energy prices (EUR/kWh vs EUR/MWh; `€` is
    EUR) are converted. Every converter is affine (a scale and an offset).
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
    src_price = price_parts(src)
    dst_price = price_parts(dst)
    if src_price is None or dst_price is None or src_price[0] != dst_price[0]:
        return None
    # a price per energy: EUR/kWh -> EUR/MWh multiplies by MWh/kWh = 1000
    ratio = EnergyConverter.convert(1.0, dst_price[1], src_price[1])
    return lambda value: value * ratio


def per_step_converter(
    from_unit: str | None, to_unit: str | None, seconds: float
) -> Converter | None:
    """Amounts per step of `seconds` in `from_unit` as values in `to_unit`.

    What `unit_converter` converts, plus energy per step <-> mean power over
    the step (1.4 kWh in 15 minutes is 5.6 kW), for energy meters.
    """
    if (direct := unit_converter(from_unit, to_unit)) is not None:
        return direct
    hours = seconds / 3600
    if hours <= 0:
        return None
    kwh = energy_factor_to_kwh(from_unit)
    kw = power_factor_to_kw(to_unit)
    if kwh is not None and kw is not None:  # energy per step -> mean power
        factor = kwh / hours / kw
        return lambda value: value * factor
    kw = power_factor_to_kw(from_unit)
    kwh = energy_factor_to_kwh(to_unit)
    if kw is not None and kwh is not None:  # mean power -> energy per step
        factor = kw * hours / kwh
        return lambda value: value * factor
    return None


def _identity(value: float) -> float:
    return value


_QUANTITY_RE: Final = re.compile(
    r"^\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(\S+)\s*$"
)
# Apparent power: FlexMeasures stores power capacities as e.g. "500 kVA".
_APPARENT_IN_KW: Final = {"VA": 0.001, "kVA": 1.0, "MVA": 1000.0}


def power_quantity_kw(text: object) -> float | None:
    """A FlexMeasures power quantity ("500 kW", "500 kVA", "0.5 MW") in kW, or None."""
    if not isinstance(text, str) or (match := _QUANTITY_RE.match(text)) is None:
        return None
    value, unit = float(match.group(1)), match.group(2)
    if unit in _APPARENT_IN_KW:
        return value * _APPARENT_IN_KW[unit]
    factor = power_factor_to_kw(unit)
    return None if factor is None else value * factor


def positive_power_kw(text: object) -> float | None:
    """A power capacity as FlexMeasures stores it, in kW; one <= 0 is None.

    A charging power of 0 or less would make charge_now stop or discharge.
    """
    power = power_quantity_kw(text)
    return power if power is not None and power > 0 else None


def kwh_quantity(value: float) -> str:
    """An energy in kWh as a FlexMeasures quantity string ("40 kWh")."""
    return f"{round(value, 6):g} kWh"


def kw_quantity(value: float) -> str:
    """A power in kW as a FlexMeasures quantity string ("500 kW")."""
    return f"{round(value, 6):g} kW"


def percent_quantity(value: float) -> str:
    """A percentage as a FlexMeasures quantity string ("90%")."""
    return f"{value:g}%"
