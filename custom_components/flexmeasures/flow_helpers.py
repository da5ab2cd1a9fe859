"""What the sub-entry flows share: the loaded account, drop-down labels, selectors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from .api import Asset, Sensor
from .data import FlexMeasuresData


def loaded_data(entry: ConfigEntry) -> FlexMeasuresData | None:
    """The account's runtime data, or None when its entry is not loaded.

    The sub-entry flows fill their drop-downs with the loaded entry's client.
    """
    if entry.state is not ConfigEntryState.LOADED:
        return None
    data: FlexMeasuresData = entry.runtime_data
    return data


def resolution_label(resolution: timedelta) -> str:
    """A sensor's resolution for people: `15 min`, `1 h`, `1 day`, `instantaneous`."""
    seconds = int(resolution.total_seconds())
    if seconds <= 0:
        return "instantaneous"
    if seconds % 86400 == 0:
        days = seconds // 86400
        return "1 day" if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def sensor_label(sensor: Sensor, assets: Mapping[int, Asset]) -> str:
    """A drop-down label: `toy-battery / discharging (kW, 15 min)`."""
    asset = assets.get(sensor.asset_id) if sensor.asset_id is not None else None
    name = sensor.name if asset is None else f"{asset.name} / {sensor.name}"
    unit = sensor.unit or "no unit"
    return f"{name} ({unit}, {resolution_label(sensor.event_resolution)})"


def dropdown(options: list[SelectOptionDict]) -> SelectSelector:
    """A drop-down of server objects (option values are ids as strings)."""
    return SelectSelector(
        SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN)
    )


def number(
    unit: str, *, minimum: float = 0, maximum: float = 100_000, step: float = 0.1
) -> NumberSelector:
    """A number box with a unit."""
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement=unit,
            mode=NumberSelectorMode.BOX,
        )
    )
