"""Faults found in review of the client and schedule life cycle (issue 11).

Each test here failed on the code it was written against (an adversarial
review); the fix made it pass.
"""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flexmeasures.api import normalise_url
from custom_components.flexmeasures.const import DOMAIN

from .common import mock_account_entry, schedule_subentry, setup_integration
from .const import TOY_EMAIL
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    SCHEDULE_DATA,
    SUBENTRY_ID,
    coordinator_of,
    entity_id,
    make_entry,
    set_soc,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

SCHEDULE_ISSUE = f"schedule_failed_{SUBENTRY_ID}"


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


def triggers(fake_fm: FakeFlexMeasures) -> int:
    """How many scheduling jobs were triggered at the fake server."""
    return sum(path.endswith("/schedules/trigger") for path in fake_fm.paths())


async def until(condition: Any, timeout: float = 5.0) -> None:
    """Wait (on the real clock) until `condition()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_unload_during_a_trigger_starts_no_job_for_an_update_waiting_behind_it(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Unload while trigger_schedule runs and an update waits: no further job."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    fake_fm.job_pending_polls = 10**6  # the manual job never finishes
    before = triggers(fake_fm)
    trigger = hass.async_create_task(coordinator.async_trigger())
    await until(lambda: triggers(fake_fm) == before + 1)
    periodic = hass.async_create_task(coordinator.async_refresh())
    await asyncio.sleep(0.05)  # the update waits for the lock

    async with asyncio.timeout(5):
        assert await hass.config_entries.async_unload(entry.entry_id)
    try:
        await asyncio.sleep(0.5)  # a poll interval, twice
        after_unload = triggers(fake_fm)
        polling = bool(coordinator.runner.tasks)
    finally:  # the test stops what the entry left running (it would for 2 min)
        for job in coordinator.runner.tasks:
            job.cancel()
        await asyncio.gather(trigger, periodic, return_exceptions=True)
    assert after_unload == before + 1
    assert not polling


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("https://Bücher.Example", "https://xn--bcher-kva.example"),
        ("https://fm.example.com/pre%2dfix", "https://fm.example.com/pre%2Dfix"),
        ("https://fm.example.com/%7Efm", "https://fm.example.com/~fm"),
    ],
)
def test_equivalent_urls_normalise_to_one_spelling(one: str, other: str) -> None:
    """Two spellings of one server URL are one unique id."""
    assert normalise_url(one) == normalise_url(other)


async def test_stale_shows_the_latest_error_when_the_error_changes_kind(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Unreachable, then infeasible: `stale` names the infeasible job at once."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    stale = entity_id(hass, "binary_sensor", "stale")

    fake_fm.down = True
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    state = hass.states.get(stale)
    assert state is not None
    assert state.state == "on"
    assert "Cannot reach" in state.attributes["last_error"]

    fake_fm.down = False
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert coordinator.last_error is not None
    assert coordinator.last_error.translation_key == "schedule_failed"
    state = hass.states.get(stale)
    assert state is not None
    assert "infeasible" in state.attributes["last_error"]
