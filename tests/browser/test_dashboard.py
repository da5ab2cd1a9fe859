"""The dev dashboard of scripts/develop in a real browser."""

# ruff: noqa: T201  (what a browser check saw is printed for its reader)

from __future__ import annotations

from collections.abc import Callable
import re

from playwright.async_api import Page, expect
import pytest

from scripts import ha_config

from .conftest import HomeAssistant, log_in, screenshot

DASHBOARD = ha_config.DASHBOARD_URL
SETPOINT = "sensor.home_battery_power_setpoint"  # from the title "Home battery"
A_NUMBER_IN_KW = re.compile(r"-?\d+(?:[.,]\d+)?\s*kW")


@pytest.fixture(scope="module")
def ha(start_home_assistant: Callable[..., HomeAssistant]) -> HomeAssistant:
    """Home Assistant set up as scripts/develop sets it up (entry included)."""
    return start_home_assistant(with_entry=True)


async def test_dashboard_shows_the_power_setpoint_in_kw(
    ha: HomeAssistant, page: Page
) -> None:
    token = ha_config.login(ha.url, ha.username, ha.password)
    entries = ha_config.flexmeasures_entries(ha.url, token)
    assert [e["state"] for e in entries] == ["loaded"], entries
    states = {
        s["entity_id"]: s for s in ha_config.api_get(ha.url, token, "/api/states")
    }
    print(SETPOINT, "=", states.get(SETPOINT, {}).get("state", "(no such entity)"))

    await log_in(page, ha)
    await page.goto(f"{ha.url}{DASHBOARD}")
    card = page.locator("hui-entity-card").filter(has_text="Power setpoint now")
    try:
        await expect(card).to_be_visible()
        await expect(card).to_contain_text(A_NUMBER_IN_KW, timeout=60_000)
    finally:
        texts = await card.all_inner_texts()  # does not wait
        print("setpoint card:", " ".join(" ".join(texts).split()) or "(none)")
        await screenshot(page, "dashboard")
