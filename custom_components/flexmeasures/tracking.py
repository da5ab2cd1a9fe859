"""Following one mapped entity's states into closed steps (and forecasts).

A `Track` keeps the open step of one mapping (the time-weighted mean of
`measurements.StepAccumulator`), the entity's unit, and the last forecast
seen. Closed steps are converted to the FlexMeasures sensor's unit and put
into the mapping's outbox; values that cannot be converted are rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import State

from .forecasts import forecast_attributes, parse_forecast, resample
from .measurements import Step, StepAccumulator
from .outbox import MappingOutbox
from .units import unit_converter

# (outbox, number of values, reason): values that will never be accepted.
type Reject = Callable[[MappingOutbox, int, str], None]


@dataclass(slots=True, eq=False)
class Track:
    """The open step, unit and forecast of one mapping."""

    box: MappingOutbox
    reject: Reject
    acc: StepAccumulator | None = None
    unit: str | None = None
    forecast_raw: Any = None
    forecast_sent: tuple[float, list[float | None]] | None = None
    closed: list[Step] = field(default_factory=list)

    @property
    def step(self) -> float:
        """The sensor's resolution in seconds (0: instantaneous)."""
        return self.box.step

    def follow(self, ts: float, value: float | None, state: State | None) -> bool:
        """The entity changed at `ts`; True when something was queued."""
        queued = False
        # a gap (unavailable, unknown) often has no unit: keep the last one
        if state is not None and value is not None:
            unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
            if unit != self.unit:
                if self.acc is not None:
                    queued = self._change_unit(self.acc, unit, ts)
                self.unit = unit
        if self.acc is not None:
            self.acc.add(ts, value, self.closed)
            # steps close here only when a boundary timer was late
            return self.queue_closed() or queued
        if value is not None:
            self.queue([(ts, value)])
            return True
        return queued

    def close_until(self, now: float) -> bool:
        """Close the steps that ended by `now`; True when something was queued."""
        if self.acc is None or self.acc.end > now:
            return False
        self.acc.close_until(now, self.closed)
        return self.queue_closed()

    def _change_unit(self, acc: StepAccumulator, unit: str | None, ts: float) -> bool:
        """The entity's unit changed at `ts`: keep the open step in one unit.

        Steps that ended before `ts` are queued in the old unit (True when
        any were); the open step's sums are converted to the new unit (all
        converters are affine), or forgotten when the units do not convert.
        """
        queued = False
        if ts >= acc.end:
            acc.close_until(ts, self.closed)
            queued = self.queue_closed()
        convert = unit_converter(self.unit, unit)
        if convert is None:
            acc.weighted = acc.covered = 0.0
            acc.value = None
            return queued
        offset = convert(0.0)
        scale = convert(1.0) - offset
        acc.weighted = scale * acc.weighted + offset * acc.covered
        if acc.value is not None:
            acc.value = convert(acc.value)
        return queued

    def queue_closed(self) -> bool:
        """Queue the steps that closing put in `closed`; False when there were none.

        Closing may find no ended step (e.g. after a restart inside the step
        that follows the last queued one).
        """
        if not self.closed:
            return False
        self.queue(self.closed)
        self.closed.clear()
        return True

    def queue(self, steps: Sequence[Step]) -> None:
        """Convert closed steps to the sensor's unit and put them in the outbox."""
        box = self.box
        sensor = box.mapping.sensor
        if box.step > 0:
            box.last_end = steps[-1][0] + box.step
        convert = unit_converter(self.unit, sensor.unit)
        if convert is None:
            self.reject(
                box,
                len(steps),
                f"unit {self.unit} cannot be converted to {sensor.unit}",
            )
            return
        box.add([(start, convert(value)) for start, value in steps])

    def check_forecast(self, state: State) -> bool:
        """Queue the forecast in the state's attributes if new; True when queued."""
        attribute = self.box.mapping.forecast_attribute
        if attribute is None:
            return False
        raw = tuple(
            state.attributes.get(name) for name in forecast_attributes(attribute)
        )
        if raw == self.forecast_raw:
            return False
        self.forecast_raw = raw
        if self.step <= 0:
            return False
        resampled = resample(parse_forecast(state.attributes, attribute), self.step)
        if resampled is None or resampled == self.forecast_sent:
            return False
        convert = unit_converter(
            state.attributes.get(ATTR_UNIT_OF_MEASUREMENT),
            self.box.mapping.sensor.unit,
        )
        if convert is None:
            self.reject(
                self.box, len(resampled[1]), "forecast unit cannot be converted"
            )
            return False
        start, values = resampled
        self.forecast_sent = resampled
        self.box.forecast_pending = (
            start,
            [None if value is None else convert(value) for value in values],
        )
        return True
