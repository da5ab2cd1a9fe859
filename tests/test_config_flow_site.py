"""Tests for the site sub-entry flow: devices below one asset, planned together.

The toy account on the fake server: the building (asset 5) with the battery
(asset 6, sensor 8, schedule "Home battery") and the EV charger (asset 9,
sensor 15, schedule "EV charger") below it, and toy-solar (no schedule).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
import string
from typing import Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigSubentry,
    ConfigSubentryData,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import device_registry as dr
from hypothesis import given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.api import Asset
from custom_components.flexmeasures.const import (
    DOMAIN,
    SUBENTRY_TYPE_SCHEDULE,
    SUBENTRY_TYPE_SITE,
)
from custom_components.flexmeasures.flow_site import ancestry

from .common import mock_account_entry, schedule_subentry, setup_integration
from .const import TOY_EV_SENSOR_ID
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import NOW, SCHEDULE_DATA, SUBENTRY_ID, make_entry, set_soc
from .test_config_flow_schedule import USER_INPUT as SCHEDULE_INPUT, suggested_values

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

EN = json.loads(
    (
        Path(__file__).parents[1]
        / "custom_components"
        / "flexmeasures"
        / "translations"
        / "en.json"
    ).read_text(encoding="utf-8")
)
EV = str(TOY_EV_SENSOR_ID)
EV_ID = "01JSCHEDULEEVCHARGER000000"
SITE_ID = "01JSITETOYBUILDING00000000"
EV_DATA: dict[str, Any] = {
    **SCHEDULE_DATA,
    "power_sensor": EV,
    "soc_entity": "",
    "capacity": 60.0,
    "soc_min": 0.0,
    "soc_max": 60.0,
    "power_capacity": 22.0,
}
# What step 2 sends (number selectors give floats).
DEVICES_INPUT: dict[str, Any] = {
    "devices": ["8", EV],
    "site_power_capacity": 30.0,
    "consumption_price_sensor": "7",
    "production_price_sensor": "asset",
    "duration": 24.0,
    "update_interval": 15.0,
}
SITE_DATA: dict[str, Any] = {
    "asset": "5",
    "devices": ["8", EV],
    "site_power_capacity": 30.0,
    "consumption_price_sensor": "7",
    "production_price_sensor": "asset",
    "duration": 24,
    "update_interval": 15,
}


def site_subentry(
    data: dict[str, Any] | None = None,
    *,
    subentry_id: str = SITE_ID,
    title: str = "Home",
    unique_id: str | None = "site_5",
) -> ConfigSubentryData:
    """A site sub-entry (the building with both devices unless `data` says)."""
    return ConfigSubentryData(
        data=SITE_DATA if data is None else data,
        subentry_id=subentry_id,
        subentry_type=SUBENTRY_TYPE_SITE,
        title=title,
        unique_id=unique_id,
    )


def ev_subentry() -> ConfigSubentryData:
    return schedule_subentry(EV_DATA, subentry_id=EV_ID, title="EV charger")


async def loaded(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, *more: ConfigSubentryData
) -> MockConfigEntry:
    """The battery and the EV charger scheduled (plus `more`), loaded."""
    fake_fm.add_ev_charger()
    set_soc(hass)
    entry = make_entry(fake_fm, more=[ev_subentry(), *more])
    await setup_integration(hass, entry)
    return entry


@pytest.fixture
async def two_devices(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> MockConfigEntry:
    """The account with both devices scheduled, no site yet."""
    return await loaded(hass, fake_fm)


@pytest.fixture
async def with_site(hass: HomeAssistant, fake_fm: FakeFlexMeasures) -> MockConfigEntry:
    """Both devices in the site "Home" on the building."""
    return await loaded(hass, fake_fm, site_subentry())


async def start_site_flow(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    """Open the 'Add site' form."""
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_TYPE_SITE), context={"source": SOURCE_USER}
    )


async def start_site_reconfigure(
    hass: HomeAssistant, entry: MockConfigEntry, subentry_id: str = SITE_ID
) -> Any:
    """Open a site's reconfigure form."""
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_TYPE_SITE),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id},
    )


async def configure(hass: HomeAssistant, result: Any, user_input: Any) -> Any:
    """Submit a step and let what it started (a reload) finish."""
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], user_input
    )
    await hass.async_block_till_done()
    return result


def options_of(result: Any, field: str) -> list[dict[str, str]]:
    """The options of a drop-down or multi-select field."""
    for key, selector in result["data_schema"].schema.items():
        if key == field:
            return list(selector.config["options"])
    raise AssertionError(f"no field {field}")


def sites(entry: MockConfigEntry) -> list[ConfigSubentry]:
    return [s for s in entry.subentries.values() if s.subentry_type == "site"]


def shown_error(result: Any, error: str, flow: str = "site") -> str:
    """The error text as the frontend renders it with the step's placeholders."""
    template = EN["config_subentries"][flow]["error"][error]
    placeholders = result.get("description_placeholders") or {}
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    assert fields <= set(placeholders), f"{error} shown without {fields}"
    return str(template.format(**placeholders))


# --- step 1: the asset ---------------------------------------------------------


async def test_assets_with_scheduled_devices_are_offered_with_their_count(
    hass: HomeAssistant, two_devices: MockConfigEntry
) -> None:
    """The building holds both devices; each device's own asset holds one.

    Not offered: toy-solar (no schedule), the public transmission zone, the
    other account's asset.
    """
    result = await start_site_flow(hass, two_devices)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    assert result["description_placeholders"] == {"account": "Toy Account"}
    assert options_of(result, "asset") == [
        {"value": "5", "label": "toy-building (2 scheduled devices)"},
        {"value": "6", "label": "toy-battery (1 scheduled device)"},
        {"value": "9", "label": "toy-ev-charger (1 scheduled device)"},
    ]
    assert {str(key) for key in result["data_schema"].schema} == {"name", "asset"}


async def test_devices_further_down_count_for_every_asset_above(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """A device two levels below the building (parent_asset_id chain) counts."""
    fake_fm.add_asset(40, "garage", 1, "building", parent=5)
    fake_fm.add_asset(41, "garage battery", 1, "battery", parent=40)
    fake_fm.add_sensor(41, "power", 41, "kW", "PT15M")
    entry = await loaded(
        hass,
        fake_fm,
        schedule_subentry(
            {**EV_DATA, "power_sensor": "41"}, subentry_id="G", title="Garage"
        ),
    )

    result = await start_site_flow(hass, entry)

    assert options_of(result, "asset")[:2] == [
        {"value": "5", "label": "toy-building (3 scheduled devices)"},
        {"value": "40", "label": "garage (1 scheduled device)"},
    ]
    result = await configure(hass, result, {"asset": "5"})
    assert [o["value"] for o in options_of(result, "devices")] == ["8", EV, "41"]


# --- the whole flow ------------------------------------------------------------


async def test_a_site_is_added_in_two_steps_and_plans_its_devices(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, two_devices: MockConfigEntry
) -> None:
    """Asset, then devices and settings: titled by the asset, set up at once."""
    result = await start_site_flow(hass, two_devices)
    result = await configure(hass, result, {"asset": "5"})

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "devices"
    assert result["errors"] == {}
    assert result["description_placeholders"] == {
        "account": "Toy Account",
        "asset": "toy-building",
    }
    assert options_of(result, "devices") == [
        {"value": "8", "label": "Home battery"},
        {"value": EV, "label": "EV charger"},
    ]
    shown = suggested_values(result)
    # a new site: every device offered, and the price both schedules use
    assert shown["devices"] == ["8", EV]
    assert shown["consumption_price_sensor"] == "7"
    assert shown["production_price_sensor"] == "asset"
    assert shown["duration"] == 24
    assert shown["update_interval"] == 15
    assert "site_power_capacity" not in shown  # empty: the asset's
    assert options_of(result, "consumption_price_sensor")[0] == {
        "value": "asset",
        "label": "Use what is stored on the asset",
    }

    result = await configure(hass, result, DEVICES_INPUT)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "toy-building"
    assert result["unique_id"] == "site_5"
    assert result["data"] == {**SITE_DATA, "duration": 24.0, "update_interval": 15.0}
    (site,) = sites(two_devices)
    assert "name" not in site.data
    # reloaded: the site plans both devices in one job
    coordinator = two_devices.runtime_data.sites[site.subentry_id]
    assert [m.subentry_id for m in coordinator.members] == [SUBENTRY_ID, EV_ID]
    assert coordinator.settings.site_power_capacity == 30.0
    site_jobs = [j for j in fake_fm.jobs.values() if len(j.sensor_ids) == 2]
    assert site_jobs
    assert site_jobs[-1].payload["flex-context"]["site-power-capacity"] == "30 kW"


async def test_the_name_given_is_the_title_and_defaults_fill_in(
    hass: HomeAssistant, two_devices: MockConfigEntry
) -> None:
    """Only the devices and the consumption price are needed in step 2."""
    result = await start_site_flow(hass, two_devices)
    result = await configure(hass, result, {"name": " Home ", "asset": "5"})
    result = await configure(
        hass, result, {"devices": [EV], "consumption_price_sensor": ""}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home"
    assert result["data"] == {
        "asset": "5",
        "devices": [EV],
        "consumption_price_sensor": "asset",
        "production_price_sensor": "asset",
        "duration": 24,
        "update_interval": 15,
    }


async def test_a_site_on_a_lower_asset_offers_only_its_devices(
    hass: HomeAssistant, two_devices: MockConfigEntry
) -> None:
    result = await start_site_flow(hass, two_devices)
    result = await configure(hass, result, {"asset": "9"})

    assert options_of(result, "devices") == [{"value": EV, "label": "EV charger"}]
    result = await configure(hass, result, {**DEVICES_INPUT, "devices": [EV]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "toy-ev-charger"
    assert result["unique_id"] == "site_9"


async def test_a_device_is_in_at_most_one_site(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The battery is in a site on its own asset: the EV charger is left.

    The battery's asset (it has the site) is not offered; the building counts
    only the EV charger, and offers only it.
    """
    entry = await loaded(
        hass,
        fake_fm,
        site_subentry({**SITE_DATA, "asset": "6", "devices": ["8"]}, unique_id=None),
    )
    result = await start_site_flow(hass, entry)

    assert options_of(result, "asset") == [
        {"value": "5", "label": "toy-building (1 scheduled device)"},
        {"value": "9", "label": "toy-ev-charger (1 scheduled device)"},
    ]
    result = await configure(hass, result, {"asset": "5"})
    assert options_of(result, "devices") == [{"value": EV, "label": "EV charger"}]
    with pytest.raises(InvalidData):  # not offered, not taken
        await configure(hass, result, DEVICES_INPUT)


async def test_a_second_site_on_the_same_asset_is_not_offered(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The building has a site with the battery: its other devices go there."""
    entry = await loaded(
        hass, fake_fm, site_subentry({**SITE_DATA, "devices": ["8"]}, unique_id=None)
    )
    result = await start_site_flow(hass, entry)

    assert [o["value"] for o in options_of(result, "asset")] == ["9"]


# --- step 1 errors and aborts --------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "errors"),
    [
        (404, {"asset": "asset_not_found"}),
        (403, {"asset": "asset_not_found"}),
        (500, {"base": "cannot_connect"}),
    ],
    ids=["asset_gone", "asset_of_other_account", "server_error"],
)
async def test_asset_step_error_recovers(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    two_devices: MockConfigEntry,
    failure: int,
    errors: dict[str, str],
) -> None:
    """The chosen asset is checked at the server; a retry goes on to step 2."""
    result = await start_site_flow(hass, two_devices)
    fake_fm.fail_next(failure)

    result = await configure(hass, result, {"name": "Home", "asset": "5"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == errors
    assert suggested_values(result)["name"] == "Home"  # what was entered stays

    result = await configure(hass, result, {"name": "Home", "asset": "5"})
    assert result["step_id"] == "devices"
    result = await configure(hass, result, DEVICES_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home"


async def test_site_flow_aborts_when_entry_not_loaded(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    entry = make_entry(fake_fm)
    entry.add_to_hass(hass)

    result = await start_site_flow(hass, entry)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"


async def test_site_flow_aborts_when_assets_cannot_be_listed(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, two_devices: MockConfigEntry
) -> None:
    fake_fm.fail_next(500)

    result = await start_site_flow(hass, two_devices)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"
    # the server is back: the form opens
    result = await start_site_flow(hass, two_devices)
    assert result["type"] is FlowResultType.FORM


async def test_site_flow_aborts_clearly_without_scheduled_devices(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """No schedule yet: say to add schedules first."""
    entry = mock_account_entry(fake_fm.url)
    await setup_integration(hass, entry)

    result = await start_site_flow(hass, entry)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_scheduled_devices"
    text = EN["config_subentries"]["site"]["abort"]["no_scheduled_devices"]
    assert "Add schedule" in text
    assert "first" in text


async def test_site_flow_aborts_when_every_device_is_in_a_site(
    hass: HomeAssistant, with_site: MockConfigEntry
) -> None:
    result = await start_site_flow(hass, with_site)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_devices_left"


async def test_a_site_saved_on_the_asset_meanwhile_aborts(
    hass: HomeAssistant, two_devices: MockConfigEntry
) -> None:
    """Two forms open; the first saves a site on the building."""
    second = await start_site_flow(hass, two_devices)
    first = await start_site_flow(hass, two_devices)
    first = await configure(hass, first, {"asset": "5"})
    first = await configure(hass, first, {**DEVICES_INPUT, "devices": ["8"]})
    assert first["type"] is FlowResultType.CREATE_ENTRY

    result = await configure(hass, second, {"asset": "5"})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(sites(two_devices)) == 1


# --- step 2 errors and aborts --------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"devices": []}, {"devices": "no_devices"}),
        (
            {"site_power_capacity": 0.0},
            {"site_power_capacity": "capacity_not_positive"},
        ),
    ],
    ids=["no_device", "zero_capacity"],
)
async def test_devices_step_error_recovers(
    hass: HomeAssistant,
    two_devices: MockConfigEntry,
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    result = await start_site_flow(hass, two_devices)
    result = await configure(hass, result, {"asset": "5"})

    result = await configure(hass, result, {**DEVICES_INPUT, **changes})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "devices"
    assert result["errors"] == errors
    assert not sites(two_devices)
    for error in errors.values():
        shown_error(result, error)

    result = await configure(hass, result, DEVICES_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_a_device_put_in_another_site_meanwhile_is_refused(
    hass: HomeAssistant, two_devices: MockConfigEntry
) -> None:
    """A form on the building; meanwhile the EV charger gets its own site.

    The error names that site; the form offers only the battery now.
    """
    result = await start_site_flow(hass, two_devices)
    result = await configure(hass, result, {"asset": "5"})
    other = await start_site_flow(hass, two_devices)
    other = await configure(hass, other, {"name": "Car", "asset": "9"})
    other = await configure(hass, other, {**DEVICES_INPUT, "devices": [EV]})
    assert other["type"] is FlowResultType.CREATE_ENTRY

    result = await configure(hass, result, DEVICES_INPUT)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"devices": "device_in_site"}
    assert "the site Car" in shown_error(result, "device_in_site")
    assert options_of(result, "devices") == [{"value": "8", "label": "Home battery"}]
    result = await configure(hass, result, {**DEVICES_INPUT, "devices": ["8"]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["devices"] == ["8"]


async def test_a_device_removed_meanwhile_is_refused(
    hass: HomeAssistant, two_devices: MockConfigEntry
) -> None:
    result = await start_site_flow(hass, two_devices)
    result = await configure(hass, result, {"asset": "5"})
    hass.config_entries.async_remove_subentry(two_devices, EV_ID)
    await hass.async_block_till_done()

    result = await configure(hass, result, DEVICES_INPUT)

    assert result["errors"] == {"devices": "device_gone"}
    result = await configure(hass, result, {**DEVICES_INPUT, "devices": ["8"]})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_devices_step_aborts_when_the_entry_was_unloaded(
    hass: HomeAssistant, two_devices: MockConfigEntry
) -> None:
    result = await start_site_flow(hass, two_devices)
    result = await configure(hass, result, {"asset": "5"})
    assert await hass.config_entries.async_unload(two_devices.entry_id)
    await hass.async_block_till_done()

    result = await configure(hass, result, DEVICES_INPUT)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"


async def test_devices_step_aborts_when_its_devices_went_elsewhere(
    hass: HomeAssistant, two_devices: MockConfigEntry
) -> None:
    """Between the steps, the EV charger's asset got a site with it."""
    result = await start_site_flow(hass, two_devices)
    other = await start_site_flow(hass, two_devices)
    other = await configure(hass, other, {"asset": "9"})
    other = await configure(hass, other, {**DEVICES_INPUT, "devices": [EV]})
    assert other["type"] is FlowResultType.CREATE_ENTRY

    # the form was opened before: it still offers the EV charger's asset
    result = await configure(hass, result, {"asset": "9"})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


# --- reconfigure ---------------------------------------------------------------


def site_device_name(hass: HomeAssistant, entry: MockConfigEntry) -> str | None:
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, SITE_ID), entry.entry_id
    )
    assert device is not None
    return device.name


async def test_reconfigure_shows_the_site_and_saves_a_change(
    hass: HomeAssistant, with_site: MockConfigEntry
) -> None:
    """Both steps pre-filled; a change is saved, the name kept, the entry reloaded."""
    result = await start_site_reconfigure(hass, with_site)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert suggested_values(result) == {"name": "Home", "asset": "5"}
    # the site sees its own asset and devices
    assert options_of(result, "asset")[0] == {
        "value": "5",
        "label": "toy-building (2 scheduled devices)",
    }

    result = await configure(hass, result, {"name": "", "asset": "5"})
    assert result["step_id"] == "devices"
    shown = suggested_values(result)
    assert shown["devices"] == ["8", EV]
    assert shown["site_power_capacity"] == 30.0
    assert shown["consumption_price_sensor"] == "7"
    assert shown["production_price_sensor"] == "asset"
    assert [o["value"] for o in options_of(result, "devices")] == ["8", EV]

    result = await configure(
        hass,
        result,
        {**DEVICES_INPUT, "devices": ["8"], "site_power_capacity": 45.0},
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    site = with_site.subentries[SITE_ID]
    assert site.title == "Home"
    assert site.unique_id == "site_5"
    assert site.data["devices"] == ["8"]
    assert site.data["site_power_capacity"] == 45.0
    assert "name" not in site.data
    coordinator = with_site.runtime_data.sites[SITE_ID]
    assert coordinator.settings.site_power_capacity == 45.0
    assert [m.subentry_id for m in coordinator.members] == [SUBENTRY_ID]
    # the EV charger left the site: it runs its own job again
    assert with_site.runtime_data.coordinators[EV_ID].site is None
    assert site_device_name(hass, with_site) == "Home"


async def test_reconfigure_renames_and_clears_the_capacity(
    hass: HomeAssistant, with_site: MockConfigEntry
) -> None:
    """The name field renames; an emptied capacity means the asset's again."""
    result = await start_site_reconfigure(hass, with_site)
    result = await configure(hass, result, {"name": "Our house", "asset": "5"})
    changed = {k: v for k, v in DEVICES_INPUT.items() if k != "site_power_capacity"}
    result = await configure(hass, result, changed)

    assert result["reason"] == "reconfigure_successful"
    site = with_site.subentries[SITE_ID]
    assert site.title == "Our house"
    assert "site_power_capacity" not in site.data
    assert with_site.runtime_data.sites[SITE_ID].settings.site_power_capacity is None
    assert site_device_name(hass, with_site) == "Our house"


async def test_reconfigure_keeps_a_rename_made_in_the_ui(
    hass: HomeAssistant, with_site: MockConfigEntry
) -> None:
    hass.config_entries.async_update_subentry(
        with_site, with_site.subentries[SITE_ID], title="Cottage"
    )
    await hass.async_block_till_done()

    result = await start_site_reconfigure(hass, with_site)
    assert suggested_values(result)["name"] == "Cottage"
    result = await configure(hass, result, {"name": "  ", "asset": "5"})
    result = await configure(hass, result, DEVICES_INPUT)

    assert result["reason"] == "reconfigure_successful"
    assert with_site.subentries[SITE_ID].title == "Cottage"


async def test_reconfigure_keeps_a_rename_made_while_its_form_is_open(
    hass: HomeAssistant, with_site: MockConfigEntry
) -> None:
    """Name cleared, and the site renamed in the UI (its sub-entry's Rename)
    between the steps: the save keeps the title it has then, not the one
    step 1 saw."""
    result = await start_site_reconfigure(hass, with_site)
    result = await configure(hass, result, {"name": "", "asset": "5"})
    assert result["step_id"] == "devices"
    hass.config_entries.async_update_subentry(
        with_site, with_site.subentries[SITE_ID], title="Cottage"
    )
    await hass.async_block_till_done()

    result = await configure(hass, result, DEVICES_INPUT)

    assert result["reason"] == "reconfigure_successful"
    assert with_site.subentries[SITE_ID].title == "Cottage"


async def test_reconfigure_onto_another_asset_offers_its_devices(
    hass: HomeAssistant, with_site: MockConfigEntry
) -> None:
    """Moved to the battery's asset: only the battery, pre-selected."""
    result = await start_site_reconfigure(hass, with_site)
    result = await configure(hass, result, {"asset": "6"})

    assert options_of(result, "devices") == [{"value": "8", "label": "Home battery"}]
    assert suggested_values(result)["devices"] == ["8"]
    result = await configure(hass, result, {**DEVICES_INPUT, "devices": ["8"]})

    assert result["reason"] == "reconfigure_successful"
    site = with_site.subentries[SITE_ID]
    assert site.data["asset"] == "6"
    assert site.unique_id == "site_6"


async def test_reconfigure_error_recovers(
    hass: HomeAssistant, with_site: MockConfigEntry
) -> None:
    result = await start_site_reconfigure(hass, with_site)
    result = await configure(hass, result, {"asset": "5"})
    result = await configure(hass, result, {**DEVICES_INPUT, "devices": []})
    assert result["errors"] == {"devices": "no_devices"}

    result = await configure(hass, result, DEVICES_INPUT)
    assert result["reason"] == "reconfigure_successful"


async def test_site_of_a_script_without_unique_id_keeps_its_asset(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """scripts/ha_config.py writes sub-entries without unique ids: still one
    site per asset, and a reconfigure gives it one."""
    entry = await loaded(hass, fake_fm, site_subentry(unique_id=None))
    result = await start_site_flow(hass, entry)
    assert result["reason"] == "no_devices_left"

    result = await start_site_reconfigure(hass, entry)
    result = await configure(hass, result, {"asset": "5"})
    result = await configure(hass, result, DEVICES_INPUT)
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[SITE_ID].unique_id == "site_5"


# --- the schedule flow: a member keeps its power sensor --------------------------


async def test_a_members_power_sensor_cannot_change_while_in_a_site(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Reconfiguring the battery onto another sensor: a field error naming the
    site; the same sensor still saves; out of the site, it may change."""
    fake_fm.add_asset(20, "spare battery", 1, "battery", parent=5)
    fake_fm.add_sensor(20, "power", 20, "kW", "PT15M")
    entry = await loaded(hass, fake_fm, site_subentry())

    async def reconfigure_battery(power_sensor: str) -> Any:
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_TYPE_SCHEDULE),
            context={"source": SOURCE_RECONFIGURE, "subentry_id": SUBENTRY_ID},
        )
        return await configure(
            hass, result, {**SCHEDULE_INPUT, "power_sensor": power_sensor}
        )

    result = await reconfigure_battery("20")
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"power_sensor": "in_site"}
    text = shown_error(result, "in_site", flow="schedule")
    assert "the site Home" in text
    assert entry.subentries[SUBENTRY_ID].data["power_sensor"] == "8"
    # recovers: the same sensor
    result = await configure(hass, result, {**SCHEDULE_INPUT, "power_sensor": "8"})
    assert result["reason"] == "reconfigure_successful"

    # the battery leaves the site: now it may move
    hass.config_entries.async_update_subentry(
        entry, entry.subentries[SITE_ID], data={**SITE_DATA, "devices": [EV]}
    )
    await hass.async_block_till_done()
    result = await reconfigure_battery("20")
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[SUBENTRY_ID].data["power_sensor"] == "20"


# --- the parent chain ---------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    parents=st.dictionaries(
        st.integers(0, 9), st.one_of(st.none(), st.integers(0, 12)), max_size=10
    ),
    start=st.integers(0, 12),
)
def test_ancestry_walks_up_once_and_ends_on_a_cycle(
    parents: dict[int, int | None], start: int
) -> None:
    """The asset first, each parent once, following parent_asset_id."""
    assets = {
        i: Asset(id=i, name=str(i), account_id=1, asset_type="x", parent_asset_id=p)
        for i, p in parents.items()
    }
    chain = ancestry(start, assets)
    assert chain[0] == start
    assert len(chain) == len(set(chain))
    for child, parent in itertools.pairwise(chain):
        assert assets[child].parent_asset_id == parent
    last = chain[-1]
    if last in assets and (parent := assets[last].parent_asset_id) is not None:
        assert parent in chain  # stopped only on a cycle


# --- faults the review of the schedule form found, kept out of this one ----------


async def test_server_down_at_the_asset_submit_keeps_the_form(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, two_devices: MockConfigEntry
) -> None:
    """The form comes back with cannot_connect and what was typed; it recovers."""
    result = await start_site_flow(hass, two_devices)
    fake_fm.fail_next(500, times=50)  # the server is down
    try:
        result = await configure(hass, result, {"name": "Our home", "asset": "5"})
        assert result["type"] is FlowResultType.FORM, result.get("reason")
        assert result["errors"] == {"base": "cannot_connect"}
        assert suggested_values(result) == {"name": "Our home", "asset": "5"}
    finally:
        fake_fm.failures.clear()  # the server is back
    result = await configure(hass, result, {"name": "Our home", "asset": "5"})
    result = await configure(hass, result, DEVICES_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Our home"


async def test_reconfigure_of_a_scripted_site_shows_its_values(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Ids written as ints (a script): shown as the options' strings; the
    unchanged form saves."""
    fake_fm.add_ev_charger()
    set_soc(hass)
    scripted = {
        **SITE_DATA,
        "asset": 5,
        "devices": [8, TOY_EV_SENSOR_ID],
        "consumption_price_sensor": 7,
    }
    entry = make_entry(
        fake_fm,
        more=[
            ev_subentry(),
            site_subentry(scripted, unique_id=None),
        ],
        power_sensor=8,
    )
    await setup_integration(hass, entry)

    result = await start_site_reconfigure(hass, entry)
    shown = suggested_values(result)
    assert shown["asset"] in [o["value"] for o in options_of(result, "asset")]
    result = await configure(hass, result, shown)
    shown = suggested_values(result)
    assert shown["devices"] == ["8", EV]
    assert shown["consumption_price_sensor"] == "7"
    result = await configure(hass, result, shown)
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[SITE_ID].data["devices"] == ["8", EV]


async def test_a_long_name_is_refused(
    hass: HomeAssistant, two_devices: MockConfigEntry
) -> None:
    """A 300-character name would make entity ids that lose their keys."""
    result = await start_site_flow(hass, two_devices)
    result = await configure(hass, result, {"name": "Home " * 60, "asset": "5"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"name": "name_too_long"}
    shown_error(result, "name_too_long")
    result = await configure(hass, result, {"name": "Home", "asset": "5"})
    assert result["step_id"] == "devices"


async def test_an_asset_name_too_long_for_a_name_asks_for_one(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, two_devices: MockConfigEntry
) -> None:
    """Left empty, the name is the asset's: one too long is refused, not taken."""
    result = await start_site_flow(hass, two_devices)
    fake_fm.assets[5]["name"] = "Gebäude " * 40  # 320 characters
    result = await configure(hass, result, {"name": "", "asset": "5"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"name": "asset_name_too_long"}
    shown_error(result, "asset_name_too_long")
    result = await configure(hass, result, {"name": "Home", "asset": "5"})
    assert result["step_id"] == "devices"
