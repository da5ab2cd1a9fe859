"""Following one mapped entity's states into closed steps (and forecasts).

A `Track` keeps the open step of one mapping on its sensor's grid, the
entity's unit, and the last forecast seen. Each state is converted when it
comes, with the unit it has then:
- a power (or any other) entity: to the sensor's unit, then the time-weighted
  mean per step (`measurements.StepAccumulator`);
- an energy meter (`meters.meter_mode`): to kWh, then its change per step
  (`meters.MeterAccumulator`), sent as energy per step or, to a power sensor,
  as mean power over the step.
A value in a unit that does not convert is a gap, and the steps it was held
in are counted as rejected. Closed steps go to the mapping's outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import isfinite
from typing import Any, Final, cast

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, UnitOfEnergy
from homeassistant.core import State

from .forecasts import forecast_attributes, parse_forecast, resample, window
from .grid import Grid, step_count
from .measurements import Step, StepAccumulator, parse_value
from .meters import (
    ATTR_LAST_RESET,
    ATTR_STATE_CLASS,
    MeterAccumulator,
    MeterMode,
    meter_mode,
    reset_instant,
)
from .outbox import MappingOutbox, PendingForecast
from .units import Converter, energy_factor_to_kwh, per_step_converter, unit_converter

# (outbox, number of values, reason): values that will never be accepted.
type Reject = Callable[[MappingOutbox, int, str], None]

_UNSET: Final = object()
KWH: Final = UnitOfEnergy.KILO_WATT_HOUR


@dataclass(slots=True, eq=False)
class Track:
    """The open step, unit and forecast of one mapping."""

    box: MappingOutbox
    reject: Reject
    acc: StepAccumulator | MeterAccumulator | None = None
    mode: MeterMode | None = None  # a meter, or None: time-weighted means
    unit: Any = _UNSET  # the entity's unit (of its last valid state)
    state_class: Any = _UNSET
    convert: Converter | None = None  # entity unit -> sensor unit (or kWh)
    last_reset: float | None = None  # a `total` meter's cycle start (UTC instant)
    last_reset_raw: Any = None  # the attribute it was read from
    new_cycle: bool = False
    hold_until: float | None = None  # the clock is behind what was queued
    switched_at: float | None = None  # no step before: the kind switched in it
    bad_since: float | None = None  # holding a value in a unit that won't convert
    bad_unit: str | None = None
    bad_counted: float | None = None  # start of the last step counted rejected
    forecast_raw: Any = None
    forecast_sent: list[Step] | None = None
    closed: list[Step] = field(default_factory=list)

    @property
    def step(self) -> float:
        """The sensor's resolution in seconds (0: instantaneous)."""
        return self.box.step

    @property
    def grid(self) -> Grid | None:
        """The sensor's step grid (None: instantaneous)."""
        return self.box.grid

    # ------------------------------------------------------------ states

    def open(self, now: float, state: State | None) -> None:
        """Start (again) at `now`, with `state` holding from then.

        Never before the end of what was queued: while the clock is behind it
        (set back, or not set yet after a boot), the steps up to there were
        queued (and maybe sent) already; until the clock gets there nothing is
        measured, and the latest state is what holds at that end.
        """
        value = self._sample(now, state)
        self.closed.clear()
        self.switched_at = None  # no step before `now` is measured anew
        if (grid := self.grid) is None:
            return
        last_end = self.box.last_end
        if last_end is not None and now < last_end:
            self.hold_until = last_end
            self.acc = self._new_acc(grid, last_end, value)
        else:
            self.hold_until = None
            self.acc = self._new_acc(grid, now, value)

    def _held(self, ts: float, value: float | None) -> bool:
        """Before the end of what was queued: `value` holds from there on."""
        hold_until = self.hold_until
        if hold_until is None or self.acc is None:
            return False
        if ts >= hold_until:
            self.hold_until = None
            return False
        acc = self.acc
        if (
            isinstance(acc, MeterAccumulator)
            and acc.increasing
            and value is not None
            and value < 0
        ):
            return True  # not a reading of such a meter: skipped, as live
        self.acc = self._new_acc(acc.grid, hold_until, value)
        return True

    def _new_acc(
        self, grid: Grid, now: float, value: float | None
    ) -> StepAccumulator | MeterAccumulator:
        self.box.per_step = self.mode is not None
        if self.mode is None:
            return StepAccumulator(grid, now, value)
        return MeterAccumulator(
            grid, now, value, increasing=self.mode is MeterMode.TOTAL_INCREASING
        )

    def follow(self, ts: float, state: State | None) -> bool:
        """The entity changed at `ts`; True when something was queued."""
        value = self._sample(ts, state)
        acc = self.acc
        if acc is None:  # instantaneous: every valid sample
            if value is not None:
                self.queue([(ts, value)])
                return True
            return False
        if self._held(ts, value):
            return False
        # `_held` may have started a fresh one (never None)
        acc = cast("StepAccumulator | MeterAccumulator", self.acc)
        if isinstance(acc, MeterAccumulator):
            acc.add(ts, value, self.closed, self.new_cycle)
        else:
            acc.add(ts, value, self.closed)
        return self.queue_closed()

    def gap(self, start: float) -> bool:
        """Nothing is known from `start` on (until the next state)."""
        if self.acc is None:
            return False
        self._end_bad(start)
        if self._held(start, None):
            return False
        self.acc.add(start, None, self.closed)
        return self.queue_closed()

    def _sample(self, ts: float, state: State | None) -> float | None:
        """A state's value, converted; None for a gap (or a unit that won't do)."""
        value = None if state is None else parse_value(state.state)
        if value is None or state is None:
            # a gap (unavailable, unknown) often has no unit: keep the last one
            if self.bad_since is not None:
                self._end_bad(ts)
            return None
        attributes = state.attributes
        unit = attributes.get(ATTR_UNIT_OF_MEASUREMENT)
        state_class = attributes.get(ATTR_STATE_CLASS)
        if unit != self.unit or state_class != self.state_class:
            self._set_unit(ts, unit, attributes)
        convert = self.convert
        if convert is None:
            if self.bad_since is None:
                self.bad_since = ts
                self.bad_unit = unit
            return None
        if self.bad_since is not None:
            self._end_bad(ts)
        if self.mode is MeterMode.TOTAL:
            self.new_cycle = self._new_reset(attributes.get(ATTR_LAST_RESET))
        return convert(value)

    def _set_unit(self, ts: float, unit: str | None, attributes: Any) -> None:
        """The entity's unit is `unit` from `ts` on: how to convert, meter or not."""
        self.unit = unit
        self.state_class = attributes.get(ATTR_STATE_CLASS)
        mode = meter_mode(attributes) if self.grid is not None else None
        if mode is not self.mode:
            if self.acc is not None:  # a switch of kind: queue, then a fresh step
                self.acc.close_until(ts, self.closed)
                self.queue_closed()
            self.mode = mode
            self.new_cycle = False
            self.last_reset = self.last_reset_raw = None
            self._new_reset(attributes.get(ATTR_LAST_RESET))
            if self.acc is not None:
                # the step it switched in was measured as both: never sent
                grid = self.acc.grid
                start = grid.floor(ts)
                self.switched_at = start if start == ts else grid.next(start)
                self.acc = self._new_acc(grid, ts, None)
        if mode is None:
            self.convert = unit_converter(unit, self.box.mapping.sensor.unit)
        else:
            factor = energy_factor_to_kwh(unit)
            self.convert = None if factor is None else (lambda value: value * factor)

    def _new_reset(self, raw: Any) -> bool:
        """Whether a state's `last_reset` starts a new cycle (and remember it).

        As Home Assistant's statistics read it: the UTC instant it means (the
        same time in another offset is the same cycle); a missing or invalid
        one is ignored and changes nothing.
        """
        if raw is None or raw == self.last_reset_raw:
            return False
        if (reset := reset_instant(raw)) is None:
            return False
        self.last_reset_raw = raw
        if reset == self.last_reset:
            return False
        self.last_reset = reset
        return True

    def close_until(self, now: float) -> bool:
        """Close the steps that ended by `now`; True when something was queued."""
        if self.bad_since is not None:
            self._end_bad(now)
            self.bad_since = now
        if self.acc is None or self.acc.end > now:
            return False
        self.acc.close_until(now, self.closed)
        return self.queue_closed()

    def _end_bad(self, until: float) -> None:
        """Count the steps a value in a unit that won't convert was held in."""
        since = self.bad_since
        self.bad_since = None
        if since is None or until <= since:
            return
        reason = (
            f"unit {self.bad_unit} cannot be converted to "
            f"{self.box.mapping.sensor.unit}"
        )
        grid = self.grid
        if grid is None:
            self.reject(self.box, 1, reason)
            return
        first = grid.floor(since)
        if self.bad_counted is not None and first <= self.bad_counted:
            first = grid.next(self.bad_counted)
        if (count := step_count(grid, first, until)) > 0:
            self.bad_counted = grid.floor(until - 1e-6)
            self.reject(self.box, count, reason)

    # ------------------------------------------------------------ queueing

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
        """Put closed steps (in the sensor's unit; a meter's in kWh) in the outbox.

        A value that is not finite (a huge state whose mean, energy or unit
        conversion overflows) is a gap: FlexMeasures would get it as null.
        """
        box = self.box
        grid = self.grid
        if grid is not None:
            if (last_end := box.last_end) is not None and steps[0][0] < last_end:
                # queued (and maybe sent) before: never made again
                steps = [step for step in steps if step[0] >= last_end]
                if not steps:
                    return
            if (switched := self.switched_at) is not None and steps[0][0] < switched:
                steps = [step for step in steps if step[0] >= switched]
                if not steps:
                    return
            box.last_end = grid.next(steps[-1][0])
        if self.mode is not None and grid is not None:
            unit = box.mapping.sensor.unit
            converted: list[Step] = []
            for start, energy in steps:
                convert = per_step_converter(KWH, unit, grid.next(start) - start)
                if convert is None:
                    self.reject(
                        box, len(steps), f"a meter's energy cannot be sent in {unit}"
                    )
                    return
                converted.append((start, convert(energy)))
            steps = converted
        box.add([step for step in steps if isfinite(step[1])])

    # ------------------------------------------------------------ forecasts

    def check_forecast(self, state: State, now: float) -> bool:
        """Queue the forecast in the state's attributes if new; True when queued.

        Its `prior` is when the state was last updated: when it became known.
        Only the steps from the one before `now` to 7 days ahead are sent.
        """
        attribute = self.box.mapping.forecast_attribute
        if attribute is None:
            return False
        raw = tuple(
            state.attributes.get(name) for name in forecast_attributes(attribute)
        )
        if raw == self.forecast_raw:
            return False
        self.forecast_raw = raw
        if (grid := self.grid) is None:
            return False
        points = parse_forecast(state.attributes, attribute)
        resampled = resample(points, grid, window(grid, now))
        if not resampled or resampled == self.forecast_sent:
            return False
        convert = unit_converter(
            state.attributes.get(ATTR_UNIT_OF_MEASUREMENT),
            self.box.mapping.sensor.unit,
        )
        if convert is None:
            self.reject(self.box, len(resampled), "forecast unit cannot be converted")
            return False
        self.forecast_sent = resampled
        items = [(start, convert(value)) for start, value in resampled]
        items = [item for item in items if isfinite(item[1])]
        return bool(items) and self.box.add_forecast(
            PendingForecast(items, state.last_updated)
        )
