"""Pure logic of the measurement forwarder: steps, units, forecasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.flexmeasures.measurements import (
    Step,
    StepAccumulator,
    floor_step,
    forecast_attributes,
    parse_forecast,
    parse_value,
    resample,
    runs,
    unit_converter,
)

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()  # a PT15M boundary
Q = 900.0


def test_value_held_10_min_then_another_5_min_is_time_weighted() -> None:
    out: list[Step] = []
    acc = StepAccumulator(Q, T0, 1.0)
    acc.add(T0 + 600, 4.0, out)
    acc.close_until(T0 + Q, out)
    assert out == [(T0, pytest.approx((1.0 * 600 + 4.0 * 300) / 900))]


def test_gap_is_left_out_of_the_mean_not_counted_as_zero() -> None:
    out: list[Step] = []
    acc = StepAccumulator(Q, T0, 2.0)
    acc.add(T0 + 300, None, out)  # unavailable for 10 minutes
    acc.add(T0 + 900 - 1e-9, None, out)
    acc.close_until(T0 + Q, out)
    assert out == [(T0, pytest.approx(2.0))]


def test_step_without_any_valid_value_is_not_emitted() -> None:
    out: list[Step] = []
    acc = StepAccumulator(Q, T0, None)
    acc.close_until(T0 + 3 * Q, out)
    assert out == []
    acc.add(T0 + 3 * Q + 450, 5.0, out)
    acc.close_until(T0 + 4 * Q, out)
    assert out == [(T0 + 3 * Q, 5.0)]


def test_value_held_over_several_steps_fills_each_step() -> None:
    out: list[Step] = []
    acc = StepAccumulator(Q, T0 + 100, 3.0)
    acc.add(T0 + 3 * Q + 1, 7.0, out)  # a late event closes the steps before it
    assert out == [(T0, 3.0), (T0 + Q, 3.0), (T0 + 2 * Q, 3.0)]
    assert acc.start == T0 + 3 * Q


def test_out_of_order_sample_counts_from_the_latest_time() -> None:
    out: list[Step] = []
    acc = StepAccumulator(Q, T0, 1.0)
    acc.add(T0 + 450, 3.0, out)
    acc.add(T0 + 400, 5.0, out)  # earlier than the last one
    acc.close_until(T0 + Q, out)
    assert out == [(T0, pytest.approx((450 * 1.0 + 450 * 5.0) / 900))]


def test_steps_are_aligned_to_the_grid() -> None:
    acc = StepAccumulator(Q, T0 + 123.4)
    assert acc.start == T0
    assert acc.end == T0 + Q
    assert floor_step(T0 + 899.9, Q) == T0


def test_step_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        StepAccumulator(0, T0)


@pytest.mark.parametrize(
    ("state", "value"),
    [
        ("1.5", 1.5),
        ("-3", -3.0),
        ("unknown", None),
        ("unavailable", None),
        ("on", None),
        ("nan", None),
        ("inf", None),
        ("", None),
    ],
)
def test_parse_value_turns_non_numeric_states_into_gaps(
    state: str, value: float | None
) -> None:
    assert parse_value(state) == value


def test_runs_split_at_gaps_and_at_the_limit() -> None:
    steps = [(T0, 1.0), (T0 + Q, 2.0), (T0 + 3 * Q, 3.0), (T0 + 4 * Q, 4.0)]
    assert runs(steps, Q, 100) == [steps[:2], steps[2:]]
    assert runs(steps, Q, 1) == [[s] for s in steps]
    assert runs([], Q, 10) == []


@pytest.mark.parametrize(
    ("src", "dst", "value", "expected"),
    [
        ("W", "kW", 1500.0, 1.5),
        ("kW", "MW", 2000.0, 2.0),
        ("kWh", "MWh", 500.0, 0.5),
        ("Wh", "kWh", 1000.0, 1.0),
        ("%", "%", 55.0, 55.0),
        (None, "kW", 3.0, 3.0),
        ("EUR/kWh", "EUR/MWh", 0.25, 250.0),
        ("€/kWh", "EUR/MWh", 0.1, 100.0),
        ("EUR/MWh", "EUR/kWh", 120.0, 0.12),
        ("°F", "°C", 212.0, 100.0),
    ],
)
def test_unit_converter_converts_compatible_units(
    src: str | None, dst: str, value: float, expected: float
) -> None:
    convert = unit_converter(src, dst)
    assert convert is not None
    assert convert(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("kW", "kWh"),
        ("EUR/kWh", "SEK/kWh"),
        ("EUR/kWh", "kW"),
        ("EUR/apple", "EUR/kWh"),
        ("kW", None),
        ("kW", ""),
        ("a/b/c", "EUR/kWh"),
    ],
)
def test_unit_converter_refuses_incompatible_units(
    src: str | None, dst: str | None
) -> None:
    assert unit_converter(src, dst) is None


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
    start, values = resample(points, Q) or (0.0, [])
    assert start == t
    assert values == [1.0] * 4 + [2.0] * 4
    # quarter hours down to an hour: the mean per step
    quarters = [(t + i * Q, None, float(i)) for i in range(4)]
    start, values = resample(quarters, 3600) or (0.0, [])
    assert (start, values) == (t, [1.5])


def test_resample_leaves_uncovered_steps_empty() -> None:
    points = [(T0, T0 + Q, 1.0), (T0 + 2 * Q, T0 + 3 * Q, 3.0)]
    assert resample(points, Q) == (T0, [1.0, None, 3.0])


def test_resample_single_point_lasts_one_step_and_empty_input_is_none() -> None:
    assert resample([(T0, None, 4.0)], Q) == (T0, [4.0])
    assert resample([], Q) is None
    assert resample([(T0, T0, 4.0)], Q) is None


def test_timezone_of_forecast_times_is_respected() -> None:
    local = datetime(2026, 1, 5, 13, tzinfo=UTC) + timedelta(0)
    points = parse_forecast(
        {"forecast": [{"start": local.isoformat(), "value": 1}]}, "forecast"
    )
    assert points[0][0] == local.timestamp()
