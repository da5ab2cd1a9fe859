"""The schedule forms and the trigger_schedule action in a real browser.

On a real Home Assistant set up as scripts/develop sets it up (the toy account
with the schedule "Home battery" on the toy battery), against the demo
FlexMeasures server: the "Add schedule" form, the schedule's reconfigure step
(an edit keeps the name), and trigger_schedule's response in Developer tools.
"""

# ruff: noqa: T201  (what a browser check saw is printed for its reader)

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import re
import time
from typing import Any

from playwright.async_api import Error as PlaywrightError, Locator, Page, expect
import pytest

from scripts import ha_config

from .conftest import ROOT, HomeAssistant, log_in, screenshot

TRANSLATIONS = ROOT / "custom_components" / "flexmeasures" / "translations" / "en.json"
INTEGRATION_PAGE = "/config/integrations/integration/flexmeasures"
SETPOINT = "sensor.home_battery_power_setpoint"  # from the title "Home battery"
TALL = {"width": 1280, "height": 2600}  # the whole form without scrolling
# an ISO datetime with an offset, as the action response gives them
LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")


# All text under an element, through open shadow roots (innerText stops at them).
DEEP_TEXT = """(root) => {
  const parts = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) { parts.push(node.textContent); return; }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(root);
  return parts.join(' ');
}"""


# The form's drop-downs have their options: a power sensor's "(kW, 15 min)" and the
# price drop-downs' asset option.
DROP_DOWNS_FILLED_IN = f"""(root) => {{
  const text = ({DEEP_TEXT})(root);
  return /\\((?:W|kW|MW), /.test(text) && text.includes('Use what is stored on the asset');
}}"""


async def drop_downs_filled_in(dialog: Locator) -> None:
    """Wait until the form's drop-downs show their options."""
    await dialog.page.wait_for_function(
        DROP_DOWNS_FILLED_IN, arg=await dialog.element_handle()
    )


def translations() -> dict[str, Any]:
    """The integration's English texts."""
    result: dict[str, Any] = json.loads(TRANSLATIONS.read_text())
    return result


def schedule_device_id(ha: HomeAssistant) -> str:
    """The id of the "Home battery" device (HA's device registry on disk)."""
    registry = json.loads(
        Path(ha.config_dir, ".storage", "core.device_registry").read_text()
    )
    ours = [
        device
        for device in registry["data"]["devices"]
        if any(domain == "flexmeasures" for domain, _ in device["identifiers"])
    ]
    # by its name first: the EV charger is a schedule device too
    for device in sorted(ours, key=lambda d: d["name"] != ha_config.SCHEDULE_TITLE):
        if device["model"] == "Schedule" or device["name"] == ha_config.SCHEDULE_TITLE:
            return str(device["id"])
    raise AssertionError("no schedule device in the device registry")


def friendly_name(ha: HomeAssistant, entity_id: str) -> str:
    """An entity's friendly name, through the REST API."""
    token = ha_config.login(ha.url, ha.username, ha.password)
    state = ha_config.api_get(ha.url, token, f"/api/states/{entity_id}")
    return str(state["attributes"].get("friendly_name"))


async def wait_until_loaded(ha: HomeAssistant, timeout: float = 60) -> None:
    """Wait until the FlexMeasures entry is loaded again (after a reload)."""
    token = ha_config.login(ha.url, ha.username, ha.password)
    deadline = time.monotonic() + timeout
    while [e["state"] for e in ha_config.flexmeasures_entries(ha.url, token)] != [
        "loaded"
    ]:
        assert time.monotonic() < deadline, "the entry did not load again"
        await asyncio.sleep(0.5)


async def goto_while_the_frontend_navigates(page: Page, url: str) -> None:
    """Open `url`; a navigation the frontend starts itself meanwhile aborts a
    goto (net::ERR_ABORTED, seen on both Home Assistant versions after a
    dialog closes): wait for it to settle and open `url` again."""
    for attempt in range(3):
        try:
            await page.goto(url)
        except PlaywrightError as err:
            if "ERR_ABORTED" not in str(err) or attempt == 2:
                raise
            await page.wait_for_load_state()
        else:
            return


async def open_integration_page(page: Page, ha: HomeAssistant) -> None:
    """Log in and open the FlexMeasures integration page."""
    await page.set_viewport_size(TALL)
    await log_in(page, ha)
    await page.goto(f"{ha.url}{INTEGRATION_PAGE}")


def sub_entry_row(page: Page, title: str) -> Locator:
    """The row of a sub-entry on the integration page."""
    return page.locator("ha-config-sub-entry-row").filter(has_text=title)


def schedule_subentry(ha: HomeAssistant) -> tuple[str, dict[str, Any]]:
    """The entry id and the "Home battery" sub-entry, as HA keeps them on disk."""
    entries = json.loads(
        Path(ha.config_dir, ".storage", "core.config_entries").read_text()
    )
    for entry in entries["data"]["entries"]:
        for subentry in (
            entry["subentries"] if entry["domain"] == "flexmeasures" else []
        ):
            if subentry["title"] == ha_config.SCHEDULE_TITLE:
                return str(entry["entry_id"]), subentry
    raise AssertionError(f"no sub-entry {ha_config.SCHEDULE_TITLE!r}")


@pytest.fixture
async def put_back_the_schedule(
    ha: HomeAssistant, socket_enabled: None
) -> AsyncIterator[None]:
    """The schedule's settings as they were (the Home Assistant is shared).

    Through the schedule's own reconfigure step, over the REST API.
    """
    entry_id, subentry = schedule_subentry(ha)
    yield
    token = ha_config.login(ha.url, ha.username, ha.password)
    flow = ha_config.api_post(
        ha.url,
        token,
        "/api/config/config_entries/subentries/flow",
        {"handler": [entry_id, "schedule"], "subentry_id": subentry["subentry_id"]},
    )
    assert flow["step_id"] == "reconfigure", flow
    result = ha_config.api_post(
        ha.url,
        token,
        f"/api/config/config_entries/subentries/flow/{flow['flow_id']}",
        {**subentry["data"], "name": subentry["title"]},
    )
    assert result.get("reason") == "reconfigure_successful", result
    await wait_until_loaded(ha)  # the change reloads the entry


@pytest.mark.usefixtures("put_back_the_schedule")
async def test_reconfigure_schedule_keeps_its_name(
    ha: HomeAssistant, page: Page
) -> None:
    """Changing only the update interval keeps the sub-entry's and device's name."""
    before = friendly_name(ha, SETPOINT)
    print("setpoint before:", before)
    await open_integration_page(page, ha)
    await (
        sub_entry_row(page, ha_config.SCHEDULE_TITLE)
        .get_by_role("button", name="Configure")
        .click()
    )
    dialog = page.locator("dialog-data-entry-flow")
    interval = dialog.get_by_role("spinbutton", name="Update interval")
    await expect(interval).to_be_visible()
    await drop_downs_filled_in(dialog)
    await screenshot(page, "schedule-reconfigure-form")
    texts = translations()["config_subentries"]["schedule"]
    name_label = texts["step"]["reconfigure"]["data"].get("name")
    if name_label is not None:
        name = dialog.get_by_role("textbox", name=name_label)
        await expect(name).to_have_value(ha_config.SCHEDULE_TITLE)

    await interval.fill("30")
    await dialog.get_by_role("button", name="Submit").click()
    # the frontend's own words for reconfigure_successful
    await expect(dialog).to_contain_text(
        re.compile(r"Re-?configuration was successful"), timeout=30_000
    )
    await dialog.locator("ha-dialog-footer").get_by_role("button", name="Close").click()
    await wait_until_loaded(ha)  # the change reloads the entry
    # (not page.reload(): the frontend may be navigating itself after the dialog)
    await goto_while_the_frontend_navigates(page, f"{ha.url}{INTEGRATION_PAGE}")
    try:
        await expect(sub_entry_row(page, ha_config.SCHEDULE_TITLE)).to_have_count(
            1, timeout=30_000
        )
    finally:
        await screenshot(page, "schedule-reconfigured")
    after = friendly_name(ha, SETPOINT)
    print("setpoint after:", after)
    assert after == before == f"{ha_config.SCHEDULE_TITLE} Power setpoint"
    await expect(page.locator("ha-config-sub-entry-row")).not_to_contain_text(
        ["toy-battery"]
    )


async def test_add_schedule_offers_only_what_can_be_scheduled(
    ha: HomeAssistant, page: Page
) -> None:
    """Not the toy battery (it has a schedule), not toy-solar (it cannot store).

    The demo server is shared: other checks may have added power sensors to
    the toy building (its asset type does not tell, so they come last with
    it). With none, the form says at once that nothing is left.
    """
    await open_integration_page(page, ha)
    await page.get_by_role("button", name="Add schedule").click()
    dialog = page.locator("dialog-data-entry-flow")
    texts = translations()["config_subentries"]["schedule"]
    nothing_left = texts["abort"]["no_power_sensors_left"]
    form_title = texts["step"]["user"]["title"]
    try:
        await expect(dialog).to_contain_text(
            re.compile(f"{re.escape(nothing_left)}|{re.escape(form_title)}")
        )
        shown = " ".join((await dialog.evaluate(DEEP_TEXT)).split())
        if nothing_left not in shown:
            await drop_downs_filled_in(dialog)
    finally:
        await screenshot(page, "schedule-add-form")
    if nothing_left in shown:
        print("add schedule: nothing left to schedule (aborted at once)")
        return
    shown = " ".join((await dialog.evaluate(DEEP_TEXT)).split())
    print("add schedule form:", shown[:400])
    assert "toy-battery / discharging" not in shown  # scheduled already
    assert "toy-solar / production" not in shown  # a PV system cannot store
    # a power sensor's label: "asset / sensor (kW, 15 min)"
    for label in re.findall(r"toy-building / [^·()]*\((?:W|kW|MW), [^)]*\)", shown):
        assert f"{label} · asset type: building" in shown, label
    # the asset option is a value the form shows, also as the default
    assert "Use what is stored on the asset" in shown


def setpoint_attributes(ha: HomeAssistant) -> dict[str, Any]:
    """The power setpoint's attributes, through the REST API."""
    token = ha_config.login(ha.url, ha.username, ha.password)
    state = ha_config.api_get(ha.url, token, f"/api/states/{SETPOINT}")
    return dict(state["attributes"])


async def test_trigger_schedule_response_in_developer_tools(
    ha: HomeAssistant, page: Page
) -> None:
    """The response: local times with offsets, sign convention, segments first.

    Also: a target set before (REST) shows on the setpoint, and the action's UI
    mode clears it with the clear_soc_targets switch.
    """
    token = ha_config.login(ha.url, ha.username, ha.password)
    when = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    ha_config.api_post(
        ha.url,
        token,
        "/api/services/flexmeasures/trigger_schedule",
        {
            "device_id": schedule_device_id(ha),
            "soc_targets": [{"datetime": when.isoformat(), "value": 300}],
        },
    )
    targets = setpoint_attributes(ha)["soc_targets"]
    print("targets in force:", targets)
    assert targets == [{"datetime": when.isoformat(), "value": 300}]

    await page.set_viewport_size({"width": 1280, "height": 3200})
    await log_in(page, ha)
    await page.evaluate(
        "(value) => localStorage.setItem("
        "'panel-dev-action-state-service-data', JSON.stringify(value))",
        {
            "action": "flexmeasures.trigger_schedule",
            "data": {"device_id": schedule_device_id(ha)},
        },
    )
    await page.goto(f"{ha.url}/developer-tools/action")
    clear = page.locator("ha-settings-row").filter(
        has_text="Clear state of charge targets"
    )
    await clear.locator("ha-checkbox").click()
    await clear.locator("ha-switch").click()
    await page.get_by_role("button", name="Perform action").click()
    response = page.locator("ha-card").filter(has_text="Response")
    code = response.locator(".cm-content")
    try:
        await expect(code).to_contain_text("schedule", timeout=90_000)
    finally:
        await screenshot(page, "action-response")
    text = await code.inner_text()
    lines = text.splitlines()
    print(f"response: {len(lines)} lines; first: {lines[:6]}")
    assert lines[0].startswith("schedule:")
    assert "sign_convention: consumption_positive" in text
    start = next(line for line in lines if line.startswith("start:"))
    assert LOCAL_TIME.search(start), start
    # Europe/Amsterdam (dev/configuration.yaml): no time is given in UTC
    assert "+00:00" not in text
    # the switch of the action's UI mode cleared the kept target
    assert setpoint_attributes(ha)["soc_targets"] == []


# Text in a card's shadow DOM that does not fit its box (cut off with "…").
CUT_OFF_TEXTS = """(card) => {
  const cut = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      const style = getComputedStyle(el);
      if (el.scrollWidth > el.clientWidth + 1 && style.overflow !== 'visible'
          && el.innerText && /\\d/.test(el.innerText)) {
        cut.push(el.innerText);
      }
    }
  };
  walk(card.shadowRoot || card);
  return cut;
}"""


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
async def test_dashboard_shows_the_next_change_in_full(
    ha: HomeAssistant, page: Page, width: int
) -> None:
    """The next-change card of the dev dashboard: date and time, not cut off."""
    await page.set_viewport_size({"width": width, "height": 1400})
    await log_in(page, ha)
    await page.goto(f"{ha.url}{ha_config.DASHBOARD_URL}")
    card = (
        page.locator("hui-card")
        .filter(has_text="Next change")
        .filter(has_not=page.locator("flexmeasures-schedule-card"))
        .first
    )
    try:
        await expect(card).to_contain_text(
            re.compile(r"\d{4}.*\d{1,2}:\d\d"), timeout=60_000
        )
    finally:
        await screenshot(page, f"dashboard-next-change-{width}")
    cut = await card.evaluate(CUT_OFF_TEXTS)
    print(f"next change card at {width} px, cut off: {cut}")
    assert cut == []
