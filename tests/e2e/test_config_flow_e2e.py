"""The account config flow against a real FlexMeasures server."""

from __future__ import annotations

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_EMAIL, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.flexmeasures.const import DOMAIN

from .loopback import redirected_login

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]


def _login(fm_server: dict[str, str], **changes: str) -> dict[str, str | bool]:
    return {
        CONF_URL: fm_server["FLEXMEASURES_URL"],
        CONF_EMAIL: fm_server["FLEXMEASURES_EMAIL"],
        CONF_PASSWORD: fm_server["FLEXMEASURES_PASSWORD"],
        CONF_VERIFY_SSL: True,
        **changes,
    }


async def _submit(hass: HomeAssistant, user_input: dict[str, str | bool]) -> dict:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    return dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    )


async def test_demo_account_creates_entry_that_loads(
    hass: HomeAssistant, fm_server: dict[str, str]
) -> None:
    """The demo login creates an entry for the demo account, and it loads."""
    result = await _submit(
        hass, _login(fm_server, url=fm_server["FLEXMEASURES_URL"] + "/")
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    host = fm_server["FLEXMEASURES_URL"].split("://", 1)[1]
    assert result["title"].endswith(f"({host})")
    assert result["data"][CONF_URL] == fm_server["FLEXMEASURES_URL"]
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.account.id == int(fm_server["FM_TOY_ACCOUNT_ID"])
    assert entry.runtime_data.server_info.version == "1.0.1"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_wrong_password_is_invalid_auth(
    hass: HomeAssistant, fm_server: dict[str, str]
) -> None:
    """The real server refuses a wrong password: the form says invalid_auth."""
    result = await _submit(hass, _login(fm_server, password="not-the-password"))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}


async def test_unknown_email_is_invalid_auth(
    hass: HomeAssistant, fm_server: dict[str, str]
) -> None:
    """An email the server does not know is also invalid_auth."""
    result = await _submit(hass, _login(fm_server, email="nobody@example.com"))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}


async def test_nothing_listening_is_cannot_connect(
    hass: HomeAssistant, fm_server: dict[str, str]
) -> None:
    """A URL where nothing listens: the form says cannot_connect."""
    result = await _submit(hass, _login(fm_server, url="http://127.0.0.1:9"))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}


async def test_redirected_login_is_a_form_error_and_the_password_stays_home(
    hass: HomeAssistant, fm_server: dict[str, str]
) -> None:
    """A server whose login answers 307: the form says redirected; nothing leaks."""
    async with redirected_login(fm_server["FLEXMEASURES_URL"]) as (url, target):
        result = await _submit(hass, _login(fm_server, url=url))
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base": "redirected"}
        assert result["description_placeholders"]["redirect_url"] == target.url
        assert target.requests == []
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_same_account_spelled_differently_is_already_configured(
    hass: HomeAssistant, fm_server: dict[str, str]
) -> None:
    """`HTTP://127.0.0.1:5000/` is the same server: the second entry is refused."""
    first = await _submit(hass, _login(fm_server))
    assert first["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    spelled = fm_server["FLEXMEASURES_URL"].replace("http://", "HTTP://", 1) + "/"
    again = await _submit(hass, _login(fm_server, url=spelled))
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1
    assert await hass.config_entries.async_unload(first["result"].entry_id)
