"""Where a device's consumption price comes from, the price over time, the cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import itertools
import math
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.flexmeasures.api import FlexMeasuresClient, Schedule, SensorData
from custom_components.flexmeasures.prices import (
    FixedPrice,
    PriceSensor,
    UnsupportedPriceError,
    async_resolve_source,
    commitment_costs,
    currency_of,
    forecast_attribute,
    next_price_change,
    other_costs,
    parse_price_quantity,
    planned_cost,
    price_at,
    price_in_flex_context,
    price_segments,
    price_window,
)
from custom_components.flexmeasures.requests import ScheduleSettings
from custom_components.flexmeasures.schedule import Segment

from .fake_flexmeasures import COMMITMENT_COSTS, FakeFlexMeasures

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def schedule_with(info: dict[str, Any]) -> Schedule:
    """A one-step schedule with this `scheduler_info`."""
    return Schedule(8, "job", T0, timedelta(minutes=15), "kW", (1.0,), info)


# --- flex-context and quantities -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.3 EUR/kWh", (0.3, "EUR/kWh")),
        ("30EUR/MWh", (30.0, "EUR/MWh")),
        (" -12.5 EUR/MWh ", (-12.5, "EUR/MWh")),
        ("1e-2 USD/kWh", (0.01, "USD/kWh")),
        ("0.25 €/kWh", (0.25, "€/kWh")),
        # FlexMeasures reads blanks around the slash; the unit is written plain
        ("0.3 EUR / kWh", (0.3, "EUR/kWh")),
        ("21 cEUR/ kWh", (21.0, "cEUR/kWh")),
    ],
)
def test_a_fixed_price_quantity_is_parsed(
    text: str, expected: tuple[float, str]
) -> None:
    assert parse_price_quantity(text) == expected


@pytest.mark.parametrize(
    "text", ["", "EUR/kWh", "0.3", "0.3 kW", "0.3 kWh", "nan EUR/kWh", "0.3 EUR"]
)
def test_a_quantity_that_is_not_a_price_is_refused(text: str) -> None:
    with pytest.raises(UnsupportedPriceError):
        parse_price_quantity(text)


@given(
    value=st.floats(allow_nan=False, allow_infinity=False, width=32),
    unit=st.sampled_from(["EUR/kWh", "EUR/MWh", "USD/kWh", "GBP/Wh"]),
    blank=st.sampled_from(["", " ", "  "]),
)
@settings(max_examples=200)
def test_any_written_price_reads_back(value: float, unit: str, blank: str) -> None:
    assert parse_price_quantity(f"{value!r}{blank}{unit}") == (value, unit)


@pytest.mark.parametrize(
    ("flex_context", "expected"),
    [
        ({}, None),
        ({"site-power-capacity": "500 kVA"}, None),
        ({"consumption-price": {"sensor": 7}}, 7),
        ({"consumption-price": {"sensor": "7"}}, 7),
        ({"consumption-price-sensor": 12}, 12),
        ({"consumption-price": "0.3 EUR/kWh"}, (0.3, "EUR/kWh")),
        # the newer field wins over the older one
        ({"consumption-price": {"sensor": 7}, "consumption-price-sensor": 12}, 7),
    ],
)
def test_the_price_a_flex_context_names(
    flex_context: dict[str, Any], expected: int | tuple[float, str] | None
) -> None:
    assert price_in_flex_context(flex_context) == expected


@pytest.mark.parametrize(
    "price",
    [
        [{"start": "2026-11-23T00:00+00:00", "value": "0.3 EUR/kWh"}],
        {"sensor": True},
        {"sensor": 7, "source": 2},
        "a lot",
        0.3,
    ],
)
def test_a_price_in_another_form_is_unsupported(price: Any) -> None:
    with pytest.raises(UnsupportedPriceError):
        price_in_flex_context({"consumption-price": price})


@pytest.mark.parametrize(
    ("unit", "currency"),
    [
        ("EUR/kWh", "EUR"),
        ("EUR/MWh", "EUR"),
        ("€/kWh", "EUR"),
        ("kW", None),
        # FlexMeasures reports costs in the base currency of a prefixed one
        ("cEUR/kWh", "EUR"),
        ("mEUR/kWh", "EUR"),
        ("kEUR/MWh", "EUR"),
        ("cUSD/kWh", "USD"),
        ("c€/kWh", "EUR"),
        ("KRW/kWh", "KRW"),  # a code that starts like a prefix stays itself
        ("CHF/kWh", "CHF"),
    ],
)
def test_the_currency_of_a_price(unit: str, currency: str | None) -> None:
    assert currency_of(PriceSensor(7, unit, HOUR)) == currency
    assert currency_of(None) is None


@pytest.mark.parametrize("stored", ["", "asset", None])
def test_asset_as_price_option_means_what_the_asset_stores(stored: str | None) -> None:
    data = {"power_sensor": "8", "consumption_price_sensor": stored}
    assert ScheduleSettings.from_data(data).consumption_price_sensor_id is None
    data["consumption_price_sensor"] = "7"
    assert ScheduleSettings.from_data(data).consumption_price_sensor_id == 7


# --- resolving the source against the (fake) server -----------------------------


async def test_the_configured_sensor_wins_over_the_asset(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    fake_fm.add_sensor(11, "mwh prices", 4, "EUR/MWh", "PT15M")
    source = await async_resolve_source(fm_client, 11, 6)
    assert source == PriceSensor(11, "EUR/MWh", timedelta(minutes=15), None)
    assert not [p for p in fake_fm.paths() if "/assets/" in p]


async def test_the_price_on_an_ancestor_of_the_asset(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """The demo: the battery's flex-context is empty, its building has sensor 7."""
    source = await async_resolve_source(fm_client, None, 6)
    assert source == PriceSensor(7, "EUR/kWh", HOUR, asset_id=5)
    assert fake_fm.paths()[-3:] == [
        "/api/v3_0/assets/6",
        "/api/v3_0/assets/5",
        "/api/v3_0/sensors/7",
    ]


async def test_the_price_on_the_asset_itself_comes_first(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    fake_fm.add_sensor(11, "own prices", 6, "EUR/MWh", "PT1H")
    fake_fm.assets[6]["flex_context"] = '{"consumption-price": {"sensor": 11}}'
    source = await async_resolve_source(fm_client, None, 6)
    assert source == PriceSensor(11, "EUR/MWh", HOUR, asset_id=6)
    assert "/api/v3_0/assets/5" not in fake_fm.paths()


async def test_a_fixed_price_on_an_ancestor(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    fake_fm.assets[5]["flex_context"] = '{"consumption-price": "0.3 EUR/kWh"}'
    assert await async_resolve_source(fm_client, None, 6) == FixedPrice(
        0.3, "EUR/kWh", 5
    )


async def test_no_price_anywhere(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    fake_fm.assets[5]["flex_context"] = '{"site-power-capacity": "500 kVA"}'
    assert await async_resolve_source(fm_client, None, 6) is None
    assert await async_resolve_source(fm_client, None, None) is None


async def test_a_loop_of_parents_ends(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    fake_fm.assets[5]["flex_context"] = "{}"
    fake_fm.assets[5]["parent_asset_id"] = 6
    assert await async_resolve_source(fm_client, None, 6) is None
    assert fake_fm.paths().count("/api/v3_0/assets/6") == 1


# --- the price over time ------------------------------------------------------------


def test_the_window_is_aligned_to_the_price_resolution() -> None:
    """FlexMeasures answers only gaps for a window starting between its steps."""
    start = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
    quarter = timedelta(minutes=15)
    five = timedelta(minutes=5)
    # as fine as the schedule or finer: its own steps, from the one holding start
    assert price_window(start, start + HOUR, quarter, quarter) == (start, HOUR, None)
    assert price_window(T0, T0 + 2 * HOUR, HOUR, HOUR) == (T0, 2 * HOUR, None)
    late = start + timedelta(minutes=2)
    assert price_window(late, late + HOUR, five, quarter) == (
        late - timedelta(minutes=2),
        HOUR + 5 * timedelta(minutes=1),
        None,
    )


@pytest.mark.parametrize("resolution", [HOUR, timedelta(days=1), timedelta(days=7)])
def test_a_coarser_price_is_read_on_the_schedule_steps(resolution: timedelta) -> None:
    """Resampled by the server from the schedule's start: the sensor's steps may
    lie on local hours or days (a grid the window need not start on)."""
    start = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
    quarter = timedelta(minutes=15)
    assert price_window(start, start + 24 * HOUR, resolution, quarter) == (
        start,
        24 * HOUR,
        quarter,
    )


def test_an_instantaneous_price_is_read_over_the_window_as_is() -> None:
    start = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
    assert price_window(start, start + HOUR, timedelta(0), HOUR) == (
        start,
        HOUR,
        None,
    )


def test_segments_merge_equal_prices_and_leave_gaps() -> None:
    data = SensorData(
        start=T0,
        resolution=HOUR,
        unit="EUR/kWh",
        values=(0.1, 0.1, None, 0.2, 0.06534999999999999, 0.3),
    )
    assert price_segments(data) == (
        Segment(T0, T0 + 2 * HOUR, 0.1),
        Segment(T0 + 3 * HOUR, T0 + 4 * HOUR, 0.2),
        Segment(T0 + 4 * HOUR, T0 + 5 * HOUR, 0.06535),
        Segment(T0 + 5 * HOUR, T0 + 6 * HOUR, 0.3),
    )
    segments = price_segments(data)
    assert price_at(segments, T0 + 2.5 * HOUR) is None  # the gap
    assert price_at(segments, T0 + 6 * HOUR) is None  # after
    assert price_at(segments, T0 - HOUR) is None  # before
    assert price_at(segments, T0 + 1.5 * HOUR) == 0.1
    assert next_price_change(segments, T0) == T0 + 2 * HOUR
    assert next_price_change(segments, T0 + 2.5 * HOUR) == T0 + 3 * HOUR
    assert next_price_change(segments, T0 + 6 * HOUR) is None
    assert forecast_attribute(segments)[0] == {
        "start": "2026-11-23T05:00:00+00:00",
        "end": "2026-11-23T07:00:00+00:00",
        "value": 0.1,
    }


def test_segments_are_in_utc_whatever_the_answer_offset() -> None:
    amsterdam = datetime.fromisoformat("2026-11-23T06:00:00+01:00")
    data = SensorData(amsterdam, HOUR, "EUR/kWh", (0.1,))
    (segment,) = price_segments(data)
    assert segment.start.tzinfo is UTC
    assert segment.start == T0


@given(
    values=st.lists(
        st.one_of(
            st.none(),
            st.sampled_from([0.1, 0.2, -0.05]),
            st.floats(-1000, 1000, allow_nan=False),
        ),
        max_size=60,
    ),
    minutes=st.sampled_from([5, 15, 60]),
    offset=st.floats(min_value=-2, max_value=70),
)
@settings(max_examples=150)
def test_the_price_at_any_time_is_the_value_of_its_step(
    values: list[float | None], minutes: int, offset: float
) -> None:
    """Merging and gaps never change the value seen at a time."""
    step = timedelta(minutes=minutes)
    data = SensorData(T0, step, "EUR/MWh", tuple(values))
    segments = price_segments(data)
    when = T0 + step * offset  # (rounded to whole microseconds)
    index = (when - T0) // step
    expected = values[index] if 0 <= index < len(values) else None
    seen = price_at(segments, when)
    if expected is None:
        assert seen is None
    else:
        assert seen == pytest.approx(expected, rel=1e-11)
    # segments are ordered, disjoint and never two equal neighbours
    for before, after in itertools.pairwise(segments):
        assert before.end <= after.start
        assert before.end < after.start or before.value != after.value
    # the next change is a boundary after `when` with nothing changing before it
    change = next_price_change(segments, when)
    if change is not None:
        assert change > when
        if seen is not None:
            assert price_at(segments, change - timedelta(microseconds=1)) == seen


# --- the plan's cost ----------------------------------------------------------------


def test_the_planned_cost_is_the_net_energy_commitment() -> None:
    schedule = schedule_with(
        {"scheduler": "StorageScheduler", "commitment_costs": COMMITMENT_COSTS}
    )
    assert planned_cost(schedule) == pytest.approx(-57.27938935118323)
    assert other_costs(schedule) == {
        "electricity_all_consumption_breaches": 0.0,
        "electricity_all_production_breaches": 0.0,
        "electricity_any_consumption_breach": 0.0,
        "electricity_any_production_breach": 0.0,
        "prefer_a_full_storage_0_sooner": pytest.approx(0.004586969591155539),
    }


@pytest.mark.parametrize(
    "info",
    [
        {},
        {"scheduler": "StorageScheduler"},
        {"commitment_costs": None},
        {"commitment_costs": []},
        {"commitment_costs": {"electricity net energy": None}},
        {"commitment_costs": {"electricity net energy": "12"}},
        {"commitment_costs": {"electricity net energy": math.nan}},
        {"commitment_costs": {"electricity net energy": True}},
    ],
)
def test_no_planned_cost_when_the_server_does_not_report_it(
    info: dict[str, Any],
) -> None:
    assert planned_cost(schedule_with(info)) is None
    assert planned_cost(None) is None
    assert commitment_costs(None) == {}
