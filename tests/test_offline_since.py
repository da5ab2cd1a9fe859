"""Since when the server has not answered, across restarts and reloads.

README "When the server cannot be reached": `disconnected_since` says since when
the server is offline, and a repair issue comes once it has been offline for
longer than the plans reach. A restart of Home Assistant (or a reload of the
entry) during the outage does not end the outage: the time it began is kept
(store.py), and forgotten once the server answers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.const import DOMAIN

from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import NOW, entity_id, fire_at, make_entry, set_soc
from .test_offline_start import connected, restart

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

CONNECTED = "binary_sensor.toy_account_connected"


def since(hass: HomeAssistant) -> datetime | None:
    """The `connected` sensor's `disconnected_since`."""
    state = hass.states.get(CONNECTED)
    assert state is not None
    value = state.attributes["disconnected_since"]
    return None if value is None else datetime.fromisoformat(value)


def issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(
        DOMAIN, f"server_unreachable_{entry.entry_id}"
    )


async def loaded_entry(hass: HomeAssistant, fake_fm: FakeFlexMeasures) -> Any:
    """The toy account, planning one hour ahead, set up with the server up."""
    set_soc(hass)
    entry = make_entry(fake_fm, duration=1)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_restarts_during_an_outage_keep_since_when_and_raise_the_issue(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A home restarting every 40 minutes still hears of a 3-hour outage."""
    entry = await loaded_entry(hass, fake_fm)
    fake_fm.down = True
    await restart(hass, entry)
    began = since(hass)
    assert began is not None
    assert abs(began - NOW) < timedelta(minutes=1)
    when = NOW
    for _ in range(4):  # 2 h 40 min, restarting every 40 minutes
        when += timedelta(minutes=40)
        await fire_at(hass, freezer, when)
        await hass.async_block_till_done(wait_background_tasks=True)
        # Home Assistant forgets the issue at a restart (it is not persistent)
        ir.async_delete_issue(hass, DOMAIN, f"server_unreachable_{entry.entry_id}")
        await restart(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
        assert connected(hass) == "off"
        assert since(hass) == began  # the outage did not begin again
    # offline for 2 h 40 min, the plans reach 1 h: the issue is back at once
    found = issue(hass, entry)
    assert found is not None
    assert found.translation_placeholders is not None
    assert datetime.fromisoformat(found.translation_placeholders["since"]) == began


async def test_a_reload_during_an_outage_keeps_since_when(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A reload (e.g. a changed sub-entry) is no new outage either."""
    entry = await loaded_entry(hass, fake_fm)
    fake_fm.down = True
    await fire_at(hass, freezer, NOW + timedelta(minutes=16))  # the next update fails
    await hass.async_block_till_done(wait_background_tasks=True)
    began = since(hass)
    assert began is not None
    await fire_at(hass, freezer, NOW + timedelta(minutes=50))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert since(hass) == began
    assert issue(hass, entry) is None  # 34 minutes: the plan still runs
    await fire_at(hass, freezer, NOW + timedelta(hours=2))  # a retry fails
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issue(hass, entry) is not None


async def test_a_reload_while_the_issue_is_due_keeps_it_up(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The unload withdraws the issue; the offline set-up raises it again at once."""
    entry = await loaded_entry(hass, fake_fm)
    fake_fm.down = True
    when = NOW
    for _ in range(12):  # 3 hours offline, the plan reaches 1 h
        when += timedelta(minutes=15)
        await fire_at(hass, freezer, when)
        await hass.async_block_till_done(wait_background_tasks=True)
    began = since(hass)
    assert began is not None
    assert issue(hass, entry) is not None
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert connected(hass) == "off"
    found = issue(hass, entry)  # at once, not at the first retry
    assert found is not None
    assert found.translation_placeholders is not None
    assert datetime.fromisoformat(found.translation_placeholders["since"]) == began


async def test_a_clock_set_back_during_an_outage_bounds_since_when_at_the_next_failure(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The clock was a day ahead when the outage began; set right, since is now at most.

    The next exchange that fails (here the reschedule button) bounds it again.
    """
    entry = await loaded_entry(hass, fake_fm)
    ahead = NOW + timedelta(days=1)
    fake_fm.down = True
    await fire_at(hass, freezer, ahead)  # the wrong clock; the update fails
    await hass.async_block_till_done(wait_background_tasks=True)
    assert connected(hass) == "off"
    began = since(hass)
    assert began is not None
    assert began > NOW + timedelta(hours=23)
    freezer.move_to(NOW + timedelta(minutes=20))  # set right
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": entity_id(hass, "button", "reschedule")},
            blocking=True,
        )
    await hass.async_block_till_done()
    began = since(hass)
    assert began is not None
    assert began <= datetime.now(began.tzinfo)
    assert entry.runtime_data.connection.disconnected_since == began


async def test_an_answer_ends_the_outage_for_good(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Once the server answered, the next outage begins when it does, not before."""
    entry = await loaded_entry(hass, fake_fm)
    fake_fm.down = True
    await restart(hass, entry)
    first = since(hass)
    assert first is not None
    fake_fm.down = False  # the retry reaches it: the entry sets itself up afresh
    await fire_at(hass, freezer, NOW + timedelta(minutes=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    await hass.async_block_till_done()
    assert connected(hass) == "on"
    assert since(hass) is None
    await fire_at(hass, freezer, NOW + timedelta(hours=5))
    fake_fm.down = True
    await restart(hass, entry)
    again = since(hass)
    assert again is not None
    assert again - first > timedelta(hours=4)
    assert issue(hass, entry) is None


async def test_a_store_from_before_keeps_no_time_then_now_is_the_best_known(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """A kept state without since-when loads; the outage is counted from now."""
    entry = await loaded_entry(hass, fake_fm)
    fake_fm.down = True
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    kept = hass_storage[f"flexmeasures.state.{entry.entry_id}"]["data"]
    kept.pop("disconnected_since", None)  # as an older version wrote it
    later = NOW + timedelta(hours=3)
    freezer.move_to(later)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    began = since(hass)
    assert began is not None
    assert abs(began - later) < timedelta(minutes=1)
    assert issue(hass, entry) is None
