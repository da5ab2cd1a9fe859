"""No invented data: Home Assistant's downtime and clock jumps are gaps.

Times Home Assistant was not running come from the recorder's runs; a run
closed as incorrect (a crash or power cut) ends at its last recorded state.
The backfill reads the history with attributes, so each past state is
converted with the unit it had then.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers.recorder import get_instance
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.flexmeasures.api import FlexMeasuresConnectionError
from custom_components.flexmeasures.forwarder import MeasurementMapping

from .forwarder_common import (
    ENTITY,
    STORE_KEY,
    T0,
    FakeClient,
    Q,
    at,
    make_entry,
    make_sensor,
    start_forwarder,
)

S = T0 - timedelta(hours=1)  # the last step queued before the restart began here
KW = {"unit_of_measurement": "kW"}
METER = {"unit_of_measurement": "kWh", "state_class": "total_increasing"}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(  # overrides conftest: recorder first
    recorder_mock: Any, enable_custom_integrations: None
) -> None:
    """Start the recorder before hass."""


def _stored(last_end: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "minor_version": 1,
        "key": STORE_KEY,
        "data": {
            "tracks": {
                "sub1": {
                    "sensor_id": 8,
                    "outbox": [],
                    "last_end": last_end.timestamp(),
                    **extra,
                }
            }
        },
    }


async def _record(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    states: list[tuple[timedelta, str, dict[str, Any]]],
    entity_id: str = ENTITY,
) -> None:
    for offset, state, attributes in states:
        freezer.move_to(S + offset)
        hass.states.async_set(entity_id, state, attributes)
    await async_wait_recording_done(hass)


async def _set_runs(
    hass: HomeAssistant,
    earlier: list[tuple[datetime, datetime, bool]],
    current: datetime,
) -> None:
    """Earlier recorder runs (start, end, closed incorrectly), and this run's start."""
    from homeassistant.components.recorder.db_schema import (  # noqa: PLC0415
        RecorderRuns,
    )
    from homeassistant.components.recorder.util import session_scope  # noqa: PLC0415

    def write() -> None:
        with session_scope(hass=hass) as session:
            session.query(RecorderRuns).filter(RecorderRuns.end.is_(None)).update(
                {"start": current}
            )
            for start, end, incorrect in earlier:
                session.add(
                    RecorderRuns(
                        start=start, end=end, closed_incorrect=incorrect, created=start
                    )
                )

    await get_instance(hass).async_add_executor_job(write)
    await async_wait_recording_done(hass)


async def test_time_home_assistant_was_down_is_a_gap_not_the_last_value(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    await _record(
        hass,
        freezer,
        [
            (timedelta(0), "1", KW),
            (timedelta(minutes=10), "2", KW),
            (timedelta(minutes=45), "3", KW),  # after the restart
        ],
    )
    # stopped cleanly at S+20 min, started again at S+40 min
    await _set_runs(
        hass,
        [(S - timedelta(hours=1), S + timedelta(minutes=20), False)],
        S + timedelta(minutes=40),
    )
    hass_storage[STORE_KEY] = _stored(S)
    freezer.move_to(T0 + timedelta(minutes=1))
    client = FakeClient()
    forwarder = await start_forwarder(hass, make_entry(hass), client)
    assert client.sent() == [
        (S, pytest.approx((1 * 10 + 2 * 5) / 15)),
        (S + Q, pytest.approx(2.0)),  # 5 minutes before the stop
        # S+30 .. S+45: Home Assistant was not running: nothing
        (S + 3 * Q, pytest.approx(3.0)),
    ]
    await forwarder.async_stop()


async def test_a_crashed_run_ends_at_its_last_recorded_state(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    await _record(
        hass,
        freezer,
        [
            (timedelta(0), "1", KW),
            (timedelta(minutes=10), "2", KW),  # the last thing recorded
            (timedelta(minutes=50), "3", KW),
        ],
    )
    # a power cut: the run was closed as incorrect at the next start
    await _set_runs(
        hass,
        [(S - timedelta(hours=1), S + timedelta(minutes=40), True)],
        S + timedelta(minutes=40),
    )
    hass_storage[STORE_KEY] = _stored(S)
    freezer.move_to(T0 + timedelta(minutes=1))
    client = FakeClient()
    forwarder = await start_forwarder(hass, make_entry(hass), client)
    assert client.sent() == [
        (S, pytest.approx(1.0)),  # 10 minutes of 1 kW, then nothing is known
        (S + 3 * Q, pytest.approx(3.0)),
    ]
    await forwarder.async_stop()


async def test_a_meters_increase_across_downtime_is_not_sent_for_the_steps_it_spans(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    await _record(
        hass,
        freezer,
        [
            (timedelta(0), "100.0", METER),
            (timedelta(minutes=5), "100.5", METER),
            (timedelta(minutes=14), "101.0", METER),
            (timedelta(minutes=50), "109.0", METER),  # after the restart
            (timedelta(minutes=55), "109.5", METER),
        ],
    )
    await _set_runs(
        hass,
        [(S - timedelta(hours=1), S + timedelta(minutes=16), False)],
        S + timedelta(minutes=40),
    )
    hass_storage[STORE_KEY] = _stored(S)
    freezer.move_to(T0 + timedelta(minutes=1))
    client = FakeClient()
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(unit="kWh"))
    forwarder = await start_forwarder(hass, make_entry(hass), client, [mapping])
    # 8 kWh went by while Home Assistant was down: not spread, not lumped
    assert client.sent() == [(S, pytest.approx(1.0))]
    await forwarder.async_stop()


async def test_a_meter_recorded_exactly_on_a_boundary_after_downtime_sends_that_step(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Home Assistant was down until S+40; the meter's first state is at S+45:00.

    The step from S+45 starts with that reading (the 8 kWh counted while Home
    Assistant was down are in no step).
    """
    await _record(
        hass,
        freezer,
        [
            (timedelta(0), "100.0", METER),
            (timedelta(minutes=14), "101.0", METER),
            (timedelta(minutes=45), "109.0", METER),  # exactly on a boundary
            (timedelta(minutes=55), "109.5", METER),
        ],
    )
    await _set_runs(
        hass,
        [(S - timedelta(hours=1), S + timedelta(minutes=16), False)],
        S + timedelta(minutes=40),
    )
    hass_storage[STORE_KEY] = _stored(S)
    freezer.move_to(T0 + timedelta(minutes=1))
    client = FakeClient()
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(unit="kWh"))
    forwarder = await start_forwarder(hass, make_entry(hass), client, [mapping])
    assert client.sent() == [(S, pytest.approx(1.0)), (S + 3 * Q, pytest.approx(0.5))]
    await forwarder.async_stop()


async def test_backfill_converts_each_past_state_with_the_unit_it_had(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    await _record(
        hass,
        freezer,
        [
            (timedelta(0), "1000", {"unit_of_measurement": "W"}),
            (timedelta(minutes=15), "2", KW),  # the integration switched to kW
        ],
    )
    hass_storage[STORE_KEY] = _stored(S)
    freezer.move_to(S + 2 * Q + timedelta(minutes=1))
    client = FakeClient()
    forwarder = await start_forwarder(hass, make_entry(hass), client)
    assert client.sent() == [(S, pytest.approx(1.0)), (S + Q, pytest.approx(2.0))]
    await forwarder.async_stop()


async def test_a_seven_day_backfill_of_a_pt1m_sensor_fits_in_the_outbox(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    minute = timedelta(minutes=1)
    now = T0 + timedelta(seconds=30)
    begin = T0 - timedelta(days=7)
    freezer.move_to(begin - minute)
    hass.states.async_set(ENTITY, "1", KW)
    await async_wait_recording_done(hass)
    hass_storage[STORE_KEY] = _stored(begin)
    freezer.move_to(now)
    client = FakeClient()
    client.fail = lambda _sensor_id: FlexMeasuresConnectionError("down")
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(resolution=minute))
    forwarder = await start_forwarder(hass, make_entry(hass), client, [mapping])
    diagnostics = forwarder.as_diagnostics()["mappings"]["sub1"]
    assert diagnostics["outbox_length"] == 7 * 24 * 60
    assert diagnostics["dropped"] == 0
    await forwarder.async_stop()


class TestClockJump:
    """A forward jump of the clock (NTP fixing a Raspberry Pi's time) is a gap."""

    @pytest.fixture(autouse=True)
    def auto_enable_custom_integrations(self, enable_custom_integrations: None) -> None:
        """No recorder needed."""

    async def test_a_forward_jump_longer_than_a_step_is_not_filled(
        self, hass: HomeAssistant, freezer: FrozenDateTimeFactory
    ) -> None:
        monotonic = [1000.0]
        with patch(
            "custom_components.flexmeasures.gaps.monotonic",
            side_effect=lambda: monotonic[0],
        ):
            freezer.move_to(T0)
            hass.states.async_set(ENTITY, "2", KW)
            client = FakeClient()
            forwarder = await start_forwarder(hass, make_entry(hass), client)
            monotonic[0] += 60
            await at(hass, freezer, T0 + timedelta(minutes=1))
            # the wall clock jumps 2 hours ahead; 5 seconds really went by
            monotonic[0] += 5
            await at(hass, freezer, T0 + timedelta(hours=2, minutes=1, seconds=5))
            hass.states.async_set(ENTITY, "4", KW)
            monotonic[0] += 13 * 60 + 55  # (a 5 s difference would be a set-back)
            await at(hass, freezer, T0 + timedelta(hours=2, minutes=15))
            await forwarder.async_stop()
        assert client.sent() == [
            (T0, pytest.approx(2.0)),  # the minute (and 5 s) really covered
            (T0 + 8 * Q, pytest.approx(4.0)),
        ]


async def test_unknown_runs_rebuild_nothing_rather_than_guess(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _record(hass, freezer, [(timedelta(0), "1", KW)])
    hass_storage[STORE_KEY] = _stored(S)
    freezer.move_to(T0 + timedelta(minutes=1))
    client = FakeClient()
    with patch(
        "custom_components.flexmeasures.backfill._recorder_downtimes",
        side_effect=RuntimeError("database is locked"),
    ):
        forwarder = await start_forwarder(hass, make_entry(hass), client)
    assert client.calls == []
    assert "not rebuilt (rather than guessed)" in caplog.text
    await at(hass, freezer, T0 + Q)
    assert client.sent() == [(T0, 1.0)]  # live data flows
    await forwarder.async_stop()


async def test_only_mappings_with_a_last_step_are_rebuilt(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    await _record(hass, freezer, [(timedelta(0), "1", KW)])
    await _record(hass, freezer, [(timedelta(0), "7", KW)], entity_id="sensor.new")
    hass_storage[STORE_KEY] = _stored(S)
    freezer.move_to(S + Q + timedelta(seconds=30))
    hass.states.async_remove(ENTITY)  # gone now: its history still counts
    freezer.move_to(S + Q + timedelta(minutes=1))
    client = FakeClient()
    mappings = [
        MeasurementMapping("sub1", ENTITY, make_sensor(8)),
        MeasurementMapping("new", "sensor.new", make_sensor(9)),  # no last step
        MeasurementMapping(
            "now", "sensor.new", make_sensor(10, resolution=timedelta(0))
        ),
    ]
    forwarder = await start_forwarder(hass, make_entry(hass), client, mappings)
    assert client.sent() == [(S, 1.0)]
    await forwarder.async_stop()


async def test_a_fresh_start_with_the_recorder_rebuilds_nothing(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1", KW)
    client = FakeClient()
    forwarder = await start_forwarder(hass, make_entry(hass), client)
    await at(hass, freezer, T0 + Q)
    assert client.sent() == [(T0, 1.0)]
    await forwarder.async_stop()


class TestClockJumpOnAState:
    """A jump seen on a state change; only steps shorter than the jump get a gap."""

    @pytest.fixture(autouse=True)
    def auto_enable_custom_integrations(self, enable_custom_integrations: None) -> None:
        """No recorder needed."""

    async def test_jump_seen_on_a_state_change(
        self, hass: HomeAssistant, freezer: FrozenDateTimeFactory
    ) -> None:
        monotonic = [1000.0]
        day = timedelta(days=1)
        start = datetime(2026, 1, 5, tzinfo=ZoneInfo("Europe/Amsterdam"))
        with patch(
            "custom_components.flexmeasures.gaps.monotonic",
            side_effect=lambda: monotonic[0],
        ):
            freezer.move_to(start)
            hass.states.async_set(ENTITY, "2", KW)
            client = FakeClient()
            mappings = [
                MeasurementMapping("q", ENTITY, make_sensor(8)),
                MeasurementMapping("d", ENTITY, make_sensor(9, resolution=day)),
            ]
            entry = make_entry(hass)
            forwarder = await start_forwarder(hass, entry, client, mappings)
            freezer.move_to(start + timedelta(hours=3))  # jumps; no timer runs
            hass.states.async_set(ENTITY, "4", KW)
            await hass.async_block_till_done()
            assert forwarder.as_diagnostics()["clock_jumps"] == [
                [
                    start.astimezone(UTC).isoformat(),
                    (start + timedelta(hours=3)).astimezone(UTC).isoformat(),
                ]
            ]
            monotonic[0] += 21 * 3600  # the rest of the day really goes by
            await at(hass, freezer, start + day)
            await forwarder.async_stop()
        assert client.sent(8)[0] == (start + timedelta(hours=3), 4.0)
        # a day is longer than the jump: the day's mean holds 2 kW for 3 hours
        assert client.sent(9) == [(start, pytest.approx((2 * 3 + 4 * 21) / 24))]


class TestClockSetBack:
    """A clock set back (NTP) never lumps two clocks into a step, nor re-sends one."""

    @pytest.fixture(autouse=True)
    def auto_enable_custom_integrations(self, enable_custom_integrations: None) -> None:
        """No recorder needed."""

    async def test_a_power_step_open_when_the_clock_is_set_back_counts_from_then(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        monotonic = [1000.0]
        with patch(
            "custom_components.flexmeasures.gaps.monotonic",
            side_effect=lambda: monotonic[0],
        ):
            freezer.move_to(T0)
            hass.states.async_set(ENTITY, "1", KW)
            client = FakeClient()
            forwarder = await start_forwarder(hass, make_entry(hass), client)
            monotonic[0] += 600
            await at(hass, freezer, T0 + timedelta(minutes=10))
            hass.states.async_set(ENTITY, "3", KW)
            # two real minutes later the clock is set back 5 minutes
            monotonic[0] += 120
            freezer.move_to(T0 + timedelta(minutes=7))
            monotonic[0] += 60
            await at(hass, freezer, T0 + timedelta(minutes=8))
            hass.states.async_set(ENTITY, "5", KW)
            monotonic[0] += 7 * 60
            await at(hass, freezer, T0 + Q)
            await forwarder.async_stop()
        # measured from the set-back on (12:08, when it was seen): 5 kW
        assert client.sent() == [(T0, pytest.approx(5.0))]
        assert "The clock was set back" in caplog.text

    async def test_a_meter_started_with_the_clock_behind_its_last_step_waits(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        hass_storage: dict[str, Any],
    ) -> None:
        """A Pi boots an hour behind: the hour is not sent again, nor lumped."""
        last_end = T0 + timedelta(hours=1)
        hass_storage[STORE_KEY] = _stored(
            last_end,
            unit="kWh",
            resolution=900.0,
            timezone="Europe/Amsterdam",
            per_step=True,
        )
        hass_storage[STORE_KEY]["minor_version"] = 2
        freezer.move_to(T0)
        meter = "sensor.grid_import"
        hass.states.async_set(meter, "100.0", METER)
        client = FakeClient()
        mapping = MeasurementMapping("sub1", meter, make_sensor(unit="kWh"))
        forwarder = await start_forwarder(hass, make_entry(hass), client, [mapping])
        for minutes, reading in ((10, "101.0"), (50, "104.0"), (65, "104.5")):
            await at(hass, freezer, T0 + timedelta(minutes=minutes))
            hass.states.async_set(meter, reading, METER)
        await at(hass, freezer, last_end + Q)
        await forwarder.async_stop()
        assert client.sent() == [(last_end, pytest.approx(0.5))]


class TestReplay:
    """The rebuild gives the event loop turns, and loses no state meanwhile."""

    @pytest.fixture(autouse=True)
    def auto_enable_custom_integrations(self, enable_custom_integrations: None) -> None:
        """No recorder needed (the history is given)."""

    async def test_a_state_that_changes_while_replaying_is_followed(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        hass_storage: dict[str, Any],
    ) -> None:
        hass_storage[STORE_KEY] = _stored(
            T0, unit="kW", resolution=900.0, timezone="Europe/Amsterdam"
        )
        hass_storage[STORE_KEY]["minor_version"] = 2
        freezer.move_to(T0 + timedelta(minutes=10))
        hass.states.async_set(ENTITY, "1", KW)
        past = [
            State(ENTITY, "1", KW, last_updated=T0 + timedelta(seconds=index))
            for index in range(600)
        ]

        async def history(*_args: Any) -> tuple[dict[str, Any], list[Any]]:
            return {"sub1": (T0.timestamp(), past)}, []

        async def change_meanwhile() -> None:
            for _ in range(3):  # the replay is under way
                await asyncio.sleep(0)
            hass.states.async_set(ENTITY, "9", KW)

        task = hass.async_create_task(change_meanwhile())
        client = FakeClient()
        with (
            patch("custom_components.flexmeasures.backfill.REPLAY_CHUNK", 50),
            patch(
                "custom_components.flexmeasures.forwarder.async_history",
                side_effect=history,
            ),
        ):
            forwarder = await start_forwarder(hass, make_entry(hass), client)
        await task
        await at(hass, freezer, T0 + Q)
        await forwarder.async_stop()
        assert client.sent() == [(T0, pytest.approx((10 * 1 + 5 * 9) / 15))]


async def test_a_clock_set_back_leaves_an_instantaneous_sensor_as_it_is(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Every sample of an instantaneous sensor stands alone: nothing to start again."""
    monotonic = [1000.0]
    with patch(
        "custom_components.flexmeasures.gaps.monotonic",
        side_effect=lambda: monotonic[0],
    ):
        freezer.move_to(T0)
        hass.states.async_set(ENTITY, "1", KW)
        hass.states.async_set("sensor.spot", "7", KW)
        client = FakeClient()
        mappings = [
            MeasurementMapping("sub1", ENTITY, make_sensor(8)),
            MeasurementMapping(
                "sub2", "sensor.spot", make_sensor(9, resolution=timedelta(0))
            ),
        ]
        forwarder = await start_forwarder(hass, make_entry(hass), client, mappings)
        monotonic[0] += 600
        await at(hass, freezer, T0 + timedelta(minutes=10))
        monotonic[0] += 60  # one real minute later the clock is set back 5
        freezer.move_to(T0 + timedelta(minutes=6))
        hass.states.async_set("sensor.spot", "8", KW)
        await hass.async_block_till_done()
        monotonic[0] += 10 * 60
        await at(hass, freezer, T0 + Q + timedelta(minutes=1))
        await forwarder.async_stop()
    assert [value for _, value in client.sent(9)] == [8.0]
    assert client.sent(8) == [(T0, pytest.approx(1.0))]


async def test_a_state_of_a_later_step_while_replaying_closes_the_step_before(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    hass_storage[STORE_KEY] = _stored(
        T0, unit="kW", resolution=900.0, timezone="Europe/Amsterdam"
    )
    hass_storage[STORE_KEY]["minor_version"] = 2
    freezer.move_to(T0 + timedelta(minutes=10))
    hass.states.async_set(ENTITY, "1", KW)
    past = [
        State(ENTITY, "1", KW, last_updated=T0 + timedelta(seconds=index))
        for index in range(600)
    ]

    async def history(*_args: Any) -> tuple[dict[str, Any], list[Any]]:
        return {"sub1": (T0.timestamp(), past)}, []

    async def change_meanwhile() -> None:
        for _ in range(3):  # the replay is under way; the clock goes on
            await asyncio.sleep(0)
        freezer.move_to(T0 + Q + timedelta(minutes=5))
        hass.states.async_set(ENTITY, "9", KW)

    task = hass.async_create_task(change_meanwhile())
    client = FakeClient()
    with (
        patch("custom_components.flexmeasures.backfill.REPLAY_CHUNK", 50),
        patch(
            "custom_components.flexmeasures.forwarder.async_history",
            side_effect=history,
        ),
    ):
        forwarder = await start_forwarder(hass, make_entry(hass), client)
    await task
    assert client.sent() == [(T0, pytest.approx(1.0))]  # sent at once
    await at(hass, freezer, T0 + 2 * Q)
    await forwarder.async_stop()
    assert client.sent()[1] == (T0 + Q, pytest.approx((5 * 1 + 10 * 9) / 15))
