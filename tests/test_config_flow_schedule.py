"""Tests for the schedule subentry flow (add and reconfigure a schedule device)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import dataclasses
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.api import FlexMeasuresClient, Sensor
from custom_components.flexmeasures.const import SUBENTRY_TYPE_SCHEDULE
from custom_components.flexmeasures.flow_helpers import (
    resolution_label,
)

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    SCHEDULE_DATA,
    SUBENTRY_ID,
    coordinator_of,
    make_entry,
    set_soc,
    unload_entry,
)

# What the form sends: its number selectors give floats.
USER_INPUT: dict[str, Any] = {
    **SCHEDULE_DATA,
    "duration": 24.0,
    "update_interval": 15.0,
}


@pytest.fixture
def fm_url(fake_fm: FakeFlexMeasures) -> str:
    """The account (`mock_config_entry`) is on the fake server."""
    return fake_fm.url


async def start_user_flow(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    """Open the 'Add schedule' form."""
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_TYPE_SCHEDULE), context={"source": SOURCE_USER}
    )


def options_of(result: Any, field: str) -> list[dict[str, str]]:
    """The drop-down options of a form field."""
    for key, selector in result["data_schema"].schema.items():
        if key == field:
            return list(selector.config["options"])
    raise AssertionError(f"no field {field}")


@pytest.fixture
async def battery(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> AsyncGenerator[MockConfigEntry]:
    """The account with the "Home battery" schedule, loaded (unloaded afterwards)."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    yield entry
    await unload_entry(hass, entry)


@pytest.fixture
async def account(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> AsyncGenerator[MockConfigEntry]:
    """A loaded account entry without schedules (unloaded afterwards)."""
    set_soc(hass, "50", "%")
    await setup_integration(hass, mock_config_entry)
    yield mock_config_entry
    await unload_entry(hass, mock_config_entry)


async def test_form_lists_own_power_sensors_and_all_price_sensors(
    hass: HomeAssistant, account: MockConfigEntry
) -> None:
    """Power: the account's kW sensors; prices: asset option + public EUR/kWh."""
    result = await start_user_flow(hass, account)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    assert options_of(result, "power_sensor") == [
        {"value": "8", "label": "toy-battery / discharging (kW, 15 min)"},
        {"value": "9", "label": "toy-solar / production (kW, 15 min)"},
    ]
    prices = [
        {"value": "", "label": "Use what is stored on the asset"},
        {
            "value": "7",
            "label": "NL transmission zone / day-ahead prices (EUR/kWh, 1 h)",
        },
    ]
    assert options_of(result, "consumption_price_sensor") == prices
    assert options_of(result, "production_price_sensor") == prices


async def test_public_power_sensors_are_not_offered(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, account: MockConfigEntry
) -> None:
    """Only the account's own power sensors can be scheduled."""
    fake_fm.add_sensor(11, "public battery", 4, "MW", "PT5M")

    result = await start_user_flow(hass, account)

    assert [o["value"] for o in options_of(result, "power_sensor")] == ["8", "9"]


async def test_user_flow_creates_schedule_titled_by_asset(
    hass: HomeAssistant, account: MockConfigEntry
) -> None:
    """The subentry is titled by the asset, unique per power sensor, and set up."""
    result = await start_user_flow(hass, account)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], USER_INPUT
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "toy-battery"
    assert result["unique_id"] == "8"
    assert result["data"] == USER_INPUT
    (subentry,) = account.subentries.values()
    assert subentry.unique_id == "8"
    # The update listener reloaded the entry: the new device has a coordinator.
    assert subentry.subentry_id in account.runtime_data.coordinators


async def test_user_flow_titles_by_sensor_name_without_asset(
    hass: HomeAssistant, account: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power sensor the server gives without an asset is titled by its own name."""
    real_get_sensor = FlexMeasuresClient.get_sensor

    async def get_sensor_without_asset(
        self: FlexMeasuresClient, sensor_id: int
    ) -> Sensor:
        return dataclasses.replace(
            await real_get_sensor(self, sensor_id), asset_id=None
        )

    monkeypatch.setattr(FlexMeasuresClient, "get_sensor", get_sensor_without_asset)
    result = await start_user_flow(hass, account)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], USER_INPUT
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "discharging"


async def test_user_flow_defaults_production_price_and_numbers(
    hass: HomeAssistant, account: MockConfigEntry
) -> None:
    """Only the sensors are needed; defaults fill efficiency, horizon, interval."""
    result = await start_user_flow(hass, account)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"power_sensor": "9", "consumption_price_sensor": ""}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "toy-solar"
    assert result["data"] == {
        "power_sensor": "9",
        "consumption_price_sensor": "",
        "production_price_sensor": "",
        "roundtrip_efficiency": 90,
        "duration": 24,
        "update_interval": 15,
    }


@pytest.mark.parametrize(
    ("arrange", "changes", "errors"),
    [
        (lambda fm: fm.fail_next(404), {}, {"power_sensor": "sensor_not_found"}),
        (lambda fm: fm.fail_next(403), {}, {"power_sensor": "sensor_not_found"}),
        (
            lambda fm: fm.sensors[8].update(unit="kWh"),
            {},
            {"power_sensor": "not_a_power_sensor"},
        ),
        (lambda fm: fm.fail_next(500), {}, {"base": "cannot_connect"}),
        (
            lambda fm: None,
            {"soc_min": 100.0, "soc_max": 80.0},
            {"soc_max": "soc_range"},
        ),
        (
            lambda fm: None,
            {"soc_max": 500.0, "capacity": 450.0},
            {"soc_max": "soc_range"},
        ),
        (
            lambda fm: None,
            {"soc_min": 500.0, "soc_max": None},
            {"soc_max": "soc_range"},
        ),
        (
            lambda fm: None,
            {"capacity": None, "soc_max": 400.0},
            {"capacity": "capacity_required"},
        ),
    ],
    ids=[
        "sensor_gone",
        "sensor_of_other_account",
        "not_power",
        "server_error",
        "min_above_max",
        "max_above_capacity",
        "min_above_capacity",
        "percent_soc_without_capacity",
    ],
)
async def test_user_flow_error_recovers(
    hass: HomeAssistant,
    *,
    fake_fm: FakeFlexMeasures,
    account: MockConfigEntry,
    arrange: Any,
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """Each validation error shows on the form; fixing it creates the schedule."""
    result = await start_user_flow(hass, account)
    arrange(fake_fm)
    bad = {k: v for k, v in {**USER_INPUT, **changes}.items() if v is not None}

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], bad
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert not account.subentries

    # Recover with the first power sensor the form offers now (a sensor that
    # turned out not to be power is no longer offered).
    power_sensor = options_of(result, "power_sensor")[0]["value"]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "power_sensor": power_sensor}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == {"8": "toy-battery", "9": "toy-solar"}[power_sensor]


async def test_percent_soc_with_capacity_is_accepted(
    hass: HomeAssistant, account: MockConfigEntry
) -> None:
    """A % state of charge entity with a capacity passes validation."""
    result = await start_user_flow(hass, account)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {**{k: v for k, v in USER_INPUT.items() if k != "soc_max"}, "soc_min": 0.0},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_aborts_when_entry_not_loaded(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Without a loaded account there is no client to fill the drop-downs."""
    mock_config_entry.add_to_hass(hass)

    result = await start_user_flow(hass, mock_config_entry)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"


async def test_user_flow_aborts_when_sensors_cannot_be_listed(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, account: MockConfigEntry
) -> None:
    """A server that fails while listing sensors aborts with cannot_connect."""
    fake_fm.fail_next(500)

    result = await start_user_flow(hass, account)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_user_flow_aborts_without_power_sensors(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, account: MockConfigEntry
) -> None:
    """An account with nothing to schedule says so."""
    fake_fm.sensors.pop(8)
    fake_fm.sensors.pop(9)

    result = await start_user_flow(hass, account)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_power_sensors"


async def test_second_schedule_for_same_power_sensor_aborts(
    hass: HomeAssistant, battery: MockConfigEntry
) -> None:
    """One schedule per power sensor."""
    result = await start_user_flow(hass, battery)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], USER_INPUT
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(battery.subentries) == 1


async def test_reconfigure_shows_current_values_and_saves(
    hass: HomeAssistant, battery: MockConfigEntry
) -> None:
    """Reconfigure pre-fills the form, saves the change and reloads the entry."""
    result = await battery.start_subentry_reconfigure_flow(hass, SUBENTRY_ID)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    suggested = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }
    assert suggested["soc_max"] == SCHEDULE_DATA["soc_max"]
    assert suggested["power_sensor"] == "8"

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "soc_max": 400.0, "duration": 12.0}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    subentry = battery.subentries[SUBENTRY_ID]
    assert subentry.data["soc_max"] == 400.0
    assert subentry.title == "toy-battery"
    settings = coordinator_of(battery).settings
    assert settings.soc_max == 400.0
    assert settings.duration == timedelta(hours=12)


async def test_reconfigure_error_recovers(
    hass: HomeAssistant, battery: MockConfigEntry
) -> None:
    """A reconfigure validation error shows on the form and can be fixed."""
    result = await battery.start_subentry_reconfigure_flow(hass, SUBENTRY_ID)

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "soc_min": 460.0}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"soc_max": "soc_range"}

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], USER_INPUT
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"


async def test_reconfigure_onto_another_schedules_sensor_aborts(
    hass: HomeAssistant, battery: MockConfigEntry
) -> None:
    """Moving a schedule onto a power sensor that has one already is refused."""
    result = await start_user_flow(hass, battery)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "power_sensor": "9"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY

    result = await battery.start_subentry_reconfigure_flow(hass, SUBENTRY_ID)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "power_sensor": "9"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert battery.subentries[SUBENTRY_ID].data["power_sensor"] == "8"


@pytest.mark.parametrize(
    ("resolution", "label"),
    [
        (timedelta(0), "instantaneous"),
        (timedelta(minutes=5), "5 min"),
        (timedelta(hours=1), "1 h"),
        (timedelta(seconds=90), "90 s"),
    ],
)
def test_resolution_labels(resolution: timedelta, label: str) -> None:
    """Drop-down labels show the resolution the way people say it."""
    assert resolution_label(resolution) == label
