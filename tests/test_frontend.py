"""The schedule card: served by the integration, loaded while an entry is loaded."""

from __future__ import annotations

import hashlib

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flexmeasures.frontend import (
    CARD_PATH,
    CARD_URL_PATH,
    DATA_CARD_URL,
)

from .common import mock_account_entry
from .conftest import FlexMeasuresHTTPMock

OTHER_URL = "http://127.0.0.1:5001"


@pytest.fixture
async def frontend(hass: HomeAssistant) -> None:
    """Home Assistant's frontend (and http), set up before the integration."""
    assert await async_setup_component(hass, "frontend", {})
    await hass.async_block_till_done()


def _card_urls(hass: HomeAssistant) -> list[str]:
    return sorted(
        url
        for url in hass.data[DATA_EXTRA_MODULE_URL].urls
        if url.startswith(CARD_URL_PATH)
    )


def _second_entry(fm_http: FlexMeasuresHTTPMock) -> MockConfigEntry:
    """Another account, on another server."""
    fm_http.add_server(OTHER_URL)
    return mock_account_entry(OTHER_URL, entry_id="01JFLEXMEASURESOTHERACCNT0")


async def test_card_module_is_served_with_a_content_version(
    hass: HomeAssistant,
    frontend: None,
    init_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """GET on the card's URL returns the JS module; ?v= is a hash of its content."""
    url = hass.data[DATA_CARD_URL]
    content = CARD_PATH.read_bytes()
    assert url == f"{CARD_URL_PATH}?v={hashlib.sha256(content).hexdigest()[:12]}"

    client = await hass_client()
    response = await client.get(url)
    assert response.status == 200
    assert "javascript" in response.headers["Content-Type"]
    assert await response.read() == content
    assert b"customElements.define(CARD_TYPE, FlexMeasuresScheduleCard)" in content
    assert b'const CARD_TYPE = "flexmeasures-schedule-card"' in content


async def test_card_url_is_loaded_while_an_entry_is_loaded(
    hass: HomeAssistant,
    frontend: None,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Added when the first entry loads, kept while another is, removed with the last."""
    mock_config_entry.add_to_hass(hass)
    assert _card_urls(hass) == []

    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    url = hass.data[DATA_CARD_URL]
    assert _card_urls(hass) == [url]

    # a second account (added after the integration is set up: set up by hand)
    other = _second_entry(fm_http)
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    assert other.state is ConfigEntryState.LOADED
    assert _card_urls(hass) == [url]

    # unloading one of two keeps the card
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert _card_urls(hass) == [url]

    # unloading the last removes it
    assert await hass.config_entries.async_unload(other.entry_id)
    await hass.async_block_till_done()
    assert _card_urls(hass) == []

    # and loading one again adds it again (a reload of a single entry)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    assert _card_urls(hass) == [url]
    assert await hass.config_entries.async_reload(other.entry_id)
    await hass.async_block_till_done()
    assert _card_urls(hass) == [url]


async def test_entry_loads_without_the_frontend(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """No http/frontend (a headless Home Assistant): nothing served, entry loads."""
    assert init_integration.state is ConfigEntryState.LOADED
    assert DATA_CARD_URL not in hass.data
    assert DATA_EXTRA_MODULE_URL not in hass.data
