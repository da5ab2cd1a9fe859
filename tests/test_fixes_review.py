"""Review of the recent fixes (renames, forwarder, forms, sites): faults found.

Each test was written to fail on the code as it was, marked
xfail(strict=True) with the defect as its reason; the mark goes with its fix.
"""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    entity_registry as er,
    issue_registry as ir,
)
import pytest

from custom_components.flexmeasures.api import (
    FlexMeasuresClient,
    FlexMeasuresRateLimitError,
)
from custom_components.flexmeasures.api.responses import retry_after_seconds
from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.issues import ENTITY_REMOVED

from .common import measurement_subentry, mock_account_entry
from .fake_flexmeasures import Answer, FakeFlexMeasures
from .forwarder_common import T0, Q

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
