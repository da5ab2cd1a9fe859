"""Adding the FlexMeasures integration through Home Assistant's UI."""

# ruff: noqa: T201  (what a browser check saw is printed for its reader)

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path

from playwright.async_api import Page, expect
import pytest

from custom_components.flexmeasures.config_flow import EXAMPLE_URL
from scripts import ha_config

from .conftest import HomeAssistant, log_in, screenshot

TRANSLATIONS = (
    Path(__file__).parents[2]
    / "custom_components"
    / "flexmeasures"
    / "translations"
    / "en.json"
)


@pytest.fixture(scope="module")
def ha(start_home_assistant: Callable[..., HomeAssistant]) -> HomeAssistant:
    """Home Assistant without a FlexMeasures entry yet."""
    return start_home_assistant(with_entry=False)


async def test_config_flow_shows_invalid_url_and_auth_then_creates_the_entry(
    ha: HomeAssistant, page: Page, fm_server: dict[str, str]
) -> None:
    errors = json.loads(TRANSLATIONS.read_text())["config"]["error"]
    invalid_auth = errors["invalid_auth"]
    # the frontend fills the error's placeholder from the form's placeholders
    invalid_url = errors["invalid_url"].format(example_url=EXAMPLE_URL)
    await log_in(page, ha)
    await page.goto(f"{ha.url}/config/integrations/dashboard")
    await page.get_by_role("button", name="Add integration").click()
    await page.get_by_placeholder("Search for a brand name").fill("FlexMeasures")
    await (
        page.locator("ha-integration-list-item")
        .filter(has_text="FlexMeasures")
        .first.click()
    )
    dialog = page.locator("dialog-data-entry-flow")
    await expect(dialog.locator("input[name=url]")).to_be_visible()

    # an address without a scheme: the error names the example address
    await dialog.locator("input[name=url]").fill("flexmeasures.example.com")
    await dialog.locator("input[name=email]").fill(fm_server["FLEXMEASURES_EMAIL"])
    await dialog.locator("input[name=password]").fill("wrong-password")
    await dialog.get_by_role("button", name="Submit").click()
    try:
        await expect(dialog).to_contain_text(invalid_url)
    finally:
        await screenshot(page, "config-flow-invalid-url")
    print("error shown:", invalid_url)

    # a wrong password: the form stays, with the translated error
    await dialog.locator("input[name=url]").fill(fm_server["FLEXMEASURES_URL"])
    await dialog.locator("input[name=password]").fill("wrong-password")
    await dialog.get_by_role("button", name="Submit").click()
    try:
        await expect(dialog).to_contain_text(invalid_auth)
    finally:
        await screenshot(page, "config-flow-invalid-auth")
    print("error shown:", invalid_auth)

    # the right one: the entry is created and loads
    await dialog.locator("input[name=password]").fill(
        fm_server["FLEXMEASURES_PASSWORD"]
    )
    await dialog.get_by_role("button", name="Submit").click()
    try:
        await expect(dialog.locator("input[name=password]")).to_have_count(0)
    finally:
        await screenshot(page, "config-flow-created")
    print("dialog after submit:", " ".join((await dialog.inner_text()).split()))
    token = ha_config.login(ha.url, ha.username, ha.password)
    entries = ha_config.flexmeasures_entries(ha.url, token)
    print("entries:", [(e["title"], e["state"]) for e in entries])
    assert [e["state"] for e in entries] == ["loaded"]
