"""A measurement's device in a real Home Assistant and browser: is data delivered?"""

# ruff: noqa: T201  (what a browser check saw is printed for its reader)

from __future__ import annotations

from datetime import datetime

from playwright.async_api import Page, expect

from scripts import ha_config

from .conftest import HomeAssistant, log_in, screenshot

# from the measurement title "House power" (scripts/ha_config.py)
ENTITIES = {
    "last_delivered": "sensor.house_power_last_delivered",
    "pending": "sensor.house_power_pending",
    "rejected": "binary_sensor.house_power_rejected",
}


async def test_the_measurement_device_shows_delivery(
    ha: HomeAssistant, page: Page
) -> None:
    token = ha_config.login(ha.url, ha.username, ha.password)
    states = {
        s["entity_id"]: s for s in ha_config.api_get(ha.url, token, "/api/states")
    }
    for key, entity_id in ENTITIES.items():
        print(key, "=", states.get(entity_id, {}).get("state", "(no such entity)"))
    assert set(ENTITIES.values()) <= set(states)
    assert states[ENTITIES["rejected"]]["state"] == "off"
    assert states[ENTITIES["rejected"]]["attributes"]["device_class"] == "problem"
    int(states[ENTITIES["pending"]]["state"])
    delivered = states[ENTITIES["last_delivered"]]["state"]
    if delivered != "unknown":  # nothing may have been delivered yet
        datetime.fromisoformat(delivered)
    device_id = ha_config._request(
        "POST",
        f"{ha.url}/api/template",
        token=token,
        json_body={
            "template": f"{{{{ device_id('{ENTITIES['pending']}') | tojson }}}}"
        },
    )
    assert isinstance(device_id, str)
    assert device_id.strip()

    await log_in(page, ha)
    await page.goto(f"{ha.url}/config/devices/device/{device_id.strip()}")
    try:
        await expect(page.get_by_text("House power").first).to_be_visible()
        for name in ("Last delivered", "Pending", "Rejected"):
            await expect(page.get_by_text(name, exact=True).first).to_be_visible()
    finally:
        await screenshot(page, "measurement-device")
