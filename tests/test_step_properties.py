"""Property-based tests of the step maths (hypothesis, bounded and fast)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from math import inf
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.core import State
from hypothesis import example, given, settings, strategies as st
import pytest

from custom_components.flexmeasures.api import Sensor
from custom_components.flexmeasures.grid import LocalDayGrid, UtcGrid, make_grid
from custom_components.flexmeasures.measurements import Step, runs
from custom_components.flexmeasures.meters import (
    MAX_POWER_KW,
    RESET_RATIO,
    MeterAccumulator,
)
from custom_components.flexmeasures.outbox import MappingOutbox, MeasurementMapping
from custom_components.flexmeasures.tracking import Track

from .meter_truth import a_reset_tells

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()
Q = 900.0
FAST = settings(max_examples=150, deadline=None)
TO_KW = {"W": 0.001, "kW": 1.0, "MW": 1000.0}

# (seconds after the previous state, value or None for a gap, unit)
samples = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=1800, allow_nan=False),
        st.one_of(
            st.none(),
            st.floats(min_value=-5000, max_value=5000, allow_nan=False).map(
                lambda v: round(v, 3)
            ),
        ),
        st.sampled_from(sorted(TO_KW)),
    ),
    min_size=1,
    max_size=40,
)


def _track(unit: str = "kW", step: float = Q) -> Track:
    sensor = Sensor(8, "p", unit, timedelta(seconds=step), "Europe/Amsterdam", 1)
    mapping = MeasurementMapping("sub", "sensor.p", sensor)
    box = MappingOutbox(mapping, step, UtcGrid(step), 100_000)
    return Track(box, lambda *_: None)


def _state(value: float | None, unit: str, **attributes: Any) -> State:
    return State(
        "sensor.p",
        "unavailable" if value is None else str(value),
        {"unit_of_measurement": unit, **attributes},
    )


@FAST
@given(samples, st.floats(min_value=0, max_value=Q, allow_nan=False))
def test_a_power_step_is_the_exact_time_weighted_mean_within_its_values(
    events: list[tuple[float, float | None, str]], offset: float
) -> None:
    track = _track()
    times: list[float] = []
    held: list[float | None] = []  # in kW
    now = T0 + offset
    for index, (delta, value, unit) in enumerate(events):
        now += delta
        state = _state(value, unit)
        if index == 0:
            track.open(now, state)
        else:
            track.follow(now, state)
        times.append(now)
        held.append(None if value is None else value * TO_KW[unit])
    end = now + 2 * Q
    track.close_until(end)
    closed = dict(track.box.items)
    times.append(end)
    first = UtcGrid(Q).floor(times[0])
    start = first
    while start + Q <= end:
        weighted = covered = 0.0
        values: list[float] = []
        for (since, until), value in zip(pairwise(times), held, strict=False):
            overlap = min(until, start + Q) - max(since, start)
            if value is not None and overlap > 0:
                weighted += value * overlap
                covered += overlap
                values.append(value)
        if covered > 0:
            mean = closed.pop(start)
            assert mean == pytest.approx(weighted / covered, rel=1e-9, abs=1e-9)
            # float sums: a mean may pass its values by their rounding
            slack = 1e-9 * max(1.0, *(abs(value) for value in values))
            assert min(values) - slack <= mean <= max(values) + slack
        else:
            assert start not in closed
        start += Q
    assert closed == {}  # nothing else was emitted


# (seconds after the previous reading, consumption since, a reset, a gap before)
readings = st.lists(
    st.tuples(
        st.floats(min_value=1, max_value=1500, allow_nan=False),
        st.floats(min_value=0, max_value=3, allow_nan=False).map(lambda v: round(v, 4)),
        st.booleans(),
        st.booleans(),
    ),
    min_size=1,
    max_size=50,
)


@FAST
@given(readings, st.floats(min_value=0, max_value=100, allow_nan=False), st.booleans())
# a gap that starts on a boundary, and one that ends on it (found by hypothesis)
@example([(600.0, 0.0, False, False), (600.0, 0.0, False, True)], 0.0, True)
@example([(300.0, 0.0, False, False), (600.0, 0.0, False, True)], 0.0, True)
def test_meter_step_energies_add_up_to_the_meters_increase(
    events: list[tuple[float, float, bool, bool]], first: float, with_gaps: bool
) -> None:
    grid = UtcGrid(Q)
    acc = MeterAccumulator(grid, T0, first)
    out: list[Step] = []
    reading = first
    now = T0
    increments: list[tuple[float, float]] = []  # (time, increase counted there)
    gaps: list[tuple[float, float]] = []  # (from, to): no reading known
    for delta, used, reset, gap in events:
        if with_gaps and gap:
            acc.add(now + delta / 2, None, out)
            gaps.append((now + delta / 2, now + delta))
        now += delta
        # a reset of a meter that read at least 10 kWh: its next readings (up to
        # 3 kWh more each) never look like the reading before it came back,
        # which would be a glitch (tested below)
        if reset and reading >= 10:
            new = min(used, RESET_RATIO * reading * 0.99)  # counted from zero
            increments.append((now, new))
        else:
            new = reading + used
            increments.append((now, used))
        reading = new
        acc.add(now, reading, out)
    end = grid.floor(now) + Q
    acc.close_until(end, out)
    emitted = dict(out)

    # A step's end reading is the one held up to its end: a reading (or a
    # gap) that comes at the boundary itself is the next step's. A reading
    # that ends a gap exactly on a step's start is that step's start reading
    # (as a fresh start there), without the increase across the gap.
    def unknown_at_end(boundary: float) -> bool:
        return any(since < boundary <= until for since, until in gaps)

    def unknown_at_start(boundary: float) -> bool:
        return any(since < boundary < until for since, until in gaps)

    def ends_a_gap(when: float) -> bool:
        return any(until == when for _, until in gaps)

    start = T0
    total = 0.0
    while start < end:
        inside = sum(
            inc
            for when, inc in increments
            if start <= when < start + Q and not (when == start and ends_a_gap(when))
        )
        if unknown_at_start(start) or unknown_at_end(start + Q):
            assert start not in emitted
        else:
            assert emitted.pop(start) == pytest.approx(inside, abs=1e-7)
            total += inside
        start += Q
    assert emitted == {}
    if not gaps:  # over a window without gaps: all of the meter's increase
        assert total == pytest.approx(sum(inc for _, inc in increments), abs=1e-6)


# (seconds after the previous reading, consumption since)
steady = st.lists(
    st.tuples(
        st.floats(min_value=20, max_value=1500, allow_nan=False),
        st.floats(min_value=0, max_value=3, allow_nan=False).map(lambda v: round(v, 4)),
    ),
    min_size=2,
    max_size=30,
)


@FAST
@given(
    steady,
    st.floats(min_value=200, max_value=1e6, allow_nan=False),
    st.integers(min_value=1, max_value=29),
    st.sampled_from([0.0, 0.5, 10.0, 1000.0]),
    st.floats(min_value=0.5, max_value=10, allow_nan=False),
)
def test_a_brief_glitch_of_a_meter_changes_no_step(
    events: list[tuple[float, float]],
    first: float,
    where: int,
    factor: float,
    held: float,
) -> None:
    """One garbled reading (a spike, or 0) taken back within seconds is no reset."""
    grid = UtcGrid(Q)
    clean = MeterAccumulator(grid, T0, first)
    glitched = MeterAccumulator(grid, T0, first)
    clean_out: list[Step] = []
    glitched_out: list[Step] = []
    reading, now = first, T0
    for index, (delta, used) in enumerate(events):
        now += delta
        reading += used
        if index == where % len(events) and grid.floor(now - held) == grid.floor(now):
            glitched.add(now - held, reading * factor, glitched_out)
        clean.add(now, reading, clean_out)
        glitched.add(now, reading, glitched_out)
    end = grid.floor(now) + Q
    clean.close_until(end, clean_out)
    glitched.close_until(end, glitched_out)
    assert [start for start, _ in glitched_out] == [start for start, _ in clean_out]
    assert [energy for _, energy in glitched_out] == pytest.approx(
        [energy for _, energy in clean_out]
    )


ZONES = [
    "Europe/Amsterdam",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/Santiago",  # DST changes at midnight
    "Asia/Kolkata",
    "Pacific/Apia",  # skipped a whole day in 2011
]
instants = st.floats(
    min_value=datetime(2010, 1, 1, tzinfo=UTC).timestamp(),
    max_value=datetime(2035, 1, 1, tzinfo=UTC).timestamp(),
    allow_nan=False,
)


@settings(max_examples=300, deadline=None)
@given(instants, st.sampled_from(ZONES), st.sampled_from([1, 1, 2, 7]))
def test_local_day_steps_start_at_local_midnight_across_dst(
    ts: float, zone: str, days: int
) -> None:
    tz = ZoneInfo(zone)
    grid = make_grid(days * 86400.0, zone)
    assert isinstance(grid, LocalDayGrid)
    start = grid.floor(ts)
    end = grid.next(start)
    assert start <= ts < end
    assert grid.floor(start) == start
    assert grid.floor(end) == end  # consecutive steps tile the time line
    local_start = datetime.fromtimestamp(start, tz)
    # midnight, or the first instant of a day whose midnight does not exist
    first_instant = datetime.fromtimestamp(start - 1, tz).date() != local_start.date()
    assert (local_start.hour, local_start.minute) == (0, 0) or first_instant
    hours = (end - start) / 3600
    # Samoa skipped 30 December 2011: a step holding it is a day shorter
    skipped = zone == "Pacific/Apia" and hours == 24 * (days - 1)
    assert abs(hours - 24 * days) <= 1 or skipped
    if days == 1:
        assert datetime.fromtimestamp(end, tz).date() > local_start.date()
    assert grid.aware(start).utcoffset() == local_start.utcoffset()


@FAST
@given(instants, st.sampled_from(ZONES), st.integers(min_value=1, max_value=60))
def test_runs_of_local_days_hold_only_equal_days(
    ts: float, zone: str, count: int
) -> None:
    grid = make_grid(86400.0, zone)
    steps: list[Step] = []
    start = grid.floor(ts)
    for index in range(count):
        steps.append((start, float(index)))
        start = grid.next(start)
    result = runs(steps, grid, 10)
    assert [item for run in result for item in run] == steps
    for run in result:
        assert len(run) <= 10
        if len(run) > 1:  # FlexMeasures spreads them evenly: all 24 h long
            for item in run:
                assert grid.next(item[0]) - item[0] == 86400.0


def test_short_steps_and_other_long_steps_stay_on_the_utc_grid() -> None:
    assert isinstance(make_grid(3600.0, "Asia/Kolkata"), UtcGrid)
    assert isinstance(make_grid(1.5 * 86400, "Europe/Amsterdam"), UtcGrid)
    assert isinstance(make_grid(86400.0, "Not/AZone"), UtcGrid)
    assert isinstance(make_grid(86400.0, ""), UtcGrid)
    with pytest.raises(ValueError, match="positive"):
        UtcGrid(0)
    with pytest.raises(ValueError, match="positive"):
        LocalDayGrid(0, ZoneInfo("UTC"))
    assert repr(UtcGrid(900)) == "UtcGrid(900)"
    assert repr(LocalDayGrid(1, ZoneInfo("UTC"))) == "LocalDayGrid(1, UTC)"


# One thing the meter does, `when` it does it (seconds after the previous
# event, or None: on the next step boundary), maybe unavailable half-way to it.
#   ("read", used): its count goes up by `used`;
#   ("reset", used): a new cycle, counting `used` from zero;
#   ("gap", _): unavailable;
#   ("negative", used): a garbled negative telegram;
#   ("glitch", used): a reboot's 0, a small value or a spike, taken back
#       seconds later (in the same step) by its count plus `used`, maybe with a
#       gap in between (the kind carries which: "zero", "small", "spike", and
#       "+gap").
KINDS = [
    "read",
    "read",
    "reset",
    "gap",
    "negative",
    "glitch zero",
    "glitch small",
    "glitch spike",
    "glitch zero +gap",
    "glitch spike +gap",
]
meter_events = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.one_of(
            st.sampled_from([None, None, None, 1.0, 100.0, Q / 2, Q]),
            st.floats(min_value=1, max_value=1500, allow_nan=False),
        ),
        st.floats(min_value=0, max_value=3, allow_nan=False).map(lambda v: round(v, 4)),
        st.floats(min_value=0.01, max_value=0.99, allow_nan=False),
        st.booleans(),  # unavailable half-way before it
    ),
    min_size=1,
    max_size=40,
)


class MeterModel:
    """What a meter really counted per step, and the steps nobody can know.

    Independent of MeterAccumulator: the real readings, and the gaps between
    them (from the first unavailable state after a real reading to the next
    thing the meter says). A real reading's increase belongs to the step it
    comes in, unless it ends a gap that began before that step: then it
    happened in the gap, in no step. A step is unknown when a gap covers its
    start (a reading exactly on it ends the gap: known) or its end (a reading
    exactly on the end is the next step's: unknown), or when the meter said a
    glitch exactly on its start after a gap (the reading held there is not
    known), or a glitch that a real reset would have told as well (which it
    was, the readings cannot tell).
    """

    def __init__(self, grid: UtcGrid, now: float, first: float | None) -> None:
        self.grid = grid
        self.reading = first  # the real count held (None: never known)
        self.told = now  # when it was told last
        # nothing is known before the first reading
        self.gap_since = None if first is not None else -inf
        self.gaps = [] if first is None else [(-inf, now)]
        self.increase: dict[float, float] = {}  # step start -> real increase
        self.lost: set[float] = set()

    def gap(self, ts: float) -> None:
        if self.gap_since is None:
            self.gap_since = ts

    def said(self, ts: float) -> float | None:
        """The meter said something at `ts`: the gap before (if any) ends.

        The start of the gap it ended, when it began before this step.
        """
        since = self.gap_since
        self.gap_since = None
        if since is None:
            return None
        self.gaps.append((since, ts))
        return since if since < self.grid.floor(ts) else None

    def count(
        self, ts: float, reading: float, increase: float, *, across: bool = False
    ) -> None:
        """A real reading, `increase` more than the count held.

        `across`: the increase is from across a gap that began before its step.
        """
        across = self.said(ts) is not None or across or self.reading is None
        if not across:
            step = self.grid.floor(ts)
            self.increase[step] = self.increase.get(step, 0.0) + increase
        self.reading = reading
        self.told = ts

    def unknown(self, start: float, end: float) -> bool:
        gaps = [*self.gaps]
        if self.gap_since is not None:
            gaps.append((self.gap_since, inf))
        return start in self.lost or any(
            since < start < until or since < end <= until for since, until in gaps
        )


def _glitch(kind: str, reading: float, back: float, share: float) -> float:
    """The value a glitch of `kind` shows, for a meter at `reading`."""
    if "zero" in kind:
        return 0.0
    if "small" in kind:
        return share * RESET_RATIO * reading * 0.99  # looks like a reset
    return back / RESET_RATIO * (1 + share) + 1  # a spike


@settings(max_examples=400, deadline=None)
@given(
    meter_events,
    st.one_of(
        st.floats(min_value=0, max_value=20, allow_nan=False),
        st.floats(min_value=30, max_value=1e6, allow_nan=False),
    ),
    st.sampled_from(["reading", "unavailable", "negative"]),
    st.sampled_from([0.0, 0.5, Q - 1]),
)
# the review's cases: back from a gap on a step's start with a reading, with a
# reboot's 0, and with a reboot's 0 then unavailable for seconds
@example([("read", None, 2.0, 0.5, True)], 10.0, "reading", 0.0)
@example([("glitch zero", None, 0.1, 0.5, True)], 100.0, "reading", 0.0)
@example([("glitch zero +gap", 100.0, 0.1, 0.5, False)], 100.0, "reading", 0.0)
# a "glitch" on a step start that a real reset tells as well (30 kWh, 13.365
# 900 s later, 30 after 105 s more): which it was is not known, nor the step
@example(
    [("read", None, 0.0, 0.5, False), ("glitch small", None, 0.0, 0.5, False)],
    30.0,
    "reading",
    0.0,
)
@example(
    [("negative", 10.0, 0, 0.5, False), ("read", Q, 0, 0.5, False)],
    0.0,
    "unavailable",
    0.0,
)
def test_a_meter_sends_exactly_what_it_counted_in_steps_known_at_both_ends(
    events: list[tuple[str, float | None, float, float, bool]],
    base: float,
    seen: str,
    offset: float,
) -> None:
    """Gaps, resets, reboots and garbage, also exactly on step boundaries.

    Every step sent is the meter's real increase within it (so never more:
    nothing of a glitch or a reboot, nothing from across a gap); every step
    whose two ends are known is sent; no other step is.
    """
    grid = UtcGrid(Q)
    now = T0 + offset
    # the meter counts from `base`; when first seen it reads that, is
    # unavailable, or says something negative (skipped)
    first = {"reading": base, "unavailable": None, "negative": -1.0}[seen]
    acc = MeterAccumulator(grid, now, first)
    model = MeterModel(grid, now, base if seen == "reading" else None)
    out: list[Step] = []

    def at(when: float | None) -> float:
        return grid.next(grid.floor(now)) if when is None else now + when

    for drawn, when, used, share, gap_before in events:
        reading = model.reading
        then, now = now, at(when)
        if gap_before:
            acc.add((then + now) / 2, None, out)
            model.gap((then + now) / 2)
        room = grid.next(grid.floor(now)) - now  # to the step's end
        kind = drawn
        if drawn.startswith("glitch") and (reading is None or reading < 30 or room < 2):
            # a glitch is told from a reset by the count before it, and taken
            # back in its own step
            kind = "read"
        if drawn == "reset" and (reading is None or reading < 10):
            kind = "read"
        if kind == "gap":
            acc.add(now, None, out)
            model.gap(now)
        elif kind == "negative":
            acc.add(now, -1 - used, out)  # says nothing: skipped
        elif kind == "reset":
            acc.add(now, used, out)
            model.count(now, used, used)
        elif kind == "read":
            # a real meter: no faster than half of MAX_POWER_KW
            counted = min(used, MAX_POWER_KW / 2 * (now - then) / 3600)
            new = (base if reading is None else reading) + counted
            acc.add(now, new, out)
            model.count(now, new, counted)
        else:
            assert reading is not None
            back = reading + used
            shown = _glitch(kind, reading, back, share)
            acc.add(now, shown, out)
            # the glitch ends a gap; exactly on a step's start, that start's
            # reading is not known
            across = model.said(now) is not None
            if across and grid.floor(now) == now:
                model.lost.add(now)
            # taken back within the glitch rule: in the same step, briefly,
            # sooner than a reset meter could count back up from 0 (from a
            # small glitch's value it may: then the step is not known)
            held = min(share * 300, 3.5 * reading, room / 2)
            if a_reset_tells((reading, model.told), (shown, now), (back, now + held)):
                model.lost.add(grid.floor(now))  # a glitch or a reset: not known
            if "+gap" in kind:
                acc.add(now + held / 2, None, out)
                model.gap(now + held / 2)
            now += held
            acc.add(now, back, out)
            model.count(now, back, used, across=across)
    end = grid.next(grid.floor(now))
    acc.close_until(end, out)
    sent = dict(out)
    assert len(sent) == len(out), "a step sent twice"
    for start, energy in out:
        # nothing invented: not across a gap, not a glitch's or a reboot's size
        assert not model.unknown(start, grid.next(start)), "sent across a gap"
        assert energy <= model.increase.get(start, 0.0) + 1e-7, "more than counted"
    start = grid.floor(T0 + offset)
    while start < end:
        step_end = grid.next(start)
        if not model.unknown(start, step_end):
            assert start in sent, "a step known at both ends was lost"
            real = model.increase.get(start, 0.0)
            assert sent.pop(start) == pytest.approx(real, abs=1e-7)
        start = step_end
    assert sent == {}, "a step sent outside the readings"
