"""Sensors of a schedule device: the power setpoint and when it changes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, Platform, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import ScheduleCoordinator
from .data import FlexMeasuresConfigEntry
from .entity import (
    FlexMeasuresScheduleEntity,
    FlexMeasuresScheduleEntityDescription,
    async_add_schedule_entities,
)
from .measurement_entities import async_add_measurement_entities
from .schedule import next_change, schedule_attribute, value_at

PARALLEL_UPDATES = 0

ATTR_SCHEDULE: Final = "schedule"
ATTR_SIGN_CONVENTION: Final = "sign_convention"
# FlexMeasures' convention: charging (consumption) > 0, discharging < 0.
SIGN_CONVENTION: Final = "consumption_positive"


@dataclass(frozen=True, kw_only=True)
class FlexMeasuresSensorEntityDescription(
    SensorEntityDescription, FlexMeasuresScheduleEntityDescription
):
    """Describes a schedule device sensor."""

    value_fn: Callable[[ScheduleCoordinator, datetime], float | datetime | None]
    attributes_fn: Callable[[ScheduleCoordinator], Mapping[str, Any] | None] | None = (
        None
    )


def _setpoint_attributes(coordinator: ScheduleCoordinator) -> Mapping[str, Any]:
    """The whole schedule (kept out of the recorder) and the sign convention."""
    return {
        ATTR_SIGN_CONVENTION: SIGN_CONVENTION,
        ATTR_SCHEDULE: schedule_attribute(coordinator.data),
    }


SENSORS: Final[tuple[FlexMeasuresSensorEntityDescription, ...]] = (
    FlexMeasuresSensorEntityDescription(
        key="power_setpoint",
        translation_key="power_setpoint",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=2,
        value_fn=lambda coordinator, now: value_at(coordinator.data, now),
        attributes_fn=_setpoint_attributes,
    ),
    FlexMeasuresSensorEntityDescription(
        key="next_change",
        translation_key="next_change",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda coordinator, now: next_change(coordinator.data, now),
    ),
    FlexMeasuresSensorEntityDescription(
        key="last_update",
        translation_key="last_update",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator, _now: coordinator.last_success,
        always_available=True,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexMeasuresConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of each schedule device."""
    async_add_schedule_entities(
        entry,
        async_add_entities,
        lambda coordinator: (
            FlexMeasuresScheduleSensor(coordinator, description)
            for description in SENSORS
        ),
    )
    async_add_measurement_entities(hass, entry, async_add_entities, Platform.SENSOR)


class FlexMeasuresScheduleSensor(FlexMeasuresScheduleEntity, SensorEntity):
    """A sensor computed from the kept schedule at the current time."""

    entity_description: FlexMeasuresSensorEntityDescription
    _unrecorded_attributes = frozenset({ATTR_SCHEDULE})

    @property
    @override
    def native_value(self) -> float | datetime | None:
        """The value now."""
        return self.entity_description.value_fn(self.coordinator, dt_util.utcnow())

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Extra attributes (the setpoint's schedule)."""
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        return attributes_fn(self.coordinator)
