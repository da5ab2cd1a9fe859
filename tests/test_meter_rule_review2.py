"""Review of e045a2a (a reading that made its step unknown, taken back; the
take-back bound counts since `before` was last told, after a jump up too).

Uses the independent model of tests/test_meter_rule_review.py (every way a
real meter tells the readings: which of them were glitches); a step sent must
have the energy of every explanation, a step all explanations agree on must
be sent. Faults are strict xfails; the controls pass and would fail if the
behaviour they pin broke.
"""

from __future__ import annotations

from hypothesis import event, given, settings, strategies as st
import pytest

from custom_components.flexmeasures.grid import UtcGrid
from custom_components.flexmeasures.meters import GLITCH_SECONDS, MAX_POWER_KW

from .test_meter_rule_review import DAY, T0, Q, Reading, _case, check

HOUR = 3600.0


# ------------------------------------------------------------------ faults


def test_a_take_back_that_is_itself_taken_back_leaves_the_step_unknown() -> None:
    """10 kWh at 12:00, 13 at 12:16:40, 10.5 at 12:17:40, 13.01, 10.6 a second
    apart each (a meter flipping between a stale and a fresh value), 11 at 12:50.
    """
    got, count, answer = _case(
        UtcGrid(HOUR),
        10.0,
        [(1000, 13.0), (1060, 10.5), (1061, 13.01), (1062, 10.6), (3000, 11.0)],
        2 * HOUR,
    )
    assert (count, answer) == (2, {0: None, HOUR: 0.0})
    assert got == {HOUR: 0.0}


def test_a_real_charge_then_a_new_session_after_a_taken_back_glitch_is_sent() -> None:
    """An EV session meter: 0.5 kWh at 12:00, a garbled 0.3 a second later (no
    reset counts 0.3 kWh in a second), 0.8667 at 12:02 (11 kW), a new session
    0.6 at 12:05 (12 kW for 3 min), 0.7 at 12:15.
    """
    got, count, answer = _case(
        UtcGrid(HOUR),
        0.5,
        [(1, 0.3), (120, 0.8667), (300, 0.6), (900, 0.7)],
        2 * HOUR,
    )
    assert (count, answer) == (1, {0: pytest.approx(1.0667), HOUR: 0.0})
    assert got == pytest.approx(answer)


def test_a_take_back_exactly_at_max_power_is_a_glitch() -> None:
    """0 kWh (a fresh meter) at 12:00, 100 at 12:01:40 (no meter counts 100 kWh
    in 100 s), 55.56 at 12:03:20 (1000 kW since 12:00 exactly), 56 at 12:13:20.
    """
    at_the_bound = MAX_POWER_KW * 200 / 3600
    got, count, answer = _case(
        UtcGrid(Q), 0.0, [(100, 100.0), (200, at_the_bound), (800, 56.0)], 2 * Q
    )
    assert (count, answer) == (1, {0: pytest.approx(56.0), Q: 0.0})
    assert got == pytest.approx(answer)


# ------------------------------------------------------------------ controls


def test_control_just_under_the_bound_a_spike_is_taken_back() -> None:
    """As above, 55.56 a hair under 1000 kW: the glitch (fixed by e045a2a)."""
    just_under = MAX_POWER_KW * 200 / 3600 * (1 - 1e-12)
    got, count, _ = _case(
        UtcGrid(Q), 0.0, [(100, 100.0), (200, just_under), (800, 56.0)], 2 * Q
    )
    assert count == 1
    assert got == pytest.approx({0: 56.0, Q: 0.0})


def test_control_a_real_charge_after_a_gap_then_a_new_session_is_not_sent() -> None:
    """0.5 kWh, unavailable, 6.0 at 12:30:10 (11 kW while unavailable), a new
    session 0.6 at 12:33:10, 0.7 at 12:50: a real charge and a reset (6.2) or
    a spike taken back (0.2, the bound e045a2a widened): not sent; the next is.
    (Before e045a2a the hour was sent with 6.2: one explanation only.)
    """
    got, count, answer = _case(
        UtcGrid(HOUR),
        0.5,
        [(60, None), (1810, 6.0), (1990, 0.6), (3000, 0.7)],
        2 * HOUR,
    )
    assert (count, answer) == (2, {0: None, HOUR: 0.0})
    assert got == {HOUR: 0.0}


def test_control_a_real_reset_after_a_long_gap_is_counted() -> None:
    """50 kWh, unavailable 10 h (the bound: 10 000 kWh), 160 (11 kW), a new
    session 0.8 four minutes later, 1.0: below `before`, no glitch: 111 kWh.
    """
    got, count, answer = _case(
        UtcGrid(DAY),
        50.0,
        [(60, None), (36000, 160.0), (36250, 0.8), (40000, 1.0)],
        2 * DAY,
    )
    assert (count, answer) == (1, {0: pytest.approx(111.0), DAY: 0.0})
    assert got == pytest.approx(answer)


def test_control_an_ambiguous_reading_taken_back_then_counting_on_is_known() -> None:
    """10, 13, a stale 10.5, 13.01 a second later, 13.02: only 10.5 a glitch."""
    got, count, answer = _case(
        UtcGrid(HOUR),
        10.0,
        [(1000, 13.0), (1060, 10.5), (1061, 13.01), (1062, 13.02), (3000, 13.5)],
        2 * HOUR,
    )
    assert (count, answer) == (1, {0: pytest.approx(3.5), HOUR: 0.0})
    assert got == pytest.approx(answer)


def test_control_an_ambiguous_reading_a_real_count_could_leave_stays_unknown() -> None:
    """10, 13, 10.5, then 13.01 a minute later (150 kW: a real count from 10.5
    fits too): 16.5 or 3.5: the hour is not sent (change 1 must not know it).
    """
    got, count, answer = _case(
        UtcGrid(HOUR),
        10.0,
        [(1000, 13.0), (1060, 10.5), (1120, 13.01), (3000, 13.5)],
        2 * HOUR,
    )
    assert (count, answer) == (3, {0: None, HOUR: 0.0})
    assert got == {HOUR: 0.0}


@settings(max_examples=300, deadline=None)
@given(
    before=st.one_of(
        st.floats(min_value=0.0, max_value=2.0), st.floats(min_value=2, max_value=200)
    ),
    gap=st.sampled_from([0.0, 60.0, 3600.0, 36000.0]),
    jump=st.sampled_from(["real 11 kW", "real 900 kW", "spike"]),
    held=st.floats(min_value=1.0, max_value=GLITCH_SECONDS),
    back=st.sampled_from(["new session", "carries on"]),
    power=st.sampled_from([3.7, 11.0, 22.0, 300.0]),
    tail=st.booleans(),
)
def test_control_a_jump_up_then_a_drop_within_a_day_step_matches_the_model(  # noqa: PLR0917
    before: float,
    gap: float,
    jump: str,
    held: float,
    back: str,
    power: float,
    tail: bool,
) -> None:
    """What change 2 newly takes back: `before`, maybe unavailable for `gap`,
    a jump up (a real count at 11 or 900 kW since `before`, or a spike), then
    within GLITCH_SECONDS a drop (a new session counting at `power` from 0, or
    a reading carrying on from `before`), and a last reading.
    """
    readings: list[Reading] = []
    if gap:
        readings.append((30.0, None))
    jump_at = 60.0 + gap
    if jump == "spike":
        shown = before * 3 + 100
    else:
        kw = 11.0 if jump == "real 11 kW" else 900.0
        shown = before + kw * jump_at / 3600
    back_at = jump_at + held
    if back == "new session":
        value = power * held / 3600
    else:
        value = before + power * back_at / 3600
    value = min(value, 0.89 * shown)  # a drop from the jump
    readings += [(jump_at, shown), (back_at, value)]
    if tail:
        readings.append((back_at + 600, value + 0.01))
    got, count, _ = _case(UtcGrid(DAY), before, readings, 2 * DAY)
    event(f"explanations={count} step={'sent' if 0 in got else 'not sent'}")
    check(
        UtcGrid(DAY),
        T0,
        before,
        [(T0 + ts, v) for ts, v in readings],
        T0 + 2 * DAY,
    )
