"""A restart while the server is down keeps the plan and the data flowing (issue 13)."""

from __future__ import annotations

from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    ConfigEntryState,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.const import DOMAIN

from .common import measurement_subentry
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    STEP_START,
    coordinator_of,
    entity_id,
    fake_value,
    fire_at,
    make_entry,
    set_soc,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

HOUSE = "sensor.house_power"
MEASUREMENT_ID = "01JOFFLINEMEASUREMENT00000"


def entry_with_measurement(fake_fm: FakeFlexMeasures) -> MockConfigEntry:
    """The toy account: the "Home battery" schedule and house power -> sensor 9."""
    return make_entry(
        fake_fm,
        more=[
            measurement_subentry(
                HOUSE, "9", subentry_id=MEASUREMENT_ID, title="House power → production"
            )
        ],
    )


async def restart(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Unload the entry and set it up again, as a Home Assistant restart does."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def state_of(hass: HomeAssistant, platform: str, key: str) -> str:
    state = hass.states.get(entity_id(hass, platform, key))
    assert state is not None
    return state.state


def connected(hass: HomeAssistant) -> str:
    state = hass.states.get("binary_sensor.toy_account_connected")
    assert state is not None
    return state.state


async def test_restart_with_the_server_down_follows_the_kept_plan(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Entities follow the kept plan at the right step, stale on, states kept."""
    set_soc(hass)
    hass.states.async_set(HOUSE, "2.0", {"unit_of_measurement": "kW"})
    entry = entry_with_measurement(fake_fm)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    plan = coordinator_of(entry).data
    assert plan is not None
    assert connected(hass) == "on"

    fake_fm.down = True
    caplog.set_level(logging.INFO, logger="custom_components.flexmeasures")
    await restart(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    assert coordinator_of(entry).data == plan
    assert state_of(hass, "binary_sensor", "stale") == "on"
    assert connected(hass) == "off"
    # one step later the setpoint moved on by itself, along the kept plan
    await fire_at(hass, freezer, STEP_START + timedelta(minutes=16))
    assert float(state_of(hass, "sensor", "power_setpoint")) == fake_value(1)
    assert "cannot be reached" in caplog.text
    # the house power is followed into the outbox
    hass.states.async_set(HOUSE, "3.0", {"unit_of_measurement": "kW"})
    await fire_at(hass, freezer, STEP_START + timedelta(minutes=31))
    mappings = entry.runtime_data.forwarder.as_diagnostics()["mappings"]  # type: ignore[union-attr]
    assert mappings[MEASUREMENT_ID]["outbox_length"] >= 1

    # the server answers again: a fresh plan, the outbox delivered
    fake_fm.down = False
    await fire_at(hass, freezer, STEP_START + timedelta(minutes=32))
    await hass.async_block_till_done(wait_background_tasks=True)
    await fire_at(hass, freezer, STEP_START + timedelta(minutes=33))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    fresh = coordinator_of(entry).data
    assert fresh is not None
    assert fresh.job_id != plan.job_id
    assert state_of(hass, "binary_sensor", "stale") == "off"
    assert connected(hass) == "on"
    assert fake_fm.data.get(9)
    assert "answers again" in caplog.text


async def test_a_kept_plan_that_has_ended_leaves_entities_unavailable(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """No stale value: when no kept step covers now, the setpoint is unavailable."""
    set_soc(hass)
    entry = make_entry(fake_fm, duration=1)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    fake_fm.down = True
    assert await hass.config_entries.async_unload(entry.entry_id)
    freezer.move_to(NOW + timedelta(hours=2))
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert state_of(hass, "sensor", "power_setpoint") == "unavailable"
    assert state_of(hass, "binary_sensor", "stale") == "on"


async def test_an_entry_that_never_reached_its_server_is_not_ready(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """Nothing kept yet: setup retries, as before."""
    fake_fm.down = True
    entry = make_entry(fake_fm)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_bad_credentials_at_start_still_start_reauth(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """A refused login is not an outage: reauth, not the kept plan."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    fake_fm.users["toy-user@flexmeasures.io"]["password"] = "changed"
    fake_fm.expire_tokens()
    await restart(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_offline_longer_than_the_plans_reach_raises_a_repair_issue(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """A server offline past the horizon is a repair issue until it answers."""
    set_soc(hass)
    entry = make_entry(fake_fm, duration=1)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    fake_fm.down = True
    await restart(hass, entry)
    issue_id = f"server_unreachable_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    when = NOW
    for _ in range(30):  # retries back off to 10 minutes
        when += timedelta(minutes=11)
        await fire_at(hass, freezer, when)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    state = hass.states.get("binary_sensor.toy_account_connected")
    assert state is not None
    assert state.attributes["disconnected_since"] is not None

    fake_fm.down = False
    for _ in range(3):
        when += timedelta(minutes=11)
        await fire_at(hass, freezer, when)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert connected(hass) == "on"


async def test_connected_follows_the_server_while_running(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Any request that cannot reach the server turns `connected` off, until one does."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert connected(hass) == "on"
    fake_fm.down = True
    await fire_at(hass, freezer, NOW + timedelta(minutes=16))  # the next update
    await hass.async_block_till_done(wait_background_tasks=True)
    assert connected(hass) == "off"
    state = hass.states.get("binary_sensor.toy_account_connected")
    assert state is not None
    assert state.attributes["disconnected_since"] is not None
    fake_fm.down = False
    await fire_at(hass, freezer, NOW + timedelta(minutes=32))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert connected(hass) == "on"
    state = hass.states.get("binary_sensor.toy_account_connected")
    assert state is not None
    assert state.attributes["disconnected_since"] is None
    assert entry.state is ConfigEntryState.LOADED


async def test_a_server_back_with_another_password_asks_for_it_and_keeps_the_plan(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The retry meets a refused login: reauth, the kept plan still followed."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    plan = coordinator_of(entry).data
    fake_fm.down = True
    await restart(hass, entry)
    assert connected(hass) == "off"

    fake_fm.users["toy-user@flexmeasures.io"]["password"] = "changed"
    fake_fm.expire_tokens()
    fake_fm.down = False
    await fire_at(hass, freezer, STEP_START + timedelta(minutes=32))
    await hass.async_block_till_done(wait_background_tasks=True)

    assert "answers but refuses the login" in caplog.text
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert entry.state is ConfigEntryState.LOADED
    assert coordinator_of(entry).data == plan
    # no more retries behind the user's back: the password is theirs to give
    logins = fake_fm.login_count
    await fire_at(hass, freezer, STEP_START + timedelta(hours=3))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert fake_fm.login_count == logins


async def test_a_server_back_with_an_api_setup_refuses_lets_setup_say_so(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The retry meets an unsupported API: the reload sets up and says why."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    fake_fm.down = True
    await restart(hass, entry)
    assert connected(hass) == "off"

    monkeypatch.setattr("tests.fake_flexmeasures.API_VERSION", "v2_0")
    fake_fm.down = False
    await fire_at(hass, freezer, STEP_START + timedelta(minutes=32))
    await hass.async_block_till_done(wait_background_tasks=True)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "v3_0" in entry.reason or "version" in entry.reason.casefold()
