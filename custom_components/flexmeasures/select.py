"""Select entity of a schedule device: the mode (smart, charge now, stop)."""

from __future__ import annotations

from typing import Final, override

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import State

from .controls import Mode
from .coordinator import ScheduleCoordinator
from .device_controls import MODE_CONTROL
from .entity import FlexMeasuresControlEntity, platform_setup, schedule_entities

PARALLEL_UPDATES = 0

MODE: Final = SelectEntityDescription(key="mode", translation_key="mode")


# the mode select of each schedule device
async_setup_entry = platform_setup(
    schedule_entities(lambda coordinator: [FlexMeasuresModeSelect(coordinator, MODE)])
)


def mode_options(coordinator: ScheduleCoordinator) -> list[str]:
    """Smart and stop; charge_now only when the charging power is known."""
    modes = [Mode.SMART, Mode.CHARGE_NOW, Mode.STOP]
    if coordinator.job.charging_power is None:
        modes.remove(Mode.CHARGE_NOW)
    return [str(mode) for mode in modes]


class FlexMeasuresModeSelect(FlexMeasuresControlEntity[Mode], SelectEntity):
    """What the setpoint follows: the plan, full charging power, or 0.

    A new mode is followed at once (no request to the server).
    """

    _control = MODE_CONTROL

    @property
    @override
    def options(self) -> list[str]:
        """The modes this device offers."""
        return mode_options(self.coordinator)

    @property
    @override
    def current_option(self) -> str:
        """The mode now (charge_now falls back to smart by itself)."""
        return str(self.control_value)

    @override
    async def async_select_option(self, option: str) -> None:
        """Follow another mode."""
        await self.async_set_control(Mode(option))

    @override
    async def _async_restored(self, last: State) -> Mode | None:
        """The mode chosen before the restart, if this device still offers it."""
        return Mode(last.state) if last.state in self.options else None
