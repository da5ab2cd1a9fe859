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

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import Platform
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.util import dt as dt_util

from .const import ATTR_SCHEDULE, DOMAIN
from .entity import (
    STALE,
    EntityAdder,
    FlexMeasuresPlanEntity,
    StaleBinarySensor,
    subentry_entities,
)
from .plan_sensor import (
    PlanSensor,
    PlanSensorEntityDescription,
    plan_power_description,
    planned_cost_description,
)
from .schedule import schedule_attribute
from .site_coordinator import SiteCoordinator

SITE_MODEL: Final = "Site"
ATTR_DEVICES: Final = "devices"


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
        ATTR_DEVICES: _member_setpoints(site),
        ATTR_SCHEDULE: schedule_attribute(site.total),
    }


SITE_SENSORS: Final[tuple[PlanSensorEntityDescription[SiteCoordinator], ...]] = (
    plan_power_description(
        PlanSensorEntityDescription[SiteCoordinator],
        "site_power",
        site_power,
        _power_attributes,
        available=lambda site: site_power(site, dt_util.utcnow()) is not None,
    ),
    planned_cost_description(PlanSensorEntityDescription[SiteCoordinator]),
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
            return [SiteStaleBinarySensor(site, STALE)]
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


class SiteSensor(SiteEntity, PlanSensor[SiteCoordinator]):
    """A site sensor: the devices' power together, or the plan's cost."""

    _unrecorded_attributes = frozenset({ATTR_SCHEDULE})

    @property
    @override
    def available(self) -> bool:
        """While there is something to show."""
        available_fn = self.entity_description.available_fn
        return available_fn is None or available_fn(self.coordinator)


class SiteStaleBinarySensor(StaleBinarySensor[SiteCoordinator], SiteEntity):
    """On when the site's last update failed (its devices keep their parts)."""


class SiteRescheduleButton(SiteEntity, ButtonEntity):
    """Run the site's job now, for all its devices."""

    @override
    async def async_press(self) -> None:
        """Trigger, wait and update the devices; failures are raised to the user."""
        await self.coordinator.async_trigger()
