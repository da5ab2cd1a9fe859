"""Pure functions on a schedule: steps, changes, windows, the attribute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import itertools
import json
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.flexmeasures.api.models import Schedule
from custom_components.flexmeasures.schedule import (
    Segment,
    WindowKind,
    align_down,
    as_utc,
    covers,
    kind_of,
    next_change,
    next_step_boundary,
    schedule_attribute,
    schedule_end,
    segments,
    value_at,
    windows,
)

AMS = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)


def make(values: list[float], start: datetime = T0, step: timedelta = STEP) -> Schedule:
    return Schedule(
        sensor_id=8,
        job_id="job",
        start=start,
        resolution=step,
        unit="kW",
        values=tuple(values),
    )


def test_value_at_each_step_and_outside() -> None:
    schedule = make([1.0, 2.0, 3.0])
    assert value_at(schedule, T0 - timedelta(seconds=1)) is None
    assert value_at(schedule, T0) == 1.0
    assert value_at(schedule, T0 + STEP - timedelta(microseconds=1)) == 1.0
    assert value_at(schedule, T0 + STEP) == 2.0
    assert value_at(schedule, T0 + 2 * STEP + timedelta(minutes=14)) == 3.0
    assert value_at(schedule, T0 + 3 * STEP) is None
    assert value_at(None, T0) is None
    assert value_at(make([]), T0) is None


def test_value_at_accepts_any_time_zone() -> None:
    schedule = make([1.0, 2.0])
    # 01:15 in Amsterdam (UTC+1 in November) is 00:15 UTC: the second step.
    assert value_at(schedule, datetime(2026, 11, 23, 1, 15, tzinfo=AMS)) == 2.0


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        value_at(make([1.0]), datetime(2026, 11, 23))
    with pytest.raises(ValueError, match="naive"):
        as_utc(datetime(2026, 11, 23))


def test_covers_the_steps_of_a_schedule_in_another_zone() -> None:
    schedule = make([1.0, 2.0], start=datetime(2026, 11, 23, 1, 0, tzinfo=AMS))
    assert value_at(schedule, T0 + timedelta(minutes=20)) == 2.0
    assert covers(schedule, T0)
    assert not covers(schedule, T0 + 2 * STEP)
    assert not covers(None, T0)


def test_next_step_boundary() -> None:
    schedule = make([1.0, 1.0, 2.0])
    assert next_step_boundary(schedule, T0 - timedelta(hours=1)) == T0
    assert next_step_boundary(schedule, T0) == T0 + STEP
    assert next_step_boundary(schedule, T0 + timedelta(minutes=20)) == T0 + 2 * STEP
    assert next_step_boundary(schedule, T0 + 2 * STEP) == T0 + 3 * STEP
    assert next_step_boundary(schedule, T0 + 3 * STEP) is None
    assert next_step_boundary(None, T0) is None


def test_next_change_skips_equal_steps_and_ends_at_schedule_end() -> None:
    schedule = make([1.0, 1.0, 2.0, 2.0])
    assert next_change(schedule, T0) == T0 + 2 * STEP
    assert next_change(schedule, T0 + STEP + timedelta(minutes=1)) == T0 + 2 * STEP
    # No change after the third step: the end of the schedule is the change.
    assert next_change(schedule, T0 + 2 * STEP) == T0 + 4 * STEP
    assert next_change(schedule, T0 + 4 * STEP) is None
    assert next_change(schedule, T0 - STEP) == T0
    assert next_change(None, T0) is None


def test_next_change_with_tolerance_ignores_float_noise() -> None:
    schedule = make([1.0, 1.0 + 1e-9, 5.0])
    assert next_change(schedule, T0) == T0 + STEP
    assert next_change(schedule, T0, tolerance=1e-6) == T0 + 2 * STEP


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 1.0, 1.0 + 1e-9, 2.5]), max_size=8),
    st.sampled_from([timedelta(minutes=5), STEP, timedelta(hours=1)]),
    st.integers(min_value=-3 * 3600, max_value=10 * 3600),
    st.sampled_from([UTC, AMS]),
    st.sampled_from([0.0, 1e-6]),
)
def test_next_boundary_and_change_are_the_first_after_the_time(
    values: list[float],
    step: timedelta,
    seconds: int,
    zone: ZoneInfo,
    tolerance: float,
) -> None:
    """Against the boundaries written out: the first one after `when`."""
    schedule = make(values, step=step)
    when = (T0 + timedelta(seconds=seconds)).astimezone(zone)
    boundaries = [T0 + step * k for k in range(len(values) + 1)] if values else []
    later = [k for k, boundary in enumerate(boundaries) if boundary > when]
    expected_boundary = boundaries[later[0]] if later else None
    assert next_step_boundary(schedule, when) == expected_boundary
    changes = [
        k
        for k in later
        if k == 0  # the start: before the schedule
        or k == len(values)  # the end: the value stops
        or abs(values[k] - values[later[0] - 1]) > tolerance  # not the value now
    ]
    # at or after the end, or no steps: None; else the first change after `when`
    expected_change = boundaries[changes[0]] if later else None
    assert next_change(schedule, when, tolerance=tolerance) == expected_change


def test_dst_end_amsterdam_2026_10_25_has_25_hours_of_steps() -> None:
    # Local midnight (UTC+2) to the next local midnight (UTC+1) is 25 hours.
    start = datetime(2026, 10, 25, 0, 0, tzinfo=AMS)
    schedule = make([float(i) for i in range(100)], start=start)  # 100 x 15 min
    assert schedule_end(schedule) == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)
    assert schedule_end(schedule) == datetime(2026, 10, 26, 0, 0, tzinfo=AMS)
    # Both 02:30 local times exist: the first (CEST) is step 10, the second
    # (CET, one hour later) is step 14.
    first = datetime(2026, 10, 25, 2, 30, tzinfo=AMS, fold=0)
    second = datetime(2026, 10, 25, 2, 30, tzinfo=AMS, fold=1)
    assert value_at(schedule, first) == 10.0
    assert value_at(schedule, second) == 14.0
    # Steps stay 15 minutes long across the change.
    assert next_step_boundary(schedule, second) == as_utc(second) + STEP
    assert next_step_boundary(schedule, first) == as_utc(first) + STEP
    # The last step covers 23:45 local time.
    assert value_at(schedule, datetime(2026, 10, 25, 23, 50, tzinfo=AMS)) == 99.0


def test_dst_change_inside_windows_and_attribute() -> None:
    start = datetime(2026, 10, 25, 1, 0, tzinfo=AMS)  # 23:00 UTC the day before
    values = [5.0] * 8 + [-3.0] * 8  # 2 h charging, 2 h discharging
    schedule = make(values, start=start)
    found = windows(schedule)
    assert [(w.kind, w.end - w.start) for w in found] == [
        (WindowKind.CHARGING, timedelta(hours=2)),
        (WindowKind.DISCHARGING, timedelta(hours=2)),
    ]
    # Charging ends at the second 02:00 local time (CET, after the clocks went
    # back). PEP 495: compare in UTC, a fold=1 time never equals another zone's.
    assert found[0].end == as_utc(datetime(2026, 10, 25, 2, 0, tzinfo=AMS, fold=1))
    assert found[0].end == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert schedule_attribute(schedule) == [
        {
            "start": "2026-10-24T23:00:00+00:00",
            "end": "2026-10-25T01:00:00+00:00",
            "value": 5.0,
        },
        {
            "start": "2026-10-25T01:00:00+00:00",
            "end": "2026-10-25T03:00:00+00:00",
            "value": -3.0,
        },
    ]


def test_windows_merge_same_sign_and_split_at_sign_changes_and_idle() -> None:
    schedule = make([0.0, 2.0, 4.0, -1.0, -3.0, 0.0, 0.0, 6.0, 1e-6, -1e-6, 2.0])
    found = windows(schedule)
    assert [(w.kind, w.start, w.end) for w in found] == [
        (WindowKind.CHARGING, T0 + STEP, T0 + 3 * STEP),
        (WindowKind.DISCHARGING, T0 + 3 * STEP, T0 + 5 * STEP),
        (WindowKind.CHARGING, T0 + 7 * STEP, T0 + 8 * STEP),
        (WindowKind.CHARGING, T0 + 10 * STEP, T0 + 11 * STEP),
    ]
    charging = found[0]
    assert charging.mean_power == pytest.approx(3.0)
    assert charging.max_power == pytest.approx(4.0)
    assert charging.energy == pytest.approx((2.0 + 4.0) * 0.25)
    discharging = found[1]
    # Magnitudes, the kind says the direction.
    assert discharging.mean_power == pytest.approx(2.0)
    assert discharging.max_power == pytest.approx(3.0)
    assert discharging.energy == pytest.approx(1.0)


def test_window_at_schedule_end_is_closed() -> None:
    found = windows(make([0.0, -2.0, -2.0]))
    assert len(found) == 1
    assert found[0].end == T0 + 3 * STEP


def test_windows_filtered_by_overlap() -> None:
    schedule = make([1.0, 1.0, 0.0, -1.0, 0.0, 1.0])
    # A window partly before `start` is returned whole.
    inside = windows(schedule, start=T0 + STEP, end=T0 + 4 * STEP)
    assert [(w.start, w.end) for w in inside] == [
        (T0, T0 + 2 * STEP),
        (T0 + 3 * STEP, T0 + 4 * STEP),
    ]
    assert windows(schedule, start=T0 + 6 * STEP) == []
    assert len(windows(schedule, end=T0 + timedelta(minutes=1))) == 1
    assert windows(None) == []


def test_kind_of_uses_epsilon() -> None:
    assert kind_of(0.0005) is None
    assert kind_of(-0.0005) is None
    assert kind_of(0.01) is WindowKind.CHARGING
    assert kind_of(-0.01) is WindowKind.DISCHARGING
    assert kind_of(None) is None
    assert kind_of(0.5, epsilon=1.0) is None


def test_segments_merge_equal_runs() -> None:
    schedule = make([1.0, 1.0, 2.0, 1.0])
    assert segments(schedule) == [
        Segment(T0, T0 + 2 * STEP, 1.0),
        Segment(T0 + 2 * STEP, T0 + 3 * STEP, 2.0),
        Segment(T0 + 3 * STEP, T0 + 4 * STEP, 1.0),
    ]
    assert segments(None) == []


def test_attribute_rounds_so_float_noise_merges_and_no_negative_zero() -> None:
    schedule = make([448.683298, 448.6832981, -0.0000001, 0.0])
    assert schedule_attribute(schedule) == [
        {
            "start": "2026-11-23T00:00:00+00:00",
            "end": "2026-11-23T00:30:00+00:00",
            "value": 448.683,
        },
        {
            "start": "2026-11-23T00:30:00+00:00",
            "end": "2026-11-23T01:00:00+00:00",
            "value": 0.0,
        },
    ]
    assert str(schedule_attribute(schedule)[1]["value"]) == "0.0"


def test_attribute_of_48h_at_5min_stays_small() -> None:
    # A realistic 48 h schedule: blocks of constant power.
    values = [[0.0, 3.7, -2.5, 11.0][(i // 6) % 4] for i in range(48 * 12)]
    schedule = make(values, step=timedelta(minutes=5))
    attribute = schedule_attribute(schedule)
    assert len(attribute) == 96
    assert len(json.dumps(attribute)) < 16_000
    # Adjacent items share boundaries and cover the whole schedule.
    assert attribute[0]["start"] == T0.isoformat()
    assert attribute[-1]["end"] == (T0 + timedelta(hours=48)).isoformat()
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(attribute))


@pytest.mark.parametrize(
    ("when", "resolution", "expected"),
    [
        (
            datetime(2026, 11, 23, 5, 37, 12, tzinfo=UTC),
            STEP,
            datetime(2026, 11, 23, 5, 30, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 23, 6, 37, tzinfo=AMS),
            timedelta(hours=1),
            datetime(2026, 11, 23, 5, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 10, 25, 2, 50, tzinfo=AMS, fold=1),
            STEP,
            datetime(2026, 10, 25, 1, 45, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 23, 5, 30, tzinfo=UTC),
            STEP,
            datetime(2026, 11, 23, 5, 30, tzinfo=UTC),
        ),
    ],
)
def test_align_down(when: datetime, resolution: timedelta, expected: datetime) -> None:
    aligned = align_down(when, resolution)
    assert aligned == expected
    assert aligned.tzinfo is UTC
