"""Track: one mapping's states into steps (edges that the forwarder tests miss)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.core import State
import pytest

from custom_components.flexmeasures.api import Sensor
from custom_components.flexmeasures.backfill import async_replay
from custom_components.flexmeasures.delivery import utc
from custom_components.flexmeasures.grid import UtcGrid
from custom_components.flexmeasures.meters import reset_instant
from custom_components.flexmeasures.outbox import MappingOutbox, MeasurementMapping
from custom_components.flexmeasures.tracking import Track

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()
Q = 900.0
METER = {"unit_of_measurement": "kWh", "state_class": "total_increasing"}


def _track(
    unit: str = "kW", step: float = Q, forecast: str | None = None
) -> tuple[Track, list[tuple[int, str]]]:
    sensor = Sensor(8, "p", unit, timedelta(seconds=step), "Europe/Amsterdam", 1)
    mapping = MeasurementMapping("sub", "sensor.p", sensor, forecast)
    grid = UtcGrid(step) if step > 0 else None
    box = MappingOutbox(mapping, step, grid, 10_000)
    rejected: list[tuple[int, str]] = []
    return Track(box, lambda _box, count, reason: rejected.append((count, reason))), (
        rejected
    )


def _state(state: str, **attributes: Any) -> State:
    return State("sensor.p", state, attributes)


def test_a_unit_that_does_not_convert_counts_each_step_it_was_held_in_once() -> None:
    track, rejected = _track()
    track.open(T0, _state("1", unit_of_measurement="kW"))
    track.follow(T0 + 300, _state("20", unit_of_measurement="°C"))
    track.follow(T0 + 400, _state("21", unit_of_measurement="°C"))  # still bad
    track.follow(T0 + 500, _state("unavailable"))  # a gap ends the bad time
    track.follow(T0 + 600, _state("22", unit_of_measurement="°C"))  # same step
    track.close_until(T0 + 3 * Q)  # held until then: two more steps
    track.follow(T0 + 3 * Q + 10, _state("2", unit_of_measurement="kW"))
    assert sum(count for count, _ in rejected) == 4  # 12:00 (once), 12:15, 12:30, 12:45
    assert rejected[0][1] == "unit °C cannot be converted to kW"
    assert track.box.items == [(T0, 1.0)]  # the 5 convertible minutes


def test_an_instantaneous_sensor_counts_each_sample_in_a_bad_unit() -> None:
    track, rejected = _track(unit="%", step=0)
    track.open(T0, None)
    track.follow(T0 + 1, _state("5", unit_of_measurement="kWh"))
    track.follow(T0 + 2, _state("50", unit_of_measurement="%"))
    assert rejected == [(1, "unit kWh cannot be converted to %")]
    assert track.box.items == [(T0 + 2, 50.0)]
    assert track.gap(T0 + 3) is False  # nothing to close
    assert track.close_until(T0 + 4) is False


def test_switching_from_power_to_a_meter_closes_the_old_kind_first() -> None:
    track, _ = _track(unit="kWh")
    track.open(T0, _state("2", unit_of_measurement="kWh"))  # a level: means
    assert track.mode is None
    track.follow(T0 + Q + 60, _state("100", **METER))  # now a meter
    assert track.mode is not None
    assert track.box.items == [(T0, 2.0)]  # the mean step, as it was
    track.follow(T0 + 2 * Q + 5, _state("101", **METER))
    track.follow(T0 + 3 * Q + 5, _state("103", **METER))
    track.close_until(T0 + 4 * Q)
    # the first meter step is not known (it opened mid-step)
    assert track.box.items == [(T0, 2.0), (T0 + 2 * Q, 1.0), (T0 + 3 * Q, 2.0)]
    assert track.box.per_step is True


def test_a_meter_to_a_sensor_of_another_kind_is_rejected() -> None:
    track, rejected = _track(unit="°C")
    track.open(T0, _state("1", **METER))
    track.follow(T0 + 60, _state("2", **METER))
    track.close_until(T0 + Q)
    assert rejected == [(1, "a meter's energy cannot be sent in °C")]
    assert track.box.items == []


def test_a_meter_reading_in_no_energy_unit_is_a_gap() -> None:
    track, rejected = _track(unit="kWh")
    track.open(T0, _state("1", **METER))
    track.follow(T0 + 60, _state("5", unit_of_measurement="kWh", state_class="total"))
    track.follow(T0 + 120, _state("7", unit_of_measurement="kWh", state_class="total"))
    track.close_until(T0 + 2 * Q)
    assert track.box.items == [(T0 + Q, 0.0)]  # kind switched at 12:01: fresh
    assert rejected == []


def test_forecasts_need_a_resolution_and_a_unit_that_converts() -> None:
    track, rejected = _track(step=0, forecast="forecast")
    forecast = [{"start": datetime.fromtimestamp(T0, UTC).isoformat(), "value": 1}]
    assert track.check_forecast(_state("1", forecast=forecast), T0) is False
    track, rejected = _track(forecast="forecast")
    state = _state("1", forecast=forecast, unit_of_measurement="°C")
    assert track.check_forecast(state, T0) is False
    assert rejected == [(1, "forecast unit cannot be converted")]
    assert track.check_forecast(state, T0) is False  # the same again: not looked at


@pytest.mark.parametrize("step", [0.0, Q])
def test_gap_on_a_track_without_a_step_open_does_nothing(step: float) -> None:
    track, _ = _track(step=step)
    assert track.gap(T0) is False


def test_no_step_before_the_end_of_what_was_queued_is_queued_again() -> None:
    track, _ = _track()
    track.box.last_end = T0 + Q
    track.queue([(T0, 1.0), (T0 + Q, 2.0)])
    track.queue([(T0, 3.0)])
    assert track.box.items == [(T0 + Q, 2.0)]
    assert track.box.last_end == T0 + 2 * Q


def test_while_the_clock_is_behind_the_last_step_the_latest_state_waits_there() -> None:
    track, _ = _track()
    track.box.last_end = T0 + Q
    track.open(T0, _state("1", unit_of_measurement="kW"))
    track.follow(T0 + 60, _state("2", unit_of_measurement="kW"))
    track.gap(T0 + 120)  # e.g. a clock jump: nothing known
    assert track.close_until(T0 + 2 * Q) is False  # a gap held from 12:15
    track.follow(T0 + 2 * Q + 1, _state("4", unit_of_measurement="kW"))
    track.follow(T0 + 3 * Q, _state("4", unit_of_measurement="kW"))
    assert track.box.items == [(T0 + 2 * Q, 4.0)]


def test_a_last_reset_given_as_a_datetime_is_the_instant_it_means() -> None:
    """An integration may set the attribute to a datetime, not a string."""
    amsterdam = ZoneInfo("Europe/Amsterdam")
    when = datetime(2026, 1, 5, 13, 0, tzinfo=amsterdam)
    assert reset_instant(when) == T0
    assert reset_instant(when.astimezone(UTC)) == T0
    assert reset_instant(when.isoformat()) == T0
    assert reset_instant(12.0) is None
    total = {"unit_of_measurement": "kWh", "state_class": "total"}
    track, _ = _track(unit="kWh")
    track.open(T0, _state("5", **total, last_reset=when))
    track.follow(T0 + 300, _state("6", **total, last_reset=when.astimezone(UTC)))
    track.close_until(T0 + Q)
    assert track.box.items == [(T0, pytest.approx(1.0))]  # the same cycle


async def test_a_gap_after_the_last_recorded_state_is_replayed_as_a_gap() -> None:
    """Home Assistant stopped after the last state: the time after is no value."""
    track, _ = _track()
    past = [State("sensor.p", "2", {"unit_of_measurement": "kW"}, last_updated=utc(T0))]
    await async_replay(
        track,
        T0,
        past,
        current=None,
        now=T0 + 3 * Q,
        gaps=[(T0 + Q + 300, T0 + 2 * Q + 600)],
    )
    # 12:00 all 2 kW; 12:15 five minutes of it; nothing known from 12:20 on
    assert track.box.items == [(T0, 2.0), (T0 + Q, 2.0)]
