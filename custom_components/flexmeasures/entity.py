"""Base entity of a schedule device (one device per schedule subentry)."""

from __future__ import annotations

from typing import override

from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER
from .coordinator import ScheduleCoordinator

SCHEDULE_MODEL = "Schedule"


class FlexMeasuresScheduleEntity(CoordinatorEntity[ScheduleCoordinator]):
    """An entity of a schedule device.

    Available while the kept schedule covers now: a failed update does not make
    it unavailable (the setpoint keeps following the last good schedule; the
    `stale` binary sensor says it failed). Entities that report on the
    coordinator itself (diagnostics, the button) set `_always_available`.
    """

    _attr_has_entity_name = True
    _always_available = False

    def __init__(
        self, coordinator: ScheduleCoordinator, description: EntityDescription
    ) -> None:
        """Link the entity to its subentry's device."""
        super().__init__(coordinator)
        self.entity_description = description
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
        """Available while a schedule covers now (or always, see class doc)."""
        return self._always_available or self.coordinator.covers_now()
