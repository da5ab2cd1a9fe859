"""Pure helpers of the forwarder: gaps, grids, meters, units, stored outboxes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import logging
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest

from custom_components.flexmeasures import gaps
from custom_components.flexmeasures.api import Sensor
from custom_components.flexmeasures.grid import LocalDayGrid, UtcGrid, step_count
from custom_components.flexmeasures.measurements import Step
from custom_components.flexmeasures.meters import MeterAccumulator, meter_mode
from custom_components.flexmeasures.outbox import (
    MAX_FORECASTS,
    MappingOutbox,
    MeasurementMapping,
    PendingForecast,
    max_items,
    migrate,
)
from custom_components.flexmeasures.restore import ComputedFor, restore_items
from custom_components.flexmeasures.units import per_step_converter

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()
Q = 900.0
AMS = ZoneInfo("Europe/Amsterdam")


def test_downtimes_are_between_runs_in_order_of_start() -> None:
    runs = [(300.0, None), (0.0, 100.0), (150.0, 200.0), (120.0, 150.0)]
    # 100..120 down; 120..150 and 150..200 touch; 200..300 down
    assert gaps.downtimes(runs) == [(100.0, 120.0), (200.0, 300.0)]
    assert gaps.downtimes([(0.0, None)]) == []


def test_merge_joins_overlaps_and_leaves_out_empty_gaps() -> None:
    assert gaps.merge([(5.0, 9.0), (0.0, 6.0), (20.0, 20.0), (9.0, 12.0)]) == [
        (0.0, 12.0)
    ]


def test_clock_watch_sees_jumps_ahead_and_back() -> None:
    clock = {"wall": 1000.0, "mono": 50.0}
    with (
        patch.object(gaps.time, "time", side_effect=lambda: clock["wall"]),
        patch.object(gaps, "monotonic", side_effect=lambda: clock["mono"]),
    ):
        watch = gaps.ClockWatch()
        clock["wall"] += 10
        clock["mono"] += 10
        assert watch.jump() is None  # time went by
        clock["wall"] += 3600
        clock["mono"] += 1
        assert watch.jump() == (1011.0, 4610.0)
        clock["wall"] -= 600  # set back: it would be 4610 without the jump
        assert watch.jump() == (4610.0, 4010.0)
        clock["wall"] -= 1  # noise
        assert watch.jump() is None


def test_step_count_on_both_grids() -> None:
    assert step_count(UtcGrid(Q), T0, T0) == 0
    assert step_count(UtcGrid(Q), T0, T0 + 1) == 1
    assert step_count(UtcGrid(Q), T0, T0 + 2 * Q) == 2
    grid = LocalDayGrid(1, AMS)
    start = datetime(2026, 3, 28, tzinfo=AMS).timestamp()
    assert step_count(grid, start, datetime(2026, 3, 31, tzinfo=AMS).timestamp()) == 3


def test_a_meter_that_only_goes_up_ignores_a_negative_reading() -> None:
    out: list[Step] = []
    acc = MeterAccumulator(Q, T0, 5.0)
    acc.add(T0 + 10, -1.0, out)
    acc.add(T0 + 20, 6.0, out)
    acc.close_until(T0 + Q, out)
    assert out == [(T0, 1.0)]
    assert meter_mode({"state_class": "total", "unit_of_measurement": "°C"}) is None
    assert (
        meter_mode({"state_class": "measurement", "unit_of_measurement": "kWh"}) is None
    )


def test_a_meter_reading_on_a_step_start_after_a_gap_is_that_steps_start() -> None:
    """The reading held at the start is known from the start: the step is exact.

    As when the meter is first seen exactly at a step's start (the constructor,
    Track.open, a hold ending on a boundary). The increase across the gap is
    still in no step.
    """
    fresh: list[Step] = []
    acc = MeterAccumulator(Q, T0 + Q, 12.0)
    acc.add(T0 + Q + 100, 13.0, fresh)
    acc.close_until(T0 + 2 * Q, fresh)
    assert fresh == [(T0 + Q, 1.0)]
    after_gap: list[Step] = []
    acc = MeterAccumulator(Q, T0, 10.0)
    acc.add(T0 + 100, None, after_gap)  # unavailable up to the boundary
    acc.add(T0 + Q, 12.0, after_gap)
    acc.add(T0 + Q + 100, 13.0, after_gap)
    acc.close_until(T0 + 2 * Q, after_gap)
    assert after_gap == fresh


def test_a_negative_reading_after_a_gap_on_a_step_start_is_skipped() -> None:
    """Not a reading of a meter that only goes up: the step waits for one."""
    out: list[Step] = []
    acc = MeterAccumulator(Q, T0, 10.0)
    acc.add(T0 + 100, None, out)
    acc.add(T0 + Q, -1.0, out)  # skipped: the start stays unknown
    acc.add(T0 + Q + 100, 13.0, out)
    acc.close_until(T0 + 2 * Q, out)
    assert out == []


def test_a_reboots_zero_on_a_step_start_after_a_gap_is_not_counted() -> None:
    """Unavailable, 0 while it boots, then its count again: a glitch, not 100 kWh.

    1 ms later the step is not sent (its start is unknown); mid-step after a
    gap the glitch is undone. Exactly on the start the step must not get the
    meter's size either.
    """
    out: list[Step] = []
    acc = MeterAccumulator(Q, T0, 100.0)
    acc.add(T0 + 100, None, out)  # the meter reboots: unavailable
    acc.add(T0 + Q, 0.0, out)  # reports 0 while it boots, on the step's start
    acc.add(T0 + Q + 10, 100.1, out)  # its count again
    acc.add(T0 + Q + 100, 100.2, out)
    acc.close_until(T0 + 2 * Q, out)
    emitted = dict(out)
    assert emitted.get(T0 + Q, 0.0) <= 0.2 + 1e-9


@pytest.mark.parametrize(
    "glitch",
    [
        pytest.param(0.0, id="zero"),
        pytest.param(5.0, id="small"),
        pytest.param(100_000.0, id="spike"),
    ],
)
def test_a_glitch_on_a_step_start_after_a_gap_loses_the_step(glitch: float) -> None:
    """The reading held at the start was a glitch: the start is not known.

    Not the glitch (the meter's size, or a spike's), and not the increase from
    the reading before the gap either (that is across the gap): no step.
    """
    out: list[Step] = []
    acc = MeterAccumulator(Q, T0, 100.0)
    acc.add(T0 + 100, None, out)
    acc.add(T0 + Q, glitch, out)  # on the step's start
    acc.add(T0 + Q + 10, 100.1, out)  # taken back: the meter's count
    acc.add(T0 + Q + 100, 100.2, out)
    acc.close_until(T0 + 3 * Q, out)
    acc.add(T0 + 3 * Q + 100, 100.5, out)
    acc.close_until(T0 + 4 * Q, out)
    # the step after is exact again
    assert out == [(T0 + 2 * Q, 0.0), (T0 + 3 * Q, pytest.approx(0.3))]


def test_a_reboots_zero_on_a_step_start_after_a_gap_with_a_reset_is_not_counted() -> (
    None
):
    """The meter reset while unavailable and counted 9.2; back with a reboot's 0.

    9.2 five seconds after the 0 is below the reading before the gap, so the
    glitch rule cannot take it back against that one; but no meter counts
    9.2 kWh in 5 s: the start reading is not known, the step is lost.
    """
    out: list[Step] = []
    acc = MeterAccumulator(Q, T0, 100.0)
    acc.add(T0 + 100, None, out)
    acc.add(T0 + Q, 0.0, out)  # a reboot's 0, on the step's start
    acc.add(T0 + Q + 5, 9.2, out)  # what it counted since its reset
    acc.add(T0 + Q + 100, 9.25, out)
    acc.close_until(T0 + 3 * Q, out)
    assert out == [(T0 + 2 * Q, 0.0)]


def test_a_spike_after_a_start_reading_after_a_gap_keeps_the_start() -> None:
    """A spike right after the start reading, taken back: the start was real."""
    out: list[Step] = []
    acc = MeterAccumulator(Q, T0, 100.0)
    acc.add(T0 + 100, None, out)
    acc.add(T0 + Q, 101.0, out)  # on the step's start
    acc.add(T0 + Q + 5, 5000.0, out)  # too fast: one of the two is a glitch
    acc.add(T0 + Q + 10, 101.1, out)  # the spike taken back
    acc.add(T0 + Q + 100, 101.25, out)
    acc.close_until(T0 + 2 * Q, out)
    assert out == [(T0 + Q, pytest.approx(0.25))]


def test_a_real_reset_on_a_step_start_after_a_gap_counts_from_zero() -> None:
    """Back from a gap on a step's start with a new cycle: counted from there."""
    out: list[Step] = []
    acc = MeterAccumulator(Q, T0, 100.0)
    acc.add(T0 + 100, None, out)
    acc.add(T0 + Q, 0.0, out)  # a new cycle, on the step's start
    acc.add(T0 + Q + 300, 0.2, out)  # counts on from zero: no glitch
    acc.add(T0 + Q + 600, 0.5, out)
    acc.close_until(T0 + 2 * Q, out)
    assert out == [(T0 + Q, pytest.approx(0.5))]


def test_a_reboots_zero_then_a_gap_then_its_count_is_not_counted() -> None:
    """0 while it reboots, unavailable for seconds, then its count: a glitch."""
    out: list[Step] = []
    acc = MeterAccumulator(Q, T0, 100.0)
    acc.add(T0 + 100, 0.0, out)  # reboots
    acc.add(T0 + 102, None, out)  # unavailable while it boots
    acc.add(T0 + 110, 100.1, out)  # its count again
    acc.add(T0 + 200, 100.2, out)
    acc.close_until(T0 + Q, out)
    assert out == [(T0, pytest.approx(0.2))]


def test_a_negative_first_reading_after_a_gap_is_no_base() -> None:
    """Skipped as any negative one: the next step is not 5 kWh more."""
    out: list[Step] = []
    acc = MeterAccumulator(Q, T0, None)  # unavailable when first seen
    acc.add(T0 + 10, -5.0, out)  # a broken telegram, held over the boundary
    acc.add(T0 + Q + 10, 100.0, out)
    acc.add(T0 + 2 * Q + 10, 100.5, out)
    acc.close_until(T0 + 3 * Q, out)
    assert out == [(T0 + 2 * Q, pytest.approx(0.5))]


def test_per_step_converter_between_energy_and_mean_power() -> None:
    to_kw = per_step_converter("Wh", "kW", 900)
    assert to_kw is not None
    assert to_kw(500) == pytest.approx(2.0)
    to_kwh = per_step_converter("W", "kWh", 1800)
    assert to_kwh is not None
    assert to_kwh(2000) == pytest.approx(1.0)
    assert per_step_converter("kWh", "kW", 0) is None
    assert per_step_converter("kWh", "°C", 900) is None
    assert per_step_converter("kWh", "MWh", 900) is not None


def _box(*, resolution: timedelta = timedelta(minutes=15)) -> MappingOutbox:
    sensor = Sensor(8, "p", "kW", resolution, "Europe/Amsterdam", 1)
    return MappingOutbox(
        MeasurementMapping("sub", "sensor.p", sensor),
        resolution.total_seconds(),
        UtcGrid(resolution.total_seconds()),
        10,
    )


def test_too_many_forecasts_drop_the_oldest_and_warn_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    box = _box()
    now = datetime.fromtimestamp(T0, UTC)
    for index in range(MAX_FORECASTS + 2):
        box.add_forecast(PendingForecast([(T0, float(index))], now))
    assert len(box.forecasts) == MAX_FORECASTS
    assert box.forecasts[0].items == [(T0, 2.0)]
    assert box.dropped == 2
    assert caplog.text.count("Dropping") == 1


def test_a_forecast_holds_no_more_than_the_outbox_and_is_queued_once() -> None:
    box = _box()  # holds 10 values
    now = datetime.fromtimestamp(T0, UTC)
    items = [(T0 + index * Q, 1.0) for index in range(15)]
    assert box.add_forecast(PendingForecast(list(items), now)) is True
    assert box.forecasts[0].items == items[:10]
    assert box.dropped == 5
    assert box.add_forecast(PendingForecast(items[:10], now)) is False  # waits
    assert len(box.forecasts) == 1


def test_migrate_an_old_store_and_refuse_another_major_version() -> None:
    old = {"tracks": {"sub": {"sensor_id": 8, "outbox": [[T0, 1.0]]}}}
    assert migrate(1, 1, old) == {
        "tracks": {
            "sub": {
                "unit": None,
                "resolution": None,
                "sensor_id": 8,
                "outbox": [[T0, 1.0]],
            }
        },
        "gaps": [],
    }
    current = {"tracks": {}, "gaps": [[1.0, 2.0]]}
    assert migrate(1, 2, current) is current
    with pytest.raises(NotImplementedError):
        migrate(2, 1, old)


def test_max_items_covers_seven_days_at_any_resolution() -> None:
    for step in (60.0, 300.0, 900.0, 3600.0, 86400.0, 1.0):
        assert (max_items(step) - 1) * step >= 7 * 86400
    assert max_items(0) == 10_080


def test_restore_refuses_days_counted_in_another_time_zone() -> None:
    source = ComputedFor(8, "kW", 86400.0, "UTC", False)
    target = ComputedFor(8, "kW", 86400.0, "Europe/Amsterdam", False)
    items, reason = restore_items([(T0, 1.0)], source, target)
    assert items == []
    assert reason is not None
    assert "days in UTC" in reason
    assert restore_items([], source, target) == ([], None)


def test_restore_converts_a_meters_daily_energy_per_day_length() -> None:
    grid = LocalDayGrid(1, AMS)
    short = datetime(2026, 3, 29, tzinfo=AMS).timestamp()  # 23 hours
    source = ComputedFor(8, "kWh", 86400.0, "Europe/Amsterdam", True)
    target = ComputedFor(9, "kW", 86400.0, "Europe/Amsterdam", True)
    items, reason = restore_items([(short, 46.0)], source, target, grid)
    assert reason is None
    assert items == [(short, pytest.approx(2.0))]
    items, reason = restore_items(
        [(short, 46.0)], source, target._replace(unit="°C"), grid
    )
    assert items == []
    assert reason == "they were computed for kWh; sensor 9 is in °C"
