"""Pure logic of the measurement forwarder: time-weighted steps and runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.flexmeasures.measurements import (
    Step,
    StepAccumulator,
    floor_step,
    parse_value,
    runs,
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
