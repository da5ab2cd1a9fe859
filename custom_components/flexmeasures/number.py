"""Number entity of a schedule device: the standing target's state of charge."""

from __future__ import annotations

import math
from typing import Final, TypeIs, override

from homeassistant.components.number import (
    NumberEntityDescription,
    NumberMode,
    RestoreNumber,
)
from homeassistant.const import PERCENTAGE, UnitOfEnergy
from homeassistant.core import State
from homeassistant.exceptions import ServiceValidationError

from .const import DOMAIN, LOGGER
from .controls import target_in_percent
from .coordinator import ScheduleCoordinator
from .device_controls import TARGET_SOC_CONTROL
from .entity import FlexMeasuresValueControlEntity, platform_setup, schedule_entities

PARALLEL_UPDATES = 0

# Without a capacity or soc_max the kWh slider needs an upper end.
MAX_TARGET_KWH: Final = 1000.0


def _description(coordinator: ScheduleCoordinator) -> NumberEntityDescription:
    """% of the capacity when one is configured, else kWh."""
    settings = coordinator.settings
    if target_in_percent(settings):
        return NumberEntityDescription(
            key="target_soc",
            translation_key="target_soc",
            native_unit_of_measurement=PERCENTAGE,
            native_min_value=0,
            native_max_value=100,
            native_step=1,
            mode=NumberMode.SLIDER,
        )
    high = settings.soc_bounds[1]
    return NumberEntityDescription(
        key="target_soc",
        translation_key="target_soc",
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        native_min_value=0,
        native_max_value=MAX_TARGET_KWH if high is None else high,
        native_step=0.1,
        mode=NumberMode.BOX,
    )


# the `target_soc` number of each schedule device
async_setup_entry = platform_setup(
    schedule_entities(
        lambda coordinator: [
            FlexMeasuresTargetSocNumber(coordinator, _description(coordinator))
        ]
    )
)


class FlexMeasuresTargetSocNumber(FlexMeasuresValueControlEntity[float], RestoreNumber):
    """The state of charge to reach by `ready_by` (0: no standing target).

    In % of the capacity, or in kWh. A new one asks for a new schedule
    (debounced).
    """

    _control = TARGET_SOC_CONTROL

    @override
    async def _async_restored(self, last: State) -> float | None:
        """The target set before the restart, within the slider's range.

        Not one kept in the other unit (a capacity was configured or removed
        since): 300 kWh is not 300 % nor 100 %.
        """
        kept = await self.async_get_last_number_data()
        if kept is None or not _a_number(kept.native_value):
            return None  # none kept, or a damaged one (text, true, NaN)
        if kept.native_unit_of_measurement != self.native_unit_of_measurement:
            LOGGER.debug(
                "Not restoring target %s %s of %s: the target is in %s now",
                kept.native_value,
                kept.native_unit_of_measurement,
                self.entity_id,
                self.native_unit_of_measurement,
            )
            return None
        return min(max(kept.native_value, self.native_min_value), self.native_max_value)

    @override
    async def async_set_native_value(self, value: float) -> None:
        """Set the target (NaN passes the number platform's range check)."""
        if math.isnan(value):
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="target_not_a_number"
            )
        await self.async_set_control(value)


def _a_number(value: object) -> TypeIs[float]:
    """An int or a float, not NaN (nor a bool)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not math.isnan(value)
    )
