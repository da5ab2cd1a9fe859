"""The schedule card: served by the integration and loaded by the frontend.

The card's JavaScript module (www/flexmeasures-schedule-card.js) is served on
one static path, registered once in `async_setup`. Its URL, with a hash of the
file as version (browsers cache static files for a month), is added to the
frontend's extra module URLs when the first config entry loads and removed
when the last one unloads: no manual dashboard resource, no build step.
Both `http` and `frontend` are after_dependencies: without them (a Home
Assistant without the UI) there is nothing to serve or load, and nothing is.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from homeassistant.components import frontend
from homeassistant.components.http.server import StaticPathConfig
from homeassistant.core import HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER

CARD_FILENAME: Final = "flexmeasures-schedule-card.js"
CARD_PATH: Final = Path(__file__).parent / "www" / CARD_FILENAME
CARD_URL_PATH: Final = f"/{DOMAIN}/{CARD_FILENAME}"

# The versioned URL of the card's module, once the static path is registered.
DATA_CARD_URL: HassKey[str] = HassKey(f"{DOMAIN}_card_url")


def _file_version(path: Path) -> str:
    """A short hash of the file's content (runs in the executor)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


async def async_register_card_path(hass: HomeAssistant) -> None:
    """Serve the card's module on CARD_URL_PATH (once, from async_setup)."""
    if "http" not in hass.config.components:
        LOGGER.debug("No http component: the schedule card is not served")
        return
    version = await hass.async_add_executor_job(_file_version, CARD_PATH)
    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_URL_PATH, str(CARD_PATH), cache_headers=True)]
    )
    hass.data[DATA_CARD_URL] = f"{CARD_URL_PATH}?v={version}"


@callback
def _card_url_to_switch(hass: HomeAssistant) -> str | None:
    """The served card's URL, when no other entry has the frontend load it.

    Called while an entry loads (not loaded yet) or unloads (then
    UNLOAD_IN_PROGRESS, no longer loaded): a loaded entry means another one.
    """
    url = hass.data.get(DATA_CARD_URL)
    if url is None or "frontend" not in hass.config.components:
        return None
    if hass.config_entries.async_loaded_entries(DOMAIN):
        return None
    return url


@callback
def async_load_card(hass: HomeAssistant) -> None:
    """Have the frontend load the card (when the first entry loads)."""
    if (url := _card_url_to_switch(hass)) is not None:
        frontend.add_extra_js_url(hass, url)


@callback
def async_unload_card(hass: HomeAssistant) -> None:
    """Stop loading the card (when the last entry unloads)."""
    if (url := _card_url_to_switch(hass)) is not None:
        frontend.remove_extra_js_url(hass, url)
