"""The schedule card in the user's language (Dutch here), in a real browser.

The language is the browser's own choice, as Home Assistant's frontend makes it
when the user has none saved on the server: localStorage `selectedLanguage`
(what the frontend stores when a language is picked), set before the page's
scripts run. Nothing is saved on the server, so another module using the same
Home Assistant still sees English. The browser itself stays en-US: Dutch
numbers must come from hass.locale, not from the browser's default.
"""

# ruff: noqa: T201  (what a browser check saw is printed for its reader)

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
import contextlib
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import re
from typing import Any

from playwright.async_api import Page, async_playwright, expect
import pytest

from custom_components.flexmeasures.frontend import CARD_PATH
from scripts import ha_config

from .conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, SCREENSHOTS, HomeAssistant, log_in

CARD = "flexmeasures-schedule-card"
TABLE = CARD_PATH.read_text(encoding="utf-8")
TEXTS: dict[str, dict[str, str]] = json.loads(
    TABLE[
        TABLE.index("/* texts: begin */") + len("/* texts: begin */") : TABLE.index(
            "/* texts: end */"
        )
    ]
)
NL = TEXTS["nl"]
EN = TEXTS["en"]
DEVICE = "language-device"
SETPOINT = "sensor.l_power_setpoint"
NEXT = "sensor.l_next_change"

# Everything a reader of the card gets: text, tooltips, the chart's label.
READ = """(card) => {
  const root = card.shadowRoot;
  return {
    text: root.querySelector('ha-card').innerText,
    title: root.querySelector('.stale').title,
    aria: root.querySelector('.chart svg')?.getAttribute('aria-label') ?? null,
    value: root.querySelector('.setpoint .value')?.textContent ?? null,
    mode: root.querySelector('.setpoint .mode')?.textContent ?? null,
    next: root.querySelector('.next-change')?.innerText ?? null,
    cost: root.querySelector('.planned-cost .label')?.textContent ?? null,
    ticks: [...root.querySelectorAll('svg text:not(.time):not(.price-tick):not(.now-label)')]
      .map((t) => t.textContent),
    times: [...root.querySelectorAll('svg text.time')].map((t) => t.textContent),
    now: root.querySelector('svg .now-label')?.textContent ?? null,
    language: document.querySelector('home-assistant').hass.locale.language,
  };
}"""

MOUNT = """async ({config, states, entities, devices, locale}) => {
  const real = document.querySelector('home-assistant').hass;
  document.getElementById('fm-language-card')?.remove();
  const card = document.createElement('flexmeasures-schedule-card');
  card.id = 'fm-language-card';
  card.style.cssText = 'position: fixed; top: 0; left: 0; width: 640px; z-index: 100;';
  card.setConfig(config);
  const hass = {...real, states: {...real.states, ...states},
    entities: {...real.entities, ...entities}, devices: {...real.devices, ...devices}};
  if (locale) Object.assign(hass, {locale: {...real.locale, ...locale}, language: locale.language});
  card.hass = hass;
  document.body.appendChild(card);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""


@pytest.fixture(scope="module")
def ha(start_home_assistant: Callable[..., HomeAssistant]) -> HomeAssistant:
    """Home Assistant set up as scripts/develop sets it up (entry included)."""
    return start_home_assistant(with_entry=True)


@contextlib.asynccontextmanager
async def dutch_page() -> AsyncIterator[Page]:
    """A page in a fresh headless Chromium (en-US) whose frontend picks Dutch."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no {CHROMIUM}: apt-get install chromium fonts-liberation")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="en-US"
        )
        context.set_default_timeout(30_000)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        try:
            yield page
        finally:
            await context.close()
            await browser.close()
        assert not [e for e in errors if CARD in e or "flexmeasures" in e], errors


async def open_dashboard(page: Page, ha: HomeAssistant) -> None:
    """Log in (in English: conftest's log_in clicks "Log in"), then open the
    dashboard with Dutch as the language the frontend picks."""
    await log_in(page, ha)
    await page.context.add_init_script(
        "localStorage.setItem('selectedLanguage', JSON.stringify('nl'));"
    )
    await page.goto(f"{ha.url}{ha_config.DASHBOARD_URL}")
    await expect(page.locator(CARD)).to_have_count(1)


def english_in(seen: str) -> list[str]:
    """The card's English texts (their fixed part) found in what it shows."""
    found = []
    for key, value in EN.items():
        fixed = max(re.split(r"\{\w+\}", value), key=len).strip(" .()")
        if len(fixed) > 3 and fixed not in NL[key] and fixed in seen:
            found.append(fixed)
    return found


def iso(t: datetime) -> str:
    """As the integration writes times: UTC ISO with offset."""
    return t.astimezone(UTC).isoformat()


async def test_card_shows_dutch_texts_on_the_dashboard(
    ha: HomeAssistant, socket_enabled: None
) -> None:
    """The development dashboard's card, for a user whose language is Dutch."""
    async with dutch_page() as page:
        await open_dashboard(page, ha)
        card = page.locator(CARD)
        await expect(card.locator(".chart svg rect.bar").first).to_be_attached(
            timeout=60_000
        )
        # the frontend's own texts are Dutch too: the language took effect
        await expect(page.locator("html")).to_have_attribute("lang", "nl")
        await expect(card.locator(".next-change .label")).to_have_text(
            NL["next_change"]
        )
        seen = await card.evaluate(READ)
        print(json.dumps({k: seen[k] for k in ("language", "mode", "next", "aria")}))
        assert seen["language"] == "nl"
        assert NL["price_now"] in seen["text"]
        assert NL["price_unit"].replace("{unit}", "EUR/kWh") in seen["text"]
        if seen["cost"] is not None:  # when the server gave a planned cost
            assert seen["cost"] == NL["planned_cost"]
        assert seen["mode"] in {
            NL[k] for k in ("charging_now", "discharging_now", "idle_now")
        }
        assert NL["charging"] in seen["text"]
        assert NL["discharging"] in seen["text"]
        assert seen["aria"] == NL["chart_label"]
        assert seen["now"] == NL["now"]
        assert english_in(f"{seen['text']} {seen['aria']} {seen['title']}") == []
        # 24-hour times, as Dutch has them (no AM/PM)
        assert all(re.fullmatch(r"\d{2}:\d{2}", t) for t in seen["times"]), seen
        path = SCREENSHOTS / "card-nl.png"
        SCREENSHOTS.mkdir(exist_ok=True)
        await card.screenshot(path=str(path))
        print(f"screenshot: {path.relative_to(ROOT)}")


def _made_up(value: float) -> dict[str, Any]:
    """A schedule device: `value` kW now, -2.5 kW from the next change on."""
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    t0 -= timedelta(hours=1)
    hour = timedelta(hours=1)
    schedule = [
        {"start": iso(t0 + i * hour), "end": iso(t0 + (i + 1) * hour), "value": v}
        for i, v in enumerate([value, value, -2.5, 0.0])
    ]
    base = {"last_changed": iso(t0), "last_updated": iso(t0), "context": {"id": "1"}}
    entity = {"platform": "flexmeasures", "device_id": DEVICE}
    return {
        "config": {"type": f"custom:{CARD}", "device_id": DEVICE, "hours": 6},
        "states": {
            SETPOINT: {
                **base,
                "entity_id": SETPOINT,
                "state": str(value),
                "attributes": {
                    "schedule": schedule,
                    "unit_of_measurement": "kW",
                    "sign_convention": "consumption_positive",
                },
            },
            NEXT: {
                **base,
                "entity_id": NEXT,
                "state": iso(t0 + 2 * hour),
                "attributes": {"device_class": "timestamp"},
            },
        },
        "entities": {
            SETPOINT: {
                **entity,
                "entity_id": SETPOINT,
                "translation_key": "power_setpoint",
            },
            NEXT: {**entity, "entity_id": NEXT, "translation_key": "next_change"},
        },
        "devices": {DEVICE: {"id": DEVICE, "name": "Taalbatterij"}},
    }


async def test_card_writes_numbers_the_dutch_way(
    ha: HomeAssistant, socket_enabled: None
) -> None:
    """Decimal comma, a point between thousands: 12345.5 kW is 12.345,5 kW."""
    async with dutch_page() as page:
        await open_dashboard(page, ha)
        await page.evaluate(MOUNT, {**_made_up(12345.5), "locale": None})
        card = page.locator("#fm-language-card")
        seen = await card.evaluate(READ)
        print(json.dumps({k: seen[k] for k in ("value", "mode", "next", "ticks")}))
        assert seen["value"] == "12.345,5"
        assert seen["mode"] == NL["charging_now"]
        # "Volgende wijziging 13:00 → -2,5 kW"
        assert re.fullmatch(
            rf"{NL['next_change']}\s*\d{{2}}:\d{{2}} → [-\u2212]2,5 kW", seen["next"]
        ), seen["next"]
        thousands = [t for t in seen["ticks"] if re.fullmatch(r"\d{1,3}(\.\d{3})+", t)]
        assert thousands, seen["ticks"]
        assert not [t for t in seen["ticks"] if re.search(r"\d,\d{3}\b", t)]


async def test_card_language_follows_the_locale_with_english_as_fallback(
    ha: HomeAssistant, socket_enabled: None
) -> None:
    """nl-BE is Dutch, de-CH German, a language without a table English; the
    editor's labels and the card picker's name are translated too."""
    async with dutch_page() as page:
        await open_dashboard(page, ha)
        shown = {}
        for language in ("nl-BE", "de-CH", "fr", "en-GB"):
            config = {"type": f"custom:{CARD}", "device_id": "no-such-device"}
            await page.evaluate(
                MOUNT,
                {
                    "config": config,
                    "states": {},
                    "entities": {},
                    "devices": {},
                    "locale": {"language": language},
                },
            )
            shown[language] = await page.locator(
                "#fm-language-card .empty"
            ).inner_text()
        print(json.dumps(shown, ensure_ascii=False))
        assert shown == {
            "nl-BE": TEXTS["nl"]["no_schedule_on_device"],
            "de-CH": TEXTS["de"]["no_schedule_on_device"],
            "fr": EN["no_schedule_on_device"],
            "en-GB": EN["no_schedule_on_device"],
        }
        found = await page.evaluate(
            """async () => {
              const cls = customElements.get('flexmeasures-schedule-card');
              const editor = cls.getConfigElement();
              editor.setConfig({type: 'custom:flexmeasures-schedule-card'});
              editor.hass = document.querySelector('home-assistant').hass;
              document.body.appendChild(editor);
              await customElements.whenDefined('ha-form');
              const form = editor.querySelector('ha-form');
              const picker = window.customCards.find((c) => c.type === 'flexmeasures-schedule-card');
              let error = null;
              try { document.createElement('flexmeasures-schedule-card').setConfig({hours: 500}); }
              catch (err) { error = err.message; }
              return {
                labels: form.schema.map((field) => form.computeLabel(field)),
                name: picker.name,
                description: picker.description,
                error,
              };
            }"""
        )
        print(json.dumps(found, ensure_ascii=False))
        assert found["labels"] == [
            NL["editor_device"],
            NL["editor_title"],
            NL["editor_hours"].replace("{hours}", "24"),
        ]
        assert found["name"] == NL["card_name"]
        assert found["description"] == NL["card_description"]
        assert found["error"] == NL["invalid_hours"].replace("{max}", "168")
