"""Faults found in review of the client and schedule life cycle (issue 11).

Each test here fails on the code it was written against and is marked
`xfail(strict=True)` until the defect it names is fixed.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flexmeasures.const import DOMAIN

from .common import mock_account_entry, schedule_subentry, setup_integration
from .const import TOY_EMAIL
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import NOW, SCHEDULE_DATA, SUBENTRY_ID, make_entry, set_soc

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

SCHEDULE_ISSUE = f"schedule_failed_{SUBENTRY_ID}"


@pytest.mark.xfail(
    strict=True,
    reason="async_remove_entry forgets the stores but not the repair issues: a "
    "removed account's schedule_failed (and server_unreachable, "
    "measurements_rejected) issues stay in Repairs for good",
)
async def test_removing_the_account_withdraws_its_repair_issues(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """No repair issue outlives the entry it is about."""
    set_soc(hass)
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert ir.async_get(hass).async_get_issue(DOMAIN, SCHEDULE_ISSUE) is not None

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, SCHEDULE_ISSUE) is None


@pytest.mark.xfail(
    strict=True,
    reason="removing a schedule sub-entry reloads the entry, but its "
    "schedule_failed issue is never withdrawn (no coordinator is left to clear it)",
)
async def test_removing_a_schedule_device_withdraws_its_repair_issue(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The issue of a device that is gone is gone too."""
    set_soc(hass)
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert ir.async_get(hass).async_get_issue(DOMAIN, SCHEDULE_ISSUE) is not None

    assert hass.config_entries.async_remove_subentry(entry, SUBENTRY_ID)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, SCHEDULE_ISSUE) is None


@pytest.mark.xfail(
    strict=True,
    reason="diagnostics' _scrub replaces every occurrence of the password (and "
    "email) as plain text anywhere: a password that is a word elsewhere in the "
    "diagnostics (a device title, a sensor name) is revealed by where "
    "**REDACTED** appears, and the diagnostics are mangled",
)
async def test_diagnostics_do_not_reveal_a_password_that_is_a_common_word(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    fake_fm: FakeFlexMeasures,
) -> None:
    """Password "battery": the device "Home battery" keeps its title."""
    set_soc(hass)
    fake_fm.users[TOY_EMAIL]["password"] = "battery"
    entry = mock_account_entry(
        fake_fm.url,
        password="battery",
        subentries_data=[schedule_subentry(SCHEDULE_DATA, subentry_id=SUBENTRY_ID)],
    )
    await setup_integration(hass, entry)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["coordinators"][SUBENTRY_ID]["title"] == "Home battery"
