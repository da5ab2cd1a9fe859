"""Diagnostics for a FlexMeasures config entry (credentials redacted)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import (
    CONF_ACCESS_TOKEN,
    CONF_EMAIL,
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_URL,
)
from homeassistant.core import HomeAssistant

from .data import FlexMeasuresConfigEntry

TO_REDACT = {
    CONF_ACCESS_TOKEN,
    CONF_EMAIL,
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_URL,
    "auth_token",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    runtime = entry.runtime_data
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "subentries": [
                {
                    "subentry_type": subentry.subentry_type,
                    "data": async_redact_data(dict(subentry.data), TO_REDACT),
                }
                for subentry in entry.subentries.values()
            ],
        },
        "server": {
            "version": runtime.server_info.version,
            "api_versions": list(runtime.server_info.api_versions),
        },
        "account": {"id": runtime.account.id, "name": runtime.account.name},
        "user": {"id": runtime.user.id, "account_id": runtime.user.account_id},
        "coordinators": {
            subentry_id: coordinator.as_diagnostics()
            for subentry_id, coordinator in runtime.coordinators.items()
        },
        "forwarder": (
            runtime.forwarder.as_diagnostics() if runtime.forwarder else None
        ),
    }
