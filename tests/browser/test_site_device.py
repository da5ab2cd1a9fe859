"""The site "Home" in a real Home Assistant and browser (issue 18).

Set up as scripts/develop sets it up: the schedules "Home battery" and "EV
charger" planned together by the site "Home" on the demo building, against
the demo FlexMeasures server. The site's device page shows its entities; the
schedule card on the site (the dev dashboard's Home view) draws the devices'
plans stacked, as their `schedule` attributes say.
"""

# ruff: noqa: T201  (what a browser check saw is printed for its reader)

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from homeassistant.util import slugify
from playwright.async_api import Page, expect
import pytest

from scripts import ha_config

from .conftest import ROOT, HomeAssistant, log_in, screenshot
from .test_card import (
    CARD,
    PX,
    READ_CARD,
    card_screenshot,
    expected_stack,
    ms,
)

EN = json.loads(
    (
        ROOT / "custom_components" / "flexmeasures" / "translations" / "en.json"
    ).read_text(encoding="utf-8")
)
HOME_VIEW = "/flexmeasures-dev/home"
# The site device's entities (DESIGN.md), by platform and translation key.
SITE_ENTITIES = {
    "sensor": ("site_power", "planned_cost"),
    "binary_sensor": ("stale",),
    "button": ("reschedule",),
}


def entity_of(title: str, platform: str, key: str) -> str:
    """The entity id Home Assistant derives from the device and entity names."""
    name = EN["entity"][platform][key]["name"]
    return f"{platform}.{slugify(f'{title} {name}')}"


SITE_POWER = entity_of(ha_config.SITE_TITLE, "sensor", "site_power")
MEMBERS = [
    entity_of(ha_config.SCHEDULE_TITLE, "sensor", "power_setpoint"),
    entity_of(ha_config.EV_TITLE, "sensor", "power_setpoint"),
]


def states(ha: HomeAssistant, token: str) -> dict[str, dict[str, Any]]:
    return {s["entity_id"]: s for s in ha_config.api_get(ha.url, token, "/api/states")}


def site_device_id(ha: HomeAssistant, token: str) -> str:
    device_id = ha_config._request(
        "POST",
        f"{ha.url}/api/template",
        token=token,
        json_body={"template": f"{{{{ device_id('{SITE_POWER}') | tojson }}}}"},
    )
    assert isinstance(device_id, str)
    assert device_id.strip(), f"{SITE_POWER} has no device"
    return device_id.strip()


async def test_the_site_device_page_shows_its_entities(
    ha: HomeAssistant, page: Page
) -> None:
    """Site power, planned cost, Reschedule and Stale, each with a state."""
    token = ha_config.login(ha.url, ha.username, ha.password)
    now = states(ha, token)
    expected = [
        entity_of(ha_config.SITE_TITLE, platform, key)
        for platform, keys in SITE_ENTITIES.items()
        for key in keys
    ]
    for entity in expected:
        print(entity, "=", now.get(entity, {}).get("state", "(no such entity)"))
    assert set(expected) <= set(now)
    assert now[SITE_POWER]["attributes"]["devices"] == MEMBERS
    assert now[SITE_POWER]["attributes"]["unit_of_measurement"] == "kW"
    assert now[entity_of(ha_config.SITE_TITLE, "binary_sensor", "stale")]["state"] == (
        "off"
    )
    # the devices together now, as the site says
    together = sum(float(now[m]["state"]) for m in MEMBERS)
    assert float(now[SITE_POWER]["state"]) == pytest.approx(together, abs=1e-6)

    await log_in(page, ha)
    await page.set_viewport_size({"width": 1280, "height": 1100})
    await page.goto(f"{ha.url}/config/devices/device/{site_device_id(ha, token)}")
    try:
        await expect(page.get_by_text(ha_config.SITE_TITLE).first).to_be_visible()
        for platform, keys in SITE_ENTITIES.items():
            for key in keys:
                name = EN["entity"][platform][key]["name"]
                await expect(page.get_by_text(name, exact=True).first).to_be_visible()
        # the site power's state, in kW, in its row
        row = page.locator("hui-sensor-entity-row, hui-simple-entity-row").filter(
            has_text=EN["entity"]["sensor"]["site_power"]["name"]
        )
        await expect(row.first).to_contain_text("kW")
    finally:
        path = await screenshot(page, "site-device")
    docs = ROOT / "docs" / "site-device.png"
    # the README's copy, when asked for (FM_UPDATE_DOCS=1), of the first run's
    if os.environ.get("FM_UPDATE_DOCS") == "1" and path.parent == ROOT / "screenshots":
        shutil.copyfile(path, docs)
        print(f"copied to {docs.relative_to(ROOT)}")


async def read_site_card(
    page: Page, ha: HomeAssistant, token: str
) -> tuple[dict[str, Any], list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """What the card drew, the members' schedules and the site's, read around it.

    A new plan (every 15 minutes) reaches the card a moment after the REST API:
    read again when the attributes before and after differ.
    """
    card = page.locator(CARD)
    for _ in range(5):
        before = states(ha, token)
        drawn = await card.evaluate(READ_CARD)
        after = states(ha, token)
        members = [after[m]["attributes"]["schedule"] for m in MEMBERS]
        site = after[SITE_POWER]["attributes"]["schedule"]
        if all(
            before[e]["attributes"]["schedule"] == after[e]["attributes"]["schedule"]
            for e in [*MEMBERS, SITE_POWER]
        ):
            return drawn, members, site
        await page.wait_for_timeout(1000)
    return drawn, members, site


async def test_the_card_on_the_site_stacks_its_devices(
    ha: HomeAssistant, page: Page
) -> None:
    """The Home view's card: one bar per device and step, piled from the zero
    line (charging up, discharging down), as the devices' `schedule` say; the
    piles add up to the site's own `schedule`."""
    token = ha_config.login(ha.url, ha.username, ha.password)
    await log_in(page, ha)
    await page.goto(f"{ha.url}{HOME_VIEW}")
    card = page.locator(CARD)
    await expect(card).to_have_count(1)
    await expect(card.locator(".chart svg rect.bar").first).to_be_attached(
        timeout=60_000
    )
    drawn, members, site = await read_site_card(page, ha, token)
    await card_screenshot(card, "card-site")
    svg = drawn["svg"]
    x0, x1 = ms(svg["x0"]), ms(svg["x1"])
    got = sorted(
        (
            MEMBERS.index(b["member"]),
            ms(b["start"]),
            ms(b["end"]),
            b["value"],
            b["base"],
        )
        for b in drawn["bars"]
    )
    want = expected_stack(members, x0, x1)
    print(
        f"site card: {len(got)} segments drawn, {len(want)} expected; first: "
        + "; ".join(
            f"{MEMBERS[m].split('.')[1]} {v:+.1f} kW on {base:+.1f}"
            for m, _s, _e, v, base in got[:4]
        )
    )
    assert got, "nothing drawn on the site's card"
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:3] == w[:3]
        assert g[3] == pytest.approx(w[3], abs=1e-9)
        assert g[4] == pytest.approx(w[4], abs=0.01)
    # the piles: contiguous from the zero line, kW per pixel the same for all
    zero = svg["zeroY"]
    # (from the tallest bar: coordinates are rounded to 0.1 px, which is a
    # large share of a short bar's height)
    tallest = max(drawn["bars"], key=lambda b: abs(b["value"]))
    scale = tallest["height"] / abs(tallest["value"])
    for bar in drawn["bars"]:
        assert bar["height"] == pytest.approx(scale * abs(bar["value"]), abs=PX)
        base_y = zero - bar["base"] * scale
        if bar["value"] > 0:
            assert bar["y"] + bar["height"] == pytest.approx(base_y, abs=PX)
        else:
            assert bar["y"] == pytest.approx(base_y, abs=PX)
    # the devices' plans add up to the site's plan, step by step
    for step in site:
        t = ms(step["start"])
        total = sum(
            next((s["value"] for s in m if ms(s["start"]) <= t < ms(s["end"])), 0.0)
            for m in members
        )
        assert total == pytest.approx(step["value"], abs=1e-6), step["start"]
    # the site's capacity holds in every step of the site's plan
    largest = max((abs(step["value"]) for step in site), default=0.0)
    print(f"largest site step {largest:.1f} kW of {ha_config.SITE_POWER_KW:g} kW")
    assert largest <= ha_config.SITE_POWER_KW + 1e-6
    legend = drawn["legend"]
    assert ha_config.SCHEDULE_TITLE in legend
    assert ha_config.EV_TITLE in legend
    assert drawn["setpoint"] is not None
