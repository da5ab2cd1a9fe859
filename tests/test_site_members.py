"""A site's devices as the browser checks met them (scripts/develop's site "Home").

- Home Assistant starting with a state of charge entity that loads after the
  integration (a template sensor): the site waits for it quietly, as a device
  on its own does, and plans once it has a value.
- `trigger_schedule` with `soc_targets` on a device in a site: its setpoint
  shows the targets at once (not only after the next update).
"""

from __future__ import annotations

from datetime import timedelta

from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest

from custom_components.flexmeasures.const import DOMAIN

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import NOW, SUBENTRY_ID, entity_id, set_soc
from .test_site import asset_jobs, site_entry

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

SITE_ID = "01JSITETOYBUILDING00000000"


async def test_a_site_waits_quietly_for_a_state_of_charge_loading_at_start_up(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, caplog: pytest.LogCaptureFixture
) -> None:
    """While Home Assistant starts, the battery's missing state of charge is no
    error of the site (nor of its devices); the site plans once it is there."""
    hass.set_state(CoreState.starting)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    site = entry.runtime_data.sites[SITE_ID]
    assert site.data is None
    assert site.last_update_success  # not stale: nothing failed
    assert not asset_jobs(fake_fm)
    assert "Error fetching" not in caplog.text
    assert "Error requesting" not in caplog.text

    set_soc(hass, "50", "%")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert site.data is not None
    assert len(asset_jobs(fake_fm)) == 1
    hass.set_state(CoreState.running)


async def test_a_members_targets_show_on_its_setpoint_at_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The battery's targets given to trigger_schedule, on its power setpoint."""
    set_soc(hass)
    entry = site_entry(fake_fm)
    await setup_integration(hass, entry)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, SUBENTRY_ID), entry.entry_id
    )
    assert device is not None
    when = (NOW + timedelta(hours=3)).replace(second=0)

    await hass.services.async_call(
        DOMAIN,
        "trigger_schedule",
        {
            "device_id": device.id,
            "soc_targets": [{"datetime": when.isoformat(), "value": 300}],
        },
        blocking=True,
        return_response=True,
    )

    state = hass.states.get(entity_id(hass, "sensor", "power_setpoint"))
    assert state is not None
    assert state.attributes["soc_targets"] == [
        {"datetime": when.isoformat(), "value": 300}
    ]
    assert asset_jobs(fake_fm)[-1].payload["flex-model"][0]["soc-targets"] == [
        {"datetime": when.isoformat(), "value": "300 kWh"}
    ]
