"""The outbox of measurements waiting for FlexMeasures, persisted with `Store`.

One `MappingOutbox` per measurement mapping: its closed steps (already in the
FlexMeasures sensor's unit), a pending forecast, and what was delivered,
rejected or dropped. `Outbox` loads and saves them all for one config entry.
Delivery lives in `delivery.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .api import Sensor
from .const import DOMAIN, LOGGER
from .measurements import Step

STORAGE_VERSION: Final = 1
SAVE_DELAY: Final = 5.0
# The outbox keeps 7 days of steps (and at most MAX_OUTBOX values).
OUTBOX_SECONDS: Final = 7 * 86400.0
MAX_OUTBOX: Final = 10_000


class MeasurementMapping(NamedTuple):
    """One Home Assistant entity sent to one FlexMeasures sensor."""

    subentry_id: str
    entity_id: str
    sensor: Sensor
    forecast_attribute: str | None = None


@dataclass(slots=True, eq=False)
class MappingOutbox:
    """What waits to be sent for one mapping, and what became of the rest."""

    mapping: MeasurementMapping
    step: float  # seconds; 0 for an instantaneous sensor
    max_items: int
    items: list[Step] = field(default_factory=list)
    last_end: float | None = None  # end of the last step queued
    delivered_end: float | None = None  # end of the last step delivered
    rejected: int = 0
    dropped: int = 0
    rejection_logged: bool = False
    drop_warned: bool = False
    issue_raised: bool = False
    # A forecast to send (start, values in the sensor's unit; None = no value).
    forecast_pending: tuple[float, list[float | None]] | None = None

    def add(self, steps: Sequence[Step]) -> None:
        """Queue closed steps; the oldest go when the outbox is full (logged once)."""
        self.items.extend(steps)
        excess = len(self.items) - self.max_items
        if excess <= 0:
            return
        del self.items[:excess]
        self.dropped += excess
        if not self.drop_warned:
            self.drop_warned = True
            LOGGER.warning(
                "Outbox for %s -> sensor %s is full (%d); dropping the oldest "
                "measurements",
                self.mapping.entity_id,
                self.mapping.sensor.id,
                self.max_items,
            )

    def as_stored(self) -> dict[str, Any]:
        """What is saved for this mapping."""
        return {
            "sensor_id": self.mapping.sensor.id,
            "outbox": [list(item) for item in self.items],
            "last_end": self.last_end,
            "delivered_end": self.delivered_end,
            "rejected": self.rejected,
            "dropped": self.dropped,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Take back what was saved (for the same FlexMeasures sensor only)."""
        if saved.get("sensor_id") != self.mapping.sensor.id:
            return
        self.items = [(float(s), float(v)) for s, v in saved.get("outbox", [])]
        self.last_end = saved.get("last_end")
        self.delivered_end = saved.get("delivered_end")
        self.rejected = int(saved.get("rejected", 0))
        self.dropped = int(saved.get("dropped", 0))


def outbox_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """The Store that keeps an entry's outbox across restarts."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.outbox.{entry_id}")


def max_items(step: float) -> int:
    """How many values one mapping's outbox keeps."""
    if step <= 0:
        return MAX_OUTBOX
    return max(1, min(MAX_OUTBOX, int(OUTBOX_SECONDS // step)))


class Outbox:
    """Every mapping's outbox of one config entry, loaded and saved together."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, mappings: Sequence[MeasurementMapping]
    ) -> None:
        """One empty outbox per mapping; `async_load` fills them."""
        self._store = outbox_store(hass, entry_id)
        self.boxes: list[MappingOutbox] = []
        for mapping in mappings:
            step = max(mapping.sensor.event_resolution.total_seconds(), 0.0)
            self.boxes.append(MappingOutbox(mapping, step, max_items(step)))

    async def async_load(self) -> None:
        """Take back what was saved before the last stop."""
        stored = await self._store.async_load() or {}
        saved: dict[str, Any] = stored.get("tracks", {})
        for box in self.boxes:
            if found := saved.get(box.mapping.subentry_id):
                box.restore(found)

    def save(self) -> None:
        """Save soon (changes within a few seconds are written once)."""
        self._store.async_delay_save(self._data_to_save, SAVE_DELAY)

    async def async_save_now(self) -> None:
        """Save at once (on stop)."""
        await self._store.async_save(self._data_to_save())

    def _data_to_save(self) -> dict[str, Any]:
        return {
            "tracks": {box.mapping.subentry_id: box.as_stored() for box in self.boxes}
        }
