"""The device of a measurement and its diagnostic entities (is data delivered).

Each forwarded measurement subentry gets a device (named after the mapping,
via the account's device) with
- sensor `last_delivered`: the end of the last step the server accepted;
- sensor `pending`: values waiting in the outbox;
- binary sensor `rejected` (problem): the server refused values for good,
  until it accepts the mapping's values again.
They are pushed by the forwarder when the mapping's state changes (no
polling). `sensor.py` and `binary_sensor.py` add them with
`measurement_entities`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, override

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .data import FlexMeasuresConfigEntry
from .entity import EntityAdder, subentry_device_info, subentry_entities
from .forwarder import MeasurementForwarder, MeasurementStatus

MEASUREMENT_MODEL: Final = "Measurement"
_NO_STATUS: Final = MeasurementStatus(None, 0, None, 0, 0)


@dataclass(frozen=True, kw_only=True)
class MeasurementSensorEntityDescription(SensorEntityDescription):
    """Describes a measurement device sensor."""

    value_fn: Callable[[MeasurementStatus], datetime | int | None]


@dataclass(frozen=True, kw_only=True)
class MeasurementBinarySensorEntityDescription(BinarySensorEntityDescription):
    """Describes a measurement device binary sensor."""

    is_on_fn: Callable[[MeasurementStatus], bool]
    attributes_fn: Callable[[MeasurementStatus], Mapping[str, Any]]


SENSORS: Final[tuple[MeasurementSensorEntityDescription, ...]] = (
    MeasurementSensorEntityDescription(
        key="last_delivered",
        translation_key="last_delivered",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda status: status.last_delivered,
    ),
    MeasurementSensorEntityDescription(
        key="pending",
        translation_key="pending",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda status: status.pending,
    ),
)

BINARY_SENSORS: Final[tuple[MeasurementBinarySensorEntityDescription, ...]] = (
    MeasurementBinarySensorEntityDescription(
        key="rejected",
        translation_key="rejected",
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=lambda status: status.rejection is not None,
        attributes_fn=lambda status: {
            "reason": status.rejection,
            "rejected_values": status.rejected,
            "dropped_values": status.dropped,
        },
    ),
)


@dataclass(frozen=True, slots=True)
class _Device:
    """A forwarded measurement's device."""

    forwarder: MeasurementForwarder
    subentry_id: str
    info: DeviceInfo


def _devices(hass: HomeAssistant, entry: FlexMeasuresConfigEntry) -> dict[str, _Device]:
    """The device of each forwarded measurement, by sub-entry id."""
    if (forwarder := entry.runtime_data.forwarder) is None:
        return {}
    return {
        subentry_id: _Device(
            forwarder,
            subentry_id,
            subentry_device_info(hass, entry, subentry, MEASUREMENT_MODEL),
        )
        for subentry_id in forwarder.subentry_ids
        # not one deleted while the entry set up (it reloads when done)
        if (subentry := entry.subentries.get(subentry_id)) is not None
    }


def _sensors(device: _Device) -> list[Entity]:
    return [
        MeasurementSensor(device.forwarder, device.subentry_id, device.info, d)
        for d in SENSORS
    ]


def _binary_sensors(device: _Device) -> list[Entity]:
    return [
        MeasurementBinarySensor(device.forwarder, device.subentry_id, device.info, d)
        for d in BINARY_SENSORS
    ]


def measurement_entities(platform: Platform) -> EntityAdder:
    """Adds a platform's entities of each forwarded measurement, to its sub-entry."""
    return subentry_entities(
        _devices, _sensors if platform is Platform.SENSOR else _binary_sensors
    )


class MeasurementEntity(Entity):
    """An entity of a measurement device, pushed by the forwarder.

    Diagnostic, all of them: they tell how the delivery goes.
    """

    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self,
        forwarder: MeasurementForwarder,
        subentry_id: str,
        device_info: DeviceInfo,
        description: EntityDescription,
    ) -> None:
        """Link the entity to its subentry's device."""
        self.entity_description = description
        self._forwarder = forwarder
        self._subentry_id = subentry_id
        self._attr_unique_id = f"{subentry_id}_{description.key}"
        self._attr_device_info = device_info

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the forwarder's state of this mapping."""
        self.async_on_remove(
            self._forwarder.async_add_listener(
                self._subentry_id, self.async_write_ha_state
            )
        )

    def _status(self) -> MeasurementStatus:
        # entities exist for the forwarded mappings only
        return self._forwarder.status(self._subentry_id) or _NO_STATUS


class MeasurementSensor(MeasurementEntity, SensorEntity):
    """A sensor of a measurement device."""

    entity_description: MeasurementSensorEntityDescription

    @property
    @override
    def native_value(self) -> datetime | int | None:
        """The value now."""
        return self.entity_description.value_fn(self._status())


class MeasurementBinarySensor(MeasurementEntity, BinarySensorEntity):
    """A binary sensor of a measurement device."""

    entity_description: MeasurementBinarySensorEntityDescription

    @property
    @override
    def is_on(self) -> bool:
        """On or off now."""
        return self.entity_description.is_on_fn(self._status())

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """Why, and how many values were refused or dropped."""
        return self.entity_description.attributes_fn(self._status())
