"""Schedule life cycle under races, unloads and failed manual updates (issue 11)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.flexmeasures.const import DOMAIN

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


def number_jobs(fake_fm: FakeFlexMeasures) -> list[float]:
    """Make job n answer n in every step; return the list the numbers go to."""
    numbers: list[float] = []
    original = fake_fm.add_job

    def add_job(*args: Any, **kwargs: Any) -> str:
        numbers.append(float(len(numbers) + 1))
        return original(*args, **{**kwargs, "values": [numbers[-1]] * 96})

    fake_fm.add_job = add_job  # type: ignore[method-assign]
    return numbers


async def until(condition: Any, timeout: float = 5.0) -> None:
    """Wait (on the real clock) until `condition()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_update_waiting_behind_a_trigger_keeps_the_fresher_schedule(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """A periodic update queued behind trigger_schedule does not replace its plan."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    numbers = number_jobs(fake_fm)
    fake_fm.job_pending_polls = 3  # the manual job takes a moment

    trigger = asyncio.create_task(coordinator.async_trigger())
    await until(lambda: numbers)  # the manual job is being computed
    periodic = asyncio.create_task(coordinator.async_refresh())
    triggered = await trigger
    await periodic

    assert triggered.values[0] == 1.0
    assert coordinator.data is not None
    assert coordinator.data.values[0] == 1.0
    assert numbers == [1.0]  # no second job: the plan is as fresh as it gets
    assert not coordinator.stale


async def test_unload_cancels_a_poll_in_flight_without_repair_issue_or_log(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unloading stops polling at once; nothing is reported for the gone entry."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    fake_fm.job_pending_polls = 10**6  # never done
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    jobs = len(fake_fm.jobs)
    refresh = hass.async_create_task(coordinator.async_refresh())
    await until(lambda: len(fake_fm.jobs) > jobs)
    await until(lambda: list(fake_fm.jobs.values())[-1].polls > 0)

    caplog.set_level(logging.DEBUG, logger="custom_components.flexmeasures")
    caplog.clear()
    async with asyncio.timeout(5):
        assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    async with asyncio.timeout(5):
        await asyncio.gather(refresh, return_exceptions=True)
    polls = len(fake_fm.requests)
    await asyncio.sleep(0.6)  # longer than the poll interval
    assert len(fake_fm.requests) == polls
    assert not ir.async_get(hass).issues
    assert not [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("custom_components")
    ]


async def test_failed_reschedule_turns_stale_on_at_once_with_the_error(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """A failed manual update shows in `stale` now, not at the next step."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    stale = entity_id(hass, "binary_sensor", "stale")
    state = hass.states.get(stale)
    assert state is not None
    assert state.state == "off"

    fake_fm.down = True
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": entity_id(hass, "button", "reschedule")},
            blocking=True,
        )
    await hass.async_block_till_done()

    state = hass.states.get(stale)
    assert state is not None
    assert state.state == "on"
    assert state.attributes["last_error"] == (
        f"Cannot reach the FlexMeasures server at {fake_fm.url}"
    )
    assert state.attributes["last_error_time"] is not None
    # the setpoint keeps following the last good schedule
    setpoint = hass.states.get(entity_id(hass, "sensor", "power_setpoint"))
    assert setpoint is not None
    assert setpoint.state != "unavailable"

    fake_fm.down = False
    await coordinator_of(entry).async_trigger()
    await hass.async_block_till_done()
    state = hass.states.get(stale)
    assert state is not None
    assert state.state == "off"
    assert state.attributes.get("last_error") is None


async def test_failed_trigger_schedule_action_turns_stale_on(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """The same for the action trigger_schedule (an infeasible job)."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    device = entry.runtime_data.coordinators
    assert device
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    with pytest.raises(HomeAssistantError):
        await coordinator_of(entry).async_trigger()
    await hass.async_block_till_done()
    state = hass.states.get(entity_id(hass, "binary_sensor", "stale"))
    assert state is not None
    assert state.state == "on"
    assert "infeasible" in state.attributes["last_error"]
    assert ir.async_get(hass).async_get_issue(
        DOMAIN, f"schedule_failed_{next(iter(device))}"
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
async def test_a_non_finite_schedule_fails_the_update_and_keeps_the_last_plan(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, bad: float
) -> None:
    """NaN/Infinity never reach the state machine: stale on, the last plan stays."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    good = coordinator.data
    assert good is not None
    setpoint_id = entity_id(hass, "sensor", "power_setpoint")
    before = hass.states.get(setpoint_id)
    assert before is not None

    original = fake_fm.add_job

    def add_job(*args: Any, **kwargs: Any) -> str:
        return original(*args, **{**kwargs, "values": [1.0, bad] + [2.0] * 94})

    fake_fm.add_job = add_job  # type: ignore[method-assign]
    await coordinator.async_refresh()
    await hass.async_block_till_done()

    assert coordinator.data is good
    assert coordinator.stale
    after = hass.states.get(setpoint_id)
    assert after is not None
    assert after.state == before.state
    stale = hass.states.get(entity_id(hass, "binary_sensor", "stale"))
    assert stale is not None
    assert stale.state == "on"
