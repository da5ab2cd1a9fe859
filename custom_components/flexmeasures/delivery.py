"""Delivery of the outbox to FlexMeasures: batching, backoff and rejections.

Consecutive steps of a mapping go up in one request. Retryable failures
(network, 5xx, 429) keep the outbox and retry with exponential backoff;
rejections (4xx) are counted, logged once and raise a repair issue; a refused
login starts reauth and delivery waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, Final

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
    FlexMeasuresResponseError,
)
from .const import LOGGER
from .issues import async_clear_measurements_rejected, async_raise_measurements_rejected
from .measurements import Step, runs
from .outbox import MappingOutbox, Outbox

MAX_BATCH: Final = 2016  # 7 days of PT5M in one request at most
RETRY_FIRST: Final = 10.0
RETRY_MAX: Final = 600.0

_PERMANENT: Final = (
    FlexMeasuresInvalidRequestError,
    FlexMeasuresNotFoundError,
    FlexMeasuresAccessDeniedError,
)

type Batch = tuple[MappingOutbox, list[Step], float, float, datetime | None]


def utc(ts: float) -> datetime:
    """A timestamp as an aware UTC datetime."""
    return dt_util.utc_from_timestamp(ts)


class Delivery:
    """Sends an entry's outbox, one request at a time."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        client: FlexMeasuresClient,
        outbox: Outbox,
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]],
    ) -> None:
        """Nothing is sent until `ready` is set and `request` is called."""
        self._hass = hass
        self._entry = entry
        self._client = client
        self._outbox = outbox
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None
        self._retry_unsub: CALLBACK_TYPE | None = None
        self.backoff = RETRY_FIRST
        self.ready = False
        self.stopped = False
        self.auth_failed = False
        self._unreachable = False  # logged once per outage

    @property
    def retry_in(self) -> float | None:
        """Seconds until the next try, while waiting to retry."""
        return self.backoff if self._retry_unsub is not None else None

    @callback
    def request(self) -> None:
        """Send what is waiting, unless sending, waiting to retry, or stopped."""
        if (
            self.stopped
            or not self.ready
            or self.auth_failed
            or self._retry_unsub is not None
            or (self._task is not None and not self._task.done())
        ):
            return
        self._task = self._spawn(self._async_flush(), "send")

    @callback
    def stop(self) -> None:
        """Send nothing more (the caller cancels the running task)."""
        self.stopped = True
        if self._retry_unsub is not None:
            self._retry_unsub()
            self._retry_unsub = None

    async def _async_flush(self) -> None:
        """Send everything in the outbox, one request per run of steps."""
        while not self.stopped:
            batch = self._next_batch()
            if batch is None:
                return
            box, items, start, step, prior = batch
            sensor = box.mapping.sensor
            try:
                await self._client.post_sensor_data(
                    sensor.id,
                    start=utc(start),
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
                self.auth_failed = True
                self._entry.async_start_reauth(self._hass)
                return
            except _PERMANENT as err:
                self._done(box, items, prior)
                self.reject(box, len(items), describe(err))
            except FlexMeasuresError as err:
                self._retry_later(err)
                return
            else:
                self._delivered(box, items, prior)

    def _retry_later(self, err: FlexMeasuresError) -> None:
        """Keep the outbox; try again after the backoff (the outage logged once)."""
        if not self._unreachable:
            self._unreachable = True
            LOGGER.info(
                "Cannot deliver measurements to FlexMeasures (%s); they wait in "
                "the outbox and are retried",
                describe(err),
            )
        LOGGER.debug(
            "Sending measurements failed (%s); retrying in %.0f s",
            describe(err),
            self.backoff,
        )
        self._retry_unsub = async_call_later(self._hass, self.backoff, self._on_retry)
        self.backoff = min(self.backoff * 2, RETRY_MAX)

    def _delivered(
        self, box: MappingOutbox, items: list[Step], prior: datetime | None
    ) -> None:
        """The server took the batch."""
        self._done(box, items, prior)
        self.backoff = RETRY_FIRST
        if self._unreachable:
            self._unreachable = False
            LOGGER.info("Measurements are delivered to FlexMeasures again")
        box.drop_warned = False
        if prior is None and box.step > 0:
            end = items[-1][0] + box.step
            box.delivered_end = max(box.delivered_end or end, end)
        if box.issue_raised:
            box.issue_raised = False
            async_clear_measurements_rejected(self._hass, box.mapping.subentry_id)

    def _next_batch(self) -> Batch | None:
        """The first run of consecutive steps to send, or a forecast."""
        for box in self._outbox.boxes:
            if box.items:
                if box.step <= 0:
                    item = box.items[0]
                    return box, [item], item[0], 0.0, None
                first = runs(box.items, box.step, MAX_BATCH)[0]
                return box, first, first[0][0], box.step, None
        for box in self._outbox.boxes:
            if box.forecast_pending is not None:
                start, values = box.forecast_pending
                items: list[Step] = [
                    (start + index * box.step, value)
                    for index, value in enumerate(values)
                    if value is not None
                ]
                if not items:
                    box.forecast_pending = None
                    continue
                first = runs(items, box.step, MAX_BATCH)[0]
                return box, first, first[0][0], box.step, dt_util.utcnow()
        return None

    def _done(
        self, box: MappingOutbox, items: list[Step], prior: datetime | None
    ) -> None:
        """Take sent (or rejected) items out of the outbox or pending forecast."""
        if prior is None:
            sent = {id(item) for item in items}
            box.items = [item for item in box.items if id(item) not in sent]
            self._outbox.save()
            return
        pending = box.forecast_pending
        if pending is None:  # pragma: no cover - replaced while sending
            return
        start, values = pending
        last = round((items[-1][0] - start) / box.step)
        rest = values[last + 1 :]
        box.forecast_pending = (
            (start + (last + 1) * box.step, rest)
            if any(value is not None for value in rest)
            else None
        )

    @callback
    def _on_retry(self, _now: datetime) -> None:
        self._retry_unsub = None
        self.request()

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
        box.issue_raised = True
        async_raise_measurements_rejected(
            self._hass,
            mapping.subentry_id,
            {
                "entity_id": mapping.entity_id,
                "sensor_id": str(mapping.sensor.id),
                "error": reason,
            },
        )
        self._outbox.save()


def describe(err: FlexMeasuresError) -> str:
    """A client error in a few words, for logs and the repair issue."""
    if isinstance(err, FlexMeasuresResponseError):
        return f"{err.status}: {err.message}"
    return str(err) or type(err).__name__
