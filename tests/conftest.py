"""Fixtures for FlexMeasures tests."""

from __future__ import annotations

import importlib.metadata

import pytest

# Import the project's package first, so Home Assistant's test config dir does not
# shadow it with its own custom_components.
import custom_components.flexmeasures  # noqa: F401


def pytest_report_header() -> str:
    """Say which Home Assistant the tests run against."""
    return f"homeassistant: {importlib.metadata.version('homeassistant')}"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom integrations in every test."""
