"""Repair issues the integration raises and resolves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN


@dataclass(frozen=True, slots=True)
class Issue:
    """A kind of repair issue, one per owner (an entry or sub-entry id)."""

    # the translation key, and the start of each owner's issue id
    key: str
    # kept across restarts (nothing else would raise it again)
    is_persistent: bool = False

    def issue_id(self, owner: str) -> str:
        """The id of the owner's issue of this kind."""
        return f"{self.key}_{owner}"

    @callback
    def async_raise(
        self, hass: HomeAssistant, owner: str, placeholders: dict[str, str]
    ) -> None:
        """Raise (or update) the owner's issue."""
        ir.async_create_issue(
            hass,
            DOMAIN,
            self.issue_id(owner),
            is_fixable=False,
            is_persistent=self.is_persistent,
            severity=ir.IssueSeverity.WARNING,
            translation_key=self.key,
            translation_placeholders=placeholders,
        )

    @callback
    def async_clear(self, hass: HomeAssistant, owner: str) -> None:
        """Withdraw the owner's issue (none raised: nothing happens)."""
        ir.async_delete_issue(hass, DOMAIN, self.issue_id(owner))


# FlexMeasures could not compute a schedule (e.g. infeasible): tell why.
SCHEDULE_FAILED: Final = Issue("schedule_failed")
# The server refused a measurement's values for good.
MEASUREMENTS_REJECTED: Final = Issue("measurements_rejected")
# A measurement's entity was removed from Home Assistant.
ENTITY_REMOVED: Final = Issue("measurement_entity_removed", is_persistent=True)
# The server has not answered for longer than the plans reach (per account).
SERVER_UNREACHABLE: Final = Issue("server_unreachable")

_SUBENTRY_ISSUES: Final = frozenset(
    issue.key for issue in (SCHEDULE_FAILED, MEASUREMENTS_REJECTED, ENTITY_REMOVED)
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
