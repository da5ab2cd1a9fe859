"""The measurement subentry flow: one HA entity -> one FlexMeasures sensor."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from types import MappingProxyType
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import (
    SOURCE_USER,
    ConfigEntryState,
    ConfigSubentry,
    ConfigSubentryData,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.api import Sensor
from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_MEASUREMENT
from custom_components.flexmeasures.flow_helpers import (
    resolution_label,
    sensor_label,
)

from .common import (
    measurement_subentry,
    mock_account_entry,
    schedule_subentry,
    setup_integration,
)
from .fake_flexmeasures import FakeFlexMeasures

SOLAR = "sensor.solar_power"
GRID = "sensor.grid_power"
PRICE = "sensor.nord_pool_price"
EXISTING_ID = "01JMEASUREMENTEXISTING0000"


@pytest.fixture
def fm_url(fake_fm: FakeFlexMeasures) -> str:
    """The account (`mock_config_entry`) is on the fake server."""
    return fake_fm.url


@pytest.fixture
def subentries_data() -> list[ConfigSubentryData]:
    """One measurement: grid power -> sensor 8."""
    return [
        measurement_subentry(
            GRID, "8", subentry_id=EXISTING_ID, title="Grid power -> discharging"
        )
    ]


@pytest.fixture
async def entry(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> AsyncGenerator[MockConfigEntry]:
    """The toy account, loaded, with one measurement (grid power -> sensor 8)."""
    hass.states.async_set(
        SOLAR, "1200", {"unit_of_measurement": "W", "friendly_name": "Solar power"}
    )
    hass.states.async_set(
        GRID, "3.5", {"unit_of_measurement": "kW", "friendly_name": "Grid power"}
    )
    hass.states.async_set(
        PRICE,
        "0.25",
        {
            "unit_of_measurement": "EUR/kWh",
            "friendly_name": "Nord Pool price",
            "raw_today": [],
        },
    )
    await setup_integration(hass, mock_config_entry)
    yield mock_config_entry
    if mock_config_entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(mock_config_entry.entry_id)
        await hass.async_block_till_done()


async def _start(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_TYPE_MEASUREMENT), context={"source": SOURCE_USER}
    )
    return dict(result)


async def _submit(
    hass: HomeAssistant, flow_id: str, user_input: dict[str, Any]
) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_configure(flow_id, user_input)
    await hass.async_block_till_done()
    return dict(result)


def _options(result: dict[str, Any]) -> list[dict[str, str]]:
    schema = result["data_schema"].schema
    selector = next(value for key, value in schema.items() if key == "sensor")
    return list(selector.config["options"])


async def test_user_flow_creates_measurement_with_title_and_unique_id(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _start(hass, entry)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    # sensor 8 receives the grid power already
    assert _options(result) == [
        {"value": "9", "label": "toy-solar / production (kW, 15 min)"},
    ]

    result = await _submit(hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Solar power → toy-solar / production"
    assert result["data"] == {"entity_id": SOLAR, "sensor": "9"}
    subentry = next(
        sub for sub in entry.subentries.values() if sub.unique_id == f"{SOLAR}_9"
    )
    assert subentry.subentry_type == SUBENTRY_TYPE_MEASUREMENT
    # the entry was reloaded and now forwards both mappings
    assert entry.state is ConfigEntryState.LOADED
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    assert {
        m["entity_id"] for m in forwarder.as_diagnostics()["mappings"].values()
    } == {
        SOLAR,
        GRID,
    }


async def test_price_entity_cannot_go_to_a_power_sensor(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _start(hass, entry)
    result = await _submit(
        hass,
        result["flow_id"],
        {"entity_id": PRICE, "sensor": "9", "forecast_attribute": "raw_today"},
    )
    # EUR/kWh cannot go to a kW sensor
    assert result["errors"] == {"base": "incompatible_unit"}
    assert result["description_placeholders"] == {
        "entity_unit": "EUR/kWh",
        "sensor_unit": "kW",
    }


async def test_missing_entity_is_refused_then_recovers(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _start(hass, entry)
    result = await _submit(
        hass, result["flow_id"], {"entity_id": "sensor.nope", "sensor": "9"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"entity_id": "entity_not_found"}

    result = await _submit(hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_incompatible_unit_names_both_units_then_recovers(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    hass.states.async_set(
        "sensor.outside", "12", {"unit_of_measurement": "°C", "friendly_name": "Out"}
    )
    result = await _start(hass, entry)
    result = await _submit(
        hass, result["flow_id"], {"entity_id": "sensor.outside", "sensor": "9"}
    )
    assert result["errors"] == {"base": "incompatible_unit"}
    assert result["description_placeholders"] == {
        "entity_unit": "°C",
        "sensor_unit": "kW",
    }

    result = await _submit(hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_unknown_forecast_attribute_is_refused_then_recovers(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.add_sensor(11, "my prices", 5, "EUR/MWh", "PT1H")
    result = await _start(hass, entry)
    result = await _submit(
        hass,
        result["flow_id"],
        {"entity_id": PRICE, "sensor": "11", "forecast_attribute": "prices_today"},
    )
    assert result["errors"] == {"forecast_attribute": "forecast_attribute_not_found"}

    result = await _submit(
        hass,
        result["flow_id"],
        {"entity_id": PRICE, "sensor": "11", "forecast_attribute": " raw_today "},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Nord Pool price → toy-building / my prices"
    assert result["data"] == {
        "entity_id": PRICE,
        "sensor": "11",
        "forecast_attribute": "raw_today",
    }


@pytest.mark.parametrize("owner", [None, 2], ids=["deleted", "other_account"])
async def test_unreachable_sensor_is_refused_then_recovers(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    fake_fm: FakeFlexMeasures,
    owner: int | None,
) -> None:
    result = await _start(hass, entry)
    saved = fake_fm.sensors[9]
    if owner is None:
        del fake_fm.sensors[9]  # deleted in FlexMeasures while the form was open
    else:
        fake_fm.sensors[9] = {**saved, "generic_asset_id": 8}  # moved to account 2
    result = await _submit(hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"})
    assert result["errors"] == {"sensor": "sensor_not_found"}

    fake_fm.sensors[9] = saved
    result = await _submit(hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_server_failure_is_cannot_connect_then_recovers(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    result = await _start(hass, entry)
    fake_fm.fail_next(500)
    result = await _submit(hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"})
    assert result["errors"] == {"base": "cannot_connect"}

    result = await _submit(hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_unexpected_error_is_unknown_then_recovers(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _start(hass, entry)
    with patch(
        "custom_components.flexmeasures.api.FlexMeasuresClient.get_sensor",
        side_effect=RuntimeError("boom"),
    ):
        result = await _submit(
            hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"}
        )
    assert result["errors"] == {"base": "unknown"}

    result = await _submit(hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_same_entity_and_sensor_twice_is_refused(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _start(hass, entry)
    with pytest.raises(InvalidData):
        await _submit(hass, result["flow_id"], {"entity_id": GRID, "sensor": "8"})
    assert len(entry.subentries) == 1


async def test_reconfigure_changes_sensor_attribute_and_title(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    hass.states.async_set(
        GRID,
        "3.5",
        {"unit_of_measurement": "kW", "friendly_name": "Grid power", "forecast": []},
    )
    result = dict(await entry.start_subentry_reconfigure_flow(hass, EXISTING_ID))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    schema = result["data_schema"].schema
    suggested = {
        str(key): key.description["suggested_value"]
        for key in schema
        if key.description and "suggested_value" in key.description
    }
    assert suggested == {
        "entity_id": GRID,
        "sensor": "8",
        "name": "Grid power -> discharging",
    }

    # keeping its own (entity, sensor) pair is not a duplicate
    result = await _submit(
        hass,
        result["flow_id"],
        {"entity_id": GRID, "sensor": "9", "forecast_attribute": "forecast"},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[EXISTING_ID]
    assert subentry.title == "Grid power -> discharging"  # the name is kept
    assert subentry.unique_id == f"{GRID}_9"
    assert subentry.data == {
        "entity_id": GRID,
        "sensor": "9",
        "forecast_attribute": "forecast",
    }
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED  # reloaded by its listener
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    assert forwarder.as_diagnostics()["mappings"][EXISTING_ID]["sensor_id"] == 9


async def test_reconfigure_keeping_the_same_pair_is_allowed(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = dict(await entry.start_subentry_reconfigure_flow(hass, EXISTING_ID))
    result = await _submit(hass, result["flow_id"], {"entity_id": GRID, "sensor": "8"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"


async def test_reconfigure_onto_another_measurement_aborts(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Onto a sensor that another measurement got while the form was open."""
    reconfigure = dict(await entry.start_subentry_reconfigure_flow(hass, EXISTING_ID))
    result = await _start(hass, entry)
    result = await _submit(hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    result = await _submit(
        hass, reconfigure["flow_id"], {"entity_id": SOLAR, "sensor": "9"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.subentries[EXISTING_ID].data["entity_id"] == GRID


async def test_entry_not_loaded_aborts(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)  # not set up
    result = await _start(hass, mock_config_entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"


async def test_sensor_list_failure_aborts_cannot_connect(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.fail_next(503)
    result = await _start(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_account_without_sensors_aborts(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.sensors.clear()
    result = await _start(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_sensors"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "instantaneous"),
        (30, "30 s"),
        (300, "5 min"),
        (3600, "1 h"),
        (7200, "2 h"),
        (86400, "1 day"),
        (7 * 86400, "7 days"),
    ],
)
def test_resolution_is_shown_for_people(seconds: int, text: str) -> None:
    assert resolution_label(timedelta(seconds=seconds)) == text


def test_sensor_label_without_asset_or_unit() -> None:
    sensor = Sensor(
        id=3,
        name="count",
        unit="",
        event_resolution=timedelta(hours=1),
        timezone="UTC",
        asset_id=None,
    )
    assert sensor_label(sensor, {}) == "count (no unit, 1 h)"


def _entity_selector_config(result: dict[str, Any]) -> dict[str, Any]:
    schema = result["data_schema"].schema
    selector = next(value for key, value in schema.items() if key == "entity_id")
    return dict(selector.config)


def _suggested(result: dict[str, Any], field: str) -> Any:
    schema = result["data_schema"].schema
    key = next(key for key in schema if key == field)
    return (key.description or {}).get("suggested_value")


async def test_entity_picker_offers_numeric_entities_not_our_own(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    own = er.async_get(hass).async_get_or_create(
        "sensor",
        DOMAIN,
        "someschedule_power_setpoint",
        config_entry=entry,
        suggested_object_id="home_battery_power_setpoint",
    )
    hass.states.async_set(own.entity_id, "2.5", {"unit_of_measurement": "kW"})
    hass.states.async_set("sensor.charger_status", "charging", {})
    hass.states.async_set("number.charge_limit", "16", {})
    result = await _start(hass, entry)
    config = _entity_selector_config(result)
    assert set(config["domain"]) == {"sensor", "number", "input_number"}
    excluded = set(config.get("exclude_entities", []))
    assert own.entity_id in excluded  # it would send the schedule back to itself
    assert "sensor.charger_status" in excluded  # not a number
    assert not {SOLAR, GRID, PRICE, "number.charge_limit"} & excluded
    with pytest.raises(InvalidData):
        await _submit(
            hass, result["flow_id"], {"entity_id": own.entity_id, "sensor": "9"}
        )


async def test_entity_that_stopped_being_numeric_is_refused_then_another_goes(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _start(hass, entry)
    hass.states.async_set(SOLAR, "sunny", {"friendly_name": "Solar power"})
    result = await _submit(hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"})
    assert result["errors"] == {"entity_id": "entity_not_numeric"}
    # the form now leaves it out; another entity goes through
    assert SOLAR in _entity_selector_config(result)["exclude_entities"]
    result = await _submit(hass, result["flow_id"], {"entity_id": GRID, "sensor": "9"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_sensor_drop_down_does_not_preselect_a_schedules_power_sensor(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    # (sensor 8 receives the grid power: another power sensor of the battery)
    fake_fm.add_sensor(12, "charging", 6, "kW", "PT15M")
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType({"power_sensor": "12"}),
            subentry_type="schedule",
            title="toy-battery",
            unique_id="12",
        ),
    )
    await hass.async_block_till_done()
    result = await _start(hass, entry)
    assert _options(result)[0]["value"] == "12"  # sorted first, and scheduled
    # Home Assistant's form takes the first option unless one is suggested
    assert _suggested(result, "sensor") == "9"


async def test_energy_meter_may_go_to_a_power_sensor(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    hass.states.async_set(
        "sensor.grid_import",
        "1234.5",
        {
            "unit_of_measurement": "kWh",
            "state_class": "total_increasing",
            "friendly_name": "Grid import",
        },
    )
    result = await _start(hass, entry)
    result = await _submit(
        hass, result["flow_id"], {"entity_id": "sensor.grid_import", "sensor": "9"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_energy_that_is_not_a_meter_cannot_go_to_a_power_sensor(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    hass.states.async_set("sensor.stored_energy", "12", {"unit_of_measurement": "kWh"})
    result = await _start(hass, entry)
    result = await _submit(
        hass, result["flow_id"], {"entity_id": "sensor.stored_energy", "sensor": "9"}
    )
    assert result["errors"] == {"base": "incompatible_unit"}


async def test_own_entity_added_after_the_form_opened_is_refused(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _start(hass, entry)
    own = er.async_get(hass).async_get_or_create(
        "sensor", DOMAIN, "late_power_setpoint", config_entry=entry
    )
    hass.states.async_set(own.entity_id, "1", {"unit_of_measurement": "kW"})
    result = await _submit(
        hass, result["flow_id"], {"entity_id": own.entity_id, "sensor": "9"}
    )
    assert result["errors"] == {"entity_id": "own_entity"}


async def test_nothing_is_preselected_when_every_sensor_is_scheduled(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    for sensor_id in ("8", "9"):
        hass.config_entries.async_add_subentry(
            entry,
            ConfigSubentry(
                data=MappingProxyType({"power_sensor": sensor_id}),
                subentry_type="schedule",
                title=f"device {sensor_id}",
                unique_id=sensor_id,
            ),
        )
    await hass.async_block_till_done()
    result = await _start(hass, entry)
    assert _suggested(result, "sensor") == ""


async def test_reconfigure_offers_the_current_entity_even_while_it_has_no_number(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    hass.states.async_set(GRID, "unavailable", {})
    result = dict(await entry.start_subentry_reconfigure_flow(hass, EXISTING_ID))
    assert GRID not in _entity_selector_config(result)["exclude_entities"]


# --- issue 14: names kept, one measurement per sensor -------------------------


def _suggested_values(result: dict[str, Any]) -> dict[str, Any]:
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


async def test_user_flow_names_by_entity_asset_and_sensor_or_the_name_given(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Default title "entity → asset / sensor"; a name given wins; no name in data."""
    result = await _start(hass, entry)
    assert "name" in {str(key) for key in result["data_schema"].schema}
    result = await _submit(hass, result["flow_id"], {"entity_id": SOLAR, "sensor": "9"})
    assert result["title"] == "Solar power → toy-solar / production"
    assert "name" not in result["data"]

    # both sensors are fed now: nothing left to choose
    result = await _start(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_sensors_left"


async def test_name_given_when_adding_is_the_title(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _start(hass, entry)
    result = await _submit(
        hass,
        result["flow_id"],
        {"entity_id": SOLAR, "sensor": "9", "name": " Roof panels "},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Roof panels"
    assert result["data"] == {"entity_id": SOLAR, "sensor": "9"}


async def test_reconfigure_keeps_the_name(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """The title is pre-filled and kept, also when the sensor changes."""
    hass.config_entries.async_update_subentry(
        entry, entry.subentries[EXISTING_ID], title="Meter in the hall"
    )
    await hass.async_block_till_done()
    result = dict(await entry.start_subentry_reconfigure_flow(hass, EXISTING_ID))
    assert _suggested_values(result)["name"] == "Meter in the hall"

    result = await _submit(hass, result["flow_id"], {"entity_id": GRID, "sensor": "9"})

    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[EXISTING_ID].title == "Meter in the hall"
    assert entry.subentries[EXISTING_ID].data == {"entity_id": GRID, "sensor": "9"}


async def test_reconfigure_renames_by_the_name_field(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = dict(await entry.start_subentry_reconfigure_flow(hass, EXISTING_ID))
    result = await _submit(
        hass,
        result["flow_id"],
        {"entity_id": GRID, "sensor": "8", "name": "Grid meter"},
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[EXISTING_ID].title == "Grid meter"


@pytest.mark.parametrize("unique_id", ["sensor.grid_power_8", None])
async def test_sensors_fed_by_a_measurement_are_not_offered(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, unique_id: str | None
) -> None:
    """Compared by the stored sensor id; the one reconfigured sees its own."""
    hass.states.async_set(
        GRID, "3.5", {"unit_of_measurement": "kW", "friendly_name": "Grid power"}
    )
    existing = measurement_subentry(
        GRID, "8", subentry_id=EXISTING_ID, title="Grid power -> discharging"
    )
    config_entry = mock_account_entry(
        fake_fm.url, subentries_data=[{**existing, "unique_id": unique_id}]
    )
    await setup_integration(hass, config_entry)

    result = await _start(hass, config_entry)
    assert [o["value"] for o in _options(result)] == ["9"]
    result = dict(await config_entry.start_subentry_reconfigure_flow(hass, EXISTING_ID))
    assert [o["value"] for o in _options(result)] == ["8", "9"]
    await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()


async def test_a_schedules_power_sensor_stays_available_to_measurements(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """FlexMeasures keeps measured and planned power on one sensor."""
    config_entry = mock_account_entry(
        fake_fm.url,
        subentries_data=[
            schedule_subentry(
                {"power_sensor": "8", "consumption_price_sensor": "asset"},
                subentry_id="01JSCHEDULE000000000000000",
            )
        ],
    )
    await setup_integration(hass, config_entry)

    result = await _start(hass, config_entry)

    assert "8" in [o["value"] for o in _options(result)]
    await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()


async def test_every_sensor_fed_aborts_clearly(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    fake_fm.sensors.pop(9)
    result = await _start(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_sensors_left"


async def test_second_measurement_to_one_sensor_is_refused_at_submit(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Two forms open at once: another entity to the same sensor is refused."""
    first = await _start(hass, entry)
    second = await _start(hass, entry)
    result = await _submit(hass, first["flow_id"], {"entity_id": SOLAR, "sensor": "9"})
    assert result["type"] is FlowResultType.CREATE_ENTRY

    result = await _submit(hass, second["flow_id"], {"entity_id": GRID, "sensor": "9"})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(entry.subentries) == 2
