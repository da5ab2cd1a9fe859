"""Schedule device binary sensors: charging, discharging, stale."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
import pytest

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    STEP_START,
    entity_id,
    fire_at,
    make_entry,
    set_soc,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]


def states(hass: HomeAssistant) -> tuple[str, str, str]:
    result = []
    for key in ("charging", "discharging", "stale"):
        state = hass.states.get(entity_id(hass, "binary_sensor", key))
        assert state is not None
        result.append(state.state)
    return (result[0], result[1], result[2])


async def test_charging_and_discharging_follow_the_sign(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    # The fake's schedule: -10 kW, 0, +10 kW, -10 kW, ...
    assert states(hass) == (STATE_OFF, STATE_ON, STATE_OFF)
    await fire_at(hass, freezer, STEP_START + timedelta(minutes=15))
    assert states(hass) == (STATE_OFF, STATE_OFF, STATE_OFF)
    await fire_at(hass, freezer, STEP_START + timedelta(minutes=30))
    assert states(hass) == (STATE_ON, STATE_OFF, STATE_OFF)
    stale = hass.states.get(entity_id(hass, "binary_sensor", "stale"))
    assert stale is not None
    assert stale.attributes["device_class"] == "problem"


async def test_stale_turns_on_when_an_update_fails_and_off_when_it_works(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    fake_fm.down = True
    await fire_at(hass, freezer, NOW + timedelta(minutes=15, seconds=30))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert states(hass) == (STATE_OFF, STATE_OFF, STATE_ON)

    fake_fm.down = False
    await fire_at(hass, freezer, NOW + timedelta(minutes=31))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert states(hass)[2] == STATE_OFF


async def test_without_schedule_only_stale_is_available(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    await setup_integration(hass, make_entry(fake_fm))
    assert states(hass) == (STATE_UNAVAILABLE, STATE_UNAVAILABLE, STATE_ON)
