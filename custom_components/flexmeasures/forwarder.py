"""MeasurementForwarder: Home Assistant states -> steps -> outbox -> FlexMeasures.

One forwarder per server entry; it wires the parts, each with one job:
- `tracking.py`: per mapping (one HA entity -> one FlexMeasures sensor), the
  entity's states on the sensor's step grid (`grid.py`): time-weighted means
  (`measurements.py`), or an energy meter's change per step (`meters.py`);
  and its forecasts;
- `outbox.py`: closed steps waiting to be sent, persisted with `Store`;
- `delivery.py`: consecutive steps in one request, each mapping with its own
  backoff, rejections;
- `backfill.py`: after a restart, the steps missed while Home Assistant was
  down, rebuilt from the recorder before new ones are sent;
- `gaps.py`: downtime and clock jumps, which are gaps and never filled;
- `renames.py`: an entity renamed in the entity registry keeps its mapping.
Entities that show each mapping's state (`measurement_entities.py`) listen
with `async_add_listener`.

Instantaneous sensors (event resolution 0) get every valid sample, one request
per sample (`duration` PT0S, one value): FlexMeasures spaces several values in
one request evenly over the duration, which irregular samples are not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
import time
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers.event import (
    async_call_later,
    async_track_point_in_utc_time,
    async_track_state_change_event,
)

from .api import FlexMeasuresClient
from .backfill import BACKFILL_LIMIT, async_history, async_replay
from .const import DOMAIN, LOGGER
from .delivery import Delivery, raise_rejected_issue, utc
from .gaps import ClockWatch, Gap
from .outbox import MappingOutbox, MeasurementMapping, Outbox, outbox_store
from .renames import async_track_renames
from .tracking import Track

INSTANT_FLUSH_DELAY: Final = 5.0


@dataclass(frozen=True, slots=True)
class MeasurementStatus:
    """What a user sees of one mapping."""

    last_delivered: datetime | None  # end of the last step the server accepted
    pending: int  # values waiting in the outbox
    rejection: str | None  # why the server refused values, until it accepts again
    rejected: int
    dropped: int


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
        self._outbox = Outbox(
            hass,
            config_entry.entry_id,
            mappings,
            keep=lambda subentry_id: subentry_id in config_entry.subentries,
        )
        self._delivery = Delivery(
            hass,
            config_entry,
            client,
            self._outbox,
            spawn=self._spawn,
            on_change=self._notify,
        )
        self._tracks = [Track(box, self._delivery.reject) for box in self._outbox.boxes]
        self._by_entity: dict[str, list[Track]] = {}
        for track in self._tracks:
            self._by_entity.setdefault(track.box.mapping.entity_id, []).append(track)
        self._by_subentry = {box.mapping.subentry_id: box for box in self._outbox.boxes}
        self._listeners: dict[str, list[Callable[[], None]]] = {}
        self._clock = ClockWatch()
        self._unsubs: list[CALLBACK_TYPE] = []
        self._state_unsub: CALLBACK_TYPE | None = None
        self._boundary_unsub: CALLBACK_TYPE | None = None
        self._instant_unsub: CALLBACK_TYPE | None = None
        self._stopped = False

    # ------------------------------------------------------------ life cycle

    async def async_start(self) -> None:
        """Load the outbox, rebuild missed steps (in the background), listen."""
        await self._outbox.async_load()
        for box in self._outbox.boxes:
            if box.rejection is not None:  # still refused when Home Assistant stopped
                raise_rejected_issue(self._hass, box)
        self._unsubs.append(
            async_track_renames(self._hass, lambda: self._by_entity, self._renamed)
        )
        self._spawn(self._async_catch_up(), "catch up")

    async def async_stop(self) -> None:
        """Stop listening and sending; save the outbox now."""
        self._stopped = True
        self._delivery.stop()
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        for name in ("_state_unsub", "_boundary_unsub", "_instant_unsub"):
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
        history, gaps = await async_history(
            self._hass, self._tracks, now, self._outbox.gaps
        )
        now = time.time()
        used: dict[int, State | None] = {}
        for track in self._tracks:
            state = used[id(track)] = self._hass.states.get(track.box.mapping.entity_id)
            if (found := history.get(track.box.mapping.subentry_id)) is None:
                track.open(now, state)
                continue
            begin, past = found
            await async_replay(track, begin, past, current=state, now=now, gaps=gaps)
            self._outbox.save()
        # the loop ran while replaying: states that changed meanwhile
        for track in self._tracks:
            state = self._hass.states.get(track.box.mapping.entity_id)
            if state is not used[id(track)]:
                ts = time.time() if state is None else state.last_updated_timestamp
                if track.follow(ts, state):
                    self._outbox.save()
        self._listen()
        for track in self._tracks:
            if state := self._hass.states.get(track.box.mapping.entity_id):
                track.check_forecast(state, now)
        self._delivery.ready = True
        self._schedule_boundary()
        self._delivery.request()
        for box in self._outbox.boxes:
            self._notify(box)

    # ------------------------------------------------------------ live states

    def _listen(self) -> None:
        """Follow the state changes of the mapped entities (as they are named now)."""
        if self._state_unsub is not None:
            self._state_unsub()
        self._state_unsub = async_track_state_change_event(
            self._hass, list(self._by_entity), self._async_on_state_change
        )

    def _renamed(self, old: str, new: str) -> None:
        """Mapped entities were renamed: their mappings, open steps and all go on.

        (renames.py saves the new id in their sub-entries.)
        """
        tracks = self._by_entity.pop(old, [])
        self._by_entity.setdefault(new, []).extend(tracks)
        if self._state_unsub is not None:  # else the catch-up listens when done
            self._listen()
        for track in tracks:
            box = track.box
            box.mapping = box.mapping._replace(entity_id=new)
            if box.rejection is not None:  # the issue names the entity
                raise_rejected_issue(self._hass, box)
            self._notify(box)

    @callback
    def _async_on_state_change(self, event: Event[EventStateChangedData]) -> None:
        """Add a state to the open steps (O(1): no I/O)."""
        data = event.data
        tracks = self._by_entity.get(data["entity_id"], ())
        if (jump := self._clock.jump()) is not None:
            self._clock_jumped(jump)
        new_state = data["new_state"]
        ts = event.time_fired_timestamp
        for track in tracks:
            if track.follow(ts, new_state):
                self._queued(track)
            if new_state is not None and track.check_forecast(new_state, ts):
                self._delivery.request()
                self._notify(track.box)

    def _queued(self, track: Track) -> None:
        """A track put steps (or a sample) in its outbox: save, send, tell."""
        self._outbox.save()
        if track.acc is not None:
            self._delivery.request()
        elif self._instant_unsub is None:
            self._instant_unsub = async_call_later(
                self._hass, INSTANT_FLUSH_DELAY, self._on_instant_flush
            )
        self._notify(track.box)

    def _clock_jumped(self, jump: Gap) -> None:
        """The wall clock jumped ahead: nothing is known for the time jumped over."""
        start, end = jump
        if start > end:
            self._clock_set_back(start, end)
            return
        LOGGER.info(
            "The clock jumped ahead from %s to %s; no measurements are made up "
            "for that time",
            utc(start).isoformat(),
            utc(end).isoformat(),
        )
        self._outbox.add_gap(jump, end - BACKFILL_LIMIT)
        for track in self._tracks:
            if 0 < track.step < end - start:
                gapped = track.gap(start)
                state = self._hass.states.get(track.box.mapping.entity_id)
                if track.follow(end, state) or gapped:
                    self._queued(track)

    def _clock_set_back(self, was: float, now: float) -> None:
        """The wall clock was set back: the open steps mix two clocks; start again.

        Nothing already queued is made again: each track waits for the clock
        to pass the end of what it queued (`Track.open`).
        """
        LOGGER.info(
            "The clock was set back from %s to %s; the measurements of the steps "
            "open then are left out, and no step is sent again",
            utc(was).isoformat(),
            utc(now).isoformat(),
        )
        for track in self._tracks:
            if track.grid is not None:
                track.open(now, self._hass.states.get(track.box.mapping.entity_id))
        self._schedule_boundary()

    @callback
    def _on_instant_flush(self, _now: datetime) -> None:
        self._instant_unsub = None
        self._delivery.request()

    @callback
    def _schedule_boundary(self) -> None:
        if self._boundary_unsub is not None:
            self._boundary_unsub()
            self._boundary_unsub = None
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
        if (jump := self._clock.jump()) is not None:
            self._clock_jumped(jump)
        now = max(when.timestamp(), time.time())
        for track in self._tracks:
            if track.close_until(now):
                self._outbox.save()
                self._notify(track.box)
        self._schedule_boundary()
        self._delivery.request()

    # ------------------------------------------------------------ status

    @callback
    def async_add_listener(
        self, subentry_id: str, listener: Callable[[], None]
    ) -> CALLBACK_TYPE:
        """Call `listener` when the status of that mapping changes."""
        listeners = self._listeners.setdefault(subentry_id, [])
        listeners.append(listener)

        @callback
        def remove() -> None:
            listeners.remove(listener)

        return remove

    def _notify(self, box: MappingOutbox) -> None:
        for listener in list(self._listeners.get(box.mapping.subentry_id, ())):
            listener()

    def status(self, subentry_id: str) -> MeasurementStatus | None:
        """What a user sees of one mapping (None: not forwarded)."""
        box = self._by_subentry.get(subentry_id)
        if box is None:
            return None
        return MeasurementStatus(
            last_delivered=(
                None if box.delivered_end is None else utc(box.delivered_end)
            ),
            pending=box.pending,
            rejection=box.rejection,
            rejected=box.rejected,
            dropped=box.dropped,
        )

    @property
    def subentry_ids(self) -> list[str]:
        """The measurement subentries this forwarder sends."""
        return list(self._by_subentry)

    # ------------------------------------------------------------ diagnostics

    def as_diagnostics(self) -> dict[str, Any]:
        """Per mapping: last delivered step, outbox length, rejected, dropped."""
        return {
            "waiting_for_reauth": self._delivery.auth_failed,
            "retry_in_seconds": self._delivery.retry_in,
            "clock_jumps": [
                [utc(start).isoformat(), utc(end).isoformat()]
                for start, end in self._outbox.gaps
            ],
            "mappings": {
                track.box.mapping.subentry_id: _box_diagnostics(
                    track, self._delivery.lane(track.box).retry_delay
                )
                for track in self._tracks
            },
        }


def _box_diagnostics(track: Track, retry_in: float | None) -> dict[str, Any]:
    box = track.box
    return {
        "entity_id": box.mapping.entity_id,
        "sensor_id": box.mapping.sensor.id,
        "resolution_seconds": box.step,
        "kind": "mean" if track.mode is None else f"meter ({track.mode})",
        "last_delivered_step_end": (
            None if box.delivered_end is None else utc(box.delivered_end).isoformat()
        ),
        "outbox_length": len(box.items),
        "forecasts_waiting": len(box.forecasts),
        "retry_in_seconds": retry_in,
        "rejected": box.rejected,
        "rejection": box.rejection,
        "dropped": box.dropped,
    }


__all__ = [
    "MeasurementForwarder",
    "MeasurementMapping",
    "MeasurementStatus",
    "outbox_store",
]
