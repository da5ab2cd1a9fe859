"""Base entities: of the account device, and of a sub-entry's device.

Each schedule, site and measurement sub-entry gets a device of its own, via
the account's device (`subentry_device_info`). Schedule and site entities
follow their plan coordinator (`FlexMeasuresPlanEntity`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, override

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, EntityCategory
from homeassistant.core import HomeAssistant, State, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER
from .coordinator import ScheduleCoordinator
from .data import FlexMeasuresConfigEntry
from .device_controls import Control
from .plan_coordinator import PlanCoordinator

SCHEDULE_MODEL: Final = "Schedule"


def subentry_device_info(
    hass: HomeAssistant,
    entry: FlexMeasuresConfigEntry,
    subentry: ConfigSubentry,
    model: str,
) -> DeviceInfo:
    """The device of a sub-entry, via the account's device."""
    device_info = DeviceInfo(
        identifiers={(DOMAIN, subentry.subentry_id)},
        name=subentry.title,
        manufacturer=MANUFACTURER,
        model=model,
        entry_type=DeviceEntryType.SERVICE,
    )
    # The server account device is registered by async_setup_entry.
    account = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    if account is not None:
        device_info["via_device_id"] = account.id
    return device_info


def stale_attributes(coordinator: PlanCoordinator[Any]) -> Mapping[str, Any]:
    """While stale: the last error, translated, and when it happened."""
    failed = coordinator.stale and coordinator.last_error_message is not None
    when = coordinator.last_error_time
    return {
        "last_error": coordinator.last_error_message if failed else None,
        "last_error_time": when.isoformat() if failed and when else None,
    }


STALE: Final = BinarySensorEntityDescription(
    key="stale",
    translation_key="stale",
    device_class=BinarySensorDeviceClass.PROBLEM,
    entity_category=EntityCategory.DIAGNOSTIC,
)


# Adds some of a platform's entities (e.g. of each schedule device).
type EntityAdder = Callable[
    [HomeAssistant, FlexMeasuresConfigEntry, AddConfigEntryEntitiesCallback], None
]
type SetupEntry = Callable[
    [HomeAssistant, FlexMeasuresConfigEntry, AddConfigEntryEntitiesCallback],
    Coroutine[Any, Any, None],
]


def platform_setup(*adders: EntityAdder) -> SetupEntry:
    """A platform's `async_setup_entry`: each adder adds its devices' entities."""

    async def async_setup_entry(
        hass: HomeAssistant,
        entry: FlexMeasuresConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        """Add the platform's entities of the account's devices."""
        for add in adders:
            add(hass, entry, async_add_entities)

    return async_setup_entry


def subentry_entities[D](
    devices: Callable[[HomeAssistant, FlexMeasuresConfigEntry], Mapping[str, D]],
    entities_fn: Callable[[D], Iterable[Entity]],
) -> EntityAdder:
    """Adds a platform's entities of each device (by sub-entry id), to its sub-entry."""

    @callback
    def add(
        hass: HomeAssistant,
        entry: FlexMeasuresConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        for subentry_id, device in devices(hass, entry).items():
            if subentry_id in entry.subentries:  # else deleted: the entry reloads
                async_add_entities(entities_fn(device), config_subentry_id=subentry_id)

    return add


def schedule_entities(
    entities_fn: Callable[[ScheduleCoordinator], Iterable[Entity]],
) -> EntityAdder:
    """Adds a platform's entities of each schedule device, to its sub-entry."""
    return subentry_entities(
        lambda _hass, entry: entry.runtime_data.coordinators, entities_fn
    )


class FlexMeasuresAccountEntity(Entity):
    """An entity of the account (server) device, pushed by its connection.

    A subclass sets its `_attr_*` from the connection in `_update_from_connection`.
    """

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
        """Take the connection's state now, and each time it changes."""
        self._update_from_connection()
        self.async_on_remove(
            self.connection.async_add_listener(self._handle_connection_update)
        )

    @callback
    def _handle_connection_update(self) -> None:
        """The connection changed: write the entity's new state."""
        self._update_from_connection()
        self.async_write_ha_state()

    @callback
    def _update_from_connection(self) -> None:
        """Set the entity's state from the connection."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class FlexMeasuresScheduleEntityDescription(EntityDescription):
    """What schedule device sensors and binary sensors describe in common."""

    # Reports on the coordinator itself: available without a schedule.
    always_available: bool = False


class FlexMeasuresPlanEntity[C: PlanCoordinator[Any]](CoordinatorEntity[C]):
    """An entity of a schedule or site device, following its coordinator."""

    _attr_has_entity_name = True
    _device_model: str

    def __init__(self, coordinator: C, description: EntityDescription) -> None:
        """Link the entity to its sub-entry's device."""
        super().__init__(coordinator)
        self.entity_description = description
        subentry = coordinator.subentry
        self._attr_unique_id = f"{subentry.subentry_id}_{description.key}"
        self._attr_device_info = subentry_device_info(
            coordinator.hass, coordinator.config_entry, subentry, self._device_model
        )


class StaleBinarySensor[C: PlanCoordinator[Any]](
    FlexMeasuresPlanEntity[C], BinarySensorEntity
):
    """Binary sensor `stale` of a schedule or site device: its last update failed.

    Always available: it reports on the coordinator itself. Put before the
    device's own entity class (whose `available` it overrides).
    """

    @property
    @override
    def available(self) -> bool:
        """Always."""
        return True

    @property
    @override
    def is_on(self) -> bool:
        """Whether the last update failed."""
        return self.coordinator.stale

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """The last error, translated, and when it happened."""
        return stale_attributes(self.coordinator)


class FlexMeasuresScheduleEntity(FlexMeasuresPlanEntity[ScheduleCoordinator]):
    """An entity of a schedule device.

    Available while the kept schedule covers now: a failed update does not make
    it unavailable (the setpoint keeps following the last good schedule; the
    `stale` binary sensor says it failed). Entities that report on the
    coordinator itself (diagnostics, the button) set `_always_available` (or
    `always_available` in their FlexMeasuresScheduleEntityDescription).
    """

    _device_model = SCHEDULE_MODEL
    _always_available = False

    def __init__(
        self, coordinator: ScheduleCoordinator, description: EntityDescription
    ) -> None:
        """Link the entity to its sub-entry's device."""
        super().__init__(coordinator, description)
        if isinstance(description, FlexMeasuresScheduleEntityDescription):
            self._always_available = description.always_available

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


class FlexMeasuresControlEntity[T](FlexMeasuresScheduleEntity, RestoreEntity):
    """A control of a schedule device (target, time, mode): kept across restarts.

    Always available: it sets what the next schedule is made of. `_control`
    says which of the device's controls it shows and sets; the platform's
    entity says how a value is taken back from the state kept before a restart.
    """

    _always_available = True
    _control: Control[T]

    @property
    def control_value(self) -> T:
        """The control's value now."""
        return self._control.value(self.coordinator.controls.values)

    async def async_set_control(self, value: T) -> None:
        """Set the control: the next schedule, or the setpoint, follows it."""
        self._control.set(self.coordinator.controls, value)

    @override
    async def async_added_to_hass(self) -> None:
        """Take back the value set before the restart (none: the default)."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is None or last.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
            return
        if (value := await self._async_restored(last)) is not None:
            await self.async_set_control(value)

    async def _async_restored(self, last: State) -> T | None:
        """The value to take back, from `last`: its last known state (None: none)."""
        raise NotImplementedError


class FlexMeasuresValueControlEntity[T](FlexMeasuresControlEntity[T]):
    """A control whose state is its `native_value` (a number, a time)."""

    @property
    def native_value(self) -> T:
        """The control's value now."""
        return self.control_value
