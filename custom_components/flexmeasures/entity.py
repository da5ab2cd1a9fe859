"""Base entity of a schedule device (one device per schedule subentry)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import override

from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER
from .coordinator import ScheduleCoordinator
from .data import FlexMeasuresConfigEntry

SCHEDULE_MODEL = "Schedule"


@callback
def async_add_schedule_entities(
    entry: FlexMeasuresConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    entities_fn: Callable[[ScheduleCoordinator], Iterable[Entity]],
) -> None:
    """Add a platform's entities of each schedule device, to its subentry."""
    for subentry_id, coordinator in entry.runtime_data.coordinators.items():
        async_add_entities(entities_fn(coordinator), config_subentry_id=subentry_id)


class FlexMeasuresAccountEntity(Entity):
    """An entity of the account (server) device, following its connection."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, entry: FlexMeasuresConfigEntry, description: EntityDescription
    ) -> None:
        """Link the entity to the account device."""
        self.entity_description = description
        self.connection = entry.runtime_data.connection
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, entry.entry_id)})

    @override
    async def async_added_to_hass(self) -> None:
        """Write the state when the connection changes."""
        self.async_on_remove(
            self.connection.async_add_listener(self.async_write_ha_state)
        )


@dataclass(frozen=True, kw_only=True)
class FlexMeasuresScheduleEntityDescription(EntityDescription):
    """What schedule device sensors and binary sensors describe in common."""

    # Reports on the coordinator itself: available without a schedule.
    always_available: bool = False


class FlexMeasuresScheduleEntity(CoordinatorEntity[ScheduleCoordinator]):
    """An entity of a schedule device.

    Available while the kept schedule covers now: a failed update does not make
    it unavailable (the setpoint keeps following the last good schedule; the
    `stale` binary sensor says it failed). Entities that report on the
    coordinator itself (diagnostics, the button) set `_always_available` (or
    `always_available` in their FlexMeasuresScheduleEntityDescription).
    """

    _attr_has_entity_name = True
    _always_available = False

    def __init__(
        self, coordinator: ScheduleCoordinator, description: EntityDescription
    ) -> None:
        """Link the entity to its subentry's device."""
        super().__init__(coordinator)
        self.entity_description = description
        if isinstance(description, FlexMeasuresScheduleEntityDescription):
            self._always_available = description.always_available
        subentry = coordinator.subentry
        entry = coordinator.config_entry
        self._attr_unique_id = f"{subentry.subentry_id}_{description.key}"
        device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry.subentry_id)},
            name=subentry.title,
            manufacturer=MANUFACTURER,
            model=SCHEDULE_MODEL,
            entry_type=DeviceEntryType.SERVICE,
        )
        # The server account device is registered by async_setup_entry.
        account = dr.async_get(coordinator.hass).async_get_device_by_identifier(
            (DOMAIN, entry.entry_id), entry.entry_id
        )
        if account is not None:
            device_info["via_device_id"] = account.id
        self._attr_device_info = device_info

    @property
    @override
    def available(self) -> bool:
        """Available while a schedule covers now (or always, see class doc).

        A mode other than smart sets the setpoint itself: available then too.
        """
        return (
            self._always_available
            or self.coordinator.covers_now()
            or not self.coordinator.follows_plan
        )
