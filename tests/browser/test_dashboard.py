"""The dev dashboard of scripts/develop in a real browser."""

# ruff: noqa: T201  (what a browser check saw is printed for its reader)

from __future__ import annotations

from datetime import datetime
import json
from pathlib import Path
import re

from homeassistant.util import slugify
from playwright.async_api import Page, expect
import pytest

from scripts import ha_config

from .conftest import HomeAssistant, log_in, screenshot

DASHBOARD = ha_config.DASHBOARD_URL
SETPOINT = "sensor.home_battery_power_setpoint"  # from the title "Home battery"
EN = json.loads(
    (
        Path(__file__).parents[2]
        / "custom_components"
        / "flexmeasures"
        / "translations"
        / "en.json"
    ).read_text(encoding="utf-8")
)
# The schedule device's entities (README "Entities"), by platform and translation key.
SCHEDULE_ENTITIES = {
    "sensor": (
        "power_setpoint",
        "next_change",
        "consumption_price",
        "planned_cost",
        "last_update",
    ),
    "binary_sensor": ("charging", "discharging", "stale"),
    "calendar": ("schedule",),
    "button": ("reschedule",),
    "time": ("ready_by",),
    "number": ("target_soc",),
    "select": ("mode",),
}
# The site device's entities.
SITE_ENTITIES = {
    "sensor": ("site_power", "planned_cost"),
    "binary_sensor": ("stale",),
    "button": ("reschedule",),
}
A_NUMBER_IN_KW = re.compile(r"-?\d+(?:[.,]\d+)?\s*kW")


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


async def test_dashboard_has_the_controls_and_charge_now_works_from_the_tile(
    ha: HomeAssistant, page: Page
) -> None:
    """The README's EV example, cards only: the mode tile (Charge now picked in
    it sets the setpoint to the charging power, 500 kW, within what the site
    "Home" leaves: its 400 kW less the EV charger's setpoint), Ready by and
    Target SoC."""
    token = ha_config.login(ha.url, ha.username, ha.password)
    mode = _schedule_entity_id("select", "mode")
    setpoint = _schedule_entity_id("sensor", "power_setpoint")
    charge_now = EN["entity"]["select"]["mode"]["state"]["charge_now"]
    ev = _schedule_entity_id("sensor", "power_setpoint", ha_config.EV_TITLE)
    ev_kw = float(ha_config.api_get(ha.url, token, f"/api/states/{ev}")["state"])
    power = max(0.0, min(ha_config.BATTERY_POWER_KW, ha_config.SITE_POWER_KW - ev_kw))
    print(f"{ev} = {ev_kw} kW: charge now at {power:g} kW")
    shown = re.compile(rf"\b{int(power)}(?:[.,]\d+)?\s*kW")
    await log_in(page, ha)
    await page.goto(f"{ha.url}{DASHBOARD}")
    tile = page.locator("hui-tile-card").filter(has_text="Mode")
    target = page.locator("hui-entities-card").filter(has_text="Standing target")
    try:
        await expect(tile.locator("hui-select-options-card-feature")).to_be_visible()
        await expect(
            target.locator("hui-time-entity-row").filter(has_text="Ready by")
        ).to_be_visible()
        await expect(
            target.locator("hui-number-entity-row").filter(has_text="Target SoC")
        ).to_be_visible()
        await (
            tile.locator("hui-select-options-card-feature")
            .locator("ha-control-select-menu, ha-select")
            .first.click()
        )
        await (
            page.get_by_role("menuitem", name=charge_now)
            .or_(page.get_by_role("option", name=charge_now))
            .first.click()
        )
        await expect(tile).to_contain_text(charge_now)
        card = page.locator("hui-entity-card").filter(has_text="Power setpoint now")
        await expect(card).to_contain_text(shown)
    finally:
        await screenshot(page, "dashboard-controls")
    states = {
        s["entity_id"]: s for s in ha_config.api_get(ha.url, token, "/api/states")
    }
    print(
        mode, "=", states[mode]["state"], ";", setpoint, "=", states[setpoint]["state"]
    )
    assert states[mode]["state"] == "charge_now"
    assert float(states[setpoint]["state"]) == pytest.approx(power)
    assert states[setpoint]["attributes"]["mode"] == "charge_now"
    # back to smart, for the checks after this one
    ha_config._request(
        "POST",
        f"{ha.url}/api/services/select/select_option",
        token=token,
        json_body={"entity_id": mode, "option": "smart"},
    )


def _schedule_entity_id(
    platform: str, key: str, title: str = ha_config.SCHEDULE_TITLE
) -> str:
    """The entity id Home Assistant derives from the device and entity names."""
    name = EN["entity"][platform][key]["name"]
    return f"{platform}.{slugify(f'{title} {name}')}"


def _integration_entities(ha: HomeAssistant, token: str) -> list[str]:
    result = ha_config._request(
        "POST",
        f"{ha.url}/api/template",
        token=token,
        json_body={"template": "{{ integration_entities('flexmeasures') | tojson }}"},
    )
    return list(json.loads(result) if isinstance(result, str) else result)


async def test_the_schedule_and_measurement_run_without_errors(
    ha: HomeAssistant, socket_enabled: None
) -> None:
    """An account with two schedules in a site and a measurement: every schedule
    and site entity is there with a state (a device's planned cost is the
    site's: unavailable on the device), the plan is fresh, and the integration
    logged no error."""
    token = ha_config.login(ha.url, ha.username, ha.password)
    (entry,) = ha_config.flexmeasures_entries(ha.url, token)
    print("entry:", entry["title"], entry["state"], entry.get("num_subentries"))
    assert entry["state"] == "loaded"
    if "num_subentries" in entry:  # 2 schedules, the site, the house power
        assert entry["num_subentries"] >= 4

    states = {
        s["entity_id"]: s for s in ha_config.api_get(ha.url, token, "/api/states")
    }
    ours = set(_integration_entities(ha, token))
    print("entities:", ", ".join(f"{e}={states[e]['state']}" for e in sorted(ours)))
    expected = {
        _schedule_entity_id(platform, key, title)
        for title in (ha_config.SCHEDULE_TITLE, ha_config.EV_TITLE)
        for platform, keys in SCHEDULE_ENTITIES.items()
        for key in keys
    } | {
        _schedule_entity_id(platform, key, ha_config.SITE_TITLE)
        for platform, keys in SITE_ENTITIES.items()
        for key in keys
    }
    assert expected <= ours, f"missing: {sorted(expected - ours)}"
    # the devices are in the site "Home": its plan has the cost, theirs none
    in_site = {
        _schedule_entity_id("sensor", "planned_cost", title)
        for title in (ha_config.SCHEDULE_TITLE, ha_config.EV_TITLE)
    }
    assert sorted(e for e in in_site if states[e]["state"] != "unavailable") == []
    unavailable = sorted(
        e for e in expected - in_site if states[e]["state"] == "unavailable"
    )
    assert not unavailable, f"unavailable: {unavailable}"

    setpoint = states[_schedule_entity_id("sensor", "power_setpoint")]
    float(setpoint["state"])
    assert setpoint["attributes"]["unit_of_measurement"] == "kW"
    assert setpoint["attributes"]["schedule"], "no schedule attribute"
    assert states[_schedule_entity_id("binary_sensor", "stale")]["state"] == "off"
    datetime.fromisoformat(
        states[_schedule_entity_id("sensor", "last_update")]["state"]
    )

    # errors about the integration, and traceback frames in its code
    log = (ha.config_dir / "home-assistant.log").read_text(errors="replace")
    errors = [
        line
        for line in log.splitlines()
        if (" ERROR " in line and "flexmeasures" in line.lower())
        or "custom_components/flexmeasures/" in line
    ]
    assert not errors, "\n".join(errors)
