"""Binary sensors of a schedule device: charging, discharging, stale."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, override

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import callback
from homeassistant.util import dt as dt_util

from .coordinator import ScheduleCoordinator
from .entity import (
    STALE,
    FlexMeasuresAccountEntity,
    FlexMeasuresScheduleEntity,
    FlexMeasuresScheduleEntityDescription,
    StaleBinarySensor,
    platform_setup,
    schedule_entities,
)
from .measurement_entities import measurement_entities
from .schedule import WindowKind, kind_of
from .site_entities import site_entities

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class FlexMeasuresBinarySensorEntityDescription(
    BinarySensorEntityDescription, FlexMeasuresScheduleEntityDescription
):
    """Describes a schedule device binary sensor."""

    is_on_fn: Callable[[ScheduleCoordinator, datetime], bool | None]


def _is_kind(kind: WindowKind) -> Callable[[ScheduleCoordinator, datetime], bool]:
    """Whether the step covering now charges (or discharges), beyond a small epsilon."""

    def is_on(coordinator: ScheduleCoordinator, now: datetime) -> bool:
        return kind_of(coordinator.setpoint(now)) is kind

    return is_on


BINARY_SENSORS: Final[tuple[FlexMeasuresBinarySensorEntityDescription, ...]] = (
    FlexMeasuresBinarySensorEntityDescription(
        key="charging",
        translation_key="charging",
        is_on_fn=_is_kind(WindowKind.CHARGING),
    ),
    FlexMeasuresBinarySensorEntityDescription(
        key="discharging",
        translation_key="discharging",
        is_on_fn=_is_kind(WindowKind.DISCHARGING),
    ),
)


CONNECTED: Final = BinarySensorEntityDescription(
    key="connected",
    translation_key="connected",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


# the account's connectivity; the binary sensors of each schedule, measurement
# and site device
async_setup_entry = platform_setup(
    lambda _hass, entry, add: add(
        [FlexMeasuresConnectedBinarySensor(entry, CONNECTED)]
    ),
    schedule_entities(
        lambda coordinator: [
            *(
                FlexMeasuresScheduleBinarySensor(coordinator, description)
                for description in BINARY_SENSORS
            ),
            ScheduleStaleBinarySensor(coordinator, STALE),
        ]
    ),
    measurement_entities(Platform.BINARY_SENSOR),
    site_entities(Platform.BINARY_SENSOR),
)


class FlexMeasuresScheduleBinarySensor(FlexMeasuresScheduleEntity, BinarySensorEntity):
    """A binary sensor computed from the kept schedule at the current time."""

    entity_description: FlexMeasuresBinarySensorEntityDescription

    @property
    @override
    def is_on(self) -> bool | None:
        """On or off now."""
        return self.entity_description.is_on_fn(self.coordinator, dt_util.utcnow())


class ScheduleStaleBinarySensor(
    StaleBinarySensor[ScheduleCoordinator], FlexMeasuresScheduleEntity
):
    """On when the schedule's last update failed (the setpoint keeps the last plan)."""


class FlexMeasuresConnectedBinarySensor(FlexMeasuresAccountEntity, BinarySensorEntity):
    """Whether the account's server answers (and since when it does not)."""

    @callback
    @override
    def _update_from_connection(self) -> None:
        """On while the server answers; off since `disconnected_since`."""
        since = self.connection.disconnected_since
        self._attr_is_on = self.connection.connected
        self._attr_extra_state_attributes = {
            "disconnected_since": None if since is None else since.isoformat()
        }
