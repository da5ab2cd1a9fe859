"""The outbox knows what its values were computed for (unit, resolution)."""

from __future__ import annotations

from datetime import timedelta
import logging
from types import MappingProxyType
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.flexmeasures.api import FlexMeasuresConnectionError
from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.forwarder import MeasurementMapping

from .forwarder_common import (
    ENTITY,
    STORE_KEY,
    T0,
    FakeClient,
    Q,
    make_entry,
    make_sensor,
    start_forwarder,
)

NOW = T0 + 2 * Q + timedelta(minutes=1)


def _stored(
    items: list[list[float]], *, minor: int = 2, **track: Any
) -> dict[str, Any]:
    saved = {
        "sensor_id": 8,
        "outbox": items,
        "last_end": (T0 + 2 * Q).timestamp(),
        **track,
    }
    if minor >= 2:
        saved = {
            "unit": "kW",
            "resolution": 900.0,
            "timezone": "Europe/Amsterdam",
            "per_step": False,
            **saved,
        }
    return {
        "version": 1,
        "minor_version": minor,
        "key": STORE_KEY,
        "data": {"tracks": {"sub1": saved}},
    }


TWO_STEPS = [[T0.timestamp(), 1.5], [(T0 + Q).timestamp(), 2.5]]


async def _restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    stored: dict[str, Any],
    mapping: MeasurementMapping,
) -> tuple[FakeClient, dict[str, Any]]:
    freezer.move_to(NOW)
    hass_storage[STORE_KEY] = stored
    client = FakeClient()
    forwarder = await start_forwarder(hass, make_entry(hass), client, [mapping])
    diagnostics = forwarder.as_diagnostics()["mappings"]["sub1"]
    await forwarder.async_stop()
    return client, diagnostics


async def test_unsent_values_follow_a_unit_change_on_the_server(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(8, unit="MW"))
    client, _ = await _restart(hass, freezer, hass_storage, _stored(TWO_STEPS), mapping)
    assert client.sent() == [
        (T0, pytest.approx(0.0015)),
        (T0 + Q, pytest.approx(0.0025)),
    ]
    assert client.calls[0]["unit"] == "MW"


async def test_reconfigured_to_another_sensor_the_unsent_values_go_there(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(12, unit="W"))
    client, diagnostics = await _restart(
        hass, freezer, hass_storage, _stored(TWO_STEPS), mapping
    )
    assert client.sent(12) == [(T0, pytest.approx(1500.0)), (T0 + Q, 2500.0)]
    assert diagnostics["dropped"] == 0


@pytest.mark.parametrize(
    "sensor",
    [
        make_sensor(8, resolution=timedelta(hours=1)),  # resolution changed
        make_sensor(8, unit="°C"),  # a unit that does not convert
    ],
    ids=["resolution", "unit"],
)
async def test_values_that_do_not_convert_are_dropped_counted_and_logged_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    sensor: Any,
) -> None:
    caplog.set_level(logging.WARNING)
    mapping = MeasurementMapping("sub1", ENTITY, sensor)
    client, diagnostics = await _restart(
        hass, freezer, hass_storage, _stored(TWO_STEPS, dropped=3), mapping
    )
    assert client.calls == []
    assert diagnostics["dropped"] == 5
    assert diagnostics["outbox_length"] == 0
    assert caplog.text.count("were computed for") == 1


async def test_energy_per_step_of_a_meter_converts_to_mean_power(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    stored = _stored([[T0.timestamp(), 0.5]], unit="kWh", per_step=True)
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(8, unit="kW"))
    client, _ = await _restart(hass, freezer, hass_storage, stored, mapping)
    assert client.sent() == [(T0, pytest.approx(2.0))]  # 0.5 kWh in 15 min


async def test_old_outbox_of_the_same_sensor_is_sent_as_before(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(8))
    client, _ = await _restart(
        hass, freezer, hass_storage, _stored(TWO_STEPS, minor=1), mapping
    )
    assert client.sent() == [(T0, 1.5), (T0 + Q, 2.5)]


async def test_old_outbox_of_another_sensor_is_dropped_and_counted_not_silently(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(12))
    client, diagnostics = await _restart(
        hass, freezer, hass_storage, _stored(TWO_STEPS, minor=1), mapping
    )
    assert client.calls == []
    assert diagnostics["dropped"] == 2
    assert "were computed for" in caplog.text


async def test_a_refusal_stays_known_across_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    issue_registry: ir.IssueRegistry,
) -> None:
    freezer.move_to(NOW)
    hass_storage[STORE_KEY] = _stored([], rejection="422: bad unit", rejected=4)
    client = FakeClient()
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(8))
    forwarder = await start_forwarder(hass, make_entry(hass), client, [mapping])
    issue = issue_registry.async_get_issue(DOMAIN, "measurements_rejected_sub1")
    assert issue is not None
    assert issue.translation_placeholders == {
        "entity_id": ENTITY,
        "sensor_id": "8",
        "error": "422: bad unit",
    }
    status = forwarder.status("sub1")
    assert status is not None
    assert (status.rejection, status.rejected) == ("422: bad unit", 4)
    assert forwarder.status("another") is None
    await forwarder.async_stop()


async def test_a_stored_outbox_of_a_mapping_skipped_now_is_kept(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """A sensor the server did not answer for at setup keeps its unsent values."""
    freezer.move_to(NOW)
    stored = _stored(TWO_STEPS)
    stored["data"]["tracks"]["gone"] = stored["data"]["tracks"]["sub1"]
    hass_storage[STORE_KEY] = stored
    entry = make_entry(hass)
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType({"entity_id": ENTITY, "sensor": "8"}),
            subentry_id="sub1",
            subentry_type="measurement",
            title="kept",
            unique_id="kept",
        ),
    )
    client = FakeClient()
    mapping = MeasurementMapping("other", ENTITY, make_sensor(8))
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    await forwarder.async_stop()
    tracks = hass_storage[STORE_KEY]["data"]["tracks"]
    assert set(tracks) == {"sub1", "other"}  # "gone" has no subentry any more
    assert tracks["sub1"]["outbox"] == TWO_STEPS


async def test_malformed_stored_values_are_skipped_and_counted_dropped(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """A hand-edited or damaged store: the good values go up, the rest is counted."""
    start = T0.timestamp()
    items: list[Any] = [
        [start, None],  # what an inf step used to be saved as
        ["soon", 1.0],
        [start + 900, 2.5],
        7,
        [start + 1800],
        [start + 2700, "nan"],
    ]
    stored = _stored(items, dropped=1)
    stored["data"]["gaps"] = [[start, None], [start, start + 1]]
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(8))
    client, diagnostics = await _restart(hass, freezer, hass_storage, stored, mapping)
    assert client.sent() == [(T0 + Q, 2.5)]
    assert diagnostics["dropped"] == 1 + 5


async def test_a_damaged_track_or_counter_does_not_stop_the_start(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    stored = _stored(TWO_STEPS, last_end="later", rejected=None, dropped="x")
    stored["data"]["tracks"]["other"] = ["not", "a", "track"]
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(8))
    client, diagnostics = await _restart(hass, freezer, hass_storage, stored, mapping)
    assert client.sent() == [(T0, 1.5), (T0 + Q, 2.5)]
    assert (diagnostics["rejected"], diagnostics["dropped"]) == (0, 0)


def _stored_forecasts(forecasts: list[Any]) -> dict[str, Any]:
    stored = _stored([], unit="EUR/kWh", resolution=3600.0)
    stored["data"]["tracks"]["sub1"]["forecasts"] = forecasts
    return stored


H = timedelta(hours=1)
PRICES = [[(T0 + 3 * H).timestamp(), 0.25], [(T0 + 4 * H).timestamp(), 0.5]]


async def test_a_stored_forecast_is_sent_after_a_restart_in_the_sensors_unit(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    known = T0 - timedelta(minutes=30)
    stored = _stored_forecasts([{"prior": known.isoformat(), "items": PRICES}])
    sensor = make_sensor(3, unit="EUR/MWh", resolution=H)
    mapping = MeasurementMapping("sub1", "sensor.price", sensor, "forecast")
    client, diagnostics = await _restart(hass, freezer, hass_storage, stored, mapping)
    assert [
        (call["start"], call["values"], call["prior"]) for call in client.calls
    ] == [(T0 + 3 * H, [pytest.approx(250.0), pytest.approx(500.0)], known)]
    assert diagnostics["dropped"] == 0


async def test_a_damaged_stored_forecast_is_counted_dropped(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    known = T0.isoformat()
    stored = _stored_forecasts(
        [
            {"prior": "yesterday", "items": PRICES},  # 2 values without a time
            {"prior": known, "items": [*PRICES, [None, 1.0]]},  # 1 malformed
            {"prior": T0.replace(tzinfo=None).isoformat(), "items": []},  # naive
            "not a forecast",
        ]
    )
    sensor = make_sensor(3, unit="EUR/kWh", resolution=H)
    mapping = MeasurementMapping("sub1", "sensor.price", sensor, "forecast")
    client, diagnostics = await _restart(hass, freezer, hass_storage, stored, mapping)
    assert [call["values"] for call in client.calls] == [[0.25, 0.5]]
    assert diagnostics["dropped"] == 2 + 1 + 1 + 1


async def test_a_forecast_waiting_at_a_stop_is_not_queued_twice_at_the_start(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    freezer.move_to(T0)
    points = [
        {"start": (T0 + h * H).isoformat(), "value": 0.1 * h} for h in range(1, 3)
    ]
    hass.states.async_set(
        "sensor.price", "0.1", {"unit_of_measurement": "EUR/kWh", "forecast": points}
    )
    sensor = make_sensor(3, unit="EUR/kWh", resolution=H)
    mapping = MeasurementMapping("sub1", "sensor.price", sensor, "forecast")
    client = FakeClient()
    client.fail = lambda _sensor_id: FlexMeasuresConnectionError("down")
    entry = make_entry(hass)
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    await forwarder.async_stop()
    assert len(hass_storage[STORE_KEY]["data"]["tracks"]["sub1"]["forecasts"]) == 1
    client = FakeClient()
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    await forwarder.async_stop()
    assert [call["prior"] for call in client.calls] == [T0]


async def test_a_stored_forecast_that_does_not_convert_is_counted_dropped(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    stored = _stored_forecasts(
        [
            {"prior": T0.isoformat(), "items": PRICES},  # EUR/kWh, now for kW
            {"prior": 1767614400, "items": PRICES},  # a time that is not a string
        ]
    )
    sensor = make_sensor(3, unit="kW", resolution=H)
    mapping = MeasurementMapping("sub1", "sensor.price", sensor, "forecast")
    client, diagnostics = await _restart(hass, freezer, hass_storage, stored, mapping)
    assert client.calls == []
    assert diagnostics["forecasts_waiting"] == 0
    assert diagnostics["dropped"] == 2 + 2
