"""Faults found in review of a restart during an outage (issue 13).

Each test here failed on the code it was written against (an adversarial
review); the fix made it pass.
"""

from __future__ import annotations

from datetime import timedelta
import json
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .common import measurement_subentry
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import NOW, SUBENTRY_ID, fire_at, make_entry, set_soc

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


async def test_a_server_that_answers_the_probe_but_not_setup_does_not_reload_in_a_loop(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Partly back (the measurement's sensor answers 500): back off, log once."""
    set_soc(hass)
    hass.states.async_set(HOUSE, "2.0", {"unit_of_measurement": "kW"})
    entry = entry_with_measurement(fake_fm)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    fake_fm.down = True
    caplog.set_level(logging.INFO, logger="custom_components.flexmeasures")
    await restart(hass, entry)
    assert entry.state is ConfigEntryState.LOADED

    # the server is back, but reading sensor 9 fails (e.g. a 500, or a 429 of a
    # rate limit on the authenticated API)
    fake_fm.down = False
    fake_fm.fail_next_at("/api/v3_0/sensors/9", 500, times=1000)
    when = NOW
    for _ in range(20):  # 10 minutes
        when += timedelta(seconds=30)
        await fire_at(hass, freezer, when)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    warnings = [r for r in caplog.records if "cannot be reached" in r.getMessage()]
    # one at the restart; with backoff (30 s, 60 s, 120 s, ...) no more than a
    # few retries fit in 10 minutes, however they end
    assert len(warnings) <= 4, f"{len(warnings)} setups in 10 minutes"


def state_store(entry: MockConfigEntry) -> str:
    """The storage key of an entry's kept state."""
    return f"flexmeasures.state.{entry.entry_id}"


GOOD_PLAN: dict[str, Any] = {
    "sensor_id": 8,
    "job_id": "kept-job",
    "start": "2026-11-23T05:30:00+00:00",
    "resolution": "PT15M",
    "unit": "kW",
    "values": [1.0, 2.0, 3.0, 4.0],
    "scheduler_info": {},
    "arrived": "2026-11-23T05:30:05+00:00",
}


@pytest.mark.parametrize(
    "kept",
    [
        pytest.param([1, 2], id="data-is-a-list"),
        pytest.param({"plans": []}, id="plans-is-a-list"),
        pytest.param({"sensors": "x"}, id="sensors-is-a-string"),
        pytest.param(
            {"plans": {SUBENTRY_ID: {**GOOD_PLAN, "resolution": "P3000000D"}}},
            id="plan-ends-after-9999",
        ),
    ],
)
async def test_kept_state_of_the_wrong_shape_does_not_stop_the_account(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    hass_storage: dict[str, Any],
    kept: Any,
) -> None:
    """A kept file that cannot be used is ignored, as an unreadable one is."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    hass_storage[state_store(entry)] = {
        "version": 1,
        "minor_version": 1,
        "key": state_store(entry),
        "data": kept,
    }
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_an_offline_start_sends_a_measurement_to_the_sensor_it_names_now(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    hass_storage: dict[str, Any],
) -> None:
    """Kept facts of sensor 10 do not make a mapping to sensor 9 post to 10."""
    set_soc(hass)
    hass.states.async_set(HOUSE, "2.0", {"unit_of_measurement": "kW"})
    entry = entry_with_measurement(fake_fm)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # what was kept while the measurement still went to sensor 10 (the sub-entry
    # was reconfigured to sensor 9 since; the reload then met the outage)
    kept = hass_storage[state_store(entry)]["data"]
    kept["sensors"][MEASUREMENT_ID] = {
        **kept["sensors"][MEASUREMENT_ID],
        "id": 10,
        "name": "other",
    }

    fake_fm.down = True
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    forwarder = entry.runtime_data.forwarder
    mappings = {} if forwarder is None else forwarder.as_diagnostics()["mappings"]
    assert mappings.get(MEASUREMENT_ID, {}).get("sensor_id", 9) == 9


def connected(hass: HomeAssistant) -> str:
    """The account's `connected` binary sensor's state."""
    state = hass.states.get("binary_sensor.toy_account_connected")
    assert state is not None
    return state.state


async def test_a_proxy_maintenance_page_does_not_count_as_connected(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Restart behind a proxy that answers 200 HTML to everything: still offline."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    fake_fm.fail_next("html", times=10_000)
    fake_fm.login_failures.extend(["html"] * 10_000)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert connected(hass) == "off"
    await fire_at(hass, freezer, NOW + timedelta(seconds=31))  # the first retry
    await hass.async_block_till_done(wait_background_tasks=True)
    assert connected(hass) == "off"


async def test_diagnostics_say_whether_the_server_answers_and_since_when_not(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    fake_fm: FakeFlexMeasures,
) -> None:
    """An offline start: diagnostics say disconnected, and since when."""
    set_soc(hass)
    entry = make_entry(fake_fm)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    fake_fm.down = True
    await restart(hass, entry)
    assert connected(hass) == "off"
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert "connected" in text
    assert "disconnected_since" in text
