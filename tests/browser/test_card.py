"""The schedule card (custom:flexmeasures-schedule-card) in a real browser.

On the development dashboard of a real Home Assistant with the integration set
up against the demo FlexMeasures server: what the card draws is compared with
the entities' attributes read through Home Assistant's REST API. A second part
gives the card a made-up `hass` object in the same page (a site device with
members, a price forecast) to check the stacking and the price axis against
values computed here, independently of the card's code.
"""

# ruff: noqa: T201  (what a browser check saw is printed for its reader)

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from datetime import UTC, datetime, timedelta
import itertools
from pathlib import Path
import statistics
from typing import Any

from playwright.async_api import Locator, Page, expect
import pytest

from scripts import ha_config

from .conftest import (
    ROOT,
    SCREENSHOTS,
    HomeAssistant,
    log_in,
    new_page,
)

DASHBOARD = ha_config.DASHBOARD_URL
SETPOINT = "sensor.home_battery_power_setpoint"  # from the title "Home battery"
CARD = "flexmeasures-schedule-card"
PHONE = {"width": 390, "height": 844}
PX = 0.25  # the card rounds coordinates to 0.1 px

# What the card drew, read from its shadow DOM (data-* attributes and geometry).
READ_CARD = """(card) => {
  const root = card.shadowRoot;
  const svg = root.querySelector('.chart svg');
  const num = (el, a) => Number.parseFloat(el.getAttribute(a));
  return {
    svg: svg ? {
      x0: svg.dataset.x0, x1: svg.dataset.x1, zeroY: Number(svg.dataset.zeroY),
      plot: svg.dataset.plot.split(' ').map(Number),
      width: svg.getBoundingClientRect().width,
      viewBoxWidth: svg.viewBox.baseVal.width,
      now: svg.querySelector('line.now')?.dataset.time ?? null,
    } : null,
    bars: svg ? [...svg.querySelectorAll('rect.bar')].map((r) => ({
      start: r.dataset.start, end: r.dataset.end, value: Number(r.dataset.value),
      member: r.dataset.member ?? null,
      base: r.dataset.base === undefined ? null : Number(r.dataset.base),
      x: num(r, 'x'), y: num(r, 'y'), width: num(r, 'width'), height: num(r, 'height'),
      cls: r.getAttribute('class'),
    })) : [],
    prices: svg ? [...svg.querySelectorAll('line.price-step')].map((l) => ({
      start: l.dataset.start, value: Number(l.dataset.value),
      x1: num(l, 'x1'), x2: num(l, 'x2'), y: num(l, 'y1'),
    })) : [],
    summary: root.querySelector('.summary').innerText,
    setpoint: root.querySelector('.setpoint')?.dataset.value ?? null,
    legend: root.querySelector('.legend').innerText,
    empty: root.querySelector('.empty')?.innerText ?? null,
    stale: !root.querySelector('.stale').hidden,
    drawCount: card.drawCount,
  };
}"""

# A card with a made-up hass (the page's own, with other states and registries).
MOUNT_CARD = """async ({config, states, entities, devices}) => {
  const real = document.querySelector('home-assistant').hass;
  const old = document.getElementById('fm-test-card');
  if (old) old.remove();
  const card = document.createElement('flexmeasures-schedule-card');
  card.id = 'fm-test-card';
  card.style.cssText = 'position: fixed; top: 0; left: 0; width: 640px; z-index: 100;';
  card.setConfig(config);
  card.hass = {...real, states, entities, devices};
  document.body.appendChild(card);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""


@pytest.fixture
def token(ha: HomeAssistant, socket_enabled: None) -> str:
    """An access token of the dev user (sockets are open in tests only)."""
    return ha_config.login(ha.url, ha.username, ha.password)


@contextlib.asynccontextmanager
async def browser_page(
    chromium: str,
    *,
    color_scheme: str = "light",
    viewport: dict[str, int] | None = None,
) -> AsyncIterator[Page]:
    """A page of its own (the session's Chromium), in a light or dark color scheme.

    Fails when the page raised an error about the card or the integration.
    """
    errors: list[str] = []
    async with new_page(chromium, color_scheme=color_scheme, viewport=viewport) as page:
        page.on("pageerror", lambda err: errors.append(str(err)))
        yield page
    assert not [e for e in errors if CARD in e or "flexmeasures" in e], errors


async def open_card(page: Page, ha: HomeAssistant) -> Locator:
    """Log in, open the dev dashboard, wait until the card has drawn its chart."""
    await log_in(page, ha)
    await page.goto(f"{ha.url}{DASHBOARD}")
    card = page.locator(CARD)
    await expect(card).to_have_count(1)
    await expect(card.locator(".chart svg rect.bar").first).to_be_attached(
        timeout=60_000
    )
    return card


async def card_screenshot(card: Locator, name: str) -> Path:
    """Save a screenshot of the card alone under ./screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await card.screenshot(path=str(path))
    print(f"screenshot: {path.relative_to(ROOT)}")
    return path


def ms(iso: str) -> int:
    """Epoch milliseconds of an ISO time with offset."""
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def iso(t: datetime) -> str:
    """As the integration writes times: UTC ISO with offset."""
    return t.astimezone(UTC).isoformat()


def setpoint_state(ha: HomeAssistant, token: str) -> dict[str, Any]:
    """The power setpoint's state as the REST API gives it."""
    state: dict[str, Any] = ha_config.api_get(ha.url, token, f"/api/states/{SETPOINT}")
    return state


async def read_card_with_schedule(
    card: Locator, ha: HomeAssistant, token: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What the card drew, and the schedule attribute it drew from.

    A new schedule (every 15 minutes) reaches the card a moment after the REST
    API: when the schedule read before and after the card differ, or the card
    does not show the one read yet, read again.
    """
    for _ in range(5):
        before = setpoint_state(ha, token)["attributes"]["schedule"]
        drawn = await card.evaluate(READ_CARD)
        after = setpoint_state(ha, token)["attributes"]["schedule"]
        starts = {s["start"] for s in after}
        if before == after and all(b["start"] in starts for b in drawn["bars"]):
            return drawn, after
        await card.page.wait_for_timeout(1000)
    return drawn, after


def check_bars_match(drawn: dict[str, Any], schedule: list[dict[str, Any]]) -> None:
    """The card draws one bar per schedule step in its window, where it belongs."""
    svg = drawn["svg"]
    x0, x1 = ms(svg["x0"]), ms(svg["x1"])
    left, _top, width, _height = svg["plot"]
    in_window = [s for s in schedule if ms(s["end"]) > x0 and ms(s["start"]) < x1]
    assert [(b["start"], b["value"]) for b in drawn["bars"]] == [
        (s["start"], pytest.approx(s["value"], abs=1e-9)) for s in in_window
    ]
    # kW per pixel is the same for every bar; up from the zero line when
    # charging, down when discharging; each bar spans its step's time
    nonzero = [b for b in drawn["bars"] if b["value"] != 0]
    assert nonzero, f"nothing planned to draw: {schedule}"
    scale = statistics.median(b["height"] / abs(b["value"]) for b in nonzero)
    for bar, step in zip(drawn["bars"], in_window, strict=True):
        assert bar["height"] == pytest.approx(scale * abs(step["value"]), abs=PX)
        if step["value"] > 0:
            assert "charge" in bar["cls"].split()
            assert bar["y"] + bar["height"] == pytest.approx(svg["zeroY"], abs=PX)
        elif step["value"] < 0:
            assert "discharge" in bar["cls"].split()
            assert bar["y"] == pytest.approx(svg["zeroY"], abs=PX)
        start = min(max(ms(step["start"]), x0), x1)
        end = min(max(ms(step["end"]), x0), x1)
        assert bar["x"] == pytest.approx(
            left + (start - x0) / (x1 - x0) * width, abs=PX
        )
        assert bar["width"] == pytest.approx((end - start) / (x1 - x0) * width, abs=PX)


async def test_card_draws_the_planned_power_as_in_the_schedule(
    ha: HomeAssistant, token: str, socket_enabled: None, chromium: str
) -> None:
    """Future bars on the dev dashboard are the power_setpoint's `schedule` steps."""
    async with browser_page(chromium) as page:
        card = await open_card(page, ha)
        drawn, schedule = await read_card_with_schedule(card, ha, token)
        now = ms(drawn["svg"]["now"])
        future = [b for b in drawn["bars"] if ms(b["start"]) >= now]
        print(f"schedule: {len(schedule)} steps; drawn: {len(drawn['bars'])} bars")
        for bar in future[:5]:
            print(f"  drawn {bar['start']} {bar['value']:+.3f} kW ({bar['cls']})")
        assert future, "no bar in the future part of the chart"
        check_bars_match(drawn, schedule)
        # the setpoint now, as the entity says
        state = setpoint_state(ha, token)
        assert drawn["setpoint"] == state["state"]
        assert "kW" in drawn["summary"]
        assert "Next change" in drawn["summary"]
        await card_screenshot(card, "card-light")


async def test_card_follows_the_entities_live(
    ha: HomeAssistant, token: str, socket_enabled: None, chromium: str
) -> None:
    """A new schedule on the entity is drawn without reloading the page."""
    async with browser_page(chromium) as page:
        card = await open_card(page, ha)
        original = setpoint_state(ha, token)
        step = timedelta(minutes=15)
        start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1)
        made_up = [
            {
                "start": iso(start + i * step),
                "end": iso(start + (i + 1) * step),
                "value": v,
            }
            for i, v in enumerate([1.5, -2.25, 3.0])
        ]
        try:
            # the state machine as the integration writes it (until its next write)
            ha_config._request(
                "POST",
                f"{ha.url}/api/states/{SETPOINT}",
                json_body={
                    "state": "0.0",
                    "attributes": {**original["attributes"], "schedule": made_up},
                },
                token=token,
            )
            await expect(card.locator("rect.bar")).to_have_count(3)
            drawn = await card.evaluate(READ_CARD)
            check_bars_match(drawn, made_up)
            assert drawn["setpoint"] == "0.0"
        finally:
            ha_config._request(
                "POST",
                f"{ha.url}/api/states/{SETPOINT}",
                json_body={
                    "state": original["state"],
                    "attributes": original["attributes"],
                },
                token=token,
            )
        # back to the integration's schedule
        await expect(card.locator("rect.bar").first).not_to_have_attribute(
            "data-start", made_up[0]["start"]
        )


async def test_card_draws_the_consumption_price_as_a_line(
    ha: HomeAssistant, token: str, socket_enabled: None, chromium: str
) -> None:
    """The consumption_price forecast is a step line on a second axis."""
    async with browser_page(chromium) as page:
        card = await open_card(page, ha)
        price_id = await page.evaluate(
            """(device) => Object.values(document.querySelector('home-assistant').hass.entities)
              .find((e) => e.platform === 'flexmeasures' && e.translation_key === 'consumption_price'
                && e.device_id === device)?.entity_id ?? null""",
            await card_device_id(card),
        )
        assert price_id, "no consumption_price sensor on the Home battery device"
        price = ha_config.api_get(ha.url, token, f"/api/states/{price_id}")
        print(
            price_id,
            "=",
            price["state"],
            price["attributes"].get("unit_of_measurement"),
        )
        await expect(card.locator("line.price-step").first).to_be_attached()
        drawn = await card.evaluate(READ_CARD)
        check_price_line(drawn, price["attributes"]["forecast"])
        assert price["attributes"]["unit_of_measurement"] in drawn["legend"]
        assert "Price now" in drawn["summary"]


async def card_device_id(card: Locator) -> str:
    """The device_id the dashboard's card is configured with."""
    device_id: str = await card.evaluate("(card) => card._config.device_id")
    return device_id


def check_price_line(drawn: dict[str, Any], forecast: list[dict[str, Any]]) -> None:
    """One horizontal segment per forecast step in the window, on a linear axis."""
    svg = drawn["svg"]
    x0, x1 = ms(svg["x0"]), ms(svg["x1"])
    left, top, width, height = svg["plot"]
    in_window = [s for s in forecast if ms(s["end"]) > x0 and ms(s["start"]) < x1]
    assert [(p["start"], p["value"]) for p in drawn["prices"]] == [
        (s["start"], pytest.approx(s["value"], abs=1e-9)) for s in in_window
    ]
    lo = min(drawn["prices"], key=lambda p: p["value"])
    hi = max(drawn["prices"], key=lambda p: p["value"])
    for point in drawn["prices"]:
        assert top - PX <= point["y"] <= top + height + PX
        if hi["value"] > lo["value"]:  # y falls linearly as the price rises
            share = (point["value"] - lo["value"]) / (hi["value"] - lo["value"])
            assert point["y"] == pytest.approx(
                lo["y"] + share * (hi["y"] - lo["y"]), abs=PX
            )
        start = min(max(ms(point["start"]), x0), x1)
        assert point["x1"] == pytest.approx(
            left + (start - x0) / (x1 - x0) * width, abs=PX
        )
    if hi["value"] > lo["value"]:
        assert hi["y"] < lo["y"]


async def test_card_in_dark_theme_and_at_phone_width(
    ha: HomeAssistant, token: str, socket_enabled: None, chromium: str
) -> None:
    """Theme colours come from Home Assistant; at 390 px the card fits the screen."""
    async with browser_page(chromium, color_scheme="dark") as page:
        card = await open_card(page, ha)
        colors = await card.evaluate(
            """(card) => {
              const style = getComputedStyle(card.shadowRoot.querySelector('ha-card'));
              const text = card.shadowRoot.querySelector('svg text');
              return {background: style.backgroundColor, color: style.color,
                      text: getComputedStyle(text).fill};
            }"""
        )
        print("dark:", colors)
        assert _luminance(colors["background"]) < 0.2 < _luminance(colors["color"])
        await card_screenshot(card, "card-dark")

    async with browser_page(chromium, viewport=PHONE) as page:
        card = await open_card(page, ha)
        drawn, schedule = await read_card_with_schedule(card, ha, token)
        box = await card.bounding_box()
        assert box is not None
        print(
            f"phone: card {box['width']:.0f} px wide, chart {drawn['svg']['width']:.0f} px"
        )
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"]
        assert drawn["svg"]["width"] <= box["width"]
        # drawn for the phone's width (the viewBox is the width on screen): text
        # and bars are not a desktop drawing scaled down
        assert drawn["svg"]["viewBoxWidth"] == pytest.approx(
            drawn["svg"]["width"], abs=1
        )
        check_bars_match(drawn, schedule)
        await card_screenshot(card, "card-phone")
        SCREENSHOTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "card-phone-page.png"))
        print("screenshot: screenshots/card-phone-page.png")


def _luminance(css: str) -> float:
    """Relative brightness (0..1) of an `rgb(...)`/`rgba(...)` colour."""
    parts = css[css.index("(") + 1 : css.index(")")].split(",")
    r, g, b = (float(p) / 255 for p in parts[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


async def test_card_is_in_the_card_picker_with_an_editor_and_a_stub(
    ha: HomeAssistant, token: str, socket_enabled: None, chromium: str
) -> None:
    """window.customCards lists it; getStubConfig picks the schedule device;
    the editor is a device picker of the integration that reports changes."""
    async with browser_page(chromium) as page:
        card = await open_card(page, ha)
        device_id = await card_device_id(card)
        found = await page.evaluate(
            """async () => {
              const cls = customElements.get('flexmeasures-schedule-card');
              const hass = document.querySelector('home-assistant').hass;
              const picker = (window.customCards || []).filter((c) => c.type === 'flexmeasures-schedule-card');
              const editor = cls.getConfigElement();
              editor.setConfig({type: 'custom:flexmeasures-schedule-card', device_id: 'x'});
              editor.hass = hass;
              document.body.appendChild(editor);
              await customElements.whenDefined('ha-form');
              const form = editor.querySelector('ha-form');
              const changed = new Promise((resolve) =>
                editor.addEventListener('config-changed', (ev) => resolve(ev.detail.config)));
              form.dispatchEvent(new CustomEvent('value-changed',
                {detail: {value: {device_id: 'other', hours: 12}}}));
              return {
                picker: picker.map((c) => ({name: c.name, preview: c.preview})),
                stub: cls.getStubConfig(hass),
                schema: form.schema,
                changed: await changed,
              };
            }"""
        )
        print("card picker:", found["picker"], "stub:", found["stub"])
        assert found["picker"] == [{"name": "FlexMeasures schedule", "preview": True}]
        assert found["stub"] == {"device_id": device_id}
        device_field = next(f for f in found["schema"] if f["name"] == "device_id")
        assert device_field["selector"]["device"]["filter"] == [
            {"integration": "flexmeasures"}
        ]
        assert found["changed"] == {
            "type": "custom:flexmeasures-schedule-card",
            "device_id": "other",
            "hours": 12,
        }


# ------------------------------------------------ a made-up hass in the same page

SITE = "site-device"
MEMBERS = [
    "sensor.ev_power_setpoint",
    "sensor.battery_power_setpoint",
    "sensor.boiler_power_setpoint",
]


def _entity(entity_id: str, device: str, key: str) -> dict[str, Any]:
    return {
        "entity_id": entity_id,
        "device_id": device,
        "platform": "flexmeasures",
        "translation_key": key,
    }


def _schedule(
    start: datetime, minutes: int, values: list[float]
) -> list[dict[str, Any]]:
    step = timedelta(minutes=minutes)
    return [
        {"start": iso(start + i * step), "end": iso(start + (i + 1) * step), "value": v}
        for i, v in enumerate(values)
    ]


def expected_stack(
    members: list[list[dict[str, Any]]], x0: int, x1: int
) -> list[tuple[int, int, int, float, float]]:
    """(member, start, end, value, base): charging piled up from 0, discharging
    down from 0, in member order; a member's unchanged run is one segment."""
    parsed = [[(ms(s["start"]), ms(s["end"]), s["value"]) for s in m] for m in members]
    cuts = sorted(
        {x0, x1} | {t for m in parsed for s in m for t in s[:2] if x0 < t < x1}
    )
    pieces: list[tuple[int, int, int, float, float]] = []
    for a, b in itertools.pairwise(cuts):
        up = down = 0.0
        for i, steps in enumerate(parsed):
            value = next((v for s, e, v in steps if s <= a < e), 0.0)
            if value > 0:
                pieces.append((i, a, b, value, up))
                up += value
            elif value < 0:
                pieces.append((i, a, b, value, down))
                down += value
    merged: list[tuple[int, int, int, float, float]] = []
    for piece in sorted(pieces):
        last = merged[-1] if merged else None
        if (
            last
            and last[0] == piece[0]
            and last[2] == piece[1]
            and last[3] == piece[3]
            and abs(last[4] - piece[4]) < 1e-9
        ):
            merged[-1] = (last[0], last[1], piece[2], last[3], last[4])
        else:
            merged.append(piece)
    return merged


async def test_card_stacks_the_members_of_a_site_device(
    ha: HomeAssistant, socket_enabled: None, chromium: str
) -> None:
    """A site device's members are drawn stacked: charging up, discharging down."""
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    members = [
        _schedule(t0, 60, [3.0, 3.0, 0.0, -2.0, 1.0]),  # equal steps: one segment
        _schedule(t0 + timedelta(minutes=30), 30, [2.0, -1.0, -1.0, 4.0, 0.5]),
        _schedule(t0 - timedelta(hours=1), 120, [1.0, -0.5, 2.5]),
    ]
    total = _schedule(t0, 60, [6.0, 3.0, 1.0, 0.5, 1.0])
    states = {
        eid: {
            "entity_id": eid,
            "state": str(m[1]["value"]),
            "attributes": {
                "schedule": m,
                "unit_of_measurement": "kW",
                "sign_convention": "consumption_positive",
                "friendly_name": eid,
            },
            "last_changed": iso(t0),
            "last_updated": iso(t0),
            "context": {"id": "1"},
        }
        for eid, m in zip(MEMBERS, members, strict=True)
    }
    states["sensor.site_site_power"] = {
        **states[MEMBERS[0]],
        "entity_id": "sensor.site_site_power",
        "state": "6.0",
        "attributes": {
            "schedule": total,
            "devices": MEMBERS,
            "unit_of_measurement": "kW",
            "sign_convention": "consumption_positive",
        },
    }
    entities = {
        "sensor.site_site_power": _entity("sensor.site_site_power", SITE, "site_power"),
        **{
            eid: _entity(eid, f"device-{i}", "power_setpoint")
            for i, eid in enumerate(MEMBERS)
        },
    }
    devices = {
        SITE: {"id": SITE, "name": "Home site"},
        **{
            f"device-{i}": {"id": f"device-{i}", "name": n}
            for i, n in enumerate(["EV", "Battery", "Boiler"])
        },
    }
    async with browser_page(chromium) as page:
        await log_in(page, ha)
        await page.goto(f"{ha.url}{DASHBOARD}")
        await expect(page.locator(CARD)).to_have_count(1)
        await page.evaluate(
            MOUNT_CARD,
            {
                "config": {"type": f"custom:{CARD}", "device_id": SITE, "hours": 6},
                "states": states,
                "entities": entities,
                "devices": devices,
            },
        )
        card = page.locator("#fm-test-card")
        drawn = await card.evaluate(READ_CARD)
        await card_screenshot(card, "card-site-stacked")
    svg = drawn["svg"]
    x0, x1 = ms(svg["x0"]), ms(svg["x1"])
    assert x1 - x0 == pytest.approx(6.25 * 3_600_000, abs=60_000)  # 6 h + 15 min past
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
    print(f"stacked: {len(got)} segments")
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:4] == w[:4]
        assert g[4] == pytest.approx(w[4], abs=0.01)
    # geometry: the pile of a time is contiguous, from the zero line
    zero = svg["zeroY"]
    scale = statistics.median(b["height"] / abs(b["value"]) for b in drawn["bars"])
    for bar in drawn["bars"]:
        base_y = zero - bar["base"] * scale
        if bar["value"] > 0:
            assert bar["y"] + bar["height"] == pytest.approx(base_y, abs=PX)
        else:
            assert bar["y"] == pytest.approx(base_y, abs=PX)
    assert all(name in drawn["legend"] for name in ("EV", "Battery", "Boiler"))


async def test_card_draws_a_price_forecast_and_none_when_the_price_is_missing(
    ha: HomeAssistant, socket_enabled: None, chromium: str
) -> None:
    """The price line follows a made-up forecast; without the sensor, no line."""
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    device = "battery-device"
    power = _schedule(t0, 15, [5.0, 5.0, -3.0, 0.0, 2.0] * 8)
    forecast = _schedule(
        t0 - timedelta(hours=2),
        60,
        [0.21, 0.25, 0.18, 0.30, 0.12, 0.27, 0.22, 0.19] * 4,
    )
    base_state = {
        "last_changed": iso(t0),
        "last_updated": iso(t0),
        "context": {"id": "1"},
    }
    states = {
        "sensor.b_power_setpoint": {
            **base_state,
            "entity_id": "sensor.b_power_setpoint",
            "state": "5.0",
            "attributes": {
                "schedule": power,
                "unit_of_measurement": "kW",
                "sign_convention": "consumption_positive",
            },
        },
        "sensor.b_consumption_price": {
            **base_state,
            "entity_id": "sensor.b_consumption_price",
            "state": "0.25",
            "attributes": {"forecast": forecast, "unit_of_measurement": "EUR/kWh"},
        },
        "sensor.b_planned_cost": {
            **base_state,
            "entity_id": "sensor.b_planned_cost",
            "state": "12.34",
            "attributes": {"unit_of_measurement": "EUR", "device_class": "monetary"},
        },
    }
    states["binary_sensor.b_stale"] = {
        **base_state,
        "entity_id": "binary_sensor.b_stale",
        "state": "on",
        "attributes": {"device_class": "problem"},
    }
    entities = {
        "binary_sensor.b_stale": _entity("binary_sensor.b_stale", device, "stale"),
        "sensor.b_power_setpoint": _entity(
            "sensor.b_power_setpoint", device, "power_setpoint"
        ),
        "sensor.b_consumption_price": _entity(
            "sensor.b_consumption_price", device, "consumption_price"
        ),
        "sensor.b_planned_cost": _entity(
            "sensor.b_planned_cost", device, "planned_cost"
        ),
    }
    devices = {device: {"id": device, "name": "Made-up battery"}}
    config = {"type": f"custom:{CARD}", "device_id": device, "hours": 12}
    async with browser_page(chromium) as page:
        await log_in(page, ha)
        await page.goto(f"{ha.url}{DASHBOARD}")
        await expect(page.locator(CARD)).to_have_count(1)
        mount = {
            "config": config,
            "states": states,
            "entities": entities,
            "devices": devices,
        }
        await page.evaluate(MOUNT_CARD, mount)
        card = page.locator("#fm-test-card")
        drawn = await card.evaluate(READ_CARD)
        await card_screenshot(card, "card-price")
        check_price_line(drawn, forecast)
        check_bars_match(drawn, power)
        assert "EUR/kWh" in drawn["legend"]
        assert "Price now" in drawn["summary"]
        assert "Planned cost" in drawn["summary"]
        assert drawn["stale"], "a stale schedule is not shown as such"

        # re-render only when its entities change (counted within one task: the
        # card's own once-a-minute redraw cannot come in between)
        count, same = await card.evaluate(
            """(card) => {
              const before = card.drawCount;
              const hass = card.hass;
              card.hass = {...hass};  // a new hass, the same states
              card.hass = {...hass, states: {...hass.states,
                'sensor.unrelated': {entity_id: 'sensor.unrelated', state: '1', attributes: {}}}};
              return [before, card.drawCount];
            }"""
        )
        assert same == count
        count, changed = await card.evaluate(
            """(card) => {
              const before = card.drawCount;
              const hass = card.hass;
              const price = hass.states['sensor.b_consumption_price'];
              card.hass = {...hass, states: {...hass.states,
                'sensor.b_consumption_price': {...price, state: '0.5'}}};
              return [before, card.drawCount];
            }"""
        )
        assert changed == count + 1

        # an unavailable price sensor: no line, no price now
        states["sensor.b_consumption_price"]["state"] = "unavailable"
        await page.evaluate(MOUNT_CARD, mount)
        drawn = await card.evaluate(READ_CARD)
        assert drawn["prices"] == []
        assert "Price now" not in drawn["summary"]
        check_bars_match(drawn, power)

        # no price (nor cost) sensor at all: the same
        for key in ("sensor.b_consumption_price", "sensor.b_planned_cost"):
            del states[key], entities[key]
        await page.evaluate(MOUNT_CARD, mount)
        drawn = await card.evaluate(READ_CARD)
        assert drawn["prices"] == []
        assert "Planned cost" not in drawn["summary"]
        check_bars_match(drawn, power)


async def test_card_draws_a_sites_price_from_its_members(
    ha: HomeAssistant, socket_enabled: None, chromium: str
) -> None:
    """A site device has no consumption_price of its own: its devices show the
    site's price, and the site's card draws that line (and the price now)."""
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    base = {"last_changed": iso(t0), "last_updated": iso(t0), "context": {"id": "1"}}
    member = _schedule(t0, 60, [3.0, -2.0, 1.0, 0.0, 2.0, 1.0])
    forecast = _schedule(t0 - timedelta(hours=1), 60, [0.2, 0.31, 0.18, 0.25] * 3)
    states: dict[str, Any] = {
        "sensor.site_site_power": {
            **base,
            "entity_id": "sensor.site_site_power",
            "state": "3.0",
            "attributes": {
                "schedule": member,
                "devices": MEMBERS[:1],
                "unit_of_measurement": "kW",
                "sign_convention": "consumption_positive",
            },
        },
        MEMBERS[0]: {
            **base,
            "entity_id": MEMBERS[0],
            "state": "3.0",
            "attributes": {
                "schedule": member,
                "unit_of_measurement": "kW",
                "sign_convention": "consumption_positive",
            },
        },
        "sensor.ev_consumption_price": {
            **base,
            "entity_id": "sensor.ev_consumption_price",
            "state": "0.31",
            "attributes": {"forecast": forecast, "unit_of_measurement": "EUR/kWh"},
        },
    }
    entities = {
        "sensor.site_site_power": _entity("sensor.site_site_power", SITE, "site_power"),
        MEMBERS[0]: _entity(MEMBERS[0], "device-0", "power_setpoint"),
        "sensor.ev_consumption_price": _entity(
            "sensor.ev_consumption_price", "device-0", "consumption_price"
        ),
    }
    devices = {
        SITE: {"id": SITE, "name": "Home site"},
        "device-0": {"id": "device-0", "name": "EV"},
    }
    async with browser_page(chromium) as page:
        await log_in(page, ha)
        await page.goto(f"{ha.url}{DASHBOARD}")
        await expect(page.locator(CARD)).to_have_count(1)
        await page.evaluate(
            MOUNT_CARD,
            {
                "config": {"type": f"custom:{CARD}", "device_id": SITE, "hours": 6},
                "states": states,
                "entities": entities,
                "devices": devices,
            },
        )
        card = page.locator("#fm-test-card")
        drawn = await card.evaluate(READ_CARD)
        await card_screenshot(card, "card-site-price")
    check_price_line(drawn, forecast)
    assert "Price now" in drawn["summary"]
    assert "EUR/kWh" in drawn["legend"]
