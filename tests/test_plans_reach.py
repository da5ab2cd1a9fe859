"""How far the plans reach, for the `server_unreachable` repair issue.

README "When the server cannot be reached": the issue is raised when the
server stays unreachable longer than the plans reach (the kept plans run out).
A site plans its devices over the site's horizon (README: "The site's prices,
horizon, update interval and capacity win over" the devices'); a plan asked
for with another `duration` (`trigger_schedule`) reaches that far.
"""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest

from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_SITE

from .common import schedule_subentry
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    SUBENTRY_ID,
    fire_at,
    make_entry,
    set_soc,
)
from .test_offline_start import restart
from .test_services_schedule import call, device_id
from .test_site import EV_DATA, EV_ID, SITE_DATA, SITE_ID, entity, site_subentry

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]


async def three_hours_offline(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Three hours and a bit pass; the retries back off to 10 minutes."""
    when = NOW
    for _ in range(18):
        when += timedelta(minutes=11)
        await fire_at(hass, freezer, when)
        await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize(
    ("hours", "covered"),
    [
        # devices with a 1 h horizon in a 24 h site: 3 h offline is within the plans
        ((1, 24), True),
        # devices with a 48 h horizon in a 1 h site: 3 h offline is past the plans
        ((48, 1), False),
    ],
    ids=["site_plans_further", "site_plans_less_far"],
)
async def test_a_site_s_horizon_is_how_far_its_devices_plans_reach(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    hours: tuple[int, int],
    covered: bool,
) -> None:
    """The issue comes once the kept plans no longer set the power, not before."""
    device_hours, site_hours = hours
    set_soc(hass)
    fake_fm.add_ev_charger()
    entry = make_entry(
        fake_fm,
        duration=device_hours,
        more=[
            schedule_subentry(
                {**EV_DATA, "duration": device_hours},
                subentry_id=EV_ID,
                title="EV charger",
            ),
            site_subentry({**SITE_DATA, "duration": site_hours}),
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    fake_fm.down = True
    await restart(hass, entry)
    issue_id = f"server_unreachable_{entry.entry_id}"
    await three_hours_offline(hass, freezer)
    setpoint = hass.states.get(entity(hass, "sensor", f"{SUBENTRY_ID}_power_setpoint"))
    assert setpoint is not None
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    if covered:  # the kept plan still sets the power now: the plans reach this far
        assert setpoint.state != "unavailable"
        assert issue is None
    else:  # no kept plan sets the power now: the plans reach no further
        assert setpoint.state == "unavailable"
        assert issue is not None


@pytest.mark.parametrize(
    ("hours", "covered"),
    [
        # a 1 h horizon, a plan asked for 6 h: 3 h offline is within the plan
        ((1, 6), True),
        # a 48 h horizon, a plan asked for 1 h: 3 h offline is past the plan
        ((48, 1), False),
    ],
    ids=["asked_further", "asked_less_far"],
)
async def test_a_plan_asked_for_with_a_duration_reaches_as_far_as_it_runs(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    hours: tuple[int, int],
    covered: bool,
) -> None:
    """`trigger_schedule` with a `duration`: the issue comes when that plan ends."""
    configured, asked = hours
    set_soc(hass)
    entry = make_entry(fake_fm, duration=configured)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await call(
        hass, "trigger_schedule", {"device_id": device_id(hass), "duration": asked}
    )
    fake_fm.down = True
    await restart(hass, entry)
    await three_hours_offline(hass, freezer)
    setpoint = hass.states.get(entity(hass, "sensor", f"{SUBENTRY_ID}_power_setpoint"))
    assert setpoint is not None
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"server_unreachable_{entry.entry_id}"
    )
    if covered:  # the plan asked for still sets the power now
        assert setpoint.state != "unavailable"
        assert issue is None
    else:  # no plan sets the power now
        assert setpoint.state == "unavailable"
        assert issue is not None


async def test_a_site_plan_asked_for_with_a_duration_reaches_as_far_as_it_runs(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A 1 h site planned 6 h ahead by `trigger_schedule`: 3 h offline is covered."""
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
    site = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, SITE_ID), entry.entry_id
    )
    assert site is not None
    await call(hass, "trigger_schedule", {"device_id": site.id, "duration": 6})
    fake_fm.down = True
    await restart(hass, entry)
    await three_hours_offline(hass, freezer)
    setpoint = hass.states.get(entity(hass, "sensor", f"{SUBENTRY_ID}_power_setpoint"))
    assert setpoint is not None
    assert setpoint.state != "unavailable"
    issue_id = f"server_unreachable_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_a_restart_after_the_plan_ended_still_knows_how_far_it_reached(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """An ended plan is not followed after a restart, but it ended all the same."""
    set_soc(hass)
    entry = make_entry(fake_fm, duration=48)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await call(hass, "trigger_schedule", {"device_id": device_id(hass), "duration": 1})
    fake_fm.down = True
    # the outage begins while the 1 h plan runs; the plan ends during it
    for when in (timedelta(minutes=30), timedelta(hours=2)):  # the updates fail
        await fire_at(hass, freezer, NOW + when)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data.connection.disconnected_since is not None
    assert entry.runtime_data.connection.disconnected_since < NOW + timedelta(hours=1)
    issue_id = f"server_unreachable_{entry.entry_id}"
    # Home Assistant restarts: it forgets the issue (it is not persistent)
    ir.async_delete_issue(hass, DOMAIN, issue_id)
    await restart(hass, entry)
    assert entry.runtime_data.coordinators[SUBENTRY_ID].data is None  # it ended
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None


async def test_a_device_without_a_plan_does_not_stretch_the_others_plans(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A 48 h device that never got a plan: the 1 h plan held is all that reaches."""
    set_soc(hass)  # the battery's; the EV charger's never has a value
    fake_fm.add_ev_charger()
    entry = make_entry(
        fake_fm,
        duration=1,
        more=[
            schedule_subentry(
                {**EV_DATA, "duration": 48, "soc_entity": "sensor.ev_soc"},
                subentry_id=EV_ID,
                title="EV charger",
            )
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.coordinators[EV_ID].data is None
    fake_fm.down = True
    await restart(hass, entry)
    await three_hours_offline(hass, freezer)
    issue_id = f"server_unreachable_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None


async def test_without_any_plan_the_horizon_counts_from_the_outage(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """No plan ever arrived: the issue comes after the planning horizon, not at once."""
    entry = make_entry(fake_fm, duration=1)  # its state of charge never has a value
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.coordinators[SUBENTRY_ID].data is None
    fake_fm.down = True
    await restart(hass, entry)
    issue_id = f"server_unreachable_{entry.entry_id}"
    for minutes in (1, 5, 20, 50):  # retries fail within the hour
        await fire_at(hass, freezer, NOW + timedelta(minutes=minutes))
        await hass.async_block_till_done(wait_background_tasks=True)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    for minutes in (70, 90, 130, 190):
        await fire_at(hass, freezer, NOW + timedelta(minutes=minutes))
        await hass.async_block_till_done(wait_background_tasks=True)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None


async def test_a_kept_plan_of_another_power_sensor_does_not_count(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """The device now steers another sensor: its old plan is not followed, nor counted."""
    set_soc(hass)
    entry = make_entry(fake_fm, duration=1)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    fake_fm.down = True
    subentry = entry.subentries[SUBENTRY_ID]
    # changed while the server is down (the update listener reloads the entry)
    hass.config_entries.async_update_subentry(
        entry,
        subentry,
        data={**subentry.data, "power_sensor": "10", "duration": 48},
    )
    await hass.async_block_till_done()
    assert entry.runtime_data.coordinators[SUBENTRY_ID].data is None
    await three_hours_offline(hass, freezer)
    issue_id = f"server_unreachable_{entry.entry_id}"
    # no plan followed: 48 h from the outage, not the old plan's hour
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.parametrize(("first", "second"), [(24, 1), (1, 24)])
async def test_a_device_named_by_two_sites_counts_with_the_site_that_plans_it(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, first: int, second: int
) -> None:
    """A device is in at most one site, the first that names it (planners.py)."""
    set_soc(hass)
    entry = make_entry(
        fake_fm,
        duration=48,
        more=[
            ConfigSubentryData(
                data={**SITE_DATA, "devices": ["8"], "duration": hours},
                subentry_id=f"01JSITE{index:019d}",
                subentry_type=SUBENTRY_TYPE_SITE,
                title=f"Site {index}",
            )
            for index, hours in enumerate((first, second))
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    site = entry.runtime_data.coordinators[SUBENTRY_ID].site
    assert site is not None
    assert site.settings.duration == timedelta(hours=first)  # the first site plans it
    part = entry.runtime_data.coordinators[SUBENTRY_ID].data
    assert part is not None
    assert part.end - part.start == timedelta(hours=first)
    assert entry.runtime_data.plans_reach(NOW) == part.end
