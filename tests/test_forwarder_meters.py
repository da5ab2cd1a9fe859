"""Energy meters (total_increasing / total in an energy unit) send their change per step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.forwarder import MeasurementMapping

from .forwarder_common import (
    ENTITY,
    T0,
    FakeClient,
    Q,
    at,
    make_entry,
    make_sensor,
    start_forwarder,
)

METER = "sensor.grid_import"
TOTAL_INCREASING = {"unit_of_measurement": "kWh", "state_class": "total_increasing"}


@pytest.fixture
def entry(hass: HomeAssistant) -> MockConfigEntry:
    return make_entry(hass)


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


async def _run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
    readings: list[tuple[timedelta, str, dict[str, Any]]],
    *,
    unit: str = "kWh",
    steps: int = 1,
) -> None:
    """Readings at offsets from T0 (the first one at T0), then `steps` steps end."""
    freezer.move_to(T0)
    _, first, attributes = readings[0]
    hass.states.async_set(METER, first, attributes)
    mapping = MeasurementMapping("sub1", METER, make_sensor(unit=unit))
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    for offset, state, attributes in readings[1:]:
        await at(hass, freezer, T0 + offset)
        hass.states.async_set(METER, state, attributes)
    await at(hass, freezer, T0 + steps * Q)
    await forwarder.async_stop()


async def test_total_increasing_kwh_meter_sends_energy_per_step_not_the_reading(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "1000.0", TOTAL_INCREASING),
            (timedelta(minutes=5), "1000.5", TOTAL_INCREASING),
            (timedelta(minutes=10), "1001.4", TOTAL_INCREASING),
        ],
    )
    assert client.sent() == [(T0, pytest.approx(1.4))]  # not ~1000.6
    assert client.calls[0]["unit"] == "kWh"


async def test_meter_to_a_power_sensor_sends_mean_power(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "1000.0", TOTAL_INCREASING),
            (timedelta(minutes=10), "1001.4", TOTAL_INCREASING),
        ],
        unit="kW",
    )
    # 1.4 kWh in a quarter of an hour is 5.6 kW on average
    assert client.sent() == [(T0, pytest.approx(5.6))]
    assert client.calls[0]["unit"] == "kW"


async def test_meter_in_wh_to_a_w_sensor_and_a_unit_change_between_readings(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    wh = {"unit_of_measurement": "Wh", "state_class": "total_increasing"}
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "1000000", wh),
            (timedelta(minutes=5), "1000.25", TOTAL_INCREASING),  # now in kWh
            (timedelta(minutes=10), "1000500", wh),
        ],
        unit="W",
    )
    assert client.sent() == [(T0, pytest.approx(2000.0))]  # 500 Wh in 15 min


async def test_total_increasing_drop_is_a_reset_and_counts_from_zero(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "5.0", TOTAL_INCREASING),
            (timedelta(minutes=4), "6.0", TOTAL_INCREASING),
            (timedelta(minutes=5), "0.2", TOTAL_INCREASING),  # a new cycle
            (timedelta(minutes=10), "0.7", TOTAL_INCREASING),
        ],
    )
    assert client.sent() == [(T0, pytest.approx(1.0 + 0.2 + 0.5))]


async def test_total_with_a_new_last_reset_starts_a_new_cycle(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    def total(last_reset: str) -> dict[str, Any]:
        return {
            "unit_of_measurement": "kWh",
            "state_class": "total",
            "last_reset": last_reset,
        }

    first = (T0 - timedelta(days=1)).isoformat()
    second = (T0 + timedelta(minutes=5)).isoformat()
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "3.0", total(first)),
            (timedelta(minutes=4), "3.5", total(first)),
            # the cycle restarted at 12:05 and has counted 0.3 kWh since
            (timedelta(minutes=6), "0.3", total(second)),
            (timedelta(minutes=10), "0.9", total(second)),
        ],
    )
    assert client.sent() == [(T0, pytest.approx(0.5 + 0.3 + 0.6))]


async def test_total_without_last_reset_keeps_its_decreases_net_meter(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    net = {"unit_of_measurement": "kWh", "state_class": "total"}
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "100.0", net),
            (timedelta(minutes=5), "100.5", net),
            (timedelta(minutes=20), "99.0", net),  # solar exports more than used
        ],
        steps=2,
    )
    assert client.sent() == [(T0, pytest.approx(0.5)), (T0 + Q, pytest.approx(-1.5))]


async def test_meter_step_with_an_unknown_boundary_is_not_sent(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    # The meter is unavailable across the 12:15 boundary: neither the step
    # before nor the one after is known; a gap inside one step is harmless.
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "10.0", TOTAL_INCREASING),
            (timedelta(minutes=3), "unavailable", {}),
            (timedelta(minutes=4), "10.1", TOTAL_INCREASING),
            (timedelta(minutes=14), "unavailable", {}),
            (timedelta(minutes=16), "10.9", TOTAL_INCREASING),
            (timedelta(minutes=35), "11.0", TOTAL_INCREASING),
            (timedelta(minutes=50), "11.5", TOTAL_INCREASING),
        ],
        steps=4,
    )
    assert client.sent() == [
        (T0 + 2 * Q, pytest.approx(0.1)),
        (T0 + 3 * Q, pytest.approx(0.5)),
    ]


async def test_a_meter_back_from_unavailable_exactly_on_a_boundary_sends_that_step(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    """Unavailable across 12:15, back at 12:15:00 exactly: 12:15-12:30 is known.

    Its start reading is the one that came on it (as when first seen there);
    the 2 kWh counted while it was unavailable are in no step.
    """
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "10.0", TOTAL_INCREASING),
            (timedelta(minutes=3), "unavailable", {}),
            (Q, "12.0", TOTAL_INCREASING),
            (timedelta(minutes=20), "13.0", TOTAL_INCREASING),
        ],
        steps=2,
    )
    assert client.sent() == [(T0 + Q, pytest.approx(1.0))]


async def test_a_reboots_zero_exactly_on_a_boundary_after_unavailable_is_not_sent(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    """Unavailable, 0 at 12:15:00 while it boots, then its count: no 100 kWh.

    The reading held at 12:15 was the glitch: that step is not known; the
    next one is exact.
    """
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "100.0", TOTAL_INCREASING),
            (timedelta(minutes=3), "unavailable", {}),
            (Q, "0.0", TOTAL_INCREASING),
            (Q + timedelta(seconds=10), "100.1", TOTAL_INCREASING),
            (timedelta(minutes=20), "100.2", TOTAL_INCREASING),
            (timedelta(minutes=35), "100.5", TOTAL_INCREASING),
        ],
        steps=3,
    )
    assert client.sent() == [(T0 + 2 * Q, pytest.approx(0.3))]


async def test_power_entity_stays_a_time_weighted_mean(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    power = {"unit_of_measurement": "kW", "state_class": "measurement"}
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "2", power)
    forwarder = await start_forwarder(hass, entry, client)
    await at(hass, freezer, T0 + timedelta(minutes=5))
    hass.states.async_set(ENTITY, "5", power)
    await at(hass, freezer, T0 + Q)
    assert client.sent() == [(T0, pytest.approx(4.0))]
    await forwarder.async_stop()


async def test_a_negative_first_reading_of_a_total_increasing_meter_is_no_base(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    """HA's statistics skip negative states of total_increasing: no |value| invented."""
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "-5.0", TOTAL_INCREASING),  # a broken first telegram
            (timedelta(minutes=5), "100.0", TOTAL_INCREASING),
            (timedelta(minutes=20), "100.5", TOTAL_INCREASING),
        ],
        steps=2,
    )
    # the first step's start reading is not known; the second is 0.5 kWh
    assert client.sent() == [(T0 + Q, pytest.approx(0.5))]


async def test_a_one_reading_dip_to_zero_of_a_meter_is_not_a_reset(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    """A device that reports 0 once (a reboot) and then its reading again."""
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "12345.0", TOTAL_INCREASING),
            (timedelta(minutes=5), "0.0", TOTAL_INCREASING),
            (timedelta(minutes=5, seconds=10), "12345.25", TOTAL_INCREASING),
            (timedelta(minutes=10), "12345.5", TOTAL_INCREASING),
        ],
    )
    assert client.sent() == [(T0, pytest.approx(0.5))]


async def test_a_reboots_zero_then_unavailable_then_its_count_is_not_a_reset(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    """The device reports 0, goes unavailable while it boots, then its reading."""
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "12345.0", TOTAL_INCREASING),
            (timedelta(minutes=5), "0.0", TOTAL_INCREASING),
            (timedelta(minutes=5, seconds=2), "unavailable", {}),
            (timedelta(minutes=5, seconds=10), "12345.25", TOTAL_INCREASING),
            (timedelta(minutes=10), "12345.5", TOTAL_INCREASING),
        ],
    )
    assert client.sent() == [(T0, pytest.approx(0.5))]


@pytest.mark.parametrize(
    ("held", "steps", "expected"),
    [
        # the reading after the spike comes 10 minutes later: a reset, as HA counts
        pytest.param(
            timedelta(minutes=10), 1, [1234567.0 - 12345.0 + 12345.5], id="held-long"
        ),
        # the spike was in the step before (already sent): the next step is a reset
        pytest.param(
            timedelta(minutes=11), 2, [1234567.0 - 12345.0, 12345.5], id="other-step"
        ),
    ],
)
async def test_a_spike_is_undone_only_when_brief_and_inside_one_step(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
    held: timedelta,
    steps: int,
    expected: list[float],
) -> None:
    spike_at = timedelta(minutes=4) if steps == 1 else timedelta(minutes=14)
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "12345.0", TOTAL_INCREASING),
            (spike_at, "1234567.0", TOTAL_INCREASING),
            (spike_at + held, "12345.5", TOTAL_INCREASING),
        ],
        steps=steps,
    )
    assert [value for _, value in client.sent()] == pytest.approx(expected)


async def test_a_real_reset_to_a_small_value_is_still_a_reset(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    """A session meter ends at 0.5 kWh, restarts, and quickly counts 0.6 kWh.

    It tells 0.3 on the way: below 0.5, so no glitch of the old session.
    """
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "0.5", TOTAL_INCREASING),
            (timedelta(minutes=5), "0.0", TOTAL_INCREASING),  # a new session
            (timedelta(minutes=6, seconds=30), "0.3", TOTAL_INCREASING),
            (timedelta(minutes=8), "0.6", TOTAL_INCREASING),  # 12 kW for 3 minutes
        ],
    )
    assert client.sent() == [(T0, pytest.approx(0.6))]


async def test_a_reset_or_a_glitch_that_the_readings_cannot_tell_is_not_sent(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    """0.5 kWh, 0 for 3 minutes, 0.6: a new session (0.6) or a reboot's 0 (0.1).

    Either energy sent could be invented: the step is not sent; the next one is.
    """
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "0.5", TOTAL_INCREASING),
            (timedelta(minutes=5), "0.0", TOTAL_INCREASING),
            (timedelta(minutes=8), "0.6", TOTAL_INCREASING),
            (timedelta(minutes=20), "0.8", TOTAL_INCREASING),
        ],
        steps=2,
    )
    assert client.sent() == [(T0 + Q, pytest.approx(0.2))]


async def test_an_invalid_last_reset_is_ignored_not_a_new_cycle(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    meter = {"unit_of_measurement": "kWh", "state_class": "total"}
    cycle = {**meter, "last_reset": "2026-01-05T00:00:00+00:00"}
    await _run(
        hass,
        freezer,
        entry,
        client,
        [
            (timedelta(0), "500.0", cycle),
            (timedelta(minutes=5), "500.25", {**meter, "last_reset": "soon"}),
            (timedelta(minutes=6), "500.5", {**meter, "last_reset": 17}),
            (timedelta(minutes=10), "501.0", cycle),
        ],
    )
    assert client.sent() == [(T0, pytest.approx(1.0))]
