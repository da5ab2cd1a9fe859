"""Changing an entity's id in Home Assistant's entity settings, in a real browser.

On the shared Home Assistant (scripts/ha_config.py): the measurement "House
power" of sensor.demo_house_power and the schedule "Home battery" that reads
sensor.demo_battery_state_of_charge (both template sensors with unique ids,
dev/configuration.yaml). Each is renamed as a user does it: the more-info
dialog -> Settings -> Entity ID -> Update (the frontend sends
config/entity_registry/update with new_entity_id).

- The measurement follows without a reload: the entry stays loaded (a
  second page watches `config_entries/subscribe` and the entities' states),
  the sub-entry names the new id, its device page shows its entities and its
  reconfigure form shows the new entity.
- The schedule follows with one reload: afterwards it reads the new id, its
  power setpoint is available and its `stale` sensor is not on.

Both are renamed back in `finally` (this Home Assistant is shared), over the
same websocket command, and the check waits until the entry is loaded again.
"""

# ruff: noqa: T201  (what a browser check saw is printed for its reader)

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
from pathlib import Path
import time
from typing import Any

from playwright.async_api import Error as PlaywrightError, Page, expect

from scripts import ha_config

from .conftest import HomeAssistant, log_in, screenshot

MEASURED = ha_config.HOUSE_POWER_ENTITY  # sensor.demo_house_power
SOC = ha_config.SOC_ENTITY  # sensor.demo_battery_state_of_charge
MEASURED_NEW = f"{MEASURED}_renamed"
SOC_NEW = f"{SOC}_renamed"
MEASUREMENT_TITLE = "House power"
# from the titles "House power" and "Home battery" (scripts/ha_config.py)
MEASUREMENT_ENTITIES = {
    "Last delivered": "sensor.house_power_last_delivered",
    "Pending": "sensor.house_power_pending",
    "Rejected": "binary_sensor.house_power_rejected",
}
SETPOINT = "sensor.home_battery_power_setpoint"
STALE = "binary_sensor.home_battery_stale"
INTEGRATION_PAGE = "/config/integrations/integration/flexmeasures"
CONNECTED = "() => document.querySelector('home-assistant')?.hass?.connected === true"
SETTLE = 5.0  # s: how long a reload that was not wanted has to show itself

# On the watching page: every state the FlexMeasures entry passes through
# (config_entries/subscribe) and every state change of the entities watched.
WATCH = """async (watched) => {
  const hass = document.querySelector('home-assistant').hass;
  window.fmWatch = {entry: [], changes: [], states: []};
  await hass.connection.subscribeMessage((changes) => {
    for (const change of changes) {
      if (change.entry.domain === 'flexmeasures') {
        window.fmWatch.entry.push(change.entry.state);
        window.fmWatch.changes.push(change.type ?? 'current');
      }
    }
  }, {type: 'config_entries/subscribe'});
  await hass.connection.subscribeEvents((event) => {
    const id = event.data.entity_id;
    if (watched.includes(id)) {
      window.fmWatch.states.push([id, event.data.new_state?.state ?? null]);
    }
  }, 'state_changed');
}"""
WATCHED = "() => window.fmWatch"
OPEN_MORE_INFO = """(entityId) => document.querySelector('home-assistant')
  .dispatchEvent(new CustomEvent('hass-more-info',
    {detail: {entityId}, bubbles: true, composed: true}))"""
# what the entity settings dialog's Update sends
RENAME = """([entity_id, new_entity_id]) => document.querySelector('home-assistant')
  .hass.callWS({type: 'config/entity_registry/update', entity_id, new_entity_id})"""
HAS_STATE = "(id) => id in document.querySelector('home-assistant').hass.states"
# the value of every entity picker in a dialog (through open shadow roots)
ENTITY_PICKED = """(root) => {
  const found = [];
  const walk = (node) => {
    if (node.tagName === 'HA-ENTITY-PICKER') found.push(node.value ?? null);
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.children ?? []) walk(child);
  };
  walk(root);
  return found;
}"""


def subentry_data(ha: HomeAssistant) -> dict[str, dict[str, Any]]:
    """The FlexMeasures sub-entries' data by title, as HA keeps them on disk."""
    saved = json.loads(
        Path(ha.config_dir, ".storage", "core.config_entries").read_text()
    )
    return {
        subentry["title"]: subentry["data"]
        for entry in saved["data"]["entries"]
        if entry["domain"] == "flexmeasures"
        for subentry in entry["subentries"]
    }


async def wait_for(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    """Wait until `check()` (AssertionError naming `what` after `timeout` s)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        await asyncio.sleep(0.25)


def states(ha: HomeAssistant, token: str) -> dict[str, str]:
    """Every entity's state, through the REST API."""
    return {
        s["entity_id"]: s["state"]
        for s in ha_config.api_get(ha.url, token, "/api/states")
    }


def entry_states(ha: HomeAssistant, token: str) -> list[str]:
    """The FlexMeasures entries' states, through the REST API."""
    return [e["state"] for e in ha_config.flexmeasures_entries(ha.url, token)]


async def rename_in_entity_settings(page: Page, old: str, new: str) -> None:
    """Change `old`'s entity id to `new` as a user does, in its more-info dialog."""
    await page.wait_for_function(CONNECTED)
    dialog = page.locator("ha-more-info-dialog")
    settings = dialog.get_by_role("button", name="Settings")
    entity_id = dialog.get_by_role("textbox", name="Entity ID")
    # the frontend takes the event once it has its dialog manager, and the
    # dialog may draw itself anew while it opens: try again
    for attempt in range(6):
        try:
            if not await entity_id.is_visible():
                if not await settings.is_visible():
                    await page.evaluate(OPEN_MORE_INFO, old)
                await settings.click(timeout=5_000)
            await expect(entity_id).to_be_visible(timeout=5_000)
            break
        except PlaywrightError, AssertionError:
            print(f"entity settings of {old} not open yet (try {attempt + 1})")
            if attempt == 5:
                raise
    # the field holds the id without its domain ("sensor." is its prefix)
    await expect(entity_id).to_have_value(old.split(".", 1)[1])
    await entity_id.fill(new.split(".", 1)[1])
    update = dialog.get_by_role("button", name="Update")
    await expect(update).to_be_enabled()
    await screenshot(page, f"entity-rename-{old.split('.', 1)[1]}")
    await update.click()
    # the dialog leaves its settings once the registry answered (slower on a
    # busy machine: it took over 5 s once, with the rename done)
    await expect(dialog.get_by_role("textbox", name="Entity ID")).to_have_count(
        0, timeout=20_000
    )
    await page.wait_for_function(HAS_STATE, arg=new)
    print(f"renamed {old} -> {new} in its entity settings (more-info dialog)")


async def open_device_of(
    page: Page, ha: HomeAssistant, token: str, entity: str
) -> None:
    """Open the device page of `entity`'s device."""
    device_id = ha_config._request(
        "POST",
        f"{ha.url}/api/template",
        token=token,
        json_body={"template": f"{{{{ device_id('{entity}') | tojson }}}}"},
    )
    assert isinstance(device_id, str), device_id
    assert device_id.strip() not in ("", "null"), f"{entity} has no device"
    await page.goto(f"{ha.url}/config/devices/device/{device_id.strip()}")
    await page.wait_for_function(CONNECTED)


async def reconfigure_form_entity(page: Page, ha: HomeAssistant) -> list[Any]:
    """The entity the measurement's reconfigure form shows (then it is closed)."""
    await page.goto(f"{ha.url}{INTEGRATION_PAGE}")
    await page.wait_for_function(CONNECTED)
    row = page.locator("ha-config-sub-entry-row").filter(has_text=MEASUREMENT_TITLE)
    await row.get_by_role("button", name="Configure").click()
    dialog = page.locator("dialog-data-entry-flow")
    await expect(dialog).to_contain_text("Change a measurement")
    await expect(dialog.locator("ha-entity-picker")).to_have_count(1)
    await expect(dialog.get_by_role("button", name="Submit")).to_be_visible()
    picked: list[Any] = []
    deadline = time.monotonic() + 15
    while not any(picked) and time.monotonic() < deadline:
        picked = await dialog.evaluate(ENTITY_PICKED)
        await asyncio.sleep(0.25)
    await expect(dialog.get_by_text("Demo house power").first).to_be_visible()
    # the dialog fades in (not visible in a screenshot taken at once)
    await page.wait_for_timeout(1_000)
    await screenshot(page, "entity-renames-measurement-reconfigure")
    await page.keyboard.press("Escape")  # closing it aborts the flow: nothing saved
    await expect(dialog.locator("ha-entity-picker")).to_have_count(0)
    return picked


async def test_renamed_entities_are_followed(ha: HomeAssistant, page: Page) -> None:
    """A measurement follows its entity's new id live, a schedule with one reload."""
    began = time.monotonic()
    token = ha_config.login(ha.url, ha.username, ha.password)
    before = states(ha, token)
    assert {MEASURED, SOC, SETPOINT, STALE} <= set(before), "not the dev set-up"
    assert entry_states(ha, token) == ["loaded"]
    stale_before = before[STALE]
    print(
        f"before: entry loaded; {SETPOINT} = {before[SETPOINT]}, {STALE} = {stale_before}"
    )

    await page.set_viewport_size({"width": 1280, "height": 1600})
    await log_in(page, ha)
    # a second page watches the entry and the entities while the first one acts
    watcher = await page.context.new_page()
    await watcher.goto(ha.url)
    await watcher.wait_for_function(CONNECTED)
    await watcher.evaluate(
        WATCH, [*MEASUREMENT_ENTITIES.values(), SETPOINT, STALE, MEASURED_NEW, SOC_NEW]
    )

    async def watched() -> dict[str, list[Any]]:
        seen: dict[str, list[Any]] = await watcher.evaluate(WATCHED)
        return seen

    try:
        # 1. the measured entity: followed without a reload
        await rename_in_entity_settings(page, MEASURED, MEASURED_NEW)
        await wait_for(
            "the measurement names the new id",
            lambda: (
                subentry_data(ha)[MEASUREMENT_TITLE].get("entity_id") == MEASURED_NEW
            ),
        )
        print(f"sub-entry {MEASUREMENT_TITLE!r} saved with entity_id {MEASURED_NEW}")
        await asyncio.sleep(SETTLE)
        seen = await watched()
        print(
            f"after the measured rename: entry changes told {seen['changes']}, "
            f"its states {seen['entry']}, "
            f"state changes {seen['states']}"
        )
        # the sub-entry's save was told (the watch works) and the entry stayed loaded
        assert "updated" in seen["changes"], "the watch was told nothing of the save"
        assert set(seen["entry"]) == {"loaded"}, "the measured rename reloaded"
        gone = [s for s in seen["states"] if s[1] in (None, "unavailable")]
        assert not gone, f"entities went away: {gone}"
        now = states(ha, token)
        print(
            "measurement entities:",
            {n: now.get(e) for n, e in MEASUREMENT_ENTITIES.items()},
        )
        for entity in MEASUREMENT_ENTITIES.values():
            assert now.get(entity) not in (None, "unavailable"), entity

        await open_device_of(page, ha, token, MEASUREMENT_ENTITIES["Pending"])
        try:
            await expect(page.get_by_text(MEASUREMENT_TITLE).first).to_be_visible()
            for name in MEASUREMENT_ENTITIES:
                await expect(page.get_by_text(name, exact=True).first).to_be_visible()
        finally:
            await screenshot(page, "entity-renames-measurement-device")
        picked = await reconfigure_form_entity(page, ha)
        print(f"the measurement's reconfigure form shows the entity {picked}")
        assert picked == [MEASURED_NEW]

        # 2. the state of charge entity: the schedule follows with one reload
        watched_before = len((await watched())["entry"])
        await rename_in_entity_settings(page, SOC, SOC_NEW)
        await wait_for(
            "the schedule reads the new id",
            lambda: (
                subentry_data(ha)[ha_config.SCHEDULE_TITLE].get("soc_entity") == SOC_NEW
            ),
        )
        print(f"sub-entry {ha_config.SCHEDULE_TITLE!r} saved with soc_entity {SOC_NEW}")

        async def reloads() -> list[str]:
            return (await watched())["entry"][watched_before:]

        deadline = time.monotonic() + 60
        while (seen_entry := await reloads()).count("setup_in_progress") < 1 or (
            seen_entry[-1] != "loaded"
        ):
            assert time.monotonic() < deadline, f"no reload to loaded: {seen_entry}"
            await asyncio.sleep(0.25)
        await asyncio.sleep(SETTLE)
        seen_entry = await reloads()
        print(f"after the SoC rename: entry states seen {seen_entry}")
        assert seen_entry.count("setup_in_progress") == 1, "not one reload"
        assert seen_entry[-1] == "loaded"
        await wait_for(
            "the power setpoint is available again",
            lambda: states(ha, token).get(SETPOINT) not in (None, "unavailable"),
            timeout=60,
        )
        now = states(ha, token)
        print(f"after the reload: {SETPOINT} = {now[SETPOINT]}, {STALE} = {now[STALE]}")
        if stale_before != "on":
            assert now[STALE] == "off", f"{STALE} is {now[STALE]} after the rename"
        await open_device_of(page, ha, token, SETPOINT)
        try:
            await expect(
                page.get_by_text("Power setpoint", exact=True).first
            ).to_be_visible()
        finally:
            await screenshot(page, "entity-renames-schedule-device")
    finally:
        # put both back (this Home Assistant is shared), as the dialog would
        for old, new in ((MEASURED, MEASURED_NEW), (SOC, SOC_NEW)):
            if await page.evaluate(HAS_STATE, new):
                count = len((await watched())["entry"])
                await page.evaluate(RENAME, [new, old])
                print(f"renamed {new} back to {old}")
                if old == SOC:  # its reload: wait for it to begin
                    await wait_for_reload_begun(watched, count)
        await wait_for(
            "the sub-entries name the first ids again",
            lambda: (
                (
                    subentry_data(ha)[MEASUREMENT_TITLE].get("entity_id"),
                    subentry_data(ha)[ha_config.SCHEDULE_TITLE].get("soc_entity"),
                )
                == (MEASURED, SOC)
            ),
        )
        await wait_for(
            "the entry is loaded again",
            lambda: entry_states(ha, token) == ["loaded"],
            timeout=60,
        )
        await wait_for(
            "the power setpoint is available again",
            lambda: states(ha, token).get(SETPOINT) not in (None, "unavailable"),
            timeout=60,
        )
        await watcher.close()
        print(f"put back; the check took {time.monotonic() - began:.1f} s")


async def wait_for_reload_begun(
    watched: Callable[[], Any], count: int, timeout: float = 30
) -> None:
    """Wait until the watched entry passed through a set-up after `count` states."""
    deadline = time.monotonic() + timeout
    while "setup_in_progress" not in (await watched())["entry"][count:]:
        assert time.monotonic() < deadline, "the reload did not begin"
        await asyncio.sleep(0.25)
