"""The state of charge entity of a schedule device: read, waited for, watched."""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant, State, callback

from .exceptions import ErrorKind, ScheduleRequestError
from .requests import ScheduleSettings, soc_kwh_from_state
from .timers import EntityWaiter, EntityWatcher


class SocEntity:
    """A device's state of charge entity (none configured: nothing to read)."""

    def __init__(self, hass: HomeAssistant, settings: ScheduleSettings) -> None:
        """Nothing is watched yet."""
        self._hass = hass
        self._settings = settings
        self.entity_id = settings.soc_entity
        self._waiter: EntityWaiter | None = None
        self._watcher: EntityWatcher | None = None

    def kwh(self) -> float:
        """The state of charge now, in kWh (clamped into the configured range).

        Raises ScheduleRequestError (SOC_UNAVAILABLE, SOC_UNIT).
        """
        state = (
            None if self.entity_id is None else self._hass.states.get(self.entity_id)
        )
        return self.kwh_of(state)

    def kwh_of(self, state: State | None) -> float:
        """A state of the entity in kWh (raises as `kwh` does)."""
        return soc_kwh_from_state(
            self._settings,
            self.entity_id or "",
            None if state is None else state.state,
            None if state is None else state.attributes.get(ATTR_UNIT_OF_MEASUREMENT),
        )

    def _has_value(self, state: State | None) -> bool:
        try:
            self.kwh_of(state)
        except ScheduleRequestError as err:
            return err.kind is not ErrorKind.SOC_UNAVAILABLE
        return True

    @callback
    def wait_for_value(self, on_ready: Callable[[], None]) -> None:
        """Call `on_ready` once, as soon as the entity has a value."""
        if self.entity_id is None:
            return
        if self._waiter is None:
            self._waiter = EntityWaiter(
                self._hass, self.entity_id, self._has_value, on_ready
            )
        self._waiter.start()

    @callback
    def stop_waiting(self) -> None:
        """Stop waiting for a value."""
        if self._waiter is not None:
            self._waiter.cancel()

    @callback
    def watch(self, on_change: Callable[[float | None], None]) -> None:
        """Call `on_change` with each new value in kWh (None: none) until `unwatch`."""
        if self.entity_id is None or self._watcher is not None:
            return

        @callback
        def changed(state: State | None) -> None:
            try:
                on_change(self.kwh_of(state))
            except ScheduleRequestError:
                on_change(None)

        self._watcher = EntityWatcher(self._hass, self.entity_id, changed)
        self._watcher.start()

    @callback
    def unwatch(self) -> None:
        """Stop watching."""
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    @callback
    def shutdown(self) -> None:
        """Stop waiting and watching."""
        self.stop_waiting()
        self.unwatch()
