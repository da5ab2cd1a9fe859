"""Sensors of a schedule device: the setpoint, when it changes, price and cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, override

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import EntityCategory, Platform
from homeassistant.util import dt as dt_util

from .const import ATTR_SCHEDULE
from .coordinator import ScheduleCoordinator
from .entity import (
    FlexMeasuresScheduleEntity,
    FlexMeasuresScheduleEntityDescription,
    platform_setup,
    schedule_entities,
)
from .measurement_entities import measurement_entities
from .plan_sensor import (
    PlanSensor,
    PlanSensorEntityDescription,
    plan_power_description,
    planned_cost_description,
)
from .requests import soc_targets_attribute
from .schedule import next_change, schedule_attribute
from .site_entities import site_entities

PARALLEL_UPDATES = 0

ATTR_FORECAST: Final = "forecast"
ATTR_MODE: Final = "mode"
ATTR_SOC_TARGETS: Final = "soc_targets"


@dataclass(frozen=True, kw_only=True)
class FlexMeasuresSensorEntityDescription(
    PlanSensorEntityDescription[ScheduleCoordinator],
    FlexMeasuresScheduleEntityDescription,
):
    """Describes a schedule device sensor."""


def _targets_in_force(coordinator: ScheduleCoordinator) -> list[dict[str, str | float]]:
    """The kept targets and the standing one (target_soc at ready_by), by time."""
    now = dt_util.utcnow()
    targets = list(coordinator.soc_targets)
    if (standing := coordinator.controls.standing_target(now)) is not None:
        targets.append(standing)
    targets.sort(key=lambda target: target.when)
    return soc_targets_attribute(targets, now, coordinator.settings.capacity)


def _setpoint_attributes(coordinator: ScheduleCoordinator) -> Mapping[str, Any]:
    """The mode, the schedule (kept out of the recorder), the targets in force."""
    return {
        ATTR_MODE: coordinator.controls.values.mode.value,
        ATTR_SCHEDULE: schedule_attribute(coordinator.data),
        ATTR_SOC_TARGETS: _targets_in_force(coordinator),
    }


def _price_attributes(coordinator: ScheduleCoordinator) -> Mapping[str, Any]:
    """The price over the planning horizon (kept out of the recorder)."""
    return {ATTR_FORECAST: coordinator.prices.forecast_attribute()}


def _not_in_site(coordinator: ScheduleCoordinator) -> bool:
    """Not for a device in a site: the site device shows the cost of the plan."""
    return coordinator.site is None


def _next_change(coordinator: ScheduleCoordinator, now: datetime) -> datetime | None:
    """When the setpoint changes next: a mode other than smart holds it."""
    if not coordinator.follows_plan:
        return None
    return next_change(coordinator.data, now)


SENSORS: Final[tuple[FlexMeasuresSensorEntityDescription, ...]] = (
    plan_power_description(
        FlexMeasuresSensorEntityDescription,
        "power_setpoint",
        lambda coordinator, now: coordinator.setpoint(now),
        _setpoint_attributes,
    ),
    FlexMeasuresSensorEntityDescription(
        key="next_change",
        translation_key="next_change",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_next_change,
    ),
    FlexMeasuresSensorEntityDescription(
        key="consumption_price",
        translation_key="consumption_price",
        state_class=SensorStateClass.MEASUREMENT,
        unit_fn=lambda coordinator: coordinator.prices.unit,
        available_fn=lambda coordinator: coordinator.prices.available,
        value_fn=lambda coordinator, now: coordinator.prices.value_at(now),
        attributes_fn=_price_attributes,
    ),
    planned_cost_description(FlexMeasuresSensorEntityDescription, _not_in_site),
    FlexMeasuresSensorEntityDescription(
        key="last_update",
        translation_key="last_update",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator, _now: coordinator.last_success,
        always_available=True,
    ),
)


# the sensors of each schedule, measurement and site device
async_setup_entry = platform_setup(
    schedule_entities(
        lambda coordinator: (
            FlexMeasuresScheduleSensor(coordinator, description)
            for description in SENSORS
        )
    ),
    measurement_entities(Platform.SENSOR),
    site_entities(Platform.SENSOR),
)


class FlexMeasuresScheduleSensor(
    PlanSensor[ScheduleCoordinator], FlexMeasuresScheduleEntity
):
    """A sensor computed from the kept schedule at the current time."""

    entity_description: FlexMeasuresSensorEntityDescription
    _unrecorded_attributes = frozenset({ATTR_SCHEDULE, ATTR_FORECAST})

    @property
    @override
    def available(self) -> bool:
        """Available as the device's entities are, and as the description says."""
        available_fn = self.entity_description.available_fn
        return super().available and (
            available_fn is None or available_fn(self.coordinator)
        )
