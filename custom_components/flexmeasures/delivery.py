"""Delivery of the outbox to FlexMeasures: batching, backoff and rejections.

Consecutive steps of a mapping go up in one request; one request at a time
per account, taking turns over the mappings with something to send (round
robin), so a mapping whose posts fail never delays another. Retryable
failures (network, 5xx, 429) keep that mapping's outbox and retry it with its
own exponential backoff; a 429 with `Retry-After` holds every mapping of the
account at least that long (the limit is the account's, up to
RETRY_AFTER_MAX); rejections (4xx) are counted, logged once and raise a
repair issue; a refused login starts reauth and delivery waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .api import (
    FlexMeasuresAccessDeniedError,
    FlexMeasuresAuthenticationError,
    FlexMeasuresClient,
    FlexMeasuresError,
    FlexMeasuresInvalidRequestError,
    FlexMeasuresNotFoundError,
    FlexMeasuresRateLimitError,
    FlexMeasuresResponseError,
)
from .const import LOGGER
from .issues import MEASUREMENTS_REJECTED
from .measurements import Step, runs
from .outages import Backoff, OutageLog
from .outbox import MappingOutbox, Outbox, PendingForecast

MAX_BATCH: Final = 2016  # 7 days of PT5M in one request at most
RETRY_FIRST: Final = 10.0
RETRY_MAX: Final = 600.0
RETRY_AFTER_MAX: Final = 3600.0  # a longer Retry-After is cut to this

_PERMANENT: Final = (
    FlexMeasuresInvalidRequestError,
    FlexMeasuresNotFoundError,
    FlexMeasuresAccessDeniedError,
)


def utc(ts: float) -> datetime:
    """A timestamp as an aware UTC datetime."""
    return dt_util.utc_from_timestamp(ts)


@dataclass(slots=True, eq=False)
class Lane:
    """One mapping's turn in delivery: its own backoff."""

    box: MappingOutbox
    backoff: Backoff = field(default_factory=lambda: Backoff(RETRY_FIRST, RETRY_MAX))
    retry_at: float | None = None  # loop time of the next try, while backing off
    retry_delay: float | None = None
    outage: OutageLog = field(default_factory=OutageLog)


class Batch(NamedTuple):
    """One request: consecutive steps of a mapping (or of one of its forecasts)."""

    lane: Lane
    items: list[Step]
    forecast: PendingForecast | None


class Delivery:
    """Sends an entry's outbox, one request at a time, mappings in turn."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        client: FlexMeasuresClient,
        outbox: Outbox,
        *,
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]],
        on_change: Callable[[MappingOutbox], None] = lambda _box: None,
    ) -> None:
        """Nothing is sent until `ready` is set and `request` is called."""
        self._hass = hass
        self._entry = entry
        self._client = client
        self._outbox = outbox
        self._spawn = spawn
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self._timer: CALLBACK_TYPE | None = None
        self.lanes = {id(box): Lane(box) for box in outbox.boxes}
        self._order = list(self.lanes.values())
        self._turn = 0
        self._not_before = 0.0  # loop time: the server's Retry-After, for all
        self.ready = False
        self.stopped = False
        self.auth_failed = False

    def lane(self, box: MappingOutbox) -> Lane:
        """The delivery state of one mapping's outbox."""
        return self.lanes[id(box)]

    @property
    def retry_in(self) -> float | None:
        """Seconds of the soonest retry that waits, if any."""
        delays = [
            lane.retry_delay for lane in self._order if lane.retry_delay is not None
        ]
        return min(delays) if delays else None

    @callback
    def request(self) -> None:
        """Send what is waiting (each mapping as its backoff allows)."""
        if (
            self.stopped
            or not self.ready
            or self.auth_failed
            or (self._task is not None and not self._task.done())
        ):
            return
        self._task = self._spawn(self._async_flush(), "send")

    @callback
    def stop(self) -> None:
        """Send nothing more (the caller cancels the running task)."""
        self.stopped = True
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None

    async def _async_flush(self) -> None:
        """Send everything that may go now, one request per run of steps."""
        while not self.stopped:
            batch = self._next_batch(self._hass.loop.time())
            if batch is None:
                break
            lane, items, forecast = batch
            box = lane.box
            sensor = box.mapping.sensor
            grid = box.grid
            try:
                await self._client.post_sensor_data(
                    sensor.id,
                    start=utc(items[0][0]) if grid is None else grid.aware(items[0][0]),
                    duration=timedelta(seconds=box.step * len(items)),
                    values=[value for _, value in items],
                    unit=sensor.unit,
                    prior=None if forecast is None else forecast.prior,
                )
            except FlexMeasuresAuthenticationError:
                LOGGER.warning(
                    "FlexMeasures rejected the login; measurements wait for "
                    "re-authentication"
                )
                self.auth_failed = True
                self._entry.async_start_reauth(self._hass)
                return
            except _PERMANENT as err:
                self._done(box, items, forecast)
                self.reject(box, len(items), describe(err))
            except FlexMeasuresError as err:
                self._retry_later(lane, err)
            else:
                self._delivered(lane, items, forecast)
        self._arm_timer()

    def _next_batch(self, now: float) -> Batch | None:
        """The next mapping's (in turn) first run of steps, or its forecast."""
        if now < self._not_before:
            return None
        count = len(self._order)
        for offset in range(count):
            lane = self._order[(self._turn + offset) % count]
            if lane.retry_at is not None and lane.retry_at > now:
                continue
            if (batch := self._batch_of(lane)) is not None:
                self._turn = (self._turn + offset + 1) % count
                return batch
        return None

    @staticmethod
    def _batch_of(lane: Lane) -> Batch | None:
        box = lane.box
        if box.items:
            if box.grid is None:
                return Batch(lane, [box.items[0]], None)
            return Batch(lane, runs(box.items, box.grid, MAX_BATCH)[0], None)
        if box.forecasts and box.grid is not None:
            forecast = box.forecasts[0]
            return Batch(lane, runs(forecast.items, box.grid, MAX_BATCH)[0], forecast)
        return None

    def _arm_timer(self) -> None:
        """Wake up for the soonest retry of a mapping with something to send."""
        self._cancel_timer()
        now = self._hass.loop.time()
        held = self._not_before
        waiting = [
            max(lane.retry_at or held, held)
            for lane in self._order
            if (lane.box.items or lane.box.forecasts)
            and (lane.retry_at is not None or held > now)
        ]
        if waiting and not self.stopped:
            delay = max(min(waiting) - now, 0.0)
            self._timer = async_call_later(self._hass, delay, self._on_timer)

    @callback
    def _on_timer(self, _now: datetime) -> None:
        self._timer = None
        self.request()

    def _retry_later(self, lane: Lane, err: FlexMeasuresError) -> None:
        """Keep the outbox; try this mapping again after its backoff."""
        mapping = lane.box.mapping
        lane.outage.failed(
            describe(err),
            "Cannot deliver measurements of %s to FlexMeasures sensor %s (%s); "
            "they wait in the outbox and are retried",
            mapping.entity_id,
            mapping.sensor.id,
            describe(err),
        )
        delay = lane.backoff.next()
        now = self._hass.loop.time()
        if isinstance(err, FlexMeasuresRateLimitError) and err.retry_after:
            # the server says when: not before, for any mapping of the account
            wait = min(err.retry_after, RETRY_AFTER_MAX)
            self._not_before = max(self._not_before, now + wait)
            delay = max(delay, wait)
        LOGGER.debug(
            "Sending to sensor %s failed (%s); retrying in %.0f s",
            mapping.sensor.id,
            describe(err),
            delay,
        )
        lane.retry_delay = delay
        lane.retry_at = now + delay

    def _delivered(
        self, lane: Lane, items: list[Step], forecast: PendingForecast | None
    ) -> None:
        """The server took the batch."""
        box = lane.box
        lane.backoff.reset()
        lane.retry_at = lane.retry_delay = None
        lane.outage.recovered(
            "Measurements of %s are delivered to FlexMeasures again",
            box.mapping.entity_id,
        )
        box.drop_warned = False
        if forecast is None:
            last = items[-1][0]
            end = last if box.grid is None else box.grid.next(last)
            box.delivered_end = max(box.delivered_end or end, end)
        if box.rejection is not None:
            box.rejection = None
            box.rejection_logged = False
            MEASUREMENTS_REJECTED.async_clear(self._hass, box.mapping.subentry_id)
        self._done(box, items, forecast)

    def _done(
        self, box: MappingOutbox, items: list[Step], forecast: PendingForecast | None
    ) -> None:
        """Take sent (or rejected) items out of the outbox or their forecast.

        A forecast batch leaves its own forecast only: one that arrived while it
        was being sent keeps its own times.
        """
        sent = {id(item) for item in items}
        if forecast is None:
            box.items = [item for item in box.items if id(item) not in sent]
            self._outbox.save()
        else:
            forecast.items = [item for item in forecast.items if id(item) not in sent]
            if not forecast.items and forecast in box.forecasts:
                box.forecasts.remove(forecast)
        self._on_change(box)

    def reject(self, box: MappingOutbox, count: int, reason: str) -> None:
        """Count data the server will never accept; log once; raise an issue."""
        box.rejected += count
        mapping = box.mapping
        if not box.rejection_logged:
            box.rejection_logged = True
            LOGGER.warning(
                "FlexMeasures sensor %s rejected %d value(s) of %s: %s",
                mapping.sensor.id,
                count,
                mapping.entity_id,
                reason,
            )
        else:
            LOGGER.debug("Sensor %s rejected %d value(s)", mapping.sensor.id, count)
        box.rejection = reason
        raise_rejected_issue(self._hass, box)
        self._outbox.save()
        self._on_change(box)


@callback
def raise_rejected_issue(hass: HomeAssistant, box: MappingOutbox) -> None:
    """The repair issue of a mapping whose values the server refused."""
    mapping = box.mapping
    MEASUREMENTS_REJECTED.async_raise(
        hass,
        mapping.subentry_id,
        {
            "entity_id": mapping.entity_id,
            "sensor_id": str(mapping.sensor.id),
            "error": box.rejection or "",
        },
    )


def describe(err: FlexMeasuresError) -> str:
    """A client error in a few words, for logs and the repair issue."""
    if isinstance(err, FlexMeasuresResponseError):
        return f"{err.status}: {err.message}"
    return str(err) or type(err).__name__
