"""MeasurementForwarder: Home Assistant states -> steps -> outbox -> FlexMeasures.

One forwarder per server entry; it wires the parts, each with one job:
- `tracking.py`: per mapping (one HA entity -> one FlexMeasures sensor), the
  time-weighted mean of the entity's state over each step of the sensor's
  resolution (pure maths in `measurements.py`) and its forecasts;
- `outbox.py`: closed steps waiting to be sent, persisted with `Store`;
- `delivery.py`: consecutive steps in one request, backoff, rejections;
- `backfill.py`: after a restart, the steps missed while Home Assistant was
  down, rebuilt from the recorder before new ones are sent.

Instantaneous sensors (event resolution 0) get every valid sample, one request
per sample (`duration` PT0S, one value): FlexMeasures spaces several values in
one request evenly over the duration, which irregular samples are not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import datetime
import time
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.helpers.event import (
    async_call_later,
    async_track_point_in_utc_time,
    async_track_state_change_event,
)

from .api import FlexMeasuresClient
from .backfill import async_history, replay
from .const import DOMAIN
from .delivery import Delivery, utc
from .measurements import StepAccumulator, parse_value
from .outbox import MeasurementMapping, Outbox, outbox_store
from .tracking import Track

INSTANT_FLUSH_DELAY: Final = 5.0


class MeasurementForwarder:
    """Sends Home Assistant states of mapped entities to FlexMeasures sensors."""

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: ConfigEntry,
        client: FlexMeasuresClient,
        mappings: Sequence[MeasurementMapping],
    ) -> None:
        """Prepare; nothing happens until `async_start`."""
        self._hass = hass
        self._entry = config_entry
        self._tasks: set[asyncio.Task[None]] = set()
        self._outbox = Outbox(hass, config_entry.entry_id, mappings)
        self._delivery = Delivery(hass, config_entry, client, self._outbox, self._spawn)
        self._tracks = [Track(box, self._delivery.reject) for box in self._outbox.boxes]
        self._by_entity: dict[str, list[Track]] = {}
        for track in self._tracks:
            self._by_entity.setdefault(track.box.mapping.entity_id, []).append(track)
        self._unsubs: list[CALLBACK_TYPE] = []
        self._boundary_unsub: CALLBACK_TYPE | None = None
        self._instant_unsub: CALLBACK_TYPE | None = None
        self._stopped = False

    # ------------------------------------------------------------ life cycle

    async def async_start(self) -> None:
        """Load the outbox, rebuild missed steps (in the background), listen."""
        await self._outbox.async_load()
        self._spawn(self._async_catch_up(), "catch up")

    async def async_stop(self) -> None:
        """Stop listening and sending; save the outbox now."""
        self._stopped = True
        self._delivery.stop()
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        for name in ("_boundary_unsub", "_instant_unsub"):
            unsub = getattr(self, name)
            if unsub is not None:
                unsub()
                setattr(self, name, None)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._outbox.async_save_now()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = self._hass.async_create_background_task(
            coro, f"{DOMAIN} forwarder {name} {self._entry.entry_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _async_catch_up(self) -> None:
        """Rebuild missed steps from the recorder, then follow live states."""
        now = time.time()
        history = await async_history(self._hass, self._tracks, now)
        for track in self._tracks:
            state = self._hass.states.get(track.box.mapping.entity_id)
            if state is not None:
                track.unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
            if track.step <= 0:
                continue
            if (found := history.get(track.box.mapping.subentry_id)) is None:
                value = None if state is None else parse_value(state.state)
                track.acc = StepAccumulator(track.step, now, value)
                continue
            begin, past = found
            replay(track, begin, past, state, time.time())
            self._outbox.save()
        self._unsubs.append(
            async_track_state_change_event(
                self._hass, list(self._by_entity), self._async_on_state_change
            )
        )
        for track in self._tracks:
            if state := self._hass.states.get(track.box.mapping.entity_id):
                track.check_forecast(state)
        self._delivery.ready = True
        self._schedule_boundary()
        self._delivery.request()

    # ------------------------------------------------------------ live states

    @callback
    def _async_on_state_change(self, event: Event[EventStateChangedData]) -> None:
        """Add a state to the open steps (O(1): no I/O)."""
        data = event.data
        tracks = self._by_entity.get(data["entity_id"])
        if tracks is None:
            return
        new_state = data["new_state"]
        ts = event.time_fired_timestamp
        value = None if new_state is None else parse_value(new_state.state)
        for track in tracks:
            if track.follow(ts, value, new_state):
                self._outbox.save()
                if track.acc is not None:
                    self._delivery.request()
                elif self._instant_unsub is None:
                    self._instant_unsub = async_call_later(
                        self._hass, INSTANT_FLUSH_DELAY, self._on_instant_flush
                    )
            if new_state is not None and track.check_forecast(new_state):
                self._delivery.request()

    @callback
    def _on_instant_flush(self, _now: datetime) -> None:
        self._instant_unsub = None
        self._delivery.request()

    @callback
    def _schedule_boundary(self) -> None:
        ends = [track.acc.end for track in self._tracks if track.acc is not None]
        if not ends or self._stopped:
            return
        self._boundary_unsub = async_track_point_in_utc_time(
            self._hass, self._on_boundary, utc(min(ends))
        )

    @callback
    def _on_boundary(self, when: datetime) -> None:
        """Close the steps that ended; queue them; send."""
        self._boundary_unsub = None
        now = max(when.timestamp(), time.time())
        queued = [track.close_until(now) for track in self._tracks]  # all of them
        if any(queued):
            self._outbox.save()
        self._schedule_boundary()
        self._delivery.request()

    # ------------------------------------------------------------ diagnostics

    def as_diagnostics(self) -> dict[str, Any]:
        """Per mapping: last delivered step, outbox length, rejected, dropped."""
        return {
            "waiting_for_reauth": self._delivery.auth_failed,
            "retry_in_seconds": self._delivery.retry_in,
            "mappings": {
                box.mapping.subentry_id: {
                    "entity_id": box.mapping.entity_id,
                    "sensor_id": box.mapping.sensor.id,
                    "resolution_seconds": box.step,
                    "last_delivered_step_end": (
                        None
                        if box.delivered_end is None
                        else utc(box.delivered_end).isoformat()
                    ),
                    "outbox_length": len(box.items),
                    "rejected": box.rejected,
                    "dropped": box.dropped,
                }
                for box in self._outbox.boxes
            },
        }


__all__ = ["MeasurementForwarder", "MeasurementMapping", "outbox_store"]
