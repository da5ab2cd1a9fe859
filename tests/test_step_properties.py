"""Property-based tests of the step maths (hypothesis, bounded and fast)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.core import State
from hypothesis import example, given, settings, strategies as st
import pytest

from custom_components.flexmeasures.api import Sensor
from custom_components.flexmeasures.grid import LocalDayGrid, UtcGrid, make_grid
from custom_components.flexmeasures.measurements import Step, runs
from custom_components.flexmeasures.meters import RESET_RATIO, MeterAccumulator
from custom_components.flexmeasures.outbox import MappingOutbox, MeasurementMapping
from custom_components.flexmeasures.tracking import Track

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
            assert min(values) - 1e-9 <= mean <= max(values) + 1e-9
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

