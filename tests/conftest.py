"""Fixtures for FlexMeasures tests."""

from __future__ import annotations

import importlib.metadata
import re

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from syrupy.assertion import SnapshotAssertion

# Import the project's package first, so Home Assistant's test config dir does not
# shadow it with its own custom_components.
import custom_components.flexmeasures  # noqa: F401

from .common import mock_account_entry, setup_integration
from .const import (
    API_ROOT_MESSAGE,
    API_VERSION,
    ENTRY_ID,
    FM_TOKEN,
    FM_URL,
    FM_VERSION,
    TOY_ACCOUNT_ID,
    TOY_ACCOUNT_NAME,
    TOY_EMAIL,
    TOY_TIMEZONE,
    TOY_USER_ID,
    WRONG_PASSWORD_ERROR,
)

# The fake FlexMeasures server and its fixtures (fake_fm, fm_client, fm_session).
pytest_plugins = ["tests.fake_flexmeasures", "tests.schedule_setup"]


def pytest_report_header() -> str:
    """Say which Home Assistant the tests run against."""
    return f"homeassistant: {importlib.metadata.version('homeassistant')}"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom integrations in every test."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots as Home Assistant core takes them (tests/snapshots/*.ambr).

    Serializes states and registry entries without volatile ids and times.
    """
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


# --- A FlexMeasures account answered at the HTTP boundary (aioclient_mock) ---------
# Bodies as the real FlexMeasures 1.0.1 answered.

JSON_HEADERS = {"Content-Type": "application/json", "FlexMeasures-Version": FM_VERSION}


class FlexMeasuresHTTPMock:
    """Register a FlexMeasures server's answers on HA's mocked aiohttp client."""

    def __init__(self, aioclient_mock: AiohttpClientMocker) -> None:
        """Wrap the mocker."""
        self.mocker = aioclient_mock

    def clear(self) -> None:
        """Forget every registered answer (and the recorded calls)."""
        self.mocker.clear_requests()

    def add_server(
        self,
        url: str = FM_URL,
        *,
        email: str = TOY_EMAIL,
        user_id: int = TOY_USER_ID,
        account_id: int = TOY_ACCOUNT_ID,
        account_name: str = TOY_ACCOUNT_NAME,
        versions: tuple[str, ...] = (API_VERSION,),
        login_status: int = 200,
        exc: Exception | None = None,
        token: str = FM_TOKEN,
    ) -> None:
        """Answer the requests of a login and of reading the user and account.

        `exc` makes every request fail with that exception (e.g. a refused
        connection); `login_status` 401 answers as a wrong password does.
        """
        base = url.rstrip("/")
        if exc is not None:
            for method in ("get", "post"):
                self.mocker.request(
                    method, re.compile("^" + re.escape(base) + "/.*"), exc=exc
                )
            return
        self.mocker.get(
            f"{base}/api/",
            headers=JSON_HEADERS,
            json={
                "flexmeasures_version": FM_VERSION,
                "message": API_ROOT_MESSAGE,
                "status": 200,
                "versions": list(versions),
            },
        )
        if login_status == 200:
            self.mocker.post(
                f"{base}/api/requestAuthToken",
                headers=JSON_HEADERS,
                json={"auth_token": token, "status": 200, "user_id": user_id},
            )
        else:
            self.mocker.post(
                f"{base}/api/requestAuthToken",
                status=login_status,
                headers=JSON_HEADERS,
                json={
                    "errors": [WRONG_PASSWORD_ERROR],
                    "status": login_status,
                },
            )
        self.mocker.get(
            f"{base}/api/{API_VERSION}/users/{user_id}",
            headers={**JSON_HEADERS, "API-Version": API_VERSION},
            json={
                "account_id": account_id,
                "active": True,
                "email": email,
                "flexmeasures_roles": [1],
                "id": user_id,
                "last_login_at": None,
                "last_seen_at": "2026-11-22T05:26:32.422028",
                "status": 200,
                "timezone": TOY_TIMEZONE,
                "username": email.split("@", 1)[0],
            },
        )
        self.mocker.get(
            f"{base}/api/{API_VERSION}/accounts/{account_id}",
            headers={**JSON_HEADERS, "API-Version": API_VERSION},
            json={
                "account_roles": [],
                "attributes": "{}",
                "consultancy_account_id": None,
                "id": account_id,
                "logo_url": None,
                "name": account_name,
                "plan_id": None,
                "primary_color": None,
                "secondary_color": None,
            },
        )


@pytest.fixture
def fm_http(aioclient_mock: AiohttpClientMocker) -> FlexMeasuresHTTPMock:
    """The demo FlexMeasures server on FM_URL, answered at the HTTP boundary."""
    mock = FlexMeasuresHTTPMock(aioclient_mock)
    mock.add_server()
    return mock


@pytest.fixture
def fm_url() -> str:
    """The server of `mock_config_entry` (a module on the fake server overrides it)."""
    return FM_URL


@pytest.fixture
def subentries_data() -> list[ConfigSubentryData]:
    """The subentries of `mock_config_entry` (none; override for devices)."""
    return []


@pytest.fixture
def mock_config_entry(
    fm_url: str, subentries_data: list[ConfigSubentryData]
) -> MockConfigEntry:
    """The toy account's entry on `fm_url`, with `subentries_data`."""
    return mock_account_entry(
        fm_url, subentries_data=subentries_data, entry_id=ENTRY_ID
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
) -> MockConfigEntry:
    """The demo account's entry, set up and loaded."""
    await setup_integration(hass, mock_config_entry)
    return mock_config_entry
