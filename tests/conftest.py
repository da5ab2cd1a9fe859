"""Fixtures for FlexMeasures tests."""

from __future__ import annotations

import importlib.metadata
import re

from homeassistant.const import CONF_EMAIL, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from syrupy.assertion import SnapshotAssertion

# Import the project's package first, so Home Assistant's test config dir does not
# shadow it with its own custom_components.
import custom_components.flexmeasures  # noqa: F401
from custom_components.flexmeasures.const import DOMAIN

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
# Bodies as the real FlexMeasures 1.0.1 answered (see the reference answers).

FM_URL = "http://127.0.0.1:5000"
FM_EMAIL = "toy-user@flexmeasures.io"
FM_PASSWORD = "toy-password"
FM_TOKEN = "eyJ2ZXIiOiI1IiwidWlkIjoiZmFrZS10b2tlbiJ9.fake.SECRET-TOKEN"
JSON_HEADERS = {"Content-Type": "application/json", "FlexMeasures-Version": "1.0.1"}


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
        email: str = FM_EMAIL,
        user_id: int = 1,
        account_id: int = 1,
        account_name: str = "Toy Account",
        versions: tuple[str, ...] = ("v3_0",),
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
                "flexmeasures_version": "1.0.1",
                "message": "For these API versions a public endpoint is available.",
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
                    "errors": ["User password does not match."],
                    "status": login_status,
                },
            )
        self.mocker.get(
            f"{base}/api/v3_0/users/{user_id}",
            headers={**JSON_HEADERS, "API-Version": "v3_0"},
            json={
                "account_id": account_id,
                "active": True,
                "email": email,
                "flexmeasures_roles": [1],
                "id": user_id,
                "last_login_at": None,
                "last_seen_at": "2026-11-22T05:26:32.422028",
                "status": 200,
                "timezone": "Europe/Amsterdam",
                "username": email.split("@", 1)[0],
            },
        )
        self.mocker.get(
            f"{base}/api/v3_0/accounts/{account_id}",
            headers={**JSON_HEADERS, "API-Version": "v3_0"},
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
def mock_config_entry() -> MockConfigEntry:
    """A config entry for the demo account on FM_URL."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Toy Account (127.0.0.1:5000)",
        unique_id=f"{FM_URL}_1",
        data={
            CONF_URL: FM_URL,
            CONF_EMAIL: FM_EMAIL,
            CONF_PASSWORD: FM_PASSWORD,
            CONF_VERIFY_SSL: True,
        },
        entry_id="01JFLEXMEASURESTOYACCOUNT0",
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant,
    fm_http: FlexMeasuresHTTPMock,
    mock_config_entry: MockConfigEntry,
) -> MockConfigEntry:
    """The demo account's entry, set up and loaded."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry
