"""The controls' pure maths: next ready-by time, targets, modes (controls.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings as hsettings, strategies as st
import pytest

from custom_components.flexmeasures.controls import (
    Controls,
    Mode,
    charge_now_limit,
    due_on_the_grid,
    horizon_for,
    mode_setpoint,
    next_occurrence,
    standing_target,
    target_in_percent,
    target_kwh,
)
from custom_components.flexmeasures.requests import ScheduleSettings, SocTarget
from custom_components.flexmeasures.units import power_quantity_kw

AMS = ZoneInfo("Europe/Amsterdam")
BATTERY = ScheduleSettings(power_sensor_id=8, capacity=60.0, soc_min=5.0, soc_max=57.0)
NO_CAPACITY = ScheduleSettings(power_sensor_id=8)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)


def test_ready_by_today_while_still_ahead_else_tomorrow() -> None:
    now = local(2026, 11, 23, 6, 30)
    assert next_occurrence(time(7), now, AMS) == local(2026, 11, 23, 7).astimezone(UTC)
    later = local(2026, 11, 23, 7, 0)  # exactly then: the next one
    assert next_occurrence(time(7), later, AMS) == local(2026, 11, 24, 7).astimezone(
        UTC
    )
    night = local(2026, 11, 23, 23, 59)
    assert next_occurrence(time(0, 30), night, AMS) == local(
        2026, 11, 24, 0, 30
    ).astimezone(UTC)


def test_a_time_the_spring_change_skips_moves_to_the_next_valid_time() -> None:
    """2027-03-28 Europe/Amsterdam jumps from 02:00 to 03:00: 02:30 -> 03:00."""
    now = local(2027, 3, 27, 22, 0)
    found = next_occurrence(time(2, 30), now, AMS)
    assert found == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert found.astimezone(AMS).hour == 3


def test_a_time_the_autumn_change_repeats_is_its_first_occurrence() -> None:
    """2026-10-25 Europe/Amsterdam runs 02:00-03:00 twice: the first one."""
    now = local(2026, 10, 24, 22, 0)
    found = next_occurrence(time(2, 30), now, AMS)
    assert found == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


@hsettings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31)
    ).map(lambda naive: naive.replace(tzinfo=UTC)),
    when=st.times(),
    zone=st.sampled_from(
        [AMS, ZoneInfo("America/New_York"), ZoneInfo("Australia/Sydney"), UTC]
    ),
)
def test_next_occurrence_is_the_next_such_wall_time(
    now: datetime, when: time, zone: ZoneInfo
) -> None:
    """Ahead of now, within a day (and a DST hour), on that wall time or after a gap."""
    found = next_occurrence(when, now, zone)
    assert found > now
    assert found - now <= timedelta(hours=25)
    wall = found.astimezone(zone)
    naive = datetime.combine(wall.date(), when)
    if wall.replace(tzinfo=None) != naive:
        # only a DST gap moves it: the wanted wall time did not exist that day
        assert (
            naive.replace(tzinfo=zone)
            .astimezone(UTC)
            .astimezone(zone)
            .replace(tzinfo=None)
            != naive
        )
        assert wall.replace(tzinfo=None) > naive
    # no earlier valid occurrence was skipped
    earlier = found - timedelta(days=1)
    assert earlier <= now or earlier.astimezone(zone).time() != when


def test_target_is_percent_of_the_capacity_or_kwh() -> None:
    assert target_in_percent(BATTERY)
    assert target_kwh(BATTERY, 80) == pytest.approx(48.0)
    assert target_kwh(BATTERY, 0) is None
    assert not target_in_percent(NO_CAPACITY)
    assert target_kwh(NO_CAPACITY, 12.5) == 12.5


def test_standing_target_is_clamped_into_the_soc_range() -> None:
    now = local(2026, 11, 23, 6, 0)
    full = standing_target(BATTERY, Controls(time(7), 100.0), now, AMS)
    assert full == SocTarget(local(2026, 11, 23, 7).astimezone(UTC), "57 kWh")
    assert standing_target(BATTERY, Controls(time(7), 0.0), now, AMS) is None


def test_horizon_is_extended_to_whole_steps_covering_the_target() -> None:
    start = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
    step = timedelta(minutes=15)
    target = SocTarget(start + timedelta(hours=7, minutes=5), "40 kWh")
    assert horizon_for(start, timedelta(hours=24), target, step) == timedelta(hours=24)
    assert horizon_for(start, timedelta(hours=6), target, step) == timedelta(
        hours=7, minutes=15
    )
    assert horizon_for(start, timedelta(hours=6), None, step) == timedelta(hours=6)


def test_each_mode_sets_its_setpoint() -> None:
    assert mode_setpoint(Mode.SMART, 11.0, -3.0) == -3.0
    assert mode_setpoint(Mode.SMART, 11.0, None) is None
    assert mode_setpoint(Mode.STOP, 11.0, -3.0) == 0.0
    assert mode_setpoint(Mode.CHARGE_NOW, 11.0, -3.0) == 11.0


def test_charge_now_ends_at_the_target_or_soc_max() -> None:
    assert charge_now_limit(BATTERY, Controls(target=50)) == pytest.approx(30.0)
    assert charge_now_limit(BATTERY, Controls()) == 57.0
    assert charge_now_limit(NO_CAPACITY, Controls()) is None
    assert charge_now_limit(NO_CAPACITY, Controls(target=12.5)) == 12.5


@hsettings(max_examples=50, deadline=None)
@given(target=st.floats(min_value=0.1, max_value=100))
def test_charge_now_ends_at_a_state_of_charge_the_entity_can_show(
    target: float,
) -> None:
    """The state of charge read is clamped into [soc_min, soc_max]: a limit
    above soc_max (a 100 % target with soc_max 57 of 60 kWh) would never end."""
    limit = charge_now_limit(BATTERY, Controls(target=target))
    assert limit is not None
    assert limit <= 57.0
    assert limit == pytest.approx(min(target / 100 * 60.0, 57.0))


@pytest.mark.parametrize(
    ("text", "kw"),
    [
        ("500 kVA", 500.0),
        ("11 kW", 11.0),
        ("0.5 MW", 500.0),
        ("7400 W", 7.4),
        ("2.5MVA", 2500.0),
        ("lots", None),
        ("5 kWh", None),
        (None, None),
        (500, None),
    ],
)
def test_power_capacities_as_flexmeasures_writes_them(
    text: object, kw: float | None
) -> None:
    found = power_quantity_kw(text)
    assert found == (None if kw is None else pytest.approx(kw))


@hsettings(max_examples=100, deadline=None)
@given(
    after=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=3)),
    minutes=st.sampled_from([5, 15, 60]),
)
def test_a_target_is_due_at_the_last_step_boundary_by_its_time(
    after: timedelta, minutes: int
) -> None:
    """Never after its time (but after the first step): reached by then."""
    start = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
    step = timedelta(minutes=minutes)
    target = SocTarget(start + after, "40 kWh")
    due = due_on_the_grid(target, start, step).when
    assert (due - start) % step == timedelta(0)
    assert due > start
    if after >= step:
        assert target.when - step < due <= target.when
    else:
        assert due == start + step


def test_a_target_on_the_grid_stays_as_it_is() -> None:
    start = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
    target = SocTarget(datetime(2026, 11, 23, 6, 0, tzinfo=UTC), "40 kWh")
    assert due_on_the_grid(target, start, timedelta(minutes=15)) is target
    assert due_on_the_grid(target, start, timedelta(0)) is target
