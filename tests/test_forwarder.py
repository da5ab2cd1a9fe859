"""MeasurementForwarder: HA states -> steps -> outbox -> FlexMeasures."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flexmeasures import outbox as outbox_module
from custom_components.flexmeasures.api import (
    FlexMeasuresAuthenticationError,
    FlexMeasuresConnectionError,
    FlexMeasuresInvalidRequestError,
    FlexMeasuresRateLimitError,
    FlexMeasuresServerError,
)
from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.forwarder import MeasurementMapping

from .common import mock_account_entry
from .forwarder_common import (
    ENTITY,
    ENTRY_ID,
    STORE_KEY,
    T0,
    FakeClient,
    Q,
    at,
    make_entry,
    make_sensor,
    start_forwarder,
)

_sensor = make_sensor


@pytest.fixture
def entry(hass: HomeAssistant) -> MockConfigEntry:
    return make_entry(hass)


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


_start = start_forwarder
_at = at


async def test_step_is_time_weighted_converted_and_sent_at_its_end(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1000", {"unit_of_measurement": "W"})
    forwarder = await _start(hass, entry, client)
    await _at(hass, freezer, T0 + timedelta(minutes=10))
    hass.states.async_set(ENTITY, "4000", {"unit_of_measurement": "W"})
    await _at(hass, freezer, T0 + timedelta(minutes=14))
    assert client.calls == []  # the step is not over yet
    await _at(hass, freezer, T0 + Q)
    assert client.calls == [
        {
            "sensor_id": 8,
            "start": T0,
            "duration": Q,
            "values": [pytest.approx(2.0)],  # (1 kW * 10 + 4 kW * 5) / 15
            "unit": "kW",
            "prior": None,
        }
    ]
    diag = forwarder.as_diagnostics()["mappings"]["sub1"]
    assert diag["last_delivered_step_end"] == (T0 + Q).isoformat()
    assert diag["outbox_length"] == 0
    await forwarder.async_stop()


async def test_unavailable_is_a_gap_and_an_empty_step_is_not_sent(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "3", {"unit_of_measurement": "kW"})
    forwarder = await _start(hass, entry, client)
    await _at(hass, freezer, T0 + timedelta(minutes=5))
    hass.states.async_set(ENTITY, "unavailable")
    await _at(hass, freezer, T0 + Q)
    await _at(hass, freezer, T0 + 2 * Q)  # nothing valid in this step
    hass.states.async_remove(ENTITY)
    await _at(hass, freezer, T0 + 3 * Q)
    assert [call["values"] for call in client.calls] == [[3.0]]  # not 1.0
    await forwarder.async_stop()


async def test_outage_is_retried_with_backoff_and_sent_in_one_request(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "2", {"unit_of_measurement": "kW"})
    forwarder = await _start(hass, entry, client)
    client.errors = [
        FlexMeasuresServerError("boom", status=500),
        FlexMeasuresConnectionError("refused"),
        FlexMeasuresRateLimitError("slow down", status=429),
    ] + [FlexMeasuresServerError("boom", status=502)] * 4
    now = T0 + Q
    await _at(hass, freezer, now)  # the first attempt fails
    assert len(client.calls) == 1
    # retries after 10 s doubling, up to 10 minutes
    for delay in (10, 20, 40, 80, 160, 320):
        await _at(hass, freezer, now + timedelta(seconds=delay - 1))
        assert len(client.calls) == 1 + [10, 20, 40, 80, 160, 320].index(delay)
        now += timedelta(seconds=delay)
        await _at(hass, freezer, now)
    assert len(client.calls) == 7
    assert forwarder.as_diagnostics()["retry_in_seconds"] == 600.0
    hass.states.async_set(ENTITY, "4", {"unit_of_measurement": "kW"})
    await _at(hass, freezer, T0 + 2 * Q)  # a second step closes meanwhile
    assert len(client.calls) == 7
    await _at(hass, freezer, now + timedelta(seconds=600))
    last = client.calls[-1]
    assert len(client.calls) == 8
    assert last["start"] == T0
    assert last["duration"] == 2 * Q
    assert last["values"][0] == 2.0
    assert forwarder.as_diagnostics()["mappings"]["sub1"]["outbox_length"] == 0
    assert forwarder.as_diagnostics()["retry_in_seconds"] is None
    await forwarder.async_stop()


async def test_an_outage_is_logged_once_and_its_end_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.flexmeasures")
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "2", {"unit_of_measurement": "kW"})
    forwarder = await _start(hass, entry, client)
    client.errors = [FlexMeasuresConnectionError("refused")] * 3
    await _at(hass, freezer, T0 + Q)
    for delay in (10, 30, 70):  # three failures in all, then it goes through
        await _at(hass, freezer, T0 + Q + timedelta(seconds=delay))
    assert len(client.calls) == 4
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert sum("Cannot deliver measurements" in m for m in infos) == 1
    assert sum("delivered to FlexMeasures again" in m for m in infos) == 1
    await forwarder.async_stop()


async def test_rejected_data_is_counted_raises_an_issue_and_is_not_retried(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "2", {"unit_of_measurement": "kW"})
    forwarder = await _start(hass, entry, client)
    client.errors = [
        FlexMeasuresInvalidRequestError("bad resolution", status=422),
        FlexMeasuresInvalidRequestError("bad resolution", status=422),
    ]
    await _at(hass, freezer, T0 + Q)
    await _at(hass, freezer, T0 + 2 * Q)
    await _at(hass, freezer, T0 + 2 * Q + timedelta(minutes=10))
    assert len(client.calls) == 2  # no retries
    diag = forwarder.as_diagnostics()["mappings"]["sub1"]
    assert diag["rejected"] == 2
    assert diag["outbox_length"] == 0
    issue = issue_registry.async_get_issue(DOMAIN, "measurements_rejected_sub1")
    assert issue is not None
    assert issue.translation_key == "measurements_rejected"
    assert issue.translation_placeholders == {
        "entity_id": ENTITY,
        "sensor_id": "8",
        "error": "422: bad resolution",
    }
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and r.name.startswith("custom_components")
    ]
    assert len(warnings) == 1  # logged once
    assert "rejected" in warnings[0]
    # data accepted again clears the issue
    await _at(hass, freezer, T0 + 3 * Q)
    assert len(client.calls) == 3
    assert issue_registry.async_get_issue(DOMAIN, "measurements_rejected_sub1") is None
    await forwarder.async_stop()


async def test_rejected_login_starts_reauth_and_the_outbox_waits(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "2", {"unit_of_measurement": "kW"})
    forwarder = await _start(hass, entry, client)
    client.errors = [FlexMeasuresAuthenticationError("bad password")]
    with patch.object(entry, "async_start_reauth") as start_reauth:
        await _at(hass, freezer, T0 + Q)
        await _at(hass, freezer, T0 + 2 * Q)
    start_reauth.assert_called_once_with(hass)
    assert len(client.calls) == 1
    diag = forwarder.as_diagnostics()
    assert diag["waiting_for_reauth"] is True
    assert diag["mappings"]["sub1"]["outbox_length"] == 2
    await forwarder.async_stop()


async def test_outbox_survives_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
    hass_storage: dict[str, Any],
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "5", {"unit_of_measurement": "kW"})
    forwarder = await _start(hass, entry, client)
    client.errors = [FlexMeasuresConnectionError("down")]
    await _at(hass, freezer, T0 + Q)
    await forwarder.async_stop()
    saved = hass_storage[STORE_KEY]["data"]["tracks"]["sub1"]
    assert saved["outbox"] == [[T0.timestamp(), 5.0]]
    assert saved["last_end"] == (T0 + Q).timestamp()

    second = FakeClient()
    forwarder = await _start(hass, entry, second)
    assert [(c["start"], c["values"]) for c in second.calls] == [(T0, [5.0])]
    await forwarder.async_stop()


async def test_full_outbox_drops_the_oldest_and_says_so(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1", {"unit_of_measurement": "kW"})
    with patch.object(outbox_module, "OUTBOX_SECONDS", 900.0):  # 2 values
        forwarder = await _start(hass, entry, client)
    client.errors = [FlexMeasuresConnectionError("down")] * 3
    for index in range(1, 4):
        hass.states.async_set(ENTITY, str(index + 1), {"unit_of_measurement": "kW"})
        await _at(hass, freezer, T0 + index * Q)
    diag = forwarder.as_diagnostics()["mappings"]["sub1"]
    assert diag["outbox_length"] == 2
    assert diag["dropped"] == 1
    assert caplog.text.count("is full") == 1
    client.errors = []
    await _at(hass, freezer, T0 + 3 * Q + timedelta(minutes=5))
    assert client.calls[-1]["start"] == T0 + Q
    assert client.calls[-1]["values"] == [3.0, 4.0]
    await forwarder.async_stop()


async def test_incompatible_unit_is_rejected_locally(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
    issue_registry: ir.IssueRegistry,
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1", {"unit_of_measurement": "kWh"})
    forwarder = await _start(hass, entry, client)
    await _at(hass, freezer, T0 + Q)
    assert client.calls == []
    assert forwarder.as_diagnostics()["mappings"]["sub1"]["rejected"] == 1
    assert issue_registry.async_get_issue(DOMAIN, "measurements_rejected_sub1")
    await forwarder.async_stop()


async def test_instantaneous_sensor_gets_each_sample(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    freezer.move_to(T0)
    mapping = MeasurementMapping(
        "sub1", ENTITY, _sensor(unit="%", resolution=timedelta(0))
    )
    forwarder = await _start(hass, entry, client, [mapping])
    hass.states.async_set(ENTITY, "50", {"unit_of_measurement": "%"})
    await _at(hass, freezer, T0 + timedelta(seconds=1))
    hass.states.async_set(ENTITY, "unknown", {"unit_of_measurement": "%"})
    hass.states.async_set(ENTITY, "51", {"unit_of_measurement": "%"})
    await _at(hass, freezer, T0 + timedelta(seconds=10))
    assert [(c["start"], c["duration"], c["values"]) for c in client.calls] == [
        (T0, timedelta(0), [50.0]),
        (T0 + timedelta(seconds=1), timedelta(0), [51.0]),
    ]
    await forwarder.async_stop()


NORD_POOL = {
    "unit_of_measurement": "EUR/kWh",
    "raw_today": [
        {
            "start": (T0 + timedelta(hours=h)).isoformat(),
            "end": (T0 + timedelta(hours=h + 1)).isoformat(),
            "value": 0.1 * (h + 1),
        }
        for h in range(2)
    ],
    "raw_tomorrow": [],
}
ENTSOE = {
    "unit_of_measurement": "EUR/kWh",
    "prices_today": [
        {"time": (T0 + timedelta(hours=h)).isoformat(), "price": 0.1 * (h + 1)}
        for h in range(2)
    ],
}
GENERIC = {
    "unit_of_measurement": "EUR/kWh",
    "forecast": [
        {"datetime": (T0 + timedelta(hours=h)).isoformat(), "value": 0.1 * (h + 1)}
        for h in range(2)
    ],
}


@pytest.mark.parametrize(
    ("attribute", "attributes"),
    [("raw_today", NORD_POOL), ("prices_today", ENTSOE), ("forecast", GENERIC)],
)
async def test_forecast_attribute_is_sent_resampled_with_prior_now(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
    attribute: str,
    attributes: dict[str, Any],
) -> None:
    freezer.move_to(T0)
    sensor = _sensor(sensor_id=3, unit="EUR/MWh", resolution=Q)
    mapping = MeasurementMapping("sub1", "sensor.price", sensor, attribute)
    hass.states.async_set("sensor.price", "0.1", attributes)
    forwarder = await _start(hass, entry, client, [mapping])
    forecasts = [c for c in client.calls if c["prior"] is not None]
    assert len(forecasts) == 1
    assert forecasts[0]["start"] == T0
    assert forecasts[0]["duration"] == 8 * Q
    assert forecasts[0]["values"] == pytest.approx([100.0] * 4 + [200.0] * 4)
    assert forecasts[0]["prior"] == T0
    # the same forecast with another state: not sent again
    hass.states.async_set("sensor.price", "0.2", attributes)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len([c for c in client.calls if c["prior"] is not None]) == 1
    # a changed forecast is sent again
    changed = {**attributes, attribute: attributes[attribute][1:]}
    hass.states.async_set("sensor.price", "0.2", changed)
    await hass.async_block_till_done(wait_background_tasks=True)
    forecasts = [c for c in client.calls if c["prior"] is not None]
    assert len(forecasts) == 2
    assert forecasts[1]["start"] == T0 + timedelta(hours=1)
    assert forecasts[1]["values"][0] == pytest.approx(200.0)
    await forwarder.async_stop()


async def test_forecast_with_gaps_goes_in_runs_and_survives_a_retry(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    freezer.move_to(T0)
    sensor = _sensor(sensor_id=3, unit="EUR/kWh", resolution=timedelta(hours=1))
    mapping = MeasurementMapping("sub1", "sensor.price", sensor, "forecast")
    forwarder = await _start(hass, entry, client, [mapping])
    client.errors = [FlexMeasuresServerError("busy", status=503)]
    points = [
        {
            "start": (T0 + timedelta(hours=h)).isoformat(),
            "end": (T0 + timedelta(hours=h + 1)).isoformat(),
            "value": h,
        }
        for h in (0, 2)
    ]
    hass.states.async_set("sensor.price", "0", {"forecast": points})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(client.calls) == 1
    await _at(hass, freezer, T0 + timedelta(seconds=11))
    assert [(c["start"], c["values"]) for c in client.calls[1:]] == [
        (T0, [0.0]),
        (T0 + timedelta(hours=2), [2.0]),
    ]
    await forwarder.async_stop()


async def test_rejected_forecast_and_unconvertible_forecast_are_counted(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    freezer.move_to(T0)
    sensor = _sensor(sensor_id=3, unit="EUR/MWh")
    mapping = MeasurementMapping("sub1", "sensor.price", sensor, "forecast")
    forwarder = await _start(hass, entry, client, [mapping])
    client.errors = [FlexMeasuresInvalidRequestError("no", status=422)]
    hass.states.async_set(
        "sensor.price", "0", {"unit_of_measurement": "EUR/kWh", **GENERIC}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert forwarder.as_diagnostics()["mappings"]["sub1"]["rejected"] == 8
    hass.states.async_set(
        "sensor.price",
        "0",
        {"unit_of_measurement": "SEK/kWh", "forecast": GENERIC["forecast"][:1]},
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert forwarder.as_diagnostics()["mappings"]["sub1"]["rejected"] == 9
    assert len(client.calls) == 1
    await forwarder.async_stop()


class TestBackfill:
    """Steps missed while Home Assistant was down come from the recorder."""

    @pytest.fixture(autouse=True)
    def auto_enable_custom_integrations(  # overrides conftest: recorder first
        self, recorder_mock: Any, enable_custom_integrations: None
    ) -> None:
        """Start the recorder before hass."""

    async def test_missed_steps_are_rebuilt_and_sent_in_one_request(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        hass_storage: dict[str, Any],
    ) -> None:
        from pytest_homeassistant_custom_component.components.recorder.common import (  # noqa: PLC0415
            async_wait_recording_done,
        )

        start = T0 - timedelta(hours=1)
        freezer.move_to(start)
        hass.states.async_set(ENTITY, "1", {"unit_of_measurement": "kW"})
        freezer.move_to(start + timedelta(minutes=20))
        hass.states.async_set(ENTITY, "3", {"unit_of_measurement": "kW"})
        freezer.move_to(start + timedelta(minutes=40))
        hass.states.async_set(ENTITY, "unavailable")
        freezer.move_to(start + timedelta(minutes=50))
        hass.states.async_set(ENTITY, "5", {"unit_of_measurement": "kW"})
        await async_wait_recording_done(hass)
        hass_storage[STORE_KEY] = {
            "version": 1,
            "minor_version": 1,
            "key": STORE_KEY,
            "data": {
                "tracks": {
                    "sub1": {
                        "sensor_id": 8,
                        "outbox": [],
                        "last_end": start.timestamp(),
                        "delivered_end": start.timestamp(),
                    }
                }
            },
        }
        freezer.move_to(T0 + timedelta(minutes=1))
        config_entry = mock_account_entry(entry_id=ENTRY_ID)
        config_entry.add_to_hass(hass)
        client = FakeClient()
        forwarder = await _start(hass, config_entry, client)
        assert len(client.calls) == 1
        call = client.calls[0]
        assert call["start"] == start
        assert call["duration"] == timedelta(hours=1)
        # 00-15: 1; 15-30: (5*1 + 10*3)/15; 30-45: 3 (10 min, then a gap); 45-60
        assert call["values"] == pytest.approx([1.0, 35 / 15, 3.0, 5.0])
        await forwarder.async_stop()


async def test_late_state_change_closes_the_steps_before_it(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "2", {"unit_of_measurement": "kW"})
    forwarder = await _start(hass, entry, client)
    freezer.move_to(T0 + Q + timedelta(seconds=30))  # the timer has not run
    hass.states.async_set(ENTITY, "6", {"unit_of_measurement": "kW"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [(c["start"], c["values"]) for c in client.calls] == [(T0, [2.0])]
    await forwarder.async_stop()


async def test_stop_while_sending_keeps_the_outbox(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    release = asyncio.Event()

    class SlowClient(FakeClient):
        async def post_sensor_data(self, sensor_id: int, **kwargs: Any) -> str:
            await release.wait()
            return "PROCESSED"

    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "2", {"unit_of_measurement": "kW"})
    forwarder = await _start(hass, entry, SlowClient())
    freezer.move_to(T0 + Q)
    async_fire_time_changed(hass, T0 + Q)
    await hass.async_block_till_done()
    await forwarder.async_stop()
    saved = hass_storage[STORE_KEY]["data"]["tracks"]["sub1"]
    assert saved["outbox"] == [[T0.timestamp(), 2.0]]


class TestRestartWithinAStep:
    """A restart inside the step after the last queued one rebuilds no step."""

    @pytest.fixture(autouse=True)
    def auto_enable_custom_integrations(
        self, recorder_mock: Any, enable_custom_integrations: None
    ) -> None:
        """Start the recorder before hass."""

    async def test_nothing_to_rebuild_and_live_data_flows(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        hass_storage: dict[str, Any],
    ) -> None:
        freezer.move_to(T0 + timedelta(minutes=5))
        hass_storage[STORE_KEY] = {
            "version": 1,
            "minor_version": 1,
            "key": STORE_KEY,
            "data": {"tracks": {"sub1": {"sensor_id": 8, "last_end": T0.timestamp()}}},
        }
        hass.states.async_set(ENTITY, "2", {"unit_of_measurement": "kW"})
        config_entry = mock_account_entry(entry_id=ENTRY_ID)
        config_entry.add_to_hass(hass)
        client = FakeClient()
        forwarder = await _start(hass, config_entry, client)
        assert client.calls == []
        await _at(hass, freezer, T0 + Q)
        assert [(c["start"], c["values"]) for c in client.calls] == [(T0, [2.0])]
        await forwarder.async_stop()


class TestBackfillFailure:
    """A recorder that fails does not stop live measurements."""

    @pytest.fixture(autouse=True)
    def auto_enable_custom_integrations(
        self, recorder_mock: Any, enable_custom_integrations: None
    ) -> None:
        """Start the recorder before hass."""

    async def test_history_error_is_logged_and_live_data_flows(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        hass_storage: dict[str, Any],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        freezer.move_to(T0)
        hass_storage[STORE_KEY] = {
            "version": 1,
            "minor_version": 1,
            "key": STORE_KEY,
            "data": {
                "tracks": {
                    "sub1": {
                        "sensor_id": 8,
                        "last_end": (T0 - timedelta(hours=1)).timestamp(),
                    }
                }
            },
        }
        hass.states.async_set(ENTITY, "2", {"unit_of_measurement": "kW"})
        config_entry = mock_account_entry(entry_id=ENTRY_ID)
        config_entry.add_to_hass(hass)
        client = FakeClient()
        with patch(
            "homeassistant.components.recorder.history.get_significant_states",
            side_effect=RuntimeError("database is locked"),
        ):
            forwarder = await _start(hass, config_entry, client)
        assert "Could not read the history" in caplog.text
        await _at(hass, freezer, T0 + Q)
        assert [(c["start"], c["values"]) for c in client.calls] == [(T0, [2.0])]
        await forwarder.async_stop()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # 1000 W for 7 min, then 4 kW for 8 min: 2.6 kW, not a mix of raw numbers
        ([("1000", "W"), ("4", "kW")], 2.6),
        # 2000 W, unavailable without a unit, 2000 W: still W, and a gap
        ([("2000", "W"), ("unavailable", None), ("2000", "W")], 2.0),
        # °C does not convert to kW: a gap (counted as rejected) between W values
        ([("1000", "W"), ("20", "°C"), ("3000", "W")], 2.0),
        # °C to °F converts (affine): 20 °C for 7 min, 77 °F = 25 °C for 8 min
        ([("20", "°C"), ("77", "°F")], (20 * 7 + 25 * 8) / 15),
    ],
    ids=["w_to_kw", "gap_without_unit", "incompatible_between", "celsius_to_f"],
)
async def test_unit_change_within_a_step_keeps_the_step_in_one_unit(
    hass: HomeAssistant,
    *,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
    changes: list[tuple[str, str | None]],
    expected: float,
) -> None:
    sensor_unit = "°C" if changes[0][1] == "°C" else "kW"
    freezer.move_to(T0)
    first_state, first_unit = changes[0]
    hass.states.async_set(ENTITY, first_state, {"unit_of_measurement": first_unit})
    mapping = MeasurementMapping("sub1", ENTITY, _sensor(unit=sensor_unit))
    forwarder = await _start(hass, entry, client, [mapping])
    minutes = 15 // len(changes)
    for index, (state, unit) in enumerate(changes[1:], start=1):
        await _at(hass, freezer, T0 + timedelta(minutes=minutes * index))
        attributes = {} if unit is None else {"unit_of_measurement": unit}
        hass.states.async_set(ENTITY, state, attributes)
    await _at(hass, freezer, T0 + Q)
    assert [(c["start"], c["values"], c["unit"]) for c in client.calls] == [
        (T0, [pytest.approx(expected, abs=1e-3)], sensor_unit)
    ]
    await forwarder.async_stop()


async def test_unit_change_after_a_late_boundary_queues_the_old_step_in_its_unit(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    client: FakeClient,
) -> None:
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1000", {"unit_of_measurement": "W"})
    forwarder = await _start(hass, entry, client)
    # the step ended, its timer has not run yet, and the unit changes
    freezer.move_to(T0 + Q + timedelta(minutes=1))
    hass.states.async_set(ENTITY, "2", {"unit_of_measurement": "kW"})
    await hass.async_block_till_done(wait_background_tasks=True)
    await _at(hass, freezer, T0 + 2 * Q)
    assert [(c["start"], c["values"]) for c in client.calls] == [
        (T0, [pytest.approx(1.0)]),
        (T0 + Q, [pytest.approx((1 * 1 + 2 * 14) / 15)]),
    ]
    await forwarder.async_stop()
