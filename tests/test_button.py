"""Schedule device button: reschedule now."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    coordinator_of,
    entity_id,
    make_entry,
    set_soc,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]


async def test_reschedule_triggers_a_new_job_and_updates(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    first = coordinator_of(entry).data
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": entity_id(hass, "button", "reschedule")},
        blocking=True,
    )
    second = coordinator_of(entry).data
    assert second is not None
    assert first is not None
    assert second.job_id != first.job_id
    assert list(fake_fm.jobs.values())[-1].payload["force-new-job-creation"] is True


async def test_reschedule_is_available_without_schedule_and_raises_failures(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert coordinator_of(entry).data is None
    button = entity_id(hass, "button", "reschedule")
    state = hass.states.get(button)
    assert state is not None
    assert state.state != "unavailable"
    fake_fm.down = True
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "button", "press", {"entity_id": button}, blocking=True
        )
    assert err.value.translation_key == "cannot_connect"
