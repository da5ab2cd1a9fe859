"""Energy meters: a running total whose change per step is what FlexMeasures gets.

An entity with `state_class` `total_increasing` or `total` in an energy unit is
a meter (`meter_mode`). `MeterAccumulator` (pure, O(1) per reading) keeps the
meter's increase within the open step, with resets handled as Home
Assistant's long-term statistics handle them:

- `total_increasing`: a drop below 90 % of the last reading is a new cycle
  that counts from zero; a smaller dip is kept as is (and comes back when the
  meter recovers), so the sum stays the meter's own difference. A negative
  reading is not one of such a meter, and is skipped (as the statistics do).
- `total` with `last_reset`: a new `last_reset` is a new cycle from zero;
- `total` without `last_reset` may go down (a net meter): its decreases are
  kept.

One glitch is not a reset: a `total_increasing` reading that jumps away (up,
or down like a reset) and is followed, within GLITCH_SECONDS and inside the
same step, by a reading that carries on from the one before the jump (no
lower, and less than 1/0.9 of it plus what it could have counted at
MAX_POWER_KW since that reading was last told: it may have counted while it
was unavailable or while the jump was held; the meter may be unavailable in
between or before, and may tell the jump again: the same value told again is
no new reading) is a garbled telegram or a device that reported 0 while it
rebooted. The step gets the
meter's change without it, not the size of the meter (which Home Assistant's
statistics would count). Unless a real reset, counting no more than
MAX_POWER_KW, tells the same readings: after a jump down, a new cycle counting
from 0 to the jump (since the reading before was last told) and on from there
(a replaced meter that counted while unavailable); after a jump up, a real
count up to it and a new cycle from 0 to the reading back. Then the readings
cannot tell a glitch from a reset, and the step is not sent: either energy
could be invented; unless the next reading shows the reading that made it so
to be the glitch (no real count reaches it so fast), and a reading after that
carries on from it (it is no glitch itself). After a take-back, the reading
that took it back is no glitch against the reading before the first: one
glitch at a time. A jump held longer, or whose step was already closed (and
sent), counts as the statistics count it; but a drop sent with its step (as a
reset from 0: a reboot's 0 counts nothing there) may still be taken back in
the next step, which then starts with the reading before it.

A step's energy is the increase between the readings held at its start and at
its end (a reading at a boundary is the next step's). When either is not
known (the meter was unavailable, Home Assistant was not running, the clock
jumped, or the step is the first one seen) the step is not emitted: an
increase across a gap is never spread over, or lumped into, the steps the gap
spans. A reading that ends a gap exactly on a step's start is that step's
start reading, as when the meter is first seen there, and the increase across
the gap is in no step; if it turns out to be a glitch (or may be one), the
start is not known after all (the reading before the gap says so, or the next
reading rising from it faster than MAX_POWER_KW within GLITCH_SECONDS, unless
that one is taken back).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from homeassistant.components.sensor import SensorStateClass
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.util import dt as dt_util

from .grid import Grid
from .measurements import Step, as_grid
from .units import is_energy_unit

ATTR_STATE_CLASS: Final = "state_class"
ATTR_LAST_RESET: Final = "last_reset"
# Home Assistant's statistics: a drop below 90 % of the last reading is a reset.
RESET_RATIO: Final = 0.9
# A reading taken back by the next one within this time is a glitch (see above).
GLITCH_SECONDS: Final = 300.0
# More than any home draws: a reset meter cannot count faster than this.
MAX_POWER_KW: Final = 1000.0


def _most_counted(seconds: float) -> float:
    """The most a meter counts (kWh) in `seconds`: at MAX_POWER_KW."""
    return MAX_POWER_KW * seconds / 3600


class MeterMode(StrEnum):
    """How a meter counts."""

    TOTAL_INCREASING = SensorStateClass.TOTAL_INCREASING
    TOTAL = SensorStateClass.TOTAL


def meter_mode(attributes: Mapping[str, Any]) -> MeterMode | None:
    """The meter kind of a state's attributes, or None for anything else."""
    state_class = attributes.get(ATTR_STATE_CLASS)
    if state_class not in (
        SensorStateClass.TOTAL_INCREASING,
        SensorStateClass.TOTAL,
    ) or not is_energy_unit(attributes.get(ATTR_UNIT_OF_MEASUREMENT)):
        return None
    return MeterMode(state_class)


def reset_instant(raw: Any) -> float | None:
    """A `last_reset` attribute as a UTC timestamp; None when it is not a time.

    Read as Home Assistant's statistics read it (`_last_reset_as_utc_isoformat`):
    an ISO string (or a datetime), a naive one in the default time zone.
    """
    if isinstance(raw, str):
        when = dt_util.parse_datetime(raw)
    elif isinstance(raw, datetime):
        when = raw
    else:
        return None
    return None if when is None else dt_util.as_utc(when).timestamp()


class MeterAccumulator:
    """The increase of a meter per step of a grid (readings in kWh)."""

    __slots__ = (
        "ambiguous",
        "before",
        "before_told",
        "confirming",
        "crossed",
        "doubted",
        "end",
        "energy",
        "energy_before",
        "grid",
        "increasing",
        "known",
        "last",
        "resumed",
        "since",
        "start",
        "told",
        "valid",
    )

    def __init__(
        self,
        grid: Grid | float,
        now: float,
        reading: float | None = None,
        *,
        increasing: bool = True,
    ) -> None:
        """Open the step holding `now`, with `reading` held from `now`.

        The step's start reading is known only when `now` is the step's start.
        """
        self.grid = as_grid(grid)
        self.start = self.grid.floor(now)
        self.end = self.grid.next(self.start)
        self.increasing = increasing
        if increasing and reading is not None and reading < 0:
            reading = None  # not a reading of a meter that only goes up
        self.energy = 0.0  # the increase since the open step started
        self.known = reading is not None and now == self.start  # its start reading
        self.last = reading  # the reading held now
        self.valid = reading is not None
        self.since = now  # when `last` came
        self.told = now  # when `last` was last told (it may be told again)
        self.before: float | None = None  # the reading before `last`
        self.before_told = now  # when `before` was last told
        self.doubted = False  # `last` made the start unknown (`_doubt_start`)
        # `last` made the step unknown: a glitch before it and a reset explained
        # it alike (`_undo_glitch`)
        self.ambiguous = False
        # `last` took back an ambiguous reading as the glitch: the step is known
        # again once a reading carries on from `last` (it may be a glitch too)
        self.confirming = False
        # `energy` before `last` came; None: `last` ended a gap on the start
        self.energy_before: float | None = 0.0
        self.resumed = False  # `last` ended a gap
        # `last`, a drop, came in the step before the open one (and was sent
        # with it: as a reset from 0, a reboot's 0 counts nothing there); it
        # may still be taken back in the open one
        self.crossed = False

    def add(
        self,
        ts: float,
        reading: float | None,
        out: list[Step],
        new_cycle: bool = False,
    ) -> None:
        """The meter reads `reading` at `ts` (None: a gap); closed steps to `out`.

        `new_cycle`: the meter restarted from zero (a new `last_reset`).
        """
        if ts >= self.end:
            self.close_until(ts, out)
        if reading is None:
            self.valid = False
            return
        if self.increasing and reading < 0:
            return  # not a reading of a meter that only goes up
        last = self.last
        if not self.known and not self.valid and ts == self.start:
            # back on the open step's start: the step counts from this reading
            # (as a fresh start there); the increase across the gap is in no
            # step, and the reading before the gap stays `before` for the
            # glitch rule (a reboot's 0 here is taken back against it)
            self.known = True
            self.before = last
            self.before_told = self.told
            self.energy_before = None
            self.energy = 0.0
        elif last is None:
            self.before = None
        elif reading == last and not new_cycle:
            # told again (a reboot's 0 repeated after a brief gap): no change,
            # and `before` and when `last` came stay the glitch rule's
            self.told = ts
            self.valid = True
            return
        else:
            if self.increasing:
                was_known = self.known
                # a new `last_reset` is a new cycle for sure: no glitch's take-back
                if not new_cycle and self._undo_glitch(ts, reading, last):
                    return
                self.crossed = False
                self.ambiguous = was_known and not self.known
                new_cycle = new_cycle or reading < RESET_RATIO * last
                if self.confirming and not new_cycle:
                    self.known = True  # it carries on from the take-back
                self.confirming = False
                self.doubted = not new_cycle and self._doubt_start(ts, reading, last)
            self.before = last
            self.before_told = self.told
            self.energy_before = self.energy
            self.energy += reading if new_cycle else reading - last
            self.resumed = not self.valid
        self.last = reading
        self.since = self.told = ts
        self.valid = True

    def _doubt_start(self, ts: float, reading: float, last: float) -> bool:
        """`last` ended a gap on the start, and `reading` rose from it too fast.

        No meter counts more than MAX_POWER_KW: one of the two is a glitch (a
        reboot's 0 at the start, whatever the meter counted while it was
        unavailable). The start is not known, unless `reading` is taken back
        next (then it was the glitch, and `last` the start).
        """
        held = ts - self.since
        if (
            self.energy_before is not None
            or not self.known
            or held > GLITCH_SECONDS
            or reading - last <= _most_counted(held)
        ):
            return False
        self.known = False
        return True

    def _undo_glitch(self, ts: float, reading: float, last: float) -> bool:
        """`last` was one bad reading that `reading` takes back: forget it.

        When a real reset explains the readings too (`_reset_explains`), they
        cannot tell which happened: the step is not known (False: `reading`
        is taken as it reads, in a step that will not be sent).
        """
        before = self.before
        if before is None:
            return False
        drop = last < RESET_RATIO * before
        # the meter may have counted since `before` was last told (while
        # unavailable, or while the glitch was held)
        limit = before / RESET_RATIO + _most_counted(ts - self.before_told)
        if (
            not before <= reading <= limit
            or not (drop or reading < RESET_RATIO * last)
            # it came in a step that is closed (and sent, unless `crossed`)
            or (self.since < self.start and not self.crossed)
            or ts - self.since > GLITCH_SECONDS
        ):
            return False
        if self._reset_explains(before, (last, reading), ts, drop=drop):
            self.known = self.doubted = False
            return False
        if self.crossed:
            # its step is closed: the open step started with `before` held
            # (unless a gap came before `last`: then it is not known)
            self.crossed = False
            self.known = self.known and not self.resumed
            self.energy_before = 0.0
            self.energy = reading - before
        elif self.energy_before is None:
            # `last` was the open step's start reading after a gap: the
            # reading held at the start is not known after all, unless
            # `reading` came at the same instant: it is the start reading
            self.known = ts == self.start
            self.energy = 0.0
        else:
            self.energy = self.energy_before + (reading - before)
            if self.doubted:  # `last` doubted the start: it was the glitch
                self.known = True
        # `last` made the step unknown (a glitch before it, or itself a reset)
        # and is the glitch, if no real count reaches `reading` from it so fast
        self.confirming = self.ambiguous and reading - last > _most_counted(
            ts - self.told
        )
        self.doubted = self.ambiguous = False
        # one glitch: the reading that took it back is no glitch against `before`
        self.before = None
        self.last = reading
        self.since = self.told = ts
        self.valid = True  # a gap may have come after the glitch
        return True

    def _reset_explains(
        self, before: float, told: tuple[float, float], ts: float, *, drop: bool
    ) -> bool:
        """A real reset, counting at most MAX_POWER_KW, tells `last`, `reading`.

        After a drop, `last` is the new cycle's count: from 0 after `before`
        was last told, then on to `reading`. After a jump up, `last` is a real
        count from `before`, and `reading` a new cycle's count from 0.
        """
        last, reading = told
        return (last if drop else last - before) <= _most_counted(
            self.since - self.before_told
        ) and (reading - last if drop else reading) <= _most_counted(ts - self.told)

    def close_until(self, now: float, out: list[Step]) -> None:
        """Close every step that ends at or before `now`, appending to `out`."""
        grid = self.grid
        while self.end <= now:
            if self.valid:
                if self.known:
                    out.append((self.start, self.energy))
                before, last = self.before, self.last
                # a drop its next step may take back (a reboot's 0)
                self.crossed = (
                    self.increasing
                    and before is not None
                    and last is not None
                    and last < RESET_RATIO * before
                    and self.start <= self.since >= self.end - GLITCH_SECONDS
                )
                self.known = True
                self.start = self.end
            else:
                # nothing is known until the next reading: skip to `now`
                self.known = self.crossed = False
                self.start = max(self.end, grid.floor(now))
            self.energy = 0.0
            # its step is closed: never taken back
            self.doubted = self.ambiguous = self.confirming = False
            self.end = grid.next(self.start)
