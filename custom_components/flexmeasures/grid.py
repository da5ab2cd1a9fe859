"""The step grid of a FlexMeasures sensor: where its steps start and end.

Pure functions (no Home Assistant instance needed). Times are float seconds
since the epoch (UTC).

- Steps shorter than a day (PT1M, PT15M, PT1H, ...) lie on the UTC grid of the
  Unix epoch, which puts them on the usual clock boundaries.
- Steps of whole days (P1D, P7D) start at local midnight in the sensor's time
  zone, so a day can last 23 or 25 hours (or 23.5/24.5) across a DST change.
  Multi-day steps count whole days from 1970-01-01 on the local calendar.
- Any other step of a day or longer (e.g. PT36H) cannot start at every local
  midnight; it stays on the UTC grid.

A time zone is read from a file the first time (`ZoneInfo`): setup reads the
sensors' zones in an executor (`load_time_zones`), so that making a grid in
the event loop reads nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY: Final = 86400.0
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
# The time zones read (None: unknown here); kept, so never read again.
_ZONES: dict[str, ZoneInfo | None] = {}


class Grid(Protocol):
    """Where the steps of one sensor start and end."""

    @property
    def step(self) -> float:
        """The nominal step length in seconds."""

    @property
    def uniform(self) -> bool:
        """True when every step lasts exactly `step` seconds."""

    def floor(self, ts: float) -> float:
        """The start of the step that holds `ts`."""

    def next(self, start: float) -> float:
        """The end of the step that starts at `start` (a step start)."""

    def aware(self, ts: float) -> datetime:
        """A step start as an aware datetime, as FlexMeasures should be sent it."""


class UtcGrid:
    """Steps of `step` seconds on the UTC grid of the Unix epoch."""

    __slots__ = ("step",)
    uniform = True

    def __init__(self, step: float) -> None:
        """A grid of `step` seconds (positive)."""
        if step <= 0:
            raise ValueError("step must be positive")
        self.step = step

    def floor(self, ts: float) -> float:
        """The start of the step that holds `ts`."""
        return ts - (ts % self.step)

    def next(self, start: float) -> float:
        """The end of the step that starts at `start`."""
        return start + self.step

    def aware(self, ts: float) -> datetime:
        """In UTC: FlexMeasures floors a start on the wall clock it is given."""
        return datetime.fromtimestamp(ts, UTC)

    def __repr__(self) -> str:
        """For logs and test failures."""
        return f"UtcGrid({self.step:g})"


class LocalDayGrid:
    """Steps of `days` whole days, each starting at local midnight in `tz`."""

    __slots__ = ("days", "step", "tz")
    uniform = False

    def __init__(self, days: int, tz: ZoneInfo) -> None:
        """A grid of `days` local days (positive) in the time zone `tz`."""
        if days <= 0:
            raise ValueError("days must be positive")
        self.days = days
        self.step = days * DAY
        self.tz = tz

    def _midnight(self, day: date) -> float:
        # A midnight that does not exist (a DST jump at 00:00) is read with the
        # offset before the jump: the first instant of that date.
        return datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp()

    def floor(self, ts: float) -> float:
        """Local midnight starting the step (of `days` days) that holds `ts`."""
        local = datetime.fromtimestamp(ts, self.tz).date()
        ordinal = local.toordinal()
        ordinal -= (ordinal - _EPOCH_ORDINAL) % self.days
        return self._midnight(date.fromordinal(ordinal))

    def next(self, start: float) -> float:
        """Local midnight `days` days after the step start `start`."""
        local = datetime.fromtimestamp(start, self.tz).date()
        return self._midnight(local + timedelta(days=self.days))

    def aware(self, ts: float) -> datetime:
        """In the sensor's time zone, with its offset on that day."""
        return datetime.fromtimestamp(ts, self.tz)

    def __repr__(self) -> str:
        """For logs and test failures."""
        return f"LocalDayGrid({self.days}, {self.tz.key})"


def make_grid(step: float, timezone: str | None) -> Grid:
    """The grid of a sensor with a resolution of `step` seconds (> 0).

    A time zone that is unknown here falls back to the UTC grid.
    """
    if step >= DAY and step % DAY == 0 and timezone:
        # not loaded ahead (only tests): read here
        zone = _ZONES[timezone] if timezone in _ZONES else _read_zone(timezone)
        if zone is not None:
            return LocalDayGrid(int(step // DAY), zone)
    return UtcGrid(step)


def load_time_zones(timezones: Iterable[str | None]) -> None:
    """Read these time zones now (blocking: in an executor) for `make_grid`."""
    for timezone in timezones:
        if timezone and timezone not in _ZONES:
            _ZONES[timezone] = _read_zone(timezone)


def _read_zone(timezone: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(timezone)
    except ZoneInfoNotFoundError, ValueError:
        return None


def step_count(grid: Grid, start: float, end: float) -> int:
    """How many steps start in [start, end) (`start` a step start)."""
    if grid.uniform:
        return max(0, int((end - start + grid.step - 1e-6) // grid.step))
    count = 0
    while start < end:
        count += 1
        start = grid.next(start)
    return count
