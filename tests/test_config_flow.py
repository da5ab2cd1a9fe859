"""The account config flow: user, reauth and reconfigure steps."""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import patch

import aiohttp
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_EMAIL, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.api import FlexMeasuresClient
from custom_components.flexmeasures.const import DOMAIN

from .common import mock_account_entry
from .conftest import FlexMeasuresHTTPMock
from .const import FM_TOKEN, FM_URL, TOY_EMAIL, TOY_PASSWORD

USER_INPUT = {
    CONF_URL: FM_URL,
    CONF_EMAIL: TOY_EMAIL,
    CONF_PASSWORD: TOY_PASSWORD,
    CONF_VERIFY_SSL: True,
}
ENTRY_DATA = dict(USER_INPUT)


async def _start_user_flow(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result["flow_id"]


@pytest.mark.parametrize(
    ("url", "expected_url", "expected_title"),
    [
        (FM_URL, FM_URL, "Toy Account (127.0.0.1:5000)"),
        (f"{FM_URL}/", FM_URL, "Toy Account (127.0.0.1:5000)"),
        (
            "https://fm.example.com/prefix/",
            "https://fm.example.com/prefix",
            "Toy Account (fm.example.com)",
        ),
        (
            "https://fm.example.com",
            "https://fm.example.com",
            "Toy Account (fm.example.com)",
        ),
    ],
)
async def test_user_flow_creates_entry_for_account(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    url: str,
    expected_url: str,
    expected_title: str,
) -> None:
    """A valid URL and login create an entry named after the account and host."""
    fm_http.add_server(expected_url)
    flow_id = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        flow_id, {**USER_INPUT, CONF_URL: url}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == expected_title
    assert result["data"] == {**USER_INPUT, CONF_URL: expected_url}
    assert result["result"].unique_id == f"{expected_url}_1"


async def test_user_form_defaults_to_verifying_ssl(hass: HomeAssistant) -> None:
    """The form checks TLS certificates unless the user turns it off."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    schema = result["data_schema"]
    assert schema is not None
    assert schema({CONF_URL: FM_URL, CONF_EMAIL: "a@b.c", CONF_PASSWORD: "x"})[
        CONF_VERIFY_SSL
    ]


async def test_user_flow_keeps_verify_ssl_off(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock
) -> None:
    """Turning the certificate check off is saved in the entry."""
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**USER_INPUT, CONF_VERIFY_SSL: False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_VERIFY_SSL] is False


@pytest.mark.parametrize(
    "bad_url",
    ["127.0.0.1:5000", "flexmeasures.example.com", "http://", "ftp://fm.example.com"],
)
async def test_user_flow_rejects_url_without_scheme_or_host(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock, bad_url: str
) -> None:
    """A URL without http(s) scheme or host is a form error; fixing it works."""
    flow_id = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        flow_id, {**USER_INPUT, CONF_URL: bad_url}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_URL: "invalid_url"}
    assert fm_http.mocker.call_count == 0

    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY


def _server_down(mock: FlexMeasuresHTTPMock) -> None:
    mock.add_server(exc=aiohttp.ClientConnectionError("refused"))


def _server_timeout(mock: FlexMeasuresHTTPMock) -> None:
    mock.add_server(exc=TimeoutError())


def _wrong_password(mock: FlexMeasuresHTTPMock) -> None:
    mock.add_server(login_status=401)


def _old_server(mock: FlexMeasuresHTTPMock) -> None:
    mock.add_server(versions=("v2_0",))


def _not_flexmeasures(mock: FlexMeasuresHTTPMock) -> None:
    mock.mocker.get(f"{FM_URL}/api/", status=404, text="<html>Not Found</html>")


def _server_error(mock: FlexMeasuresHTTPMock) -> None:
    mock.mocker.get(
        f"{FM_URL}/api/", status=500, json={"message": "boom", "status": 500}
    )


@pytest.mark.parametrize(
    ("break_server", "error"),
    [
        (_server_down, "cannot_connect"),
        (_server_timeout, "cannot_connect"),
        (_not_flexmeasures, "cannot_connect"),
        (_server_error, "cannot_connect"),
        (_wrong_password, "invalid_auth"),
        (_old_server, "unsupported_version"),
    ],
)
async def test_user_flow_error_recovers_to_entry(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    break_server: Any,
    error: str,
) -> None:
    """Each error shows on the form; once the problem is gone, an entry is made."""
    fm_http.clear()
    break_server(fm_http)
    flow_id = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}

    fm_http.clear()
    fm_http.add_server()
    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == USER_INPUT


async def test_user_flow_form_never_sends_the_password_back(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock
) -> None:
    """After an error the form keeps URL and email but not the password."""
    fm_http.clear()
    _wrong_password(fm_http)
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["errors"] == {"base": "invalid_auth"}
    suggested = {
        str(key): key.description.get("suggested_value")
        for key in result["data_schema"].schema
        if key.description
    }
    assert suggested[CONF_URL] == FM_URL
    assert suggested[CONF_EMAIL] == TOY_EMAIL
    assert CONF_PASSWORD not in suggested


async def test_user_flow_unexpected_error_logged_and_recovers(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug shows `unknown`, is logged with a traceback, and a retry works."""
    flow_id = await _start_user_flow(hass)
    with patch.object(
        FlexMeasuresClient, "get_server_info", side_effect=RuntimeError("bug")
    ):
        result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error" in caplog.text
    assert "Traceback" in caplog.text

    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_same_account_twice_aborts(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """The same user on the same server cannot be added twice."""
    mock_config_entry.add_to_hass(hass)
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**USER_INPUT, CONF_URL: f"{FM_URL}/"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize(
    "other",
    [
        # another user, same server
        {"url": FM_URL, "user_id": 7, "account_id": 2, "account_name": "Other"},
        # same ids, another server
        {"url": "https://fm.example.com", "user_id": 1, "account_id": 1},
    ],
)
async def test_user_flow_adds_second_account_beside_first(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
    other: dict[str, Any],
) -> None:
    """Another user, or another server, is a new entry."""
    mock_config_entry.add_to_hass(hass)
    fm_http.clear()
    fm_http.add_server(email="other@example.com", **other)
    url = other["url"]
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**USER_INPUT, CONF_URL: url, CONF_EMAIL: "other@example.com"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == f"{url}_{other['user_id']}"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2


async def test_user_flow_logs_no_password_or_token(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At DEBUG, the whole flow and setup log neither password nor token."""
    caplog.set_level(logging.DEBUG)
    fm_http.clear()
    _wrong_password(fm_http)
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["errors"] == {"base": "invalid_auth"}
    fm_http.clear()
    fm_http.add_server()
    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED

    assert "flexmeasures" in caplog.text.lower()  # the log was captured at all
    assert TOY_PASSWORD not in caplog.text
    assert FM_TOKEN not in caplog.text
    assert FM_TOKEN.split(".", 1)[0] not in caplog.text


# --- reauth ---------------------------------------------------------------------


async def test_reauth_updates_password_and_reloads(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A new password is checked, saved, and the entry loads with it."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"][CONF_EMAIL] == TOY_EMAIL
    assert result["description_placeholders"][CONF_URL] == FM_URL

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "new-password"}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data == {**ENTRY_DATA, CONF_PASSWORD: "new-password"}
    assert mock_config_entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize(
    ("break_server", "error"),
    [
        (_wrong_password, "invalid_auth"),
        (_server_down, "cannot_connect"),
        (_old_server, "unsupported_version"),
    ],
)
async def test_reauth_error_recovers(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
    break_server: Any,
    error: str,
) -> None:
    """A failing password shows an error; the right one finishes the reauth."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reauth_flow(hass)
    fm_http.clear()
    break_server(fm_http)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}

    fm_http.clear()
    fm_http.add_server()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "new-password"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data[CONF_PASSWORD] == "new-password"
    assert mock_config_entry.state is ConfigEntryState.LOADED


async def test_reauth_as_another_user_aborts_wrong_account(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """If the email now logs in as a different user, nothing is changed."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reauth_flow(hass)
    fm_http.clear()
    fm_http.add_server(user_id=2)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "new-password"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert mock_config_entry.data == ENTRY_DATA


# --- reconfigure ----------------------------------------------------------------


async def test_reconfigure_form_shows_current_values_without_password(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The reconfigure form is prefilled, except for the password."""
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    suggested = {
        str(key): key.description.get("suggested_value")
        for key in result["data_schema"].schema
        if key.description
    }
    assert suggested == {CONF_URL: FM_URL, CONF_EMAIL: TOY_EMAIL, CONF_VERIFY_SSL: True}


async def test_reconfigure_loaded_entry_saves_and_reloads(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    init_integration: MockConfigEntry,
) -> None:
    """A loaded entry takes the new settings and reloads with them."""
    old_runtime_data = init_integration.runtime_data
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**USER_INPUT, CONF_PASSWORD: "new-password", CONF_VERIFY_SSL: False},
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data == {
        **ENTRY_DATA,
        CONF_PASSWORD: "new-password",
        CONF_VERIFY_SSL: False,
    }
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.runtime_data is not old_runtime_data  # reloaded


async def test_reconfigure_not_loaded_entry_reloads(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """An entry that failed to set up is set up again after reconfiguring."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_to_moved_server_updates_unique_id(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    init_integration: MockConfigEntry,
) -> None:
    """The same user at a new server URL keeps the entry, with a new identity."""
    new_url = "https://fm.example.com"
    fm_http.add_server(new_url)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_URL: f"{new_url}/"}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data[CONF_URL] == new_url
    assert init_integration.unique_id == f"{new_url}_1"
    assert init_integration.title == "Toy Account (fm.example.com)"


async def test_reconfigure_onto_another_entry_aborts(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    init_integration: MockConfigEntry,
) -> None:
    """Moving an entry onto an account that already has an entry is refused."""
    new_url = "https://fm.example.com"
    fm_http.add_server(new_url)
    mock_account_entry(new_url).add_to_hass(hass)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_URL: new_url}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert init_integration.data == ENTRY_DATA


async def test_reconfigure_as_another_user_aborts_wrong_account(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    init_integration: MockConfigEntry,
) -> None:
    """A login of another user cannot replace the entry's user."""
    fm_http.clear()
    fm_http.add_server(email="other@example.com", user_id=5, account_id=2)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_EMAIL: "other@example.com"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert init_integration.data == ENTRY_DATA


@pytest.mark.parametrize(
    ("break_server", "error"),
    [
        (_wrong_password, "invalid_auth"),
        (_server_down, "cannot_connect"),
        (_old_server, "unsupported_version"),
    ],
)
async def test_reconfigure_error_recovers(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    init_integration: MockConfigEntry,
    break_server: Any,
    error: str,
) -> None:
    """Errors show on the reconfigure form; fixed input finishes it."""
    result = await init_integration.start_reconfigure_flow(hass)
    fm_http.clear()
    break_server(fm_http)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}

    fm_http.clear()
    fm_http.add_server()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"


async def test_reconfigure_rejects_invalid_url(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A URL without scheme is a form error in reconfigure too."""
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_URL: "fm.example.com"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_URL: "invalid_url"}
