"""Reading a device's consumption price after each schedule (prices.py has the rest).

`PriceReader.start_update` reads the price once the schedule is handed over,
in a task of the entry's (a slow read never holds back the new schedule;
unloading cancels it), then tells the entities. The first read settles where
the price comes from (`async_resolve_source`); a job whose flex-context names
a consumption price was planned with that one, and its price is read instead.
A failure never reaches the schedule: the last forecast of the same source
stays while it covers now, else the price is unknown until a read succeeds.
The source and the last forecast are kept in the entry's store (`PriceMemory`)
for a start without the server. No Home Assistant state is read here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from homeassistant.config_entries import ConfigSubentry
from homeassistant.util import dt as dt_util

from .api import FlexMeasuresClient, FlexMeasuresError, Schedule
from .const import LOGGER
from .outages import OutageLog
from .prices import (
    CONSUMPTION_PRICE,
    CONSUMPTION_PRICE_SENSOR,
    PERMANENT_ERRORS,
    FixedPrice,
    PriceSensor,
    PriceSource,
    UnsupportedPriceError,
    async_price_sensor,
    async_resolve_source,
    clean_price,
    currency_of_unit,
    forecast_attribute,
    next_price_change,
    price_at,
    price_in_flex_context,
    price_segments,
    price_window,
)
from .schedule import Segment, schedule_start
from .units import price_parts, unit_converter


@dataclass(frozen=True, slots=True)
class KeptPrice:
    """What a price reader keeps across restarts (for a start without the server).

    Where the price comes from (for the configured sensor id it was found
    for), and the last forecast read, in its unit, with the source read.
    """

    configured_sensor_id: int | None
    source: PriceSource | None
    forecast: tuple[Segment, ...] | None = None
    forecast_unit: str | None = None
    forecast_source: PriceSource | None = None


class PriceMemory(Protocol):
    """Where a price reader keeps what it read (the entry's store)."""

    def price(self, key: str) -> KeptPrice | None:
        """What was kept under `key` (a sub-entry id), if anything."""

    def keep_price(self, key: str, kept: KeptPrice) -> None:
        """Keep this under `key`."""


def _covers(forecast: tuple[Segment, ...] | None, when: datetime) -> bool:
    """Whether the forecast spans `when` (a gap inside it is an unknown price)."""
    if not forecast:
        return False
    return forecast[0].start <= when < forecast[-1].end


def _in_unit(source: PriceSource, unit: str | None) -> str:
    """The unit to read `source` in: `unit` (the device's) when it converts."""
    if unit is None or source.unit == unit:
        return source.unit
    mine, theirs = price_parts(unit), price_parts(source.unit)
    if mine is None or theirs is None or mine[0] != theirs[0]:
        return source.unit  # another currency: shown as it is
    return unit


type Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]


class PriceReader:
    """The consumption price of one device (or site), read after each schedule.

    `forecast` is None while the price is unavailable: nothing names a price,
    or no read worked and the last forecast no longer covers now. A read that
    fails keeps the last forecast of the same source while it covers now.
    With a `memory`, the source and the last forecast are kept across
    restarts under the sub-entry's id, and a start without the server begins
    with them.
    """

    def __init__(
        self,
        client: Callable[[], FlexMeasuresClient],
        configured_sensor_id: int | None,
        subentry: ConfigSubentry,
        memory: PriceMemory | None = None,
    ) -> None:
        """Nothing is read yet; `client` gives the account's current client."""
        self._client = client
        self._configured = configured_sensor_id
        self._title = subentry.title
        self._memory = memory
        self._key = subentry.subentry_id
        self._resolved = False
        self._outage = OutageLog()
        self._task: asyncio.Task[None] | None = None
        self.source: PriceSource | None = None
        self.forecast: tuple[Segment, ...] | None = None
        self._forecast_unit: str | None = None
        self._forecast_source: PriceSource | None = None
        kept = None if memory is None else memory.price(self._key)
        if kept is not None and kept.configured_sensor_id == configured_sensor_id:
            self.source = kept.source
            if _covers(kept.forecast, dt_util.utcnow()):
                self.forecast = kept.forecast
                self._forecast_unit = kept.forecast_unit
                self._forecast_source = kept.forecast_source

    @property
    def unit(self) -> str | None:
        """The price's unit (e.g. EUR/kWh), once known."""
        if self.forecast is not None and self._forecast_unit is not None:
            return self._forecast_unit
        return None if self.source is None else self.source.unit

    @property
    def currency(self) -> str | None:
        """The price's currency (e.g. EUR), once known."""
        return currency_of_unit(self.unit)

    @property
    def available(self) -> bool:
        """Whether there is a price: the last read, or one that still covers now."""
        return self.forecast is not None

    def value_at(self, when: datetime) -> float | None:
        """The price at `when` (None: unavailable, or a gap in the data)."""
        return None if self.forecast is None else price_at(self.forecast, when)

    def next_change(self, when: datetime) -> datetime | None:
        """When the price next changes (or starts or stops), after `when`."""
        return None if self.forecast is None else next_price_change(self.forecast, when)

    def forecast_attribute(self) -> list[dict[str, str | float]]:
        """The price over the horizon as [{start, end, value}] (UTC)."""
        return [] if self.forecast is None else forecast_attribute(self.forecast)

    def diagnostics(self) -> dict[str, Any]:
        """Where the price comes from and whether the last read worked."""
        source = self.source
        return {
            "source": None
            if source is None
            else {
                "kind": "sensor" if isinstance(source, PriceSensor) else "fixed",
                "sensor_id": getattr(source, "sensor_id", None),
                "asset_id": source.asset_id,
                "unit": source.unit,
            },
            "resolved": self._resolved,
            "available": self.available,
            "forecast_steps": None if self.forecast is None else len(self.forecast),
            "last_problem": self._outage.problem,
        }

    # -- reading ---------------------------------------------------------------

    def start_update(
        self,
        spawn: Spawn,
        schedule: Schedule,
        asset_id: int | None,
        then: Callable[[], None],
        flex_context: Mapping[str, Any] | None = None,
    ) -> None:
        """Read the price for a schedule just handed over, in a task of its own.

        `spawn` makes the task (the entry's background task: unloading cancels
        it); a read still running for an earlier schedule is cancelled; `then`
        runs when this one is done (the entities show the price).
        """

        async def update_then() -> None:
            await self.async_update(schedule, asset_id, flex_context)
            then()

        self.cancel()
        self._task = spawn(update_then())

    def cancel(self) -> None:
        """Stop a read in flight (unloading)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def async_update(
        self,
        schedule: Schedule,
        asset_id: int | None,
        flex_context: Mapping[str, Any] | None = None,
    ) -> None:
        """Read the price over the schedule's horizon; never raises FlexMeasuresError.

        The first call settles where the price comes from (`asset_id`: the
        power sensor's asset); later calls make at most one request. A job
        whose `flex_context` names a consumption price (a sensor or a fixed
        price) was planned with that one: its price is read instead.
        """
        # the source this read is for, as far as known when it fails: a price
        # the job names itself is unknown, the device's keeps its last forecast
        names_one = flex_context is not None and any(
            key in flex_context for key in (CONSUMPTION_PRICE, CONSUMPTION_PRICE_SENSOR)
        )
        source = None if names_one else self.source
        try:
            if not self._resolved:
                self.source = await async_resolve_source(
                    self._client(), self._configured, asset_id
                )
                self._resolved = True
            source = await self._job_source(flex_context)
            forecast = await self._async_read(schedule, source)
        except UnsupportedPriceError as err:
            if self._resolved:  # the job's own price: this job's price is unknown
                self._failed(err, None)
            else:
                self._resolved = True
                self._give_up(str(err))
        except PERMANENT_ERRORS as err:
            if not self._resolved:
                self._resolved = True  # the named sensor or asset is not there
                self._give_up(str(err))
            else:
                self._failed(err, source)
        except FlexMeasuresError as err:
            self._failed(err, source)
        else:
            self._show(source, forecast)
            self._outage.recovered("Consumption price of %s is back", self._title)

    async def _job_source(
        self, flex_context: Mapping[str, Any] | None
    ) -> PriceSource | None:
        """The price a job used: its flex-context's, else the device's.

        Raises UnsupportedPriceError and FlexMeasuresError.
        """
        spec = None if not flex_context else price_in_flex_context(flex_context)
        if spec is None:
            return self.source
        if isinstance(spec, int):
            if isinstance(self.source, PriceSensor) and self.source.sensor_id == spec:
                return self.source
            return await async_price_sensor(self._client(), spec, None)
        return FixedPrice(*spec)  # a job's own flex-context: no asset

    async def _async_read(
        self, schedule: Schedule, source: PriceSource | None
    ) -> tuple[Segment, ...] | None:
        """The price over the schedule's horizon (None: no price at all).

        In the device's unit where it converts (an override in EUR/MWh for a
        device in EUR/kWh), else in the source's own.
        """
        if source is None:
            return None
        unit = _in_unit(source, None if self.source is None else self.source.unit)
        start, end = schedule_start(schedule), schedule.end
        if isinstance(source, FixedPrice):
            convert = unit_converter(source.unit, unit) or (lambda value: value)
            return (Segment(start, end, clean_price(convert(source.value))),)
        first, duration, resolution = price_window(
            start, end, source.resolution, schedule.resolution
        )
        data = await self._client().get_sensor_data(
            source.sensor_id,
            start=first,
            duration=duration,
            unit=unit,
            resolution=resolution,
        )
        return price_segments(data)

    def _show(
        self, source: PriceSource | None, forecast: tuple[Segment, ...] | None
    ) -> None:
        """The price read, kept for a restart."""
        self.forecast = forecast
        self._forecast_source = source if forecast is not None else None
        self._forecast_unit = (
            None
            if source is None or forecast is None
            else _in_unit(source, None if self.source is None else self.source.unit)
        )
        self._keep()

    def _keep(self) -> None:
        if self._memory is not None:
            self._memory.keep_price(
                self._key,
                KeptPrice(
                    self._configured,
                    self.source,
                    self.forecast,
                    self._forecast_unit,
                    self._forecast_source,
                ),
            )

    def _give_up(self, reason: str) -> None:
        """No price until the entry is reloaded."""
        self.source = None
        self._show(None, None)
        LOGGER.info("No consumption price for %s: %s", self._title, reason)

    def _failed(self, err: Exception, source: PriceSource | None) -> None:
        """The price this read was for is unknown; logged once.

        The last forecast stays while it covers now, when it is of the same
        source (one failed read must not blank the price line until the next
        update); else the price is unavailable until a read succeeds.
        """
        if (
            source is None
            or source != self._forecast_source
            or not _covers(self.forecast, dt_util.utcnow())
        ):
            self._show(None, None)
        reason = f"{type(err).__name__}: {err}"
        self._outage.failed(
            reason,
            "Could not read the consumption price of %s: %s",
            self._title,
            reason,
        )
