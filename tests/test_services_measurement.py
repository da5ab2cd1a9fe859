"""The measurement actions: flexmeasures.post_measurements / get_measurements."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.const import DOMAIN

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
Q = timedelta(minutes=15)


@pytest.fixture
def fm_url(fake_fm: FakeFlexMeasures) -> str:
    """The account (`mock_config_entry`) is on the fake server."""
    return fake_fm.url


@pytest.fixture
async def entry(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> AsyncGenerator[MockConfigEntry]:
    """The toy account on the fake server, loaded."""
    await setup_integration(hass, mock_config_entry)
    yield mock_config_entry
    if mock_config_entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def _post(
    hass: HomeAssistant, entry: MockConfigEntry, **data: Any
) -> dict[str, Any] | None:
    payload = {
        "config_entry_id": entry.entry_id,
        "sensor_id": 9,
        "start": START.isoformat(),
        "resolution": "PT15M",
        "values": [1.0, 2.5, None, 4],
        "unit": "kW",
        **data,
    }
    payload = {key: value for key, value in payload.items() if value is not ...}
    result = await hass.services.async_call(
        DOMAIN, "post_measurements", payload, blocking=True, return_response=True
    )
    return None if result is None else dict(result)


async def _get(
    hass: HomeAssistant, entry: MockConfigEntry, **data: Any
) -> dict[str, Any]:
    payload = {
        "config_entry_id": entry.entry_id,
        "sensor_id": 9,
        "start": START.isoformat(),
        "duration": {"hours": 1},
        **data,
    }
    result = await hass.services.async_call(
        DOMAIN, "get_measurements", payload, blocking=True, return_response=True
    )
    assert result is not None
    return dict(result)


async def test_post_with_resolution_stores_each_step_and_returns_status(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    assert await _post(hass, entry) == {"status": "PROCESSED"}
    assert fake_fm.data[9] == {
        START: 1.0,
        START + Q: 2.5,
        START + 2 * Q: None,
        START + 3 * Q: 4.0,
    }
    # the same data again: the server says it has it
    assert await _post(hass, entry) == {
        "status": "ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED"
    }


async def test_post_with_duration_and_prior_spreads_values_over_it(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    result = await _post(
        hass,
        entry,
        resolution=...,
        duration="00:30:00",
        values=[3, 5],
        prior="2026-11-19T12:00:00+00:00",
    )
    assert result == {"status": "PROCESSED"}
    assert fake_fm.data[9] == {START: 3.0, START + Q: 5.0}


async def test_post_without_response_still_sends(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    await hass.services.async_call(
        DOMAIN,
        "post_measurements",
        {
            "config_entry_id": entry.entry_id,
            "sensor_id": 9,
            "start": START.isoformat(),
            "resolution": 900,
            "values": [7],
            "unit": "kW",
        },
        blocking=True,
    )
    assert fake_fm.data[9] == {START: 7.0}


async def test_get_returns_plain_json_in_the_sensors_unit_by_default(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.data[9] = {START: 1.0, START + Q: 2.0, START + 3 * Q: 4.0}
    assert await _get(hass, entry) == {
        # in Home Assistant's time zone (US/Pacific in tests), with its offset
        "start": "2026-11-20T02:00:00-08:00",
        "resolution": "PT15M",
        "unit": "kW",
        "values": [1.0, 2.0, None, 4.0],
    }
    assert "/api/v3_0/sensors/9" in fake_fm.paths()  # read for its unit


async def test_get_passes_unit_resolution_and_source(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.data[9] = {START: 1.0}
    result = await _get(
        hass, entry, unit="kW", resolution="PT1H", source=1, duration="PT1H"
    )
    assert result == {
        "start": "2026-11-20T02:00:00-08:00",
        "resolution": "PT1H",
        "unit": "kW",
        "values": [1.0],
    }
    assert "/api/v3_0/sensors/9" not in fake_fm.paths()  # unit given: no lookup


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"start": "2026-11-20T10:00:00"}, "naive_start"),
        ({"prior": "2026-11-20 09:00"}, "naive_prior"),
    ],
    ids=["naive_start", "naive_prior"],
)
async def test_post_refuses_bad_input_before_sending(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    fake_fm: FakeFlexMeasures,
    changes: dict[str, Any],
    key: str,
) -> None:
    before = len(fake_fm.requests)
    with pytest.raises(ServiceValidationError) as err:
        await _post(hass, entry, **changes)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert len(fake_fm.requests) == before


async def test_get_refuses_naive_start_and_zero_periods(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await _get(hass, entry, start="2026-11-20T10:00:00")
    assert err.value.translation_key == "naive_start"
    assert err.value.translation_placeholders == {"value": "2026-11-20T10:00:00"}
    assert str(err.value) == (
        "Start: 2026-11-20T10:00:00 needs a time zone, for example "
        "2026-11-22T10:00:00+01:00"
    )
    with pytest.raises(ServiceValidationError) as err:
        await _get(hass, entry, duration=0)
    assert err.value.translation_key == "invalid_duration"
    assert str(err.value) == (
        "Duration: give a length of time longer than zero, for example 01:00:00 or PT1H"
    )
    with pytest.raises(ServiceValidationError) as err:
        await _get(hass, entry, resolution="PT0M")
    assert err.value.translation_key == "invalid_resolution"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"values": ["many"]}, "invalid_values"),
        ({"values": [float("inf")]}, "invalid_values"),
        ({"resolution": "a quarter"}, "invalid_resolution"),
        ({"resolution": ["PT15M"]}, "invalid_resolution"),
        ({"duration": "01:00:00"}, "duration_or_resolution"),
        ({"resolution": ...}, "duration_or_resolution"),
        ({"values": []}, "invalid_values"),
        ({"resolution": "00:00:00"}, "invalid_resolution"),
        ({"resolution": ..., "duration": 0}, "invalid_duration"),
        ({"sensor_id": 0}, "invalid_sensor_id"),
        ({"start": "tomorrow"}, "invalid_start"),
        ({"prior": "yesterday"}, "invalid_prior"),
        ({"unit": ...}, "invalid_unit"),
        ({"source": 1}, "unknown_field"),
    ],
    ids=[
        "value_not_a_number",
        "value_infinite",
        "resolution_not_a_duration",
        "resolution_a_list",
        "duration_and_resolution",
        "neither_duration_nor_resolution",
        "no_values",
        "zero_resolution",
        "zero_duration",
        "sensor_id_zero",
        "start_not_a_time",
        "prior_not_a_time",
        "no_unit",
        "source_is_for_get_measurements",
    ],
)
async def test_malformed_fields_are_refused_by_the_schema(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    fake_fm: FakeFlexMeasures,
    changes: dict[str, Any],
    key: str,
) -> None:
    """The field's translated error (not probatio's text); nothing is sent."""
    before = len(fake_fm.requests)
    with pytest.raises(ServiceValidationError) as err:
        await _post(hass, entry, **changes)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert len(fake_fm.requests) == before


async def test_unknown_entry_is_refused(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    other = MockConfigEntry(domain="other_domain", title="Other")
    other.add_to_hass(hass)
    for entry_id in ("does-not-exist", other.entry_id):
        with pytest.raises(ServiceValidationError) as err:
            await _post(hass, entry, config_entry_id=entry_id)
        assert err.value.translation_key in (
            "service_config_entry_not_found",
            "service_config_entry_wrong_domain",
        )


async def test_unloaded_entry_is_refused(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await _get(hass, entry)
    assert err.value.translation_key == "service_config_entry_not_loaded"
    assert err.value.translation_placeholders == {
        "domain": DOMAIN,
        "entry_title": entry.title,
    }


async def test_server_rejection_carries_the_servers_message(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await _post(hass, entry, unit="EUR/MWh")
    assert err.value.translation_key == "measurements_refused"
    assert err.value.translation_placeholders == {
        "sensor_id": "9",
        "error": "Required unit for this sensor is kW, got incompatible unit: EUR/MWh",
    }


@pytest.mark.parametrize("sensor_id", [999, 10], ids=["unknown", "other_account"])
async def test_unreachable_sensor_is_a_validation_error(
    hass: HomeAssistant, entry: MockConfigEntry, sensor_id: int
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await _post(hass, entry, sensor_id=sensor_id)
    assert err.value.translation_key == "sensor_not_accessible"
    with pytest.raises(ServiceValidationError) as err:
        await _get(hass, entry, sensor_id=sensor_id)
    assert err.value.translation_key == "sensor_not_accessible"
    assert err.value.translation_placeholders is not None
    assert err.value.translation_placeholders["sensor_id"] == str(sensor_id)


@pytest.mark.parametrize(
    ("failure", "key"),
    [
        (500, "api_error"),
        ("html", "api_error"),
        (429, "rate_limited"),
        ("drop", "cannot_connect"),
    ],
)
async def test_server_failures_are_home_assistant_errors(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    fake_fm: FakeFlexMeasures,
    failure: int | str,
    key: str,
) -> None:
    fake_fm.fail_next(failure, times=3)  # the client may retry a dropped request
    with pytest.raises(HomeAssistantError) as err:
        await _post(hass, entry)
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == key
    assert err.value.translation_placeholders is not None
    assert err.value.translation_placeholders["url"] == fake_fm.url


async def test_rejected_login_is_a_home_assistant_error(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.expire_tokens()
    fake_fm.login_failures.append(401)
    with pytest.raises(HomeAssistantError) as err:
        await _get(hass, entry)
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == "invalid_auth"
