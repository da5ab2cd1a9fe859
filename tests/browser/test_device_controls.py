"""The schedule device's controls in a real Home Assistant and browser (issue 17).

The device page shows Ready by, Target SoC and Mode; choosing Stop in the page
turns the power setpoint to 0 kW at once (no job at the server).
"""

# ruff: noqa: T201  (what a browser check saw is printed for its reader)

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import re
from typing import Any

from homeassistant.util import slugify
from playwright.async_api import Page, expect
import pytest

from scripts import ha_config

from .conftest import HomeAssistant, log_in, screenshot

ROOT = Path(__file__).parents[2]
EN = json.loads(
    (
        ROOT / "custom_components" / "flexmeasures" / "translations" / "en.json"
    ).read_text(encoding="utf-8")
)
CONTROLS = {"time": "ready_by", "number": "target_soc", "select": "mode"}


def name_of(platform: str, key: str) -> str:
    return str(EN["entity"][platform][key]["name"])


def entity_of(platform: str, key: str) -> str:
    """The entity id Home Assistant derives from the device and entity names."""
    return (
        f"{platform}.{slugify(f'{ha_config.SCHEDULE_TITLE} {name_of(platform, key)}')}"
    )


SETPOINT = entity_of("sensor", "power_setpoint")
MODE = entity_of("select", "mode")
STOP = EN["entity"]["select"]["mode"]["state"]["stop"]
ZERO_KW = re.compile(r"(?<![\d.,-])0(?:[.,]0+)?\s*kW")  # 0 kW, 0.00 kW, 0,00 kW


def states(ha: HomeAssistant, token: str) -> dict[str, dict[str, Any]]:
    return {s["entity_id"]: s for s in ha_config.api_get(ha.url, token, "/api/states")}


@pytest.fixture(autouse=True)
def put_back_the_controls(ha: HomeAssistant, socket_enabled: None) -> Iterator[None]:
    """The mode and the target as they were before (the Home Assistant is shared)."""
    token = ha_config.login(ha.url, ha.username, ha.password)
    before = states(ha, token)
    yield
    target = entity_of("number", "target_soc")
    for service, body in (
        ("select/select_option", {"entity_id": MODE, "option": before[MODE]["state"]}),
        ("number/set_value", {"entity_id": target, "value": before[target]["state"]}),
    ):
        ha_config.api_post(ha.url, token, f"/api/services/{service}", body)
    after = states(ha, token)
    assert after[MODE]["state"] == before[MODE]["state"]
    assert float(after[target]["state"]) == float(before[target]["state"])


async def test_the_device_page_sets_the_mode_to_stop(
    ha: HomeAssistant, page: Page
) -> None:
    """Mode, Ready by and Target SoC on the device page; Stop chosen there sets
    the setpoint to 0 kW without a job; a target set meanwhile shows in the page."""
    token = ha_config.login(ha.url, ha.username, ha.password)
    before = states(ha, token)
    for platform, key in CONTROLS.items():
        entity = entity_of(platform, key)
        print(entity, "=", before.get(entity, {}).get("state", "(no such entity)"))
    assert {entity_of(p, k) for p, k in CONTROLS.items()} <= set(before)
    print(SETPOINT, "=", before[SETPOINT]["state"])
    device_id = ha_config._request(
        "POST",
        f"{ha.url}/api/template",
        token=token,
        json_body={"template": f"{{{{ device_id('{MODE}') | tojson }}}}"},
    )
    assert isinstance(device_id, str)
    assert device_id.strip()

    await log_in(page, ha)
    # two columns: the controls' names are not cut short
    await page.set_viewport_size({"width": 1024, "height": 900})
    await page.goto(f"{ha.url}/config/devices/device/{device_id.strip()}")
    try:
        await expect(page.get_by_text(ha_config.SCHEDULE_TITLE).first).to_be_visible()
        # the three controls, each with its own input
        time_row = page.locator("hui-time-entity-row").filter(
            has_text=name_of("time", "ready_by")
        )
        await expect(time_row.locator("input").first).to_be_visible()
        number_row = page.locator("hui-number-entity-row").filter(
            has_text=name_of("number", "target_soc")
        )
        await expect(number_row.get_by_role("slider")).to_be_visible()
        mode_row = page.locator("hui-select-entity-row").filter(
            has_text=name_of("select", "mode")
        )
        await expect(mode_row.locator("ha-select")).to_be_visible()

        # Stop, chosen in the page: the setpoint row shows 0 kW
        await mode_row.locator("ha-select").click()
        stop = page.get_by_role("menuitem", name=STOP).or_(
            page.get_by_role("option", name=STOP)
        )
        await stop.first.click()
        await expect(mode_row).to_contain_text(STOP)
        setpoint_row = page.locator(
            "hui-sensor-entity-row, hui-simple-entity-row"
        ).filter(has_text=name_of("sensor", "power_setpoint"))
        await expect(setpoint_row.first).to_contain_text(ZERO_KW)
        after = states(ha, token)
        print(
            MODE,
            "=",
            after[MODE]["state"],
            ";",
            SETPOINT,
            "=",
            after[SETPOINT]["state"],
        )
        assert after[MODE]["state"] == "stop"
        assert float(after[SETPOINT]["state"]) == 0.0
        assert after[SETPOINT]["attributes"]["mode"] == "stop"
        # the plan is kept as it was: no job was asked for
        assert (
            after[SETPOINT]["attributes"]["schedule"]
            == (before[SETPOINT]["attributes"]["schedule"])
        )

        # a target set elsewhere shows in the page; the mode still holds 0 kW
        ha_config._request(
            "POST",
            f"{ha.url}/api/services/number/set_value",
            token=token,
            json_body={"entity_id": entity_of("number", "target_soc"), "value": 80},
        )
        await expect(number_row.get_by_role("slider")).to_have_attribute(
            "aria-valuenow", "80"
        )
        await expect(setpoint_row.first).to_contain_text(ZERO_KW)
    finally:
        # docs/device-controls.png (README) is a copy of this one
        await screenshot(page, "device-controls")
