"""How far the plans reach, for the `server_unreachable` repair issue.

README "When the server cannot be reached": the issue is raised when the
server stays unreachable longer than the plans reach (the longest planning
horizon). A site plans its devices over the site's horizon (README: "The
site's prices, horizon, update interval and capacity win over" the devices').
"""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
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
from .test_site import EV_DATA, EV_ID, SITE_DATA, entity, site_subentry

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]


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
    when = NOW
    for _ in range(18):  # 3 hours and a bit; retries back off to 10 minutes
        when += timedelta(minutes=11)
        await fire_at(hass, freezer, when)
        await hass.async_block_till_done(wait_background_tasks=True)
    setpoint = hass.states.get(entity(hass, "sensor", f"{SUBENTRY_ID}_power_setpoint"))
    assert setpoint is not None
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    if covered:  # the kept plan still sets the power now: the plans reach this far
        assert setpoint.state != "unavailable"
        assert issue is None
    else:  # no kept plan sets the power now: the plans reach no further
        assert setpoint.state == "unavailable"
        assert issue is not None


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
    assert entry.runtime_data.plans_reach() == timedelta(hours=first)
