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

from .api import Schedule
from .coordinator import ScheduleCoordinator
from .data import FlexMeasuresConfigEntry
from .exceptions import ScheduleRequestError
from .schedule import schedule_end, schedule_start
from .site_coordinator import SiteCoordinator

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
        "sites": {
            subentry_id: site_diagnostics(site)
            for subentry_id, site in runtime.sites.items()
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
    return {
        "subentry_id": coordinator.subentry_id,
        "title": coordinator.subentry.title,
        "site": None if coordinator.site is None else coordinator.site.subentry_id,
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
            "asset_power_capacity": coordinator.job.asset_power_capacity,
            "duration_hours": settings.duration / timedelta(hours=1),
            "update_interval_minutes": settings.update_interval / timedelta(minutes=1),
        },
        "last_update_success": coordinator.last_update_success,
        "stale": coordinator.stale,
        "last_success": _iso(coordinator.last_success),
        "last_error": _error(coordinator.last_error),
        "last_error_time": _iso(coordinator.last_error_time),
        "failure_reason": coordinator.failure_reason,
        "job_id": coordinator.job_id,
        "soc_targets": [target.as_flex_model() for target in coordinator.soc_targets],
        "consumption_price": coordinator.prices.diagnostics(),
        "schedule": _plan(schedule, coordinator.covers_now()),
    }


def site_diagnostics(site: SiteCoordinator) -> dict[str, Any]:
    """What diagnostics show about a site device: its settings, devices and plan."""
    settings = site.settings
    return {
        "subentry_id": site.subentry_id,
        "title": site.subentry.title,
        "settings": {
            "asset_id": settings.asset_id,
            "device_sensor_ids": list(settings.device_sensor_ids),
            "site_power_capacity": settings.site_power_capacity,
            "asset_site_power_capacity": site.job.asset_capacity,
            "consumption_price_sensor_id": settings.consumption_price_sensor_id,
            "production_price_sensor_id": settings.production_price_sensor_id,
            "duration_hours": settings.duration / timedelta(hours=1),
            "update_interval_minutes": settings.update_interval / timedelta(minutes=1),
        },
        # the schedule devices it plans (a device named by an earlier site, or
        # without a schedule sub-entry, is not among them)
        "members": [member.subentry_id for member in site.members],
        "last_update_success": site.last_update_success,
        "stale": site.stale,
        "last_success": _iso(site.last_success),
        "last_error": _error(site.last_error),
        "last_error_time": _iso(site.last_error_time),
        "failure_reason": site.failure_reason,
        "job_id": site.job_id,
        "consumption_price": site.prices.diagnostics(),
        "plan": _plan(site.total, site.covers_now()),
    }


def _error(error: ScheduleRequestError | None) -> str | None:
    """A kept error: its key and placeholders (scrubbed later)."""
    if error is None:
        return None
    return f"{error.translation_key}: " + ", ".join(
        f"{key}={value}" for key, value in sorted(error.placeholders.items())
    )


def _plan(schedule: Schedule | None, covers_now: bool) -> dict[str, Any] | None:
    """A kept schedule (a device's, or a site's sum), without its values."""
    if schedule is None:
        return None
    return {
        "job_id": schedule.job_id,
        "start": schedule_start(schedule).isoformat(),
        "end": schedule_end(schedule).isoformat(),
        "resolution_seconds": schedule.resolution.total_seconds(),
        "steps": len(schedule.values),
        "unit": schedule.unit,
        "covers_now": covers_now,
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
