"""The sensors of a plan: a device's or a site's value now, as described.

`PlanSensorEntityDescription` says how a value is read from the plan's
coordinator; `plan_power_description` and `planned_cost_description` describe
the two sensors that every plan has, a device's and a site's alike: the power
it sets now and what it costs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfPower
from homeassistant.util import dt as dt_util

from .const import ATTR_SIGN_CONVENTION, SIGN_CONVENTION
from .entity import FlexMeasuresPlanEntity
from .plan_coordinator import PlanCoordinator
from .prices import other_costs, planned_cost


@dataclass(frozen=True, kw_only=True)
class PlanSensorEntityDescription[C: PlanCoordinator[Any]](SensorEntityDescription):
    """Describes a sensor of a schedule or site device."""

    value_fn: Callable[[C, datetime], float | datetime | None]
    # the unit when it depends on the device (e.g. its price's currency)
    unit_fn: Callable[[C], str | None] | None = None
    # a condition for being available, beyond the device's own
    available_fn: Callable[[C], bool] | None = None
    # extra state attributes (e.g. the setpoint's schedule, the other costs)
    attributes_fn: Callable[[C], Mapping[str, Any] | None] | None = None


def planned_cost_description[D: PlanSensorEntityDescription[Any]](
    describe: type[D], shown: Callable[[Any], bool] = lambda _coordinator: True
) -> D:
    """Sensor `planned_cost`: what FlexMeasures said the kept plan costs.

    In the price's currency; available when it is known (and `shown`).
    """
    return describe(
        key="planned_cost",
        translation_key="planned_cost",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        value_fn=lambda coordinator, _now: planned_cost(coordinator.kept_schedule),
        unit_fn=lambda coordinator: coordinator.prices.currency,
        available_fn=lambda coordinator: (
            shown(coordinator)
            and coordinator.prices.currency is not None
            and planned_cost(coordinator.kept_schedule) is not None
        ),
        attributes_fn=lambda coordinator: other_costs(coordinator.kept_schedule),
    )


def plan_power_description[
    C: PlanCoordinator[Any],
    D: PlanSensorEntityDescription[Any],
](
    describe: type[D],
    key: str,
    power: Callable[[C, datetime], float | None],
    attributes: Callable[[C], Mapping[str, Any]],
    available: Callable[[C], bool] | None = None,
) -> D:
    """A sensor of the power a plan sets now (a device's setpoint, a site's sum).

    In kW, consumption positive, as its `sign_convention` attribute says
    before the other `attributes` (the plan's `schedule` among them).
    """
    return describe(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=2,
        value_fn=power,
        available_fn=available,
        attributes_fn=lambda coordinator: {
            ATTR_SIGN_CONVENTION: SIGN_CONVENTION,
            **attributes(coordinator),
        },
    )


class PlanSensor[C: PlanCoordinator[Any]](FlexMeasuresPlanEntity[C], SensorEntity):
    """A sensor of a schedule or site device: its value now, as described."""

    entity_description: PlanSensorEntityDescription[C]

    @property
    @override
    def native_value(self) -> float | datetime | None:
        """The value now."""
        return self.entity_description.value_fn(self.coordinator, dt_util.utcnow())

    @property
    @override
    def native_unit_of_measurement(self) -> str | None:
        """The description's unit, or the device's (e.g. its price's)."""
        if (unit_fn := self.entity_description.unit_fn) is None:
            return super().native_unit_of_measurement
        return unit_fn(self.coordinator)

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """What the description's `attributes_fn` says (none without one)."""
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        return attributes_fn(self.coordinator)
