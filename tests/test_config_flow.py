"""The account config flow: user, reauth and reconfigure steps."""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path
from typing import Any
from unittest.mock import patch

import aiohttp
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_EMAIL, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures import api
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
FORM_ERRORS = json.loads(
    (
        Path(__file__).parents[1]
        / "custom_components/flexmeasures/translations/en.json"
    ).read_text(encoding="utf-8")
)["config"]["error"]


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


def _login_behind_proxy_404(mock: FlexMeasuresHTTPMock) -> None:
    """The login is answered by a reverse proxy's HTML 404 page."""
    mock.add_server(login_status=200)
    mock.mocker.clear_requests()
    _answer_server_info(mock)
    mock.mocker.post(
        f"{FM_URL}/api/requestAuthToken",
        status=404,
        text="<html><body><h1>404 Not Found</h1>nginx</body></html>",
        headers={"Content-Type": "text/html"},
    )


def _login_maintenance_page(mock: FlexMeasuresHTTPMock) -> None:
    """The login is answered by a maintenance page (503, HTML)."""
    _answer_server_info(mock)
    mock.mocker.post(
        f"{FM_URL}/api/requestAuthToken",
        status=503,
        text="<html>Down for maintenance</html>",
        headers={"Content-Type": "text/html"},
    )


def _login_json_404_not_flexmeasures(mock: FlexMeasuresHTTPMock) -> None:
    """A 404 with JSON that is not FlexMeasures' refusal of the login."""
    _answer_server_info(mock)
    mock.mocker.post(
        f"{FM_URL}/api/requestAuthToken",
        status=404,
        json={"message": "The requested URL was not found.", "status": 404},
    )


def _login_422(mock: FlexMeasuresHTTPMock) -> None:
    """FlexMeasures refuses the login request's shape (reference answer 07)."""
    _answer_server_info(mock)
    mock.mocker.post(
        f"{FM_URL}/api/requestAuthToken",
        status=422,
        json={
            "message": {"json": {"email": ["Not a valid email address."]}},
            "result": "Rejected",
            "status": "UNPROCESSABLE_ENTITY",
        },
    )


def _unknown_email(mock: FlexMeasuresHTTPMock) -> None:
    """FlexMeasures' own 404 for an unknown email (reference answer 06)."""
    mock.add_server(login_status=404)


def _undecodable_page(mock: FlexMeasuresHTTPMock) -> None:
    """An error page in a charset nobody knows."""
    mock.mocker.get(
        f"{FM_URL}/api/",
        status=502,
        content=b"\xff\xfe<html>\xe9</html>",
        headers={"Content-Type": "text/html; charset=x-no-such-charset"},
    )


def _redirect_to_https(mock: FlexMeasuresHTTPMock) -> None:
    mock.mocker.get(
        f"{FM_URL}/api/",
        status=301,
        headers={"Location": FM_URL.replace("http://", "https://") + "/api/"},
    )


def _answer_server_info(mock: FlexMeasuresHTTPMock) -> None:
    mock.mocker.get(
        f"{FM_URL}/api/",
        json={"flexmeasures_version": "1.0.1", "status": 200, "versions": ["v3_0"]},
    )


@pytest.mark.parametrize(
    ("break_server", "error"),
    [
        (_server_down, "cannot_connect"),
        (_server_timeout, "cannot_connect"),
        (_not_flexmeasures, "cannot_connect"),
        (_server_error, "cannot_connect"),
        (_wrong_password, "invalid_auth"),
        (_unknown_email, "invalid_auth"),
        (_old_server, "unsupported_version"),
        (_login_behind_proxy_404, "cannot_connect"),
        (_login_maintenance_page, "cannot_connect"),
        (_login_json_404_not_flexmeasures, "cannot_connect"),
        (_undecodable_page, "cannot_connect"),
        (_login_422, "unknown"),
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


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(cls, None, id=cls.__name__)
        for cls in sorted(
            {
                getattr(api, name)
                for name in api.__all__
                if isinstance(getattr(api, name), type)
                and issubclass(getattr(api, name), api.FlexMeasuresError)
            },
            key=lambda cls: cls.__name__,
        )
    ],
)
async def test_every_client_error_is_a_form_error_that_recovers(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    error: type[api.FlexMeasuresError],
    expected: None,
) -> None:
    """Whatever the client raises, the form shows a known error, then recovers."""
    params = inspect.signature(error.__init__).parameters
    if "message" in params:
        err = error("boom", status=418)  # type: ignore[call-arg]
    elif "status" in params:
        err = error(307)  # type: ignore[call-arg]
    else:
        err = error("boom")
    flow_id = await _start_user_flow(hass)
    with patch.object(FlexMeasuresClient, "login", side_effect=err):
        result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.FORM
    assert set(result["errors"].values()) <= set(FORM_ERRORS)
    assert result["errors"]["base"] != "invalid_auth" or isinstance(
        err, api.FlexMeasuresAuthenticationError
    )
    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY


# --- redirects and URLs --------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_user_flow_https_redirect_says_which_url_to_enter(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock, status: int
) -> None:
    """http -> https on the same host: refused; the form names the https URL."""
    fm_http.clear()
    fm_http.mocker.get(
        "http://fm.example.com/prefix/api/",
        status=status,
        headers={"Location": "https://fm.example.com/prefix/api/"},
    )
    flow_id = await _start_user_flow(hass)
    user_input = {**USER_INPUT, CONF_URL: "http://fm.example.com/prefix"}
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "redirected"}
    assert result["description_placeholders"]["redirect_url"] == (
        "https://fm.example.com/prefix"
    )
    assert [call[0] for call in fm_http.mocker.mock_calls] == ["GET"]  # no login

    fm_http.add_server("https://fm.example.com/prefix")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**user_input, CONF_URL: "https://fm.example.com/prefix"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_URL] == "https://fm.example.com/prefix"


async def test_user_flow_login_redirect_to_another_host_is_refused(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock
) -> None:
    """A login redirected elsewhere: refused, the password goes nowhere else."""
    fm_http.clear()
    _answer_server_info(fm_http)
    fm_http.mocker.post(
        f"{FM_URL}/api/requestAuthToken",
        status=307,
        headers={"Location": "http://user:pw@evil.example/steal?x=1"},
    )
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["errors"] == {"base": "redirected"}
    assert result["description_placeholders"]["redirect_url"] == (
        "http://evil.example/steal"
    )
    assert [str(call[1]) for call in fm_http.mocker.mock_calls] == [
        f"{FM_URL}/api/",
        f"{FM_URL}/api/requestAuthToken",
    ]
    fm_http.clear()
    fm_http.add_server()
    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_redirect_without_target_cannot_connect(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock
) -> None:
    """A 3xx that names no target is no FlexMeasures answer: cannot_connect."""
    fm_http.clear()
    fm_http.mocker.get(f"{FM_URL}/api/", status=302)
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["errors"] == {"base": "cannot_connect"}
    fm_http.clear()
    fm_http.add_server()
    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    "url",
    [
        "https://toy-user:secret-pw@fm.example.com",
        "https://toy-user@fm.example.com/prefix/",
        "http://:secret-pw@127.0.0.1:5000",
    ],
)
async def test_user_flow_refuses_credentials_in_the_url(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    caplog: pytest.LogCaptureFixture,
    url: str,
) -> None:
    """User info in the URL is a form error; nothing is sent, nothing echoed."""
    caplog.set_level(logging.DEBUG)
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**USER_INPUT, CONF_URL: url}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_URL: "url_has_credentials"}
    assert fm_http.mocker.call_count == 0
    suggested = {
        str(key): key.description.get("suggested_value")
        for key in result["data_schema"].schema
        if key.description
    }
    assert "@" not in suggested[CONF_URL]
    assert "secret" not in str(result)
    assert "secret" not in caplog.text

    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    "url", ["ftp://toy-user:secret-pw@fm.example.com", "toy-user:secret-pw@fm"]
)
async def test_unusable_url_with_a_secret_is_not_shown_again(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock, url: str
) -> None:
    """An unusable URL that may hold a secret is not put back into the form."""
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**USER_INPUT, CONF_URL: url}
    )
    assert result["errors"] == {CONF_URL: "invalid_url"}
    assert "secret" not in str(result)
    result = await hass.config_entries.flow.async_configure(flow_id, USER_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("existing", "entered"),
    [
        (FM_URL, "HTTP://127.0.0.1:5000/"),
        ("https://fm.example.com", "https://FM.Example.com"),
        ("https://fm.example.com", "https://fm.example.com:443/"),
        ("http://fm.example.com/fm", "HTTP://FM.EXAMPLE.COM:80/fm/"),
    ],
)
async def test_user_flow_same_server_spelled_differently_aborts(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock, existing: str, entered: str
) -> None:
    """Case, default ports and trailing slashes do not make a second entry."""
    fm_http.add_server(existing)
    MockConfigEntry(
        domain=DOMAIN,
        unique_id=f"{existing}_1",
        data={**ENTRY_DATA, CONF_URL: existing},
        minor_version=2,
    ).add_to_hass(hass)
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**USER_INPUT, CONF_URL: entered}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


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


def _logins(mock: FlexMeasuresHTTPMock) -> int:
    return sum(
        str(call[1]).endswith("/api/requestAuthToken")
        for call in mock.mocker.mock_calls
    )


async def test_reauth_with_the_same_password_reloads_a_loaded_entry(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    init_integration: MockConfigEntry,
) -> None:
    """A loaded entry whose updates failed on auth comes back, reloaded once."""
    old_runtime_data = init_integration.runtime_data
    result = await init_integration.start_reauth_flow(hass)
    logins = _logins(fm_http)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: TOY_PASSWORD}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert init_integration.data == ENTRY_DATA
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.runtime_data is not old_runtime_data  # reloaded
    assert _logins(fm_http) == logins + 2  # the check, and one reload (not two)


async def test_reauth_with_the_same_password_sets_up_a_failed_entry(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """An entry that failed on auth (e.g. a proxy glitch) loads after reauth."""
    fm_http.clear()
    _wrong_password(fm_http)
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    [flow] = mock_config_entry.async_get_active_flows(hass, {SOURCE_REAUTH})

    fm_http.clear()
    fm_http.add_server()
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_PASSWORD: TOY_PASSWORD}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data == ENTRY_DATA
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert _logins(fm_http) == 2  # the check, and one setup


async def test_reauth_with_a_new_password_reloads_a_loaded_entry_once(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    init_integration: MockConfigEntry,
) -> None:
    """A changed password reloads the entry once (not by listener and flow both)."""
    result = await init_integration.start_reauth_flow(hass)
    logins = _logins(fm_http)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "new-password"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.data[CONF_PASSWORD] == "new-password"
    assert _logins(fm_http) == logins + 2


@pytest.mark.parametrize(
    ("break_server", "error"),
    [
        (_wrong_password, "invalid_auth"),
        (_server_down, "cannot_connect"),
        (_old_server, "unsupported_version"),
        (_login_behind_proxy_404, "cannot_connect"),
        (_redirect_to_https, "redirected"),
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


async def test_reconfigure_with_unchanged_settings_reloads_once(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    init_integration: MockConfigEntry,
) -> None:
    """Submitting the same settings is a way to restart the entry: it reloads once."""
    old_runtime_data = init_integration.runtime_data
    result = await init_integration.start_reconfigure_flow(hass)
    logins = _logins(fm_http)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.runtime_data is not old_runtime_data
    assert _logins(fm_http) == logins + 2


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
        (_login_maintenance_page, "cannot_connect"),
        (_redirect_to_https, "redirected"),
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


async def test_reconfigure_refuses_credentials_in_the_url(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    init_integration: MockConfigEntry,
) -> None:
    """User info in the URL is a form error in reconfigure too; then it works."""
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**USER_INPUT, CONF_URL: "http://toy:secret@127.0.0.1:5000"},
    )
    assert result["errors"] == {CONF_URL: "url_has_credentials"}
    assert "secret" not in str(result)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT
    )
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data == ENTRY_DATA


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


# --- migration: URLs from before normalisation (minor version 1) --------------------


def _old_entry(
    url: str, unique_url: str | None = None, **kwargs: Any
) -> MockConfigEntry:
    """An entry as minor version 1 stored it: unique id from the URL as typed."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Toy Account (fm.example.com)",
        unique_id=f"{unique_url or url}_1",
        data={**ENTRY_DATA, CONF_URL: url},
        version=1,
        minor_version=1,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("stored", "normalised"),
    [
        ("https://toy-user:secret-pw@FM.Example.com:443", "https://fm.example.com"),
        ("https://FM.Example.com/prefix", "https://fm.example.com/prefix"),
        ("http://fm.example.com:80", "http://fm.example.com"),
        (FM_URL, FM_URL),
    ],
)
async def test_old_entry_is_migrated_to_the_normalised_url_and_loads(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock, stored: str, normalised: str
) -> None:
    """URL and unique id are normalised, user info dropped; the entry loads."""
    fm_http.add_server(normalised)
    entry = _old_entry(stored)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert (entry.version, entry.minor_version) == (1, 2)
    assert entry.data == {**ENTRY_DATA, CONF_URL: normalised}
    assert entry.unique_id == f"{normalised}_1"
    assert entry.runtime_data.client.url == normalised
    assert "secret" not in str(entry.as_dict())


async def test_migrated_duplicates_keep_their_own_ids(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock
) -> None:
    """Two old entries of one login (URL spelled twice) both survive, secret-free."""
    fm_http.add_server("https://fm.example.com")
    first = _old_entry("https://fm.example.com")
    second = _old_entry("https://toy-user:secret-pw@FM.example.com")
    first.add_to_hass(hass)
    second.add_to_hass(hass)
    await hass.config_entries.async_setup(first.entry_id)
    await hass.async_block_till_done()

    assert first.state is ConfigEntryState.LOADED
    assert second.state is ConfigEntryState.LOADED
    assert first.unique_id == "https://fm.example.com_1"
    assert second.unique_id != first.unique_id
    assert second.data[CONF_URL] == "https://fm.example.com"
    assert "secret" not in str(second.as_dict())


@pytest.mark.parametrize(
    ("stored", "unique_id", "expected_url", "expected_id"),
    [
        # unusable URL: kept (setup says so) but without the user info
        (
            "ftp://toy-user:secret-pw@fm.example.com",
            "ftp://toy-user:secret-pw@fm.example.com_1",
            "ftp://fm.example.com",
            "ftp://fm.example.com_1",
        ),
        # a unique id not of the form <url>_<user id>: only user info removed
        (
            "https://toy-user:secret-pw@FM.example.com",
            "https://toy-user:secret-pw@FM.example.com",
            "https://fm.example.com",
            "https://FM.example.com",
        ),
        ("https://FM.example.com", None, "https://fm.example.com", None),
    ],
)
async def test_odd_old_entries_migrate_without_secrets(
    hass: HomeAssistant,
    stored: str,
    unique_id: str | None,
    expected_url: str,
    expected_id: str | None,
) -> None:
    """Odd stored URLs and unique ids: migrated as far as possible, secret-free."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=unique_id,
        data={**ENTRY_DATA, CONF_URL: stored},
        minor_version=1,
    )
    entry.add_to_hass(hass)
    with patch("custom_components.flexmeasures.async_setup_entry", return_value=False):
        await hass.config_entries.async_setup(entry.entry_id)
    assert entry.minor_version == 2
    assert entry.data[CONF_URL] == expected_url
    assert entry.unique_id == expected_id
    assert "secret" not in str(entry.as_dict())


async def test_entry_of_a_newer_major_version_is_not_touched(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock
) -> None:
    """An entry from a newer integration (downgrade) is left alone."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=f"{FM_URL}_1", data=ENTRY_DATA, version=2
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.data == ENTRY_DATA


async def test_unusable_stored_url_is_a_clear_setup_error(
    hass: HomeAssistant, fm_http: FlexMeasuresHTTPMock, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored URL that cannot be used fails setup with a message, no raw error."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="x_1",
        data={**ENTRY_DATA, CONF_URL: "ftp://toy-user:secret-pw@fm.example.com"},
        minor_version=2,
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "not a usable" in entry.reason
    assert "homeassistant.exceptions.ConfigEntryError" in caplog.text
    assert "secret" not in caplog.text
