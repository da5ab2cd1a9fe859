"""What a schedule coordinator waits for: the next step boundary, an entity's value.

`StepTimer` wakes the coordinator's entities at each step boundary of the kept
schedule (no request to the server). `EntityWatcher` calls back with each new
state of an entity (the state of charge); `EntityWaiter` once, when the entity
has a usable state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HassJob,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers.event import (
    async_track_point_in_utc_time,
    async_track_state_change_event,
)


class _Subscription:
    """Something that can be cancelled (a timer or a state listener)."""

    _unsub: CALLBACK_TYPE | None = None

    @callback
    def cancel(self) -> None:
        """Stop: the timer or listener is removed."""
        if self._unsub is not None:
            self._unsub()
            self._unsub = None


class StepTimer(_Subscription):
    """Calls `on_step` at the next boundary `next_boundary()` names, again and again.

    `arm` after each update (re-arming cancels the previous timer); `cancel`
    on shutdown.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        next_boundary: Callable[[], datetime | None],
        on_step: Callable[[], None],
    ) -> None:
        """Nothing is armed yet."""
        self._hass = hass
        self._next_boundary = next_boundary
        self._on_step = on_step
        self._job = HassJob(
            self._handle, "flexmeasures schedule step", cancel_on_shutdown=True
        )

    @callback
    def arm(self) -> None:
        """Wake up at the next boundary (none: stay asleep)."""
        self.cancel()
        if (boundary := self._next_boundary()) is not None:
            self._unsub = async_track_point_in_utc_time(self._hass, self._job, boundary)

    @callback
    def _handle(self, _now: datetime) -> None:
        self._unsub = None
        self._on_step()


class EntityWatcher(_Subscription):
    """Calls `on_state` with each new state of the entity, from `start` on."""

    def __init__(
        self,
        hass: HomeAssistant,
        entity_id: str,
        on_state: Callable[[State | None], None],
    ) -> None:
        """Not watching yet."""
        self._hass = hass
        self.entity_id = entity_id
        self._on_state = on_state

    @callback
    def start(self) -> None:
        """Watch the entity (again); already watching is fine."""
        if self._unsub is None:
            self._unsub = async_track_state_change_event(
                self._hass, self.entity_id, self._handle
            )

    @callback
    def _handle(self, event: Event[EventStateChangedData]) -> None:
        self._on_state(event.data["new_state"])


class EntityWaiter(EntityWatcher):
    """Calls `on_ready` once, when the entity's new state passes `is_ready`."""

    def __init__(
        self,
        hass: HomeAssistant,
        entity_id: str,
        is_ready: Callable[[State | None], bool],
        on_ready: Callable[[], None],
    ) -> None:
        """Not waiting yet."""
        super().__init__(hass, entity_id, self._check)
        self._is_ready = is_ready
        self._on_ready = on_ready

    @callback
    def _check(self, state: State | None) -> None:
        if self._is_ready(state):
            self.cancel()
            self._on_ready()
