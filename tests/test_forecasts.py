"""Forecasts in state attributes, resampled to a sensor's steps (forecasts.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from custom_components.flexmeasures.forecasts import (
    FORECAST_AHEAD,
    forecast_attributes,
    parse_forecast,
    resample,
    window,
)
from custom_components.flexmeasures.grid import LocalDayGrid, UtcGrid

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()  # a PT15M boundary
Q = 900.0


def _iso(hour: int, minute: int = 0, day: int = 5) -> str:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC).isoformat()


def test_parse_nord_pool_raw_today_and_tomorrow() -> None:
    attributes = {
        "raw_today": [
            {
                "start": datetime(2026, 1, 5, 23, tzinfo=UTC),
                "end": datetime(2026, 1, 6, 0, tzinfo=UTC),
                "value": 0.2,
            }
        ],
        "raw_tomorrow": [
            {"start": _iso(0, day=6), "end": _iso(1, day=6), "value": 0.3}
        ],
    }
    points = parse_forecast(attributes, "raw_today")
    t23 = datetime(2026, 1, 5, 23, tzinfo=UTC).timestamp()
    assert points == [(t23, t23 + 3600, 0.2), (t23 + 3600, t23 + 7200, 0.3)]
    assert forecast_attributes("raw_tomorrow") == ("raw_today", "raw_tomorrow")


def test_parse_entsoe_prices_today() -> None:
    attributes = {
        "prices_today": [
            {"time": "2026-01-05 13:00:00+01:00", "price": 0.11},
            {"time": "2026-01-05 12:00:00+01:00", "price": 0.10},
        ]
    }
    points = parse_forecast(attributes, "prices_today")
    t11 = datetime(2026, 1, 5, 11, tzinfo=UTC).timestamp()
    assert points == [(t11, None, 0.10), (t11 + 3600, None, 0.11)]


def test_parse_generic_forecast_skips_bad_items() -> None:
    attributes = {
        "forecast": [
            {"datetime": _iso(12), "value": 1},
            {"start": _iso(13), "value": "2.5"},
            {"datetime": "2026-01-05T14:00:00", "value": 3},  # naive
            {"datetime": "not a time", "value": 3},
            {"datetime": 12345, "value": 3},
            {"datetime": _iso(15), "value": None},
            {"datetime": _iso(15), "value": "x"},
            {"datetime": _iso(15), "value": True},
            {"datetime": _iso(15), "value": float("nan")},
            "not a mapping",
        ],
        "other": "x",
    }
    points = parse_forecast(attributes, "forecast")
    assert [v for _, _, v in points] == [1.0, 2.5]
    assert parse_forecast(attributes, "other") == []
    assert parse_forecast(attributes, "missing") == []


def test_resample_hourly_prices_to_quarter_hours_and_means() -> None:
    t = T0
    points = [(t, t + 3600, 1.0), (t + 3600, t + 7200, 2.0)]
    assert resample(points, Q) == [(t + i * Q, 1.0 + (i >= 4)) for i in range(8)]
    # quarter hours up to an hour: the mean per step
    quarters = [(t + i * Q, None, float(i)) for i in range(4)]
    assert resample(quarters, 3600) == [(t, 1.5)]


def test_resample_leaves_uncovered_steps_empty() -> None:
    points = [(T0, T0 + Q, 1.0), (T0 + 2 * Q, T0 + 3 * Q, 3.0)]
    assert resample(points, Q) == [(T0, 1.0), (T0 + 2 * Q, 3.0)]


def test_resample_single_point_lasts_one_step_and_empty_input_is_none() -> None:
    assert resample([(T0, None, 4.0)], Q) == [(T0, 4.0)]
    assert resample([], Q) == []
    assert resample([(T0, T0, 4.0)], Q) == []


def test_timezone_of_forecast_times_is_respected() -> None:
    local = datetime(2026, 1, 5, 13, tzinfo=UTC) + timedelta(0)
    points = parse_forecast(
        {"forecast": [{"start": local.isoformat(), "value": 1}]}, "forecast"
    )
    assert points[0][0] == local.timestamp()


def test_a_forecast_is_resampled_within_its_window_however_far_it_reaches() -> None:
    grid = UtcGrid(Q)
    now = T0 + 100
    bounds = window(grid, now)
    assert bounds == (T0 - Q, T0 + FORECAST_AHEAD)
    forever = datetime(9999, 12, 31, tzinfo=UTC).timestamp()
    ancient = datetime(1, 1, 1, tzinfo=UTC).timestamp()
    steps = resample([(ancient, forever, 250.0)], grid, bounds)
    assert len(steps) == 7 * 96 + 1
    assert (steps[0][0], steps[-1][0]) == (T0 - Q, T0 + FORECAST_AHEAD - Q)
    # an open last point lasting as long as the one before it: years
    far = resample([(T0, None, 1.0), (T0 + 3e7, None, 2.0)], grid, bounds)
    assert far[-1] == (T0 + FORECAST_AHEAD - Q, 1.0)
    # a point before the window is left out
    assert resample([(T0 - 3 * Q, T0 - Q, 5.0)], grid, bounds) == []


def test_the_window_of_local_days_starts_at_local_midnight() -> None:
    zone = ZoneInfo("Europe/Amsterdam")
    grid = LocalDayGrid(1, zone)
    first, end = window(grid, T0)
    assert datetime.fromtimestamp(first, zone) == datetime(2026, 1, 4, tzinfo=zone)
    assert datetime.fromtimestamp(end, zone) == datetime(2026, 1, 12, tzinfo=zone)
