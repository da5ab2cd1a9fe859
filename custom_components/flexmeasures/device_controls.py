"""The controls of one schedule device: a standing target and a mode.

`DeviceControls` keeps what the `ready_by`, `target_soc` and `mode` entities
set (they restore it across restarts). A changed target asks for a new
schedule, debounced (a few seconds after the last change) so that moving a slider
sends one job; a changed mode
changes the setpoint at once, without a request. `charge_now` ends by itself
(back to `smart`) when the state of charge reaches the target or `soc_max`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import LOGGER
from .controls import (
    CONTROL_DEBOUNCE,
    Controls,
    Mode,
    charge_now_limit,
    mode_setpoint,
    standing_target,
    target_kwh,
)
from .exceptions import ScheduleRequestError
from .requests import ScheduleSettings, SocTarget
from .soc import SocEntity


class DeviceControls:
    """A device's standing target and mode, and what follows from them."""

    def __init__(
        self,
        hass: HomeAssistant,
        settings: ScheduleSettings,
        soc: SocEntity,
        *,
        reschedule: Callable[[], Coroutine[Any, Any, None]],
        changed: Callable[[], None],
    ) -> None:
        """`reschedule` asks for a new schedule; `changed` tells the entities."""
        self._hass = hass
        self._settings = settings
        self._soc = soc
        self._changed = changed
        self.values = Controls()
        # counts target changes: a schedule made before the last one is outdated
        self.version = 0
        self._reschedule = reschedule
        self._unsub_debounce: CALLBACK_TYPE | None = None

    def standing_target(self, now: datetime) -> SocTarget | None:
        """The target the controls stand for now (None: none)."""
        return standing_target(
            self._settings, self.values, now, dt_util.get_default_time_zone()
        )

    def target_kwh(self) -> float | None:
        """The standing target in kWh (None: none)."""
        return target_kwh(self._settings, self.values.target)

    def setpoint(
        self, planned: float | None, charging_power: float | None
    ) -> float | None:
        """The setpoint the mode asks for, given the plan's value now."""
        return mode_setpoint(self.values.mode, charging_power, planned)

    @callback
    def set_ready_by(self, value: time) -> None:
        """A new `ready_by`: a new schedule when a target stands."""
        if value == self.values.ready_by:
            return
        self.values.ready_by = value
        if self.values.target <= 0:
            self._changed()  # no target stands: the same request, no job
            return
        self._target_changed()

    @callback
    def set_target(self, value: float) -> None:
        """A new `target_soc` (0: none): a new schedule.

        While charging now, a target the state of charge has reached already
        ends charge_now at once.
        """
        if value == self.values.target:
            return
        self.values.target = value
        self._target_changed()
        self._check_charge_now(self._soc_now())

    @callback
    def set_mode(self, mode: Mode) -> None:
        """A new mode: the setpoint follows at once."""
        if mode is self.values.mode:
            return
        self.values.mode = mode
        if mode is Mode.CHARGE_NOW:
            self._soc.watch(self._soc_changed)
            self._check_charge_now(self._soc_now())
        else:
            self._soc.unwatch()
        self._changed()

    @callback
    def _target_changed(self) -> None:
        self.version += 1
        # one job for many changes: CONTROL_DEBOUNCE after the last of them
        if self._unsub_debounce is not None:
            self._unsub_debounce()
        self._unsub_debounce = async_call_later(
            self._hass, CONTROL_DEBOUNCE, self._debounced
        )
        self._changed()

    @callback
    def _debounced(self, _now: datetime) -> None:
        self._unsub_debounce = None
        self._hass.async_create_task(self._reschedule(), eager_start=True)

    def _soc_now(self) -> float | None:
        if self._soc.entity_id is None:
            return None
        try:
            return self._soc.kwh()
        except ScheduleRequestError:
            return None

    @callback
    def _soc_changed(self, kwh: float | None) -> None:
        self._check_charge_now(kwh)

    @callback
    def _check_charge_now(self, kwh: float | None) -> None:
        """charge_now ends when the state of charge reaches its limit."""
        if self.values.mode is not Mode.CHARGE_NOW or kwh is None:
            return
        limit = charge_now_limit(self._settings, self.values)
        if limit is not None and kwh >= limit:
            LOGGER.debug(
                "State of charge %s kWh reached %s kWh: back to smart", kwh, limit
            )
            self.values.mode = Mode.SMART
            self._soc.unwatch()
            self._changed()

    @callback
    def shutdown(self) -> None:
        """Stop the debouncing and the watching."""
        if self._unsub_debounce is not None:
            self._unsub_debounce()
            self._unsub_debounce = None
        self._soc.unwatch()


@dataclass(frozen=True, slots=True)
class Control[T]:
    """One of a device's controls, for its entity: how it is read and set."""

    value: Callable[[Controls], T]
    set: Callable[[DeviceControls, T], None]


READY_BY_CONTROL: Final = Control[time](
    lambda values: values.ready_by, DeviceControls.set_ready_by
)
TARGET_SOC_CONTROL: Final = Control[float](
    lambda values: values.target, DeviceControls.set_target
)
MODE_CONTROL: Final = Control[Mode](lambda values: values.mode, DeviceControls.set_mode)
