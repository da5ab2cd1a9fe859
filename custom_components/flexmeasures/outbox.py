"""The outbox of measurements waiting for FlexMeasures, persisted with `Store`.

One `MappingOutbox` per measurement mapping: its closed steps (in the
FlexMeasures sensor's unit), pending forecasts, and what was delivered,
rejected or dropped. The stored outbox says what its values were computed for
(sensor, unit, resolution, time zone, energy per step or not): after a
reconfiguration to another sensor, or a unit or resolution changed on the
server, the values are converted where they convert and otherwise dropped,
counted and logged once (`restore.py`). `Outbox` loads and saves them all for
one config entry, with the clock-jump gaps seen. Delivery is in `delivery.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
import math
from typing import Any, Final, NamedTuple, Self

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .api import Sensor
from .const import CONF_ENTITY_ID, CONF_FORECAST_ATTRIBUTE, DOMAIN, LOGGER
from .gaps import Gap, merge
from .grid import Grid, make_grid
from .measurements import Step
from .restore import ComputedFor, restore_items

STORAGE_VERSION: Final = 1
# 1.2: each mapping says what its values were computed for; clock-jump gaps.
STORAGE_MINOR_VERSION: Final = 2
SAVE_DELAY: Final = 5.0
# The outbox keeps 7 days of steps at any resolution (one more for the step
# being rebuilt): a 7-day backfill at PT1M is 10 080 steps.
OUTBOX_SECONDS: Final = 7 * 86400.0
# An instantaneous sensor keeps this many samples.
MAX_INSTANT: Final = 10_080
MAX_FORECASTS: Final = 8


class MeasurementMapping(NamedTuple):
    """One Home Assistant entity sent to one FlexMeasures sensor."""

    subentry_id: str
    entity_id: str
    sensor: Sensor
    forecast_attribute: str | None = None

    @classmethod
    def from_subentry(cls, subentry: ConfigSubentry, sensor: Sensor) -> Self:
        """A measurement sub-entry's mapping, to the sensor the server described."""
        return cls(
            subentry.subentry_id,
            subentry.data[CONF_ENTITY_ID],
            sensor,
            subentry.data.get(CONF_FORECAST_ATTRIBUTE) or None,
        )


@dataclass(slots=True, eq=False)
class PendingForecast:
    """A forecast to send: its steps (sensor unit) and when it became known."""

    items: list[Step]
    prior: datetime


@dataclass(slots=True, eq=False)
class MappingOutbox:
    """What waits to be sent for one mapping, and what became of the rest."""

    mapping: MeasurementMapping
    step: float  # seconds; 0 for an instantaneous sensor
    grid: Grid | None  # None for an instantaneous sensor
    max_items: int
    items: list[Step] = field(default_factory=list)
    last_end: float | None = None  # end of the last step queued
    delivered_end: float | None = None  # end of the last step delivered
    rejected: int = 0
    dropped: int = 0
    per_step: bool = False  # values are amounts per step (a meter's energy)
    rejection: str | None = None  # why the server refused values, until accepted
    rejection_logged: bool = False
    drop_warned: bool = False
    forecasts: list[PendingForecast] = field(default_factory=list)

    @property
    def pending(self) -> int:
        """Values waiting to be sent (measurements and forecasts)."""
        return len(self.items) + sum(len(f.items) for f in self.forecasts)

    @property
    def computed_for(self) -> ComputedFor:
        """What the values in this outbox are computed for."""
        sensor = self.mapping.sensor
        return ComputedFor(
            sensor.id, sensor.unit, self.step, sensor.timezone, self.per_step
        )

    def add(self, steps: Sequence[Step]) -> None:
        """Queue closed steps; the oldest go when the outbox is full (logged once)."""
        self.items.extend(steps)
        excess = len(self.items) - self.max_items
        if excess > 0:
            del self.items[:excess]
            self.drop(excess, f"the outbox is full ({self.max_items})")

    def add_forecast(self, forecast: PendingForecast) -> bool:
        """Queue a forecast; False when the same one waits already.

        The oldest unsent ones go beyond MAX_FORECASTS; one forecast holds at
        most as many values as the outbox (7 days), the first ones.
        """
        if any(
            waiting.prior == forecast.prior and waiting.items == forecast.items
            for waiting in self.forecasts
        ):
            return False
        if (excess := len(forecast.items) - self.max_items) > 0:
            del forecast.items[self.max_items :]
            self.drop(excess, f"a forecast holds more than {self.max_items} values")
        self.forecasts.append(forecast)
        while len(self.forecasts) > MAX_FORECASTS:
            self.drop(len(self.forecasts.pop(0).items), "too many forecasts wait")
        return True

    def drop(self, count: int, reason: str) -> None:
        """Count values that will not be sent; warn once until delivery works."""
        self.dropped += count
        if not self.drop_warned:
            self.drop_warned = True
            LOGGER.warning(
                "Dropping %d measurement(s) of %s -> FlexMeasures sensor %s: %s",
                count,
                self.mapping.entity_id,
                self.mapping.sensor.id,
                reason,
            )

    def as_stored(self) -> dict[str, Any]:
        """What is saved for this mapping."""
        computed = self.computed_for
        return {
            "sensor_id": computed.sensor_id,
            "unit": computed.unit,
            "resolution": computed.resolution,
            "timezone": computed.timezone,
            "per_step": computed.per_step,
            "outbox": [list(item) for item in self.items],
            "forecasts": [
                {
                    "prior": forecast.prior.isoformat(),
                    "items": [list(item) for item in forecast.items],
                }
                for forecast in self.forecasts
            ],
            "last_end": self.last_end,
            "delivered_end": self.delivered_end,
            "rejected": self.rejected,
            "dropped": self.dropped,
            "rejection": self.rejection,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Take back what was saved, converted to this mapping's sensor.

        A store damaged by hand or by an older version (e.g. an inf saved as
        null) never stops the start: what is not a number is skipped, and a
        value that is not a (time, number) pair counts as dropped.
        """
        self.last_end = _number(saved.get("last_end"))
        self.delivered_end = _number(saved.get("delivered_end"))
        self.rejected = _count(saved.get("rejected"))
        self.dropped = _count(saved.get("dropped"))
        rejection = saved.get("rejection")
        self.rejection = rejection if isinstance(rejection, str) else None
        self.per_step = bool(saved.get("per_step", False))
        items, malformed = stored_steps(saved.get("outbox"))
        stored_for = ComputedFor.from_stored(saved)
        kept, reason = restore_items(items, stored_for, self.computed_for, self.grid)
        self.items = kept
        if malformed:
            self.drop(malformed, "stored values were not numbers")
        if reason is not None:
            self.drop(len(items), reason)
        self._restore_forecasts(saved.get("forecasts"), stored_for)
        self.drop_warned = False  # logged once for this; warn again when full

    def _restore_forecasts(self, raw: Any, stored_for: ComputedFor) -> None:
        """Take back the forecasts that waited, converted like the steps."""
        # forecasts are values (a price, a power), never amounts per step
        source = stored_for._replace(per_step=False)
        target = self.computed_for._replace(per_step=False)
        self.forecasts = []
        for saved in raw if isinstance(raw, list) else []:
            prior = _instant(saved.get("prior")) if isinstance(saved, dict) else None
            items, malformed = stored_steps(
                saved.get("items") if isinstance(saved, dict) else None
            )
            if prior is None:
                self.drop(len(items) + malformed or 1, "a stored forecast has no time")
                continue
            if malformed:
                self.drop(malformed, "stored values were not numbers")
            kept, reason = restore_items(items, source, target, self.grid)
            if reason is not None:
                self.drop(len(items), reason)
            if kept:
                self.add_forecast(PendingForecast(kept, prior))


def _number(raw: Any) -> float | None:
    """A stored finite number, or None."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw) if math.isfinite(raw) else None


def _instant(raw: Any) -> datetime | None:
    """A stored aware time, or None."""
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _count(raw: Any) -> int:
    """A stored counter (0 when missing or damaged)."""
    value = _number(raw)
    return 0 if value is None or value < 0 else int(value)


def stored_steps(raw: Any) -> tuple[list[Step], int]:
    """Stored `[start, value]` pairs of finite numbers, and how many were not."""
    if not isinstance(raw, list):
        return [], 0 if raw is None else 1
    steps: list[Step] = []
    malformed = 0
    for item in raw:
        if isinstance(item, list | tuple) and len(item) == 2:
            start, value = _number(item[0]), _number(item[1])
            if start is not None and value is not None:
                steps.append((start, value))
                continue
        malformed += 1
    return steps, malformed


def migrate(old_major: int, old_minor: int, data: dict[str, Any]) -> dict[str, Any]:
    """The stored outbox of an older version in the current format."""
    if old_major != STORAGE_VERSION:
        raise NotImplementedError
    if old_minor < 2:
        # 1.1 did not say what values were computed for: for the sensor it names,
        # in that sensor's unit and resolution of the time (unknown now).
        tracks = {
            subentry_id: {"unit": None, "resolution": None, **track}
            for subentry_id, track in data.get("tracks", {}).items()
        }
        data = {**data, "tracks": tracks, "gaps": []}
    return data


class _OutboxStore(Store[dict[str, Any]]):
    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        return migrate(old_major_version, old_minor_version, old_data)


def outbox_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """The Store that keeps an entry's outbox across restarts."""
    return _OutboxStore(
        hass,
        STORAGE_VERSION,
        f"{DOMAIN}.outbox.{entry_id}",
        minor_version=STORAGE_MINOR_VERSION,
    )


def max_items(step: float) -> int:
    """How many values one mapping's outbox keeps: 7 days at any resolution."""
    if step <= 0:
        return MAX_INSTANT
    return math.ceil(OUTBOX_SECONDS / step) + 1


class Outbox:
    """Every mapping's outbox of one config entry, loaded and saved together."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        mappings: Sequence[MeasurementMapping],
        keep: Callable[[str], bool] = lambda _subentry_id: False,
    ) -> None:
        """One empty outbox per mapping; `async_load` fills them.

        `keep` says which stored subentries without a mapping now (e.g. a sensor
        the server did not answer for) keep their stored outbox.
        """
        self._store = outbox_store(hass, entry_id)
        self._keep = keep
        self._others: dict[str, Any] = {}
        self.gaps: list[Gap] = []
        self.boxes: list[MappingOutbox] = []
        for mapping in mappings:
            step = max(mapping.sensor.event_resolution.total_seconds(), 0.0)
            grid = make_grid(step, mapping.sensor.timezone) if step > 0 else None
            self.boxes.append(MappingOutbox(mapping, step, grid, max_items(step)))

    async def async_load(self) -> None:
        """Take back what was saved before the last stop."""
        stored = await self._store.async_load() or {}
        tracks = stored.get("tracks")
        saved: dict[str, Any] = dict(tracks) if isinstance(tracks, dict) else {}
        self.gaps = merge(
            (start, end) for start, end in stored_steps(stored.get("gaps"))[0]
        )
        for box in self.boxes:
            found = saved.pop(box.mapping.subentry_id, None)
            if isinstance(found, dict):
                box.restore(found)
        self._others = {key: value for key, value in saved.items() if self._keep(key)}

    def add_gap(self, gap: Gap, oldest: float) -> None:
        """Remember a clock jump (forgetting gaps that end before `oldest`)."""
        self.gaps = merge([*(g for g in self.gaps if g[1] >= oldest), gap])
        self.save()

    def save(self) -> None:
        """Save soon (changes within a few seconds are written once)."""
        self._store.async_delay_save(self._data_to_save, SAVE_DELAY)

    async def async_save_now(self) -> None:
        """Save at once (on stop)."""
        await self._store.async_save(self._data_to_save())

    def _data_to_save(self) -> dict[str, Any]:
        tracks = dict(self._others)
        tracks.update({box.mapping.subentry_id: box.as_stored() for box in self.boxes})
        return {"tracks": tracks, "gaps": [list(gap) for gap in self.gaps]}
