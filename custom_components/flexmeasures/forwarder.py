"""MeasurementForwarder: Home Assistant states -> steps -> outbox -> FlexMeasures.

One forwarder per server entry. Per mapping (one HA entity -> one FlexMeasures
sensor) it keeps the time-weighted mean of the entity's state over each step of
the sensor's resolution (pure logic in `measurements.py`), puts closed steps in
an outbox persisted with `Store`, and posts consecutive steps in one request.
Retryable failures (network, 5xx, 429) keep the outbox and retry with
exponential backoff; rejections (4xx) are counted, logged once, and raise a
repair issue; a rejected login starts reauth and the outbox waits.

After a restart, the steps missed while Home Assistant was down are rebuilt
from the recorder (from the last queued step, at most 7 days back) before new
ones are sent.

Instantaneous sensors (event resolution 0) get every valid sample, one request
per sample (`duration` PT0S, one value): FlexMeasures spaces several values in
one request evenly over the duration, which irregular samples are not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
import time
from typing import Any, Final, NamedTuple

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import (
    async_call_later,
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .api import (
    FlexMeasuresAuthenticationError,
    FlexMeasuresClient,
    FlexMeasuresError,
    FlexMeasuresResponseError,
    Sensor,
)
from .api.errors import (
    FlexMeasuresAccessDeniedError,
    FlexMeasuresInvalidRequestError,
    FlexMeasuresNotFoundError,
)
from .const import DOMAIN, LOGGER
from .forecasts import forecast_attributes, parse_forecast, resample
from .measurements import Step, StepAccumulator, floor_step, parse_value, runs
from .units import unit_converter

STORAGE_VERSION: Final = 1
SAVE_DELAY: Final = 5.0
BACKFILL_LIMIT: Final = 7 * 86400.0
OUTBOX_SECONDS: Final = 7 * 86400.0
MAX_OUTBOX: Final = 10_000
MAX_BATCH: Final = 2016  # 7 days of PT5M in one request at most
RETRY_FIRST: Final = 10.0
RETRY_MAX: Final = 600.0
INSTANT_FLUSH_DELAY: Final = 5.0
ISSUE_REJECTED: Final = "measurements_rejected"

_PERMANENT: Final = (
    FlexMeasuresInvalidRequestError,
    FlexMeasuresNotFoundError,
    FlexMeasuresAccessDeniedError,
)


class MeasurementMapping(NamedTuple):
    """One Home Assistant entity sent to one FlexMeasures sensor."""

    subentry_id: str
    entity_id: str
    sensor: Sensor
    forecast_attribute: str | None = None


@dataclass(slots=True, eq=False)
class _Track:
    """What the forwarder keeps for one mapping."""

    mapping: MeasurementMapping
    step: float  # seconds; 0 for an instantaneous sensor
    max_outbox: int
    acc: StepAccumulator | None = None
    unit: str | None = None
    outbox: list[Step] = field(default_factory=list)
    last_end: float | None = None  # end of the last step queued
    delivered_end: float | None = None  # end of the last step delivered
    rejected: int = 0
    dropped: int = 0
    rejection_logged: bool = False
    drop_warned: bool = False
    issue_raised: bool = False
    forecast_raw: Any = None
    forecast_sent: tuple[float, list[float | None]] | None = None
    forecast_pending: tuple[float, list[float | None]] | None = None


def _utc(ts: float) -> datetime:
    return dt_util.utc_from_timestamp(ts)


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
        self._client = client
        self._store = outbox_store(hass, config_entry.entry_id)
        self._tracks: list[_Track] = []
        self._by_entity: dict[str, list[_Track]] = {}
        for mapping in mappings:
            step = mapping.sensor.event_resolution.total_seconds()
            max_outbox = (
                MAX_OUTBOX
                if step <= 0
                else max(1, min(MAX_OUTBOX, int(OUTBOX_SECONDS // step)))
            )
            track = _Track(mapping=mapping, step=max(step, 0.0), max_outbox=max_outbox)
            self._tracks.append(track)
            self._by_entity.setdefault(mapping.entity_id, []).append(track)
        self._closed: list[Step] = []
        self._unsubs: list[CALLBACK_TYPE] = []
        self._boundary_unsub: CALLBACK_TYPE | None = None
        self._retry_unsub: CALLBACK_TYPE | None = None
        self._instant_unsub: CALLBACK_TYPE | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._flush_task: asyncio.Task[None] | None = None
        self._backoff = RETRY_FIRST
        self._ready = False
        self._auth_failed = False
        self._unreachable = False  # logged once per outage
        self._stopped = False

    # ------------------------------------------------------------ life cycle

    async def async_start(self) -> None:
        """Load the outbox, rebuild missed steps (in the background), listen."""
        stored = await self._store.async_load() or {}
        saved_tracks: dict[str, Any] = stored.get("tracks", {})
        for track in self._tracks:
            saved = saved_tracks.get(track.mapping.subentry_id)
            if not saved or saved.get("sensor_id") != track.mapping.sensor.id:
                continue
            track.outbox = [(float(s), float(v)) for s, v in saved.get("outbox", [])]
            track.last_end = saved.get("last_end")
            track.delivered_end = saved.get("delivered_end")
            track.rejected = int(saved.get("rejected", 0))
            track.dropped = int(saved.get("dropped", 0))
        self._spawn(self._async_catch_up(), "catch up")

    async def async_stop(self) -> None:
        """Stop listening and sending; save the outbox now."""
        self._stopped = True
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        for name in ("_boundary_unsub", "_retry_unsub", "_instant_unsub"):
            unsub = getattr(self, name)
            if unsub is not None:
                unsub()
                setattr(self, name, None)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._store.async_save(self._data_to_save())

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = self._hass.async_create_background_task(
            coro, f"{DOMAIN} forwarder {name} {self._entry.entry_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _async_catch_up(self) -> None:
        """Rebuild missed steps from the recorder, then follow live states."""
        now = time.time()
        history = await self._async_history(now)
        for track in self._tracks:
            state = self._hass.states.get(track.mapping.entity_id)
            if state is not None:
                track.unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
            if track.step <= 0:
                continue
            states = history.get(track.mapping.subentry_id)
            if states is None:
                value = None if state is None else parse_value(state.state)
                track.acc = StepAccumulator(track.step, now, value)
                continue
            begin, past = states
            acc = track.acc = StepAccumulator(track.step, begin)
            for past_state in past:
                ts = max(past_state.last_changed.timestamp(), begin)
                acc.add(ts, parse_value(past_state.state), self._closed)
            if state is not None:
                acc.add(
                    max(state.last_changed_timestamp, acc.since),
                    parse_value(state.state),
                    self._closed,
                )
            acc.close_until(time.time(), self._closed)
            self._queue_closed(track)
            LOGGER.debug(
                "Rebuilt %s from the recorder since %s; outbox %d",
                track.mapping.entity_id,
                _utc(begin).isoformat(),
                len(track.outbox),
            )
        self._unsubs.append(
            async_track_state_change_event(
                self._hass, list(self._by_entity), self._async_on_state_change
            )
        )
        for track in self._tracks:
            if track.mapping.forecast_attribute and (
                state := self._hass.states.get(track.mapping.entity_id)
            ):
                self._check_forecast(track, state)
        self._ready = True
        self._schedule_boundary()
        self._request_flush()

    async def _async_history(self, now: float) -> dict[str, tuple[float, list[State]]]:
        """States since each track's last queued step, from the recorder."""
        if "recorder" not in self._hass.config.components:
            return {}
        # pylint: disable-next=import-outside-toplevel
        from homeassistant.components.recorder.history import (  # noqa: PLC0415
            state_changes_during_period,
        )

        result: dict[str, tuple[float, list[State]]] = {}
        recorder = get_instance(self._hass)
        for track in self._tracks:
            if track.step <= 0 or track.last_end is None or track.last_end > now:
                continue
            begin = max(track.last_end, floor_step(now - BACKFILL_LIMIT, track.step))
            entity_id = track.mapping.entity_id
            try:
                states = await recorder.async_add_executor_job(
                    partial(
                        state_changes_during_period,
                        self._hass,
                        _utc(begin - 0.001),  # a change right at `begin` too
                        _utc(now),
                        entity_id,
                        no_attributes=True,
                        include_start_time_state=True,
                    )
                )
            except Exception:  # noqa: BLE001 - the recorder must not stop live data
                LOGGER.warning(
                    "Could not read the history of %s; missed measurements are lost",
                    entity_id,
                    exc_info=True,
                )
                continue
            result[track.mapping.subentry_id] = (begin, states.get(entity_id, []))
        return result

    # ------------------------------------------------------------ live states

    @callback
    def _async_on_state_change(self, event: Event[EventStateChangedData]) -> None:
        """Add a state to the open steps (O(1): no I/O, no allocation)."""
        data = event.data
        tracks = self._by_entity.get(data["entity_id"])
        if tracks is None:
            return
        new_state = data["new_state"]
        ts = event.time_fired_timestamp
        value = None if new_state is None else parse_value(new_state.state)
        for track in tracks:
            acc = track.acc
            # a gap (unavailable, unknown) often has no unit: keep the last one
            if new_state is not None and value is not None:
                unit = new_state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
                if unit != track.unit:
                    if acc is not None:
                        self._change_unit(track, acc, unit, ts)
                    track.unit = unit
            if acc is not None:
                acc.add(ts, value, self._closed)
                if self._queue_closed(track):  # only when a boundary timer was late
                    self._request_flush()
            elif value is not None:
                self._queue(track, [(ts, value)])
                if self._instant_unsub is None:
                    self._instant_unsub = async_call_later(
                        self._hass, INSTANT_FLUSH_DELAY, self._on_instant_flush
                    )
            if track.mapping.forecast_attribute is not None and new_state is not None:
                self._check_forecast(track, new_state)

    def _change_unit(
        self, track: _Track, acc: StepAccumulator, unit: str | None, ts: float
    ) -> None:
        """The entity's unit changed at `ts`: keep the open step in one unit.

        Steps that ended before `ts` are queued in the old unit; the open step's
        sums are converted to the new unit (all converters are affine), or
        forgotten when the two units do not convert.
        """
        if ts >= acc.end:
            acc.close_until(ts, self._closed)
            if self._queue_closed(track):
                self._request_flush()
        convert = unit_converter(track.unit, unit)
        if convert is None:
            acc.weighted = acc.covered = 0.0
            acc.value = None
            return
        offset = convert(0.0)
        scale = convert(1.0) - offset
        acc.weighted = scale * acc.weighted + offset * acc.covered
        if acc.value is not None:
            acc.value = convert(acc.value)

    @callback
    def _on_instant_flush(self, _now: datetime) -> None:
        self._instant_unsub = None
        self._request_flush()

    @callback
    def _schedule_boundary(self) -> None:
        ends = [track.acc.end for track in self._tracks if track.acc is not None]
        if not ends or self._stopped:
            return
        self._boundary_unsub = async_track_point_in_utc_time(
            self._hass, self._on_boundary, _utc(min(ends))
        )

    @callback
    def _on_boundary(self, when: datetime) -> None:
        """Close the steps that ended; queue them; send."""
        self._boundary_unsub = None
        now = max(when.timestamp(), time.time())
        for track in self._tracks:
            if track.acc is not None and track.acc.end <= now:
                track.acc.close_until(now, self._closed)
                self._queue_closed(track)
        self._schedule_boundary()
        self._request_flush()

    def _queue_closed(self, track: _Track) -> bool:
        """Queue the steps closing put in `self._closed`; False when there were none.

        Closing may find no ended step (e.g. after a restart inside the step
        that follows the last queued one).
        """
        if not self._closed:
            return False
        self._queue(track, self._closed)
        self._closed.clear()
        return True

    def _queue(self, track: _Track, steps: Sequence[Step]) -> None:
        """Convert closed steps to the sensor's unit and put them in the outbox."""
        sensor = track.mapping.sensor
        convert = unit_converter(track.unit, sensor.unit)
        if track.step > 0:
            track.last_end = steps[-1][0] + track.step
        if convert is None:
            self._reject(
                track,
                len(steps),
                f"unit {track.unit} cannot be converted to {sensor.unit}",
            )
        else:
            track.outbox.extend((start, convert(value)) for start, value in steps)
            excess = len(track.outbox) - track.max_outbox
            if excess > 0:
                del track.outbox[:excess]
                track.dropped += excess
                if not track.drop_warned:
                    track.drop_warned = True
                    LOGGER.warning(
                        "Outbox for %s -> sensor %s is full (%d); dropping the "
                        "oldest measurements",
                        track.mapping.entity_id,
                        sensor.id,
                        track.max_outbox,
                    )
        self._save()

    # ------------------------------------------------------------ forecasts

    def _check_forecast(self, track: _Track, state: State) -> None:
        attribute = track.mapping.forecast_attribute
        if attribute is None:  # pragma: no cover - callers check
            return
        raw = tuple(
            state.attributes.get(name) for name in forecast_attributes(attribute)
        )
        if raw == track.forecast_raw:
            return
        track.forecast_raw = raw
        if track.step <= 0:
            return
        resampled = resample(parse_forecast(state.attributes, attribute), track.step)
        if resampled is None or resampled == track.forecast_sent:
            return
        convert = unit_converter(
            state.attributes.get(ATTR_UNIT_OF_MEASUREMENT), track.mapping.sensor.unit
        )
        if convert is None:
            self._reject(track, len(resampled[1]), "forecast unit cannot be converted")
            return
        start, values = resampled
        track.forecast_sent = resampled
        track.forecast_pending = (
            start,
            [None if value is None else convert(value) for value in values],
        )
        if self._ready:
            self._request_flush()

    # ------------------------------------------------------------ sending

    @callback
    def _request_flush(self) -> None:
        if (
            self._stopped
            or not self._ready
            or self._auth_failed
            or self._retry_unsub is not None
            or (self._flush_task is not None and not self._flush_task.done())
        ):
            return
        self._flush_task = self._spawn(self._async_flush(), "send")

    async def _async_flush(self) -> None:
        """Send everything in the outbox, one request per run of steps."""
        while not self._stopped:
            batch = self._next_batch()
            if batch is None:
                return
            track, items, start, step, prior = batch
            sensor = track.mapping.sensor
            try:
                await self._client.post_sensor_data(
                    sensor.id,
                    start=_utc(start),
                    duration=timedelta(seconds=step * len(items)),
                    values=[value for _, value in items],
                    unit=sensor.unit,
                    prior=prior,
                )
            except FlexMeasuresAuthenticationError:
                LOGGER.warning(
                    "FlexMeasures rejected the login; measurements wait for "
                    "re-authentication"
                )
                self._auth_failed = True
                self._entry.async_start_reauth(self._hass)
                return
            except _PERMANENT as err:
                self._done(track, items, prior)
                self._reject(track, len(items), _describe(err))
            except FlexMeasuresError as err:
                if not self._unreachable:
                    self._unreachable = True
                    LOGGER.info(
                        "Cannot deliver measurements to FlexMeasures (%s); they "
                        "wait in the outbox and are retried",
                        _describe(err),
                    )
                LOGGER.debug(
                    "Sending measurements failed (%s); retrying in %.0f s",
                    _describe(err),
                    self._backoff,
                )
                self._retry_unsub = async_call_later(
                    self._hass, self._backoff, self._on_retry
                )
                self._backoff = min(self._backoff * 2, RETRY_MAX)
                return
            else:
                self._done(track, items, prior)
                self._backoff = RETRY_FIRST
                if self._unreachable:
                    self._unreachable = False
                    LOGGER.info("Measurements are delivered to FlexMeasures again")
                track.drop_warned = False
                if prior is None and track.step > 0:
                    end = items[-1][0] + track.step
                    track.delivered_end = max(track.delivered_end or end, end)
                if track.issue_raised:
                    track.issue_raised = False
                    ir.async_delete_issue(
                        self._hass, DOMAIN, _issue_id(track.mapping.subentry_id)
                    )

    def _next_batch(
        self,
    ) -> tuple[_Track, list[Step], float, float, datetime | None] | None:
        """The first run of consecutive steps to send, or a forecast."""
        for track in self._tracks:
            if track.outbox:
                if track.step <= 0:
                    item = track.outbox[0]
                    return track, [item], item[0], 0.0, None
                first = runs(track.outbox, track.step, MAX_BATCH)[0]
                return track, first, first[0][0], track.step, None
        for track in self._tracks:
            if track.forecast_pending is not None:
                start, values = track.forecast_pending
                items: list[Step] = [
                    (start + index * track.step, value)
                    for index, value in enumerate(values)
                    if value is not None
                ]
                if not items:
                    track.forecast_pending = None
                    continue
                first = runs(items, track.step, MAX_BATCH)[0]
                return track, first, first[0][0], track.step, dt_util.utcnow()
        return None

    def _done(self, track: _Track, items: list[Step], prior: datetime | None) -> None:
        """Take sent (or rejected) items out of the outbox or pending forecast."""
        if prior is None:
            sent = {id(item) for item in items}
            track.outbox = [item for item in track.outbox if id(item) not in sent]
            self._save()
            return
        pending = track.forecast_pending
        if pending is None:  # pragma: no cover - replaced while sending
            return
        start, values = pending
        last = round((items[-1][0] - start) / track.step)
        rest = values[last + 1 :]
        track.forecast_pending = (
            (start + (last + 1) * track.step, rest)
            if any(value is not None for value in rest)
            else None
        )

    @callback
    def _on_retry(self, _now: datetime) -> None:
        self._retry_unsub = None
        self._request_flush()

    def _reject(self, track: _Track, count: int, reason: str) -> None:
        """Count data the server will never accept; log once; raise an issue."""
        track.rejected += count
        mapping = track.mapping
        if not track.rejection_logged:
            track.rejection_logged = True
            LOGGER.warning(
                "FlexMeasures sensor %s rejected %d value(s) of %s: %s",
                mapping.sensor.id,
                count,
                mapping.entity_id,
                reason,
            )
        else:
            LOGGER.debug("Sensor %s rejected %d value(s)", mapping.sensor.id, count)
        track.issue_raised = True
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            _issue_id(mapping.subentry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_REJECTED,
            translation_placeholders={
                "entity_id": mapping.entity_id,
                "sensor_id": str(mapping.sensor.id),
                "error": reason,
            },
        )
        self._save()

    # ------------------------------------------------------------ storage

    def _save(self) -> None:
        self._store.async_delay_save(self._data_to_save, SAVE_DELAY)

    def _data_to_save(self) -> dict[str, Any]:
        return {
            "tracks": {
                track.mapping.subentry_id: {
                    "sensor_id": track.mapping.sensor.id,
                    "outbox": [list(item) for item in track.outbox],
                    "last_end": track.last_end,
                    "delivered_end": track.delivered_end,
                    "rejected": track.rejected,
                    "dropped": track.dropped,
                }
                for track in self._tracks
            }
        }

    # ------------------------------------------------------------ diagnostics

    def as_diagnostics(self) -> dict[str, Any]:
        """Per mapping: last delivered step, outbox length, rejected, dropped."""
        return {
            "waiting_for_reauth": self._auth_failed,
            "retry_in_seconds": self._backoff if self._retry_unsub else None,
            "mappings": {
                track.mapping.subentry_id: {
                    "entity_id": track.mapping.entity_id,
                    "sensor_id": track.mapping.sensor.id,
                    "resolution_seconds": track.step,
                    "last_delivered_step_end": (
                        None
                        if track.delivered_end is None
                        else _utc(track.delivered_end).isoformat()
                    ),
                    "outbox_length": len(track.outbox),
                    "rejected": track.rejected,
                    "dropped": track.dropped,
                }
                for track in self._tracks
            },
        }


def outbox_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """The Store that keeps an entry's outbox across restarts."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.outbox.{entry_id}")


def _issue_id(subentry_id: str) -> str:
    return f"{ISSUE_REJECTED}_{subentry_id}"


def _describe(err: FlexMeasuresError) -> str:
    if isinstance(err, FlexMeasuresResponseError):
        return f"{err.status}: {err.message}"
    return str(err) or type(err).__name__


__all__ = ["MeasurementForwarder", "MeasurementMapping"]
