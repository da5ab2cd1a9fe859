"""The API models: a schedule's value at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from custom_components.flexmeasures.api import Schedule

START = datetime(2026, 11, 23, 1, 0, tzinfo=timezone(timedelta(hours=1)))


def _schedule() -> Schedule:
    return Schedule(
        sensor_id=8,
        job_id="job",
        start=START,
        resolution=timedelta(minutes=15),
        unit="kW",
        values=(1.0, -2.0, 3.0),
    )


def test_value_at_is_the_step_covering_the_time() -> None:
    """Each step covers [start, start + resolution), in any time zone."""
    schedule = _schedule()
    assert schedule.value_at(START) == 1.0
    assert schedule.value_at(START + timedelta(minutes=14, seconds=59)) == 1.0
    assert schedule.value_at(START + timedelta(minutes=15)) == -2.0
    assert schedule.value_at(datetime(2026, 11, 23, 0, 40, tzinfo=UTC)) == 3.0


def test_value_at_outside_the_schedule_is_none() -> None:
    """Before the start and from the end on, no step covers the time."""
    schedule = _schedule()
    assert schedule.end == START + timedelta(minutes=45)
    assert schedule.value_at(START - timedelta(seconds=1)) is None
    assert schedule.value_at(schedule.end) is None
    assert (
        Schedule(8, "job", START, timedelta(minutes=15), "kW", ()).value_at(START)
        is None
    )
