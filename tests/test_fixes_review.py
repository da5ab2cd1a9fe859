"""Review of the recent fixes (renames, forwarder, forms, sites): faults found.

Each test was written to fail on the code as it was, marked
xfail(strict=True) with the defect as its reason; the mark goes with its fix.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.api import (
    FlexMeasuresClient,
    FlexMeasuresRateLimitError,
)
from custom_components.flexmeasures.api.responses import retry_after_seconds
from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.issues import ENTITY_REMOVED

from .common import measurement_subentry, mock_account_entry, setup_integration
from .fake_flexmeasures import Answer, FakeFlexMeasures
from .forwarder_common import T0, Q
from .schedule_setup import set_soc, unload_entry
from .test_config_flow_schedule import USER_INPUT, start_user_flow

MEASUREMENT_ID = "01JMEASUREMENTREVIEWFIXES0"
OLD = "sensor.house_power"
KW = {"unit_of_measurement": "kW"}


# --- Retry-After ------------------------------------------------------------------


@pytest.mark.parametrize("header", ["²", "¹²", "٣"])
async def test_a_retry_after_of_other_digits_is_still_a_rate_limit(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient, header: str
) -> None:
    """RFC 9110's delay-seconds are ASCII digits: anything else says nothing."""
    assert retry_after_seconds(header) is None
    await fm_client.login()
    fake_fm.fail_next(
        Answer(
            429,
            '{"message": "Too many requests", "status": 429}',
            headers={"Retry-After": header},
        )
    )
    with pytest.raises(FlexMeasuresRateLimitError) as info:
        await fm_client.post_sensor_data(
            8, start=T0, duration=Q, values=[1.0], unit="kW"
        )
    assert info.value.retry_after is None


# --- names ------------------------------------------------------------------------


@pytest.fixture
def fm_url(fake_fm: FakeFlexMeasures) -> str:
    """The account (`mock_config_entry`) is on the fake server."""
    return fake_fm.url


@pytest.fixture
async def account(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> AsyncGenerator[MockConfigEntry]:
    """A loaded account entry without schedules (unloaded afterwards)."""
    set_soc(hass, "50", "%")
    await setup_integration(hass, mock_config_entry)
    yield mock_config_entry
    await unload_entry(hass, mock_config_entry)


async def test_a_name_of_non_latin_letters_keeps_the_entity_ids_apart(
    hass: HomeAssistant, account: MockConfigEntry
) -> None:
    """Refused on the name field, or every entity id still ends with its key."""
    result = await start_user_flow(hass, account)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**USER_INPUT, "name": "家用电池" * 15}
    )
    await hass.async_block_till_done()
    if result["type"] is FlowResultType.FORM:
        assert result["errors"].get("name")
        return
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (subentry,) = account.subentries.values()
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, subentry.subentry_id), account.entry_id
    )
    assert device is not None
    entities = er.async_entries_for_device(er.async_get(hass), device.id)
    assert entities
    for entity in entities:
        assert entity.entity_id.endswith(f"_{entity.translation_key}"), (
            entity.entity_id[-40:]
        )


# --- the measurement_entity_removed issue ----------------------------------------


async def test_the_removed_entity_issue_goes_when_the_measurement_names_another(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    er.async_get(hass).async_get_or_create(
        "sensor", "p1", "unique-house", suggested_object_id="house_power"
    )
    hass.states.async_set(OLD, "1", KW)
    hass.states.async_set("sensor.yaml_power", "2", KW)  # no unique id: no entry
    entry = mock_account_entry(
        fake_fm.url,
        subentries_data=[
            measurement_subentry(OLD, "8", subentry_id=MEASUREMENT_ID, title="House")
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    issue_id = ENTITY_REMOVED.issue_id(MEASUREMENT_ID)
    er.async_get(hass).async_remove(OLD)
    hass.states.async_remove(OLD)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None

    subentry = entry.subentries[MEASUREMENT_ID]
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "entity_id": "sensor.yaml_power"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    try:
        forwarder = entry.runtime_data.forwarder
        assert forwarder is not None
        assert (
            forwarder.as_diagnostics()["mappings"][MEASUREMENT_ID]["entity_id"]
            == "sensor.yaml_power"
        )
        assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
