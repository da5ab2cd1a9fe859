"""Schedule device calendar: charge and discharge windows."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
import pytest

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    STEP_START,
    entity_id,
    make_entry,
    set_soc,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]


async def test_calendar_shows_current_window_and_lists_events(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    await setup_integration(hass, make_entry(fake_fm))
    calendar = entity_id(hass, "calendar", "schedule")
    state = hass.states.get(calendar)
    assert state is not None
    # Now: the fake discharges at 10 kW for the first step.
    assert state.state == STATE_ON
    assert state.attributes["message"] == "Discharging 10.0 kW"

    result = await hass.services.async_call(
        "calendar",
        "get_events",
        {
            "entity_id": calendar,
            "start_date_time": STEP_START,
            "end_date_time": STEP_START + timedelta(hours=1, minutes=30),
        },
        blocking=True,
        return_response=True,
    )
    events = result[calendar]["events"]  # type: ignore[index]
    assert [event["summary"] for event in events] == [  # type: ignore[union-attr]
        "Discharging 10.0 kW",
        "Charging 10.0 kW",
        "Discharging 10.0 kW",
        "Charging 10.0 kW",
    ]
    assert "2.50 kWh" in events[1]["description"]  # type: ignore[index]


async def test_calendar_off_without_schedule(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    await setup_integration(hass, make_entry(fake_fm))
    state = hass.states.get(entity_id(hass, "calendar", "schedule"))
    assert state is not None
    assert state.state in ("unavailable", STATE_OFF)
