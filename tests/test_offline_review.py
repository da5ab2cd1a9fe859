"""Review of the kept outage start (8b40ea9) and the plans' reach (3aa7a80).

README "When the server cannot be reached": "When the server stays unreachable
for longer than the plans reach, a repair issue says so: once the last kept
plan has ended (...). Before any plan arrived, it comes once the server has
been unreachable for longer than the longest planning horizon." And
**Connected**'s `disconnected_since` "says since when"; "since when is kept
(...) until the server answers".

Each `xfail(strict=True)` test fails on the code under review and names the
defect it shows; the others pin what was found sound.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flexmeasures.const import DOMAIN

from .common import mock_account_entry, schedule_subentry
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import NOW, SUBENTRY_ID, fire_at, make_entry, set_soc
from .test_offline_start import connected, restart
from .test_site import EV_DATA, EV_ID, SITE_DATA, site_subentry

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
    """The entry's `server_unreachable` issue, if raised."""
    return ir.async_get(hass).async_get_issue(
        DOMAIN, f"server_unreachable_{entry.entry_id}"
    )


def kept(hass_storage: dict[str, Any], entry: MockConfigEntry) -> dict[str, Any]:
    """The entry's kept state as written to disk."""
    data: dict[str, Any] = hass_storage[f"flexmeasures.state.{entry.entry_id}"]["data"]
    return data


async def loaded_entry(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, **changes: Any
) -> MockConfigEntry:
    """The toy account (one battery, 1 h horizon unless changed), server up."""
    set_soc(hass)
    entry = make_entry(fake_fm, **{"duration": 1, **changes})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def run_until(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start: datetime, end: datetime
) -> datetime:
    """Let the clock run from `start` to `end` in 8-minute steps; returns `end`."""
    when = start
    while when < end:
        when = min(when + timedelta(minutes=8), end)
        await fire_at(hass, freezer, when)
        await hass.async_block_till_done(wait_background_tasks=True)
    return end


# -- the issue raised too early ------------------------------------------------


async def test_a_plan_that_ended_while_the_server_answered_does_not_make_a_blip_an_issue(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The last good plan ended hours ago with the server up; then a 20-minute outage.

    README: the issue comes "when the server stays unreachable for longer than
    the plans reach". 20 minutes is not longer than any plan here (1 h). A
    device that never had a plan would wait a whole horizon from the outage's
    start (README, and test_plans_reach); one that had a good plan long ago
    must not be told sooner. An EV away for a day (no state of charge, no new
    plan) is the everyday case.
    """
    entry = await loaded_entry(hass, fake_fm)
    assert entry.runtime_data.coordinators[SUBENTRY_ID].data is not None
    fake_fm.job_fail_reason = "Infeasible problem"  # the server answers, no plan
    when = await run_until(hass, freezer, NOW, NOW + timedelta(hours=4))
    assert connected(hass) == "on"
    assert issue(hass, entry) is None
    fake_fm.down = True
    await run_until(hass, freezer, when, when + timedelta(minutes=35))
    assert connected(hass) == "off"
    began = since(hass)
    assert began is not None
    assert datetime.now(began.tzinfo) - began < timedelta(minutes=36)
    assert issue(hass, entry) is None  # 35 minutes offline, the plans reach 1 h


async def test_a_start_after_a_long_stop_is_no_long_outage(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Home Assistant was off for two days; at start the server is not reached for a minute.

    The kept plan ended while Home Assistant was off; whether the server was up
    then nobody knows. Unreachable for a minute is not "longer than the plans
    reach": no issue (the store's since was None: the server answered last).
    """
    entry = await loaded_entry(hass, fake_fm)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    later = NOW + timedelta(days=2)
    freezer.move_to(later)
    fake_fm.down = True  # e.g. the network is not up yet after a boot
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert connected(hass) == "off"
    await run_until(hass, freezer, later, later + timedelta(minutes=2))  # 2 retries
    assert issue(hass, entry) is None


async def test_a_site_whose_job_failed_for_hours_does_not_make_a_blip_an_issue(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The site (1 h) planned its devices once; then its job is infeasible for 4 h."""
    set_soc(hass)
    fake_fm.add_ev_charger()
    entry = make_entry(
        fake_fm,
        duration=1,
        more=[
            schedule_subentry(
                {**EV_DATA, "duration": 1}, subentry_id=EV_ID, title="EV charger"
            ),
            site_subentry({**SITE_DATA, "duration": 1}),
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.coordinators[SUBENTRY_ID].data is not None
    fake_fm.job_fail_reason = "Infeasible problem"
    when = await run_until(hass, freezer, NOW, NOW + timedelta(hours=4))
    assert connected(hass) == "on"
    fake_fm.down = True
    await run_until(hass, freezer, when, when + timedelta(minutes=35))
    assert connected(hass) == "off"
    assert issue(hass, entry) is None  # 35 minutes offline, the site plans 1 h


# -- never withdrawn -----------------------------------------------------------


async def test_disabling_the_entry_withdraws_its_issue(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The user disables the account during a long outage: Repairs forgets it.

    Nothing watches the server of a disabled entry: an issue left standing
    would say "unreachable since ..." until Home Assistant restarts, even
    after the server is back.
    """
    entry = await loaded_entry(hass, fake_fm)
    fake_fm.down = True
    await restart(hass, entry)
    await run_until(hass, freezer, NOW, NOW + timedelta(hours=3))
    assert issue(hass, entry) is not None
    await hass.config_entries.async_set_disabled_by(
        entry.entry_id, ConfigEntryDisabler.USER
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert issue(hass, entry) is None


async def test_an_issue_no_longer_due_after_a_reload_is_withdrawn(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Offline 3 h past a 1 h plan: the issue. Then the device steers another sensor.

    The kept plan is of the old sensor: not counted (test_plans_reach), so no
    plan arrived for what the entry plans now, and the issue "comes once the
    server has been unreachable for longer than the longest planning horizon"
    (48 h). After the reload it is not due: it must not stay.
    """
    entry = await loaded_entry(hass, fake_fm)
    fake_fm.down = True
    when = await run_until(hass, freezer, NOW, NOW + timedelta(hours=3))
    assert issue(hass, entry) is not None
    subentry = entry.subentries[SUBENTRY_ID]
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "power_sensor": "10", "duration": 48}
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinators[SUBENTRY_ID].data is None
    await run_until(hass, freezer, when, when + timedelta(minutes=20))  # retries fail
    assert connected(hass) == "off"
    assert issue(hass, entry) is None


# -- a damaged or odd since-when in the store ----------------------------------


async def test_a_since_when_at_the_start_of_time_does_not_stop_the_entry(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """store.py: a damaged kept state must not stop the entry (it guards OverflowError).

    "0001-01-01T00:00:00+00:00" parses and converts to UTC; Home Assistant's
    zone here is US/Pacific, where that instant is before year 1.
    """
    entry = await loaded_entry(hass, fake_fm)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    kept(hass_storage, entry)["disconnected_since"] = "0001-01-01T00:00:00+00:00"
    freezer.move_to(NOW + timedelta(hours=2))  # the kept 1 h plan has ended
    fake_fm.down = True
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert connected(hass) == "off"


async def test_a_since_when_in_the_future_is_taken_as_now(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Sound: a clock that was ahead when the outage began (min(kept, now))."""
    entry = await loaded_entry(hass, fake_fm)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    ahead = NOW + timedelta(days=30)
    kept(hass_storage, entry)["disconnected_since"] = ahead.isoformat()
    fake_fm.down = True
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    began = since(hass)
    assert began is not None
    assert abs(began - NOW) < timedelta(minutes=1)
    await fire_at(hass, freezer, NOW + timedelta(seconds=5))  # saved
    assert kept(hass_storage, entry)["disconnected_since"] == began.isoformat()
    assert issue(hass, entry) is None


async def test_since_when_is_not_before_the_last_answer_the_store_knows(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A Raspberry Pi without a clock boots at its last shutdown time, then NTP sets it.

    The plan kept arrived at NOW: the server answered then. An outage noticed
    with the clock five days behind did not begin five days before that.
    """
    entry = await loaded_entry(hass, fake_fm)
    plan = entry.runtime_data.store.plan(SUBENTRY_ID)
    assert plan is not None
    arrived = plan.arrived
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    freezer.move_to(NOW - timedelta(days=5))  # the clock at boot
    fake_fm.down = True
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await fire_at(hass, freezer, NOW + timedelta(minutes=1))  # NTP; a retry fails
    await hass.async_block_till_done(wait_background_tasks=True)
    await fire_at(hass, freezer, NOW + timedelta(minutes=3))
    await hass.async_block_till_done(wait_background_tasks=True)
    began = since(hass)
    assert began is not None
    assert began >= arrived - timedelta(seconds=1)


async def test_since_when_is_never_in_the_future(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The clock was a day ahead when the outage began; NTP sets it right meanwhile.

    A restart would take now instead (min(kept, now)); staying up must not
    show an outage that "began" tomorrow. Home Assistant's timers run on the
    monotonic clock, which NTP does not set back: the updates scheduled while
    the clock was ahead come on time. The test's timers run on the frozen
    clock, so they are fired a day ahead of it (`async_fire_time_changed`
    runs the timers due by then; the wall clock stays where NTP set it).
    """
    entry = await loaded_entry(hass, fake_fm)
    ahead = NOW + timedelta(days=1)
    freezer.move_to(ahead)  # the wrong clock
    fake_fm.down = True
    await run_until(hass, freezer, ahead, ahead + timedelta(minutes=20))
    assert connected(hass) == "off"
    right = NOW + timedelta(minutes=20)
    assert (began := since(hass)) is not None
    assert began > right + timedelta(hours=23)  # "began" tomorrow
    freezer.move_to(right)  # set right
    for minutes in range(8, 40, 8):  # the monotonic clock goes on
        async_fire_time_changed(hass, ahead + timedelta(minutes=20 + minutes))
        await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert connected(hass) == "off"
    began = since(hass)
    assert began is not None
    assert began <= datetime.now(began.tzinfo)


# -- the save delay and a crash ------------------------------------------------


async def test_the_end_of_an_outage_is_on_disk_before_a_crash(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Offline for an hour (kept on disk), the server answers, Home Assistant dies at once."""
    entry = await loaded_entry(hass, fake_fm)
    fake_fm.down = True
    when = await run_until(hass, freezer, NOW, NOW + timedelta(hours=1))
    assert connected(hass) == "off"
    assert kept(hass_storage, entry)["disconnected_since"] is not None
    fake_fm.down = False
    await fire_at(hass, freezer, when + timedelta(minutes=16))  # an update answers
    await hass.async_block_till_done(wait_background_tasks=True)
    assert connected(hass) == "on"
    # no time passes: what a crash now leaves on disk (nothing flushed)
    assert kept(hass_storage, entry)["disconnected_since"] is None


# -- sound: one store per entry ------------------------------------------------


async def test_two_accounts_keep_their_own_outage(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Sound: one store per entry; an outage one account noticed is not the other's."""
    first = await loaded_entry(hass, fake_fm)
    second = mock_account_entry(fake_fm.url, unique_id="second account")
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()
    fake_fm.down = True
    await restart(hass, first)  # only the first noticed
    when = await run_until(hass, freezer, NOW, NOW + timedelta(hours=1))
    first_since = first.runtime_data.connection.disconnected_since
    assert first_since is not None
    assert kept(hass_storage, second).get("disconnected_since") is None
    await restart(hass, second)  # the second notices now
    assert second.state is ConfigEntryState.LOADED
    second_since = second.runtime_data.connection.disconnected_since
    assert second_since is not None
    assert second_since - when > timedelta(seconds=-1)
    assert first.runtime_data.connection.disconnected_since == first_since
    fake_fm.down = False
    assert await hass.config_entries.async_reload(second.entry_id)
    await hass.async_block_till_done()
    assert second.runtime_data.connection.disconnected_since is None
    await fire_at(hass, freezer, when + timedelta(seconds=5))  # saved
    assert kept(hass_storage, second)["disconnected_since"] is None
    assert first.runtime_data.connection.disconnected_since == first_since
