"""Repair issues the integration raises and resolves."""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

ISSUE_SCHEDULE_FAILED: Final = "schedule_failed"
ISSUE_MEASUREMENTS_REJECTED: Final = "measurements_rejected"


def schedule_failed_issue_id(subentry_id: str) -> str:
    """The id of a schedule device's `schedule_failed` issue."""
    return f"{ISSUE_SCHEDULE_FAILED}_{subentry_id}"


def measurements_rejected_issue_id(subentry_id: str) -> str:
    """The id of a measurement's `measurements_rejected` issue."""
    return f"{ISSUE_MEASUREMENTS_REJECTED}_{subentry_id}"


@callback
def _async_raise(
    hass: HomeAssistant,
    issue_id: str,
    key: str,
    placeholders: dict[str, str],
    *,
    is_persistent: bool = False,
) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        is_persistent=is_persistent,
        severity=ir.IssueSeverity.WARNING,
        translation_key=key,
        translation_placeholders=placeholders,
    )


@callback
def async_raise_schedule_failed(
    hass: HomeAssistant, subentry_id: str, device: str, reason: str
) -> None:
    """FlexMeasures could not compute a schedule (e.g. infeasible): tell why."""
    _async_raise(
        hass,
        schedule_failed_issue_id(subentry_id),
        ISSUE_SCHEDULE_FAILED,
        {"device": device, "reason": reason},
    )


@callback
def async_clear_schedule_failed(hass: HomeAssistant, subentry_id: str) -> None:
    """A schedule was computed again."""
    ir.async_delete_issue(hass, DOMAIN, schedule_failed_issue_id(subentry_id))


@callback
def async_raise_measurements_rejected(
    hass: HomeAssistant, subentry_id: str, placeholders: dict[str, str]
) -> None:
    """The server refused a measurement's values for good."""
    _async_raise(
        hass,
        measurements_rejected_issue_id(subentry_id),
        ISSUE_MEASUREMENTS_REJECTED,
        placeholders,
    )


@callback
def async_clear_measurements_rejected(hass: HomeAssistant, subentry_id: str) -> None:
    """A measurement's values are accepted again."""
    ir.async_delete_issue(hass, DOMAIN, measurements_rejected_issue_id(subentry_id))


ISSUE_ENTITY_REMOVED: Final = "measurement_entity_removed"


def entity_removed_issue_id(subentry_id: str) -> str:
    """The id of a measurement's `measurement_entity_removed` issue."""
    return f"{ISSUE_ENTITY_REMOVED}_{subentry_id}"


@callback
def async_raise_entity_removed(
    hass: HomeAssistant, subentry_id: str, placeholders: dict[str, str]
) -> None:
    """A measurement's entity was removed from Home Assistant.

    Kept across restarts: nothing else would say it again.
    """
    _async_raise(
        hass,
        entity_removed_issue_id(subentry_id),
        ISSUE_ENTITY_REMOVED,
        placeholders,
        is_persistent=True,
    )


@callback
def async_clear_entity_removed(hass: HomeAssistant, subentry_id: str) -> None:
    """A measurement's entity is back (or the measurement names another)."""
    ir.async_delete_issue(hass, DOMAIN, entity_removed_issue_id(subentry_id))


ISSUE_SERVER_UNREACHABLE: Final = "server_unreachable"


def server_unreachable_issue_id(entry_id: str) -> str:
    """The id of an account's `server_unreachable` issue."""
    return f"{ISSUE_SERVER_UNREACHABLE}_{entry_id}"


@callback
def async_raise_server_unreachable(
    hass: HomeAssistant, entry_id: str, placeholders: dict[str, str]
) -> None:
    """The server has not answered for longer than the plans reach."""
    _async_raise(
        hass,
        server_unreachable_issue_id(entry_id),
        ISSUE_SERVER_UNREACHABLE,
        placeholders,
    )


@callback
def async_clear_server_unreachable(hass: HomeAssistant, entry_id: str) -> None:
    """The server answers again."""
    ir.async_delete_issue(hass, DOMAIN, server_unreachable_issue_id(entry_id))


_SUBENTRY_ISSUES: Final = (
    ISSUE_SCHEDULE_FAILED,
    ISSUE_MEASUREMENTS_REJECTED,
    ISSUE_ENTITY_REMOVED,
)


@callback
def async_clear_issues_of(hass: HomeAssistant, ids: set[str]) -> None:
    """Withdraw the issues about these entries or sub-entries (they are gone)."""
    registry = ir.async_get(hass)
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN and issue_id.rpartition("_")[2] in ids:
            ir.async_delete_issue(hass, DOMAIN, issue_id)


@callback
def async_clear_orphaned_issues(hass: HomeAssistant) -> None:
    """Withdraw sub-entry issues whose sub-entry no longer exists in any entry."""
    known = {
        subentry_id
        for entry in hass.config_entries.async_entries(DOMAIN)
        for subentry_id in entry.subentries
    }
    registry = ir.async_get(hass)
    for domain, issue_id in list(registry.issues):
        prefix, _, owner = issue_id.rpartition("_")
        if domain == DOMAIN and prefix in _SUBENTRY_ISSUES and owner not in known:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
