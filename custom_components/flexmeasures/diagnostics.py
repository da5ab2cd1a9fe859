"""Diagnostics for a FlexMeasures config entry (credentials redacted everywhere)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import (
    CONF_ACCESS_TOKEN,
    CONF_EMAIL,
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_URL,
)
from homeassistant.core import HomeAssistant

from .coordinator import ScheduleCoordinator
from .data import FlexMeasuresConfigEntry
from .schedule import schedule_end, schedule_start

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
    diagnostics = {
        "entry": {
            "data": dict(entry.data),
            "subentries": [
                {"subentry_type": subentry.subentry_type, "data": dict(subentry.data)}
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
            subentry_id: schedule_diagnostics(coordinator)
            for subentry_id, coordinator in runtime.coordinators.items()
        },
        "forwarder": (
            runtime.forwarder.as_diagnostics() if runtime.forwarder else None
        ),
        "connection": {
            "connected": runtime.connection.connected,
            "disconnected_since": _iso(runtime.connection.disconnected_since),
        },
    }
    # What entry.data redacts and can come back as text (in an error, a URL):
    # the URL and the email. Not the password: it is never sent anywhere else,
    # and scrubbing it as text would show it ("Home **REDACTED**").
    secrets = [
        str(value)
        for key in (CONF_URL, CONF_EMAIL)
        if isinstance(value := entry.data.get(key), str) and value
    ]
    scrubbed: dict[str, Any] = _scrub(
        async_redact_data(diagnostics, TO_REDACT), secrets
    )
    return scrubbed


def schedule_diagnostics(coordinator: ScheduleCoordinator) -> dict[str, Any]:
    """What diagnostics show about a schedule device."""
    settings = coordinator.settings
    schedule = coordinator.data
    error = coordinator.last_error
    return {
        "subentry_id": coordinator.subentry_id,
        "title": coordinator.subentry.title,
        "settings": {
            "power_sensor_id": settings.power_sensor_id,
            "consumption_price_sensor_id": settings.consumption_price_sensor_id,
            "production_price_sensor_id": settings.production_price_sensor_id,
            "soc_entity": settings.soc_entity,
            "capacity": settings.capacity,
            "soc_min": settings.soc_min,
            "soc_max": settings.soc_max,
            "roundtrip_efficiency": settings.roundtrip_efficiency,
            "power_capacity": settings.power_capacity,
            "duration_hours": settings.duration / timedelta(hours=1),
            "update_interval_minutes": settings.update_interval / timedelta(minutes=1),
        },
        "last_update_success": coordinator.last_update_success,
        "stale": coordinator.stale,
        "last_success": _iso(coordinator.last_success),
        "last_error": None
        if error is None
        else f"{error.translation_key}: "
        + ", ".join(
            f"{key}={value}" for key, value in sorted(error.placeholders.items())
        ),
        "last_error_time": _iso(coordinator.last_error_time),
        "failure_reason": coordinator.failure_reason,
        "job_id": coordinator.job_id,
        "soc_targets": [target.as_flex_model() for target in coordinator.soc_targets],
        "consumption_price": coordinator.prices.diagnostics(),
        "schedule": None
        if schedule is None
        else {
            "job_id": schedule.job_id,
            "start": schedule_start(schedule).isoformat(),
            "end": schedule_end(schedule).isoformat(),
            "resolution_seconds": schedule.resolution.total_seconds(),
            "steps": len(schedule.values),
            "unit": schedule.unit,
            "covers_now": coordinator.covers_now(),
        },
    }


def _scrub(value: Any, secrets: list[str]) -> Any:
    """Replace what `entry.data` redacts wherever else it appears (e.g. errors)."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, secrets) for item in value]
    return value


def _iso(when: datetime | None) -> str | None:
    """An optional datetime as ISO 8601."""
    return None if when is None else when.isoformat()
