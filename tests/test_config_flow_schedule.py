"""Tests for the schedule subentry flow (add and reconfigure a schedule device)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import dataclasses
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigSubentry,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.api import FlexMeasuresClient, Sensor
from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_SCHEDULE
from custom_components.flexmeasures.flow_helpers import (
    Storage,
    asset_storage,
    resolution_label,
)

from .common import mock_account_entry, schedule_subentry, setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    SCHEDULE_DATA,
    SUBENTRY_ID,
    coordinator_of,
    entity_id,
    make_entry,
    set_soc,
    unload_entry,
)

# What the form sends: its number selectors give floats.
USER_INPUT: dict[str, Any] = {
    **SCHEDULE_DATA,
    "production_price_sensor": "asset",
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
    """Power: the account's kW sensors that can store; prices: asset + EUR/kWh."""
    result = await start_user_flow(hass, account)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    # toy-solar / production is a power sensor too, but a PV system cannot store
    assert options_of(result, "power_sensor") == [
        {"value": "8", "label": "toy-battery / discharging (kW, 15 min)"},
    ]
    prices = [
        {"value": "asset", "label": "Use what is stored on the asset"},
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
    fake_fm.add_asset(30, "public battery", None, "battery")
    fake_fm.add_sensor(11, "public battery", 30, "MW", "PT5M")

    result = await start_user_flow(hass, account)

    assert [o["value"] for o in options_of(result, "power_sensor")] == ["8"]


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
    """Only the sensors are needed; defaults fill efficiency, horizon, interval.

    A price given as "" (the asset option's value before `asset`) still means
    what is stored on the asset.
    """
    result = await start_user_flow(hass, account)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"power_sensor": "8", "consumption_price_sensor": ""}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "toy-battery"
    assert result["data"] == {
        "power_sensor": "8",
        "consumption_price_sensor": "asset",
        "production_price_sensor": "asset",
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
    add_storage_sensor(fake_fm, 20)
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
    assert result["title"] == {"8": "toy-battery", "20": "toy-ev-charger"}[power_sensor]


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


async def test_second_schedule_for_same_power_sensor_is_refused(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """One schedule per power sensor: the form does not take it."""
    add_storage_sensor(fake_fm, 20)
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)

    result = await start_user_flow(hass, entry)
    with pytest.raises(InvalidData):
        await hass.config_entries.subentries.async_configure(
            result["flow_id"], USER_INPUT
        )

    assert len(entry.subentries) == 1
    await unload_entry(hass, entry)


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
    assert subentry.title == "Home battery"  # the name is kept
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
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Moving a schedule onto a power sensor that got one meanwhile is refused."""
    add_storage_sensor(fake_fm, 20)
    set_soc(hass)
    battery = make_entry(fake_fm)
    await setup_integration(hass, battery)
    reconfigure = await battery.start_subentry_reconfigure_flow(hass, SUBENTRY_ID)
    result = await start_user_flow(hass, battery)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "power_sensor": "20"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY

    result = await hass.config_entries.subentries.async_configure(
        reconfigure["flow_id"], {**USER_INPUT, "power_sensor": "20"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert battery.subentries[SUBENTRY_ID].data["power_sensor"] == "8"
    await unload_entry(hass, battery)


# --- issue 14: the forms as a first-time user meets them ----------------------


def suggested_values(result: Any) -> dict[str, Any]:
    """The values a form shows pre-filled (suggested values and defaults)."""
    shown: dict[str, Any] = {}
    for key in result["data_schema"].schema:
        if key.description and "suggested_value" in key.description:
            shown[str(key)] = key.description["suggested_value"]
        elif not callable(getattr(key, "default", None)) or key.default() is not None:
            default = key.default() if callable(getattr(key, "default", None)) else None
            if default is not None:
                shown[str(key)] = default
    return shown


def add_storage_sensor(
    fake_fm: FakeFlexMeasures,
    sensor_id: int,
    asset_type: str = "one-way_evse",
    name: str = "toy-ev-charger",
) -> None:
    """Another power sensor of the toy account, on its own asset."""
    fake_fm.add_asset(sensor_id, name, 1, asset_type, parent=5)
    fake_fm.add_sensor(sensor_id, "power", sensor_id, "kW", "PT15M")


def entry_with_unique_id(
    fake_fm: FakeFlexMeasures, unique_id: str | None
) -> MockConfigEntry:
    """The toy account with "Home battery"; its sub-entry's unique id as given.

    scripts/ha_config.py writes schedule sub-entries without a unique id.
    """
    subentry = schedule_subentry(SCHEDULE_DATA, subentry_id=SUBENTRY_ID)
    return mock_account_entry(
        fake_fm.url, subentries_data=[{**subentry, "unique_id": unique_id}]
    )


async def start_reconfigure(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    """Open the schedule's reconfigure form."""
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_TYPE_SCHEDULE),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": SUBENTRY_ID},
    )


def device_name(hass: HomeAssistant, entry: MockConfigEntry) -> str | None:
    """The schedule device's name."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, SUBENTRY_ID), entry.entry_id
    )
    assert device is not None
    return device.name


async def test_reconfigure_keeps_the_name_of_the_schedule(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Changing only the update interval renames nothing (title, device, entities)."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    setpoint = entity_id(hass, "sensor", "power_setpoint")
    assert device_name(hass, entry) == "Home battery"

    result = await start_reconfigure(hass, entry)
    assert suggested_values(result)["name"] == "Home battery"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "update_interval": 30.0}
    )
    await hass.async_block_till_done()

    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[SUBENTRY_ID]
    assert subentry.title == "Home battery"
    assert subentry.data["update_interval"] == 30.0
    assert "name" not in subentry.data  # the title is the name
    assert device_name(hass, entry) == "Home battery"
    state = hass.states.get(setpoint)
    assert state is not None
    assert state.attributes["friendly_name"] == "Home battery Power setpoint"
    await unload_entry(hass, entry)


async def test_reconfigure_keeps_a_rename_made_in_the_ui(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """A sub-entry renamed in Home Assistant's UI shows and keeps that name."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    hass.config_entries.async_update_subentry(
        entry, entry.subentries[SUBENTRY_ID], title="Attic battery"
    )
    await hass.async_block_till_done()

    result = await start_reconfigure(hass, entry)
    assert suggested_values(result)["name"] == "Attic battery"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "name": "   "}
    )
    await hass.async_block_till_done()

    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[SUBENTRY_ID].title == "Attic battery"
    assert device_name(hass, entry) == "Attic battery"
    await unload_entry(hass, entry)


async def test_reconfigure_renames_by_the_name_field(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The name field renames the sub-entry and its device."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)

    result = await start_reconfigure(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "name": " Garage battery "}
    )
    await hass.async_block_till_done()

    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[SUBENTRY_ID].title == "Garage battery"
    assert device_name(hass, entry) == "Garage battery"
    await unload_entry(hass, entry)


async def test_user_flow_takes_the_name_given(
    hass: HomeAssistant, account: MockConfigEntry
) -> None:
    """A name given when adding is the title; the data holds no name."""
    result = await start_user_flow(hass, account)
    assert "name" in {str(key) for key in result["data_schema"].schema}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "name": "Home battery"}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home battery"
    assert "name" not in result["data"]


async def test_asset_price_option_is_a_real_value(
    hass: HomeAssistant, account: MockConfigEntry
) -> None:
    """'Use what is stored on the asset' is `asset`: shown, accepted, stored."""
    result = await start_user_flow(hass, account)
    asset_option = {"value": "asset", "label": "Use what is stored on the asset"}
    assert options_of(result, "consumption_price_sensor")[0] == asset_option
    assert options_of(result, "production_price_sensor")[0] == asset_option
    assert all(
        option["value"] != ""
        for field in ("consumption_price_sensor", "production_price_sensor")
        for option in options_of(result, field)
    )
    # the production price shows its default
    assert suggested_values(result)["production_price_sensor"] == "asset"

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {"power_sensor": "8", "consumption_price_sensor": "asset"},
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["consumption_price_sensor"] == "asset"
    assert result["data"]["production_price_sensor"] == "asset"
    (subentry,) = account.subentries.values()
    coordinator = account.runtime_data.coordinators[subentry.subentry_id]
    assert coordinator.settings.consumption_price_sensor_id is None
    assert coordinator.settings.production_price_sensor_id is None


async def test_stored_empty_price_shows_as_the_asset_option(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """An entry saved with "" (before `asset`) shows and keeps the asset option."""
    set_soc(hass)
    entry = make_entry(fake_fm, consumption_price_sensor="", production_price_sensor="")
    await setup_integration(hass, entry)
    assert coordinator_of(entry).settings.consumption_price_sensor_id is None

    result = await start_reconfigure(hass, entry)
    shown = suggested_values(result)
    assert shown["consumption_price_sensor"] == "asset"
    assert shown["production_price_sensor"] == "asset"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            **USER_INPUT,
            "consumption_price_sensor": "asset",
            "production_price_sensor": "asset",
        },
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    settings = coordinator_of(entry).settings
    assert settings.consumption_price_sensor_id is None
    assert settings.production_price_sensor_id is None
    await unload_entry(hass, entry)


@pytest.mark.parametrize("unique_id", ["8", None], ids=["unique_id", "no_unique_id"])
async def test_scheduled_power_sensors_are_not_offered_again(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, unique_id: str | None
) -> None:
    """Compared by the stored sensor id: also sub-entries without a unique id."""
    add_storage_sensor(fake_fm, 20)
    set_soc(hass)
    entry = entry_with_unique_id(fake_fm, unique_id)
    await setup_integration(hass, entry)

    result = await start_user_flow(hass, entry)
    assert [o["value"] for o in options_of(result, "power_sensor")] == ["20"]

    # the schedule being reconfigured still sees its own sensor
    result = await start_reconfigure(hass, entry)
    assert [o["value"] for o in options_of(result, "power_sensor")] == ["8", "20"]
    await unload_entry(hass, entry)


async def test_duplicate_power_sensor_is_still_refused_at_submit(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Two forms open at once: the second to submit the same sensor is refused."""
    add_storage_sensor(fake_fm, 20)
    set_soc(hass)
    entry = entry_with_unique_id(fake_fm, None)
    await setup_integration(hass, entry)
    first = await start_user_flow(hass, entry)
    second = await start_user_flow(hass, entry)

    result = await hass.config_entries.subentries.async_configure(
        first["flow_id"], {**USER_INPUT, "power_sensor": "20"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    result = await hass.config_entries.subentries.async_configure(
        second["flow_id"], {**USER_INPUT, "power_sensor": "20"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(entry.subentries) == 2

    # the schedule being reconfigured is not offered the new schedule's sensor
    result = await start_reconfigure(hass, entry)
    assert [o["value"] for o in options_of(result, "power_sensor")] == ["8"]
    await unload_entry(hass, entry)


async def test_schedule_without_unique_id_added_meanwhile_is_refused_at_submit(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, account: MockConfigEntry
) -> None:
    """A sub-entry written without a unique id while the form was open counts."""
    add_storage_sensor(fake_fm, 20)
    result = await start_user_flow(hass, account)
    hass.config_entries.async_add_subentry(
        account,
        ConfigSubentry(
            data=MappingProxyType({**USER_INPUT, "power_sensor": "20"}),
            subentry_type=SUBENTRY_TYPE_SCHEDULE,
            title="EV charger",
            unique_id=None,
        ),
    )
    await hass.async_block_till_done()

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "power_sensor": "20"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(account.subentries) == 1


async def test_nothing_left_to_schedule_aborts_clearly(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The only storage sensor has a schedule (toy-solar cannot store)."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)

    result = await start_user_flow(hass, entry)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_power_sensors_left"
    await unload_entry(hass, entry)


@pytest.mark.parametrize(
    "asset_type",
    [
        "solar",
        "PV",
        "pv-system",
        "Wind",
        "wind turbine",
        "wind_turbine",
        "Grid connection",
        "transmission zone",
    ],
)
async def test_power_sensors_that_cannot_store_are_not_offered(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    account: MockConfigEntry,
    asset_type: str,
) -> None:
    """Solar, PV, wind and grid connections produce or meter: not schedulable."""
    add_storage_sensor(fake_fm, 20, asset_type, "roof")

    result = await start_user_flow(hass, account)

    assert [o["value"] for o in options_of(result, "power_sensor")] == ["8"]


async def test_inconclusive_asset_types_are_listed_last_with_their_type(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, account: MockConfigEntry
) -> None:
    """A building's power sensor may be anything: last, and its type is shown."""
    add_storage_sensor(fake_fm, 20, "building", "annex")
    add_storage_sensor(fake_fm, 21, "heat-storage", "boiler")

    result = await start_user_flow(hass, account)

    assert options_of(result, "power_sensor") == [
        {"value": "21", "label": "boiler / power (kW, 15 min)"},
        {"value": "8", "label": "toy-battery / discharging (kW, 15 min)"},
        {
            "value": "20",
            "label": "annex / power (kW, 15 min) · asset type: building",
        },
    ]


@pytest.mark.parametrize(
    ("asset_type", "storage"),
    [
        ("battery", Storage.YES),
        ("one-way_evse", Storage.YES),
        ("two-way_evse", Storage.YES),
        ("heat-storage", Storage.YES),
        ("Heat pump", Storage.YES),
        ("PV battery", Storage.YES),  # a battery next to PV stores
        ("solar", Storage.NO),
        ("Solar panels", Storage.NO),
        ("PV", Storage.NO),
        ("wind turbine", Storage.NO),
        ("WIND_TURBINE", Storage.NO),
        ("grid connection", Storage.NO),
        ("Grid-Connection", Storage.NO),
        ("transmission zone", Storage.NO),
        ("building", Storage.UNKNOWN),
        ("process", Storage.UNKNOWN),
        ("", Storage.UNKNOWN),
        (None, Storage.UNKNOWN),
    ],
)
def test_asset_types_that_can_store(asset_type: str | None, storage: Storage) -> None:
    """Asset type names are compared case-insensitively, word by word."""
    assert asset_storage(asset_type) is storage


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
