"""The device of a site and its entities: the devices' plan together.

Each site sub-entry gets a device (via the account's device) with
- sensor `site_power`: the devices' setpoints added up now (kW, consumption
  positive), attribute `schedule` (their plans added up, UTC, kept out of the
  recorder) and `devices` (the devices' power setpoint entities);
- sensor `planned_cost`: the cost of the site's plan, in the price's currency;
- binary sensor `stale` (problem): the site's last update failed;
- button `reschedule`: run the site's job now.
`sensor.py`, `binary_sensor.py` and `button.py` add them with
`site_entities`.
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
from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, Platform, UnitOfPower
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .entity import (
    EntityAdder,
    FlexMeasuresPlanEntity,
    stale_attributes,
    subentry_entities,
)
from .prices import other_costs, planned_cost
from .schedule import schedule_attribute
from .site_coordinator import SiteCoordinator

SITE_MODEL: Final = "Site"
ATTR_SCHEDULE: Final = "schedule"
ATTR_DEVICES: Final = "devices"
ATTR_SIGN_CONVENTION: Final = "sign_convention"
SIGN_CONVENTION: Final = "consumption_positive"


def site_power(site: SiteCoordinator, now: datetime) -> float | None:
    """The devices' setpoints now, added up (None: none of them has one)."""
    setpoints = [member.setpoint(now) for member in site.members]
    known = [value for value in setpoints if value is not None]
    return sum(known) + 0.0 if known else None


def _member_setpoints(site: SiteCoordinator) -> list[str]:
    """The power setpoint entity of each of the site's devices."""
    registry = er.async_get(site.hass)
    found = (
        registry.async_get_entity_id(
            Platform.SENSOR, DOMAIN, f"{member.subentry_id}_power_setpoint"
        )
        for member in site.members
    )
    return [entity_id for entity_id in found if entity_id is not None]


def _power_attributes(site: SiteCoordinator) -> Mapping[str, Any]:
    return {
        ATTR_SIGN_CONVENTION: SIGN_CONVENTION,
        ATTR_DEVICES: _member_setpoints(site),
        ATTR_SCHEDULE: schedule_attribute(site.total),
    }


@dataclass(frozen=True, kw_only=True)
class SiteSensorEntityDescription(SensorEntityDescription):
    """Describes a site device sensor."""

    value_fn: Callable[[SiteCoordinator, datetime], float | None]
    unit_fn: Callable[[SiteCoordinator], str | None] | None = None
    available_fn: Callable[[SiteCoordinator], bool]
    attributes_fn: Callable[[SiteCoordinator], Mapping[str, Any]]


SITE_SENSORS: Final[tuple[SiteSensorEntityDescription, ...]] = (
    SiteSensorEntityDescription(
        key="site_power",
        translation_key="site_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=2,
        value_fn=site_power,
        available_fn=lambda site: site_power(site, dt_util.utcnow()) is not None,
        attributes_fn=_power_attributes,
    ),
    SiteSensorEntityDescription(
        key="planned_cost",
        translation_key="planned_cost",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        value_fn=lambda site, _now: planned_cost(site.total),
        unit_fn=lambda site: site.prices.currency,
        available_fn=lambda site: (
            site.prices.currency is not None and planned_cost(site.total) is not None
        ),
        attributes_fn=lambda site: other_costs(site.total),
    ),
)
SITE_STALE: Final = BinarySensorEntityDescription(
    key="stale",
    translation_key="stale",
    device_class=BinarySensorDeviceClass.PROBLEM,
    entity_category=EntityCategory.DIAGNOSTIC,
)
SITE_RESCHEDULE: Final = ButtonEntityDescription(
    key="reschedule", translation_key="reschedule"
)


def site_entities(platform: Platform) -> EntityAdder:
    """Adds a platform's entities of each site device, to its sub-entry."""

    def entities(site: SiteCoordinator) -> list[Entity]:
        if platform is Platform.SENSOR:
            return [SiteSensor(site, d) for d in SITE_SENSORS]
        if platform is Platform.BINARY_SENSOR:
            return [SiteStaleBinarySensor(site, SITE_STALE)]
        return [SiteRescheduleButton(site, SITE_RESCHEDULE)]

    return subentry_entities(lambda _hass, entry: entry.runtime_data.sites, entities)


class SiteEntity(FlexMeasuresPlanEntity[SiteCoordinator]):
    """An entity of a site device."""

    _device_model = SITE_MODEL

    @property
    @override
    def available(self) -> bool:
        """Always: a site reports on its devices and itself."""
        return True


class SiteSensor(SiteEntity, SensorEntity):
    """A site sensor: the devices' power together, or the plan's cost."""

    entity_description: SiteSensorEntityDescription
    _unrecorded_attributes = frozenset({ATTR_SCHEDULE})

    @property
    @override
    def available(self) -> bool:
        """While there is something to show."""
        return self.entity_description.available_fn(self.coordinator)

    @property
    @override
    def native_value(self) -> float | None:
        """The value now."""
        return self.entity_description.value_fn(self.coordinator, dt_util.utcnow())

    @property
    @override
    def native_unit_of_measurement(self) -> str | None:
        """kW, or the price's currency."""
        if (unit_fn := self.entity_description.unit_fn) is not None:
            return unit_fn(self.coordinator)
        return self.entity_description.native_unit_of_measurement

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """The plan added up and the devices, or the other cost terms."""
        return self.entity_description.attributes_fn(self.coordinator)


class SiteStaleBinarySensor(SiteEntity, BinarySensorEntity):
    """On when the site's last update failed (its devices keep their parts)."""

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


class SiteRescheduleButton(SiteEntity, ButtonEntity):
    """Run the site's job now, for all its devices."""

    @override
    async def async_press(self) -> None:
        """Trigger, wait and update the devices; failures are raised to the user."""
        await self.coordinator.async_trigger()
