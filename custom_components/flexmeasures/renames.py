"""Measurement mappings follow their entity through the entity registry.

A mapping names its entity by entity id. When a user changes that id in Home
Assistant's entity settings, the registry says so (`EVENT_ENTITY_REGISTRY_UPDATED`,
action "update" with "old_entity_id"): the forwarder moves the mapping to the
new id at once (its open step goes on), and the measurement sub-entry is saved
with the new id (and the unique id made of it), so a restart follows it too.
That save does not reload the entry (`EntityFollower.only_followed`).

An entity removed from the registry raises a repair issue (kept across
restarts) and a warning; the mapping waits (its steps are gaps) and goes on
when an entity of that id is back, which withdraws the issue.

A schedule follows its state of charge entity the same way
(`async_follow_soc_entities`): its sub-entry is saved with the new id, and that
save reloads the entry (the coordinators read the entity by id), so the next
job reads the renamed entity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, issue_registry as ir

from .const import (
    CONF_ENTITY_ID,
    CONF_SENSOR,
    CONF_SOC_ENTITY,
    DOMAIN,
    LOGGER,
    SUBENTRY_TYPE_MEASUREMENT,
    SUBENTRY_TYPE_SCHEDULE,
)
from .issues import ENTITY_REMOVED
from .outbox import MeasurementMapping

# (subentry id, new entity id): a forwarded mapping's entity is now that id.
type Moved = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class Followed:
    """One measurement whose entity is followed."""

    subentry_id: str
    entity_id: str
    sensor_id: str


def followed(
    entry: ConfigEntry, mappings: Iterable[MeasurementMapping]
) -> list[Followed]:
    """The forwarded mappings, and the entry's other measurement sub-entries.

    A sub-entry that is not forwarded (its sensor did not answer) is followed
    too: its entity is renamed in its sub-entry all the same.
    """
    found = {
        mapping.subentry_id: Followed(
            mapping.subentry_id, mapping.entity_id, str(mapping.sensor.id)
        )
        for mapping in mappings
    }
    for subentry in entry.subentries.values():
        if (
            subentry.subentry_type == SUBENTRY_TYPE_MEASUREMENT
            and subentry.subentry_id not in found
            and isinstance(entity_id := subentry.data.get(CONF_ENTITY_ID), str)
        ):
            found[subentry.subentry_id] = Followed(
                subentry.subentry_id, entity_id, str(subentry.data.get(CONF_SENSOR))
            )
    return list(found.values())


def entry_signature(
    entry: ConfigEntry,
    replace: Mapping[str, tuple[Mapping[str, Any], str | None]] | None = None,
) -> tuple[Any, ...]:
    """What a change of would reload the entry (`replace`: sub-entries as saved)."""
    replace = replace or {}
    subentries = {}
    for subentry_id, subentry in entry.subentries.items():
        data, unique_id = replace.get(subentry_id, (subentry.data, subentry.unique_id))
        subentries[subentry_id] = (
            subentry.subentry_type,
            subentry.title,
            unique_id,
            dict(data),
        )
    return (
        entry.title,
        entry.unique_id,
        entry.version,
        entry.minor_version,
        dict(entry.data),
        dict(entry.options),
        entry.pref_disable_new_entities,
        entry.pref_disable_polling,
        subentries,
    )


class EntityFollower:
    """Follows the entities of one entry's measurements through the registry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        mappings: Callable[[], Iterable[MeasurementMapping]],
        moved: Moved,
    ) -> None:
        """Nothing is followed until `async_start`."""
        self._hass = hass
        self._entry = entry
        self._mappings = mappings
        self._moved = moved
        self._as_loaded = entry_signature(entry)

    def _followed(self) -> list[Followed]:
        return followed(self._entry, self._mappings())

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Listen to the entity registry; withdraw issues of entities that are back."""
        registry = er.async_get(self._hass)
        issues = ir.async_get(self._hass)
        for item in self._followed():
            issue = issues.async_get_issue(
                DOMAIN, ENTITY_REMOVED.issue_id(item.subentry_id)
            )
            if issue is None:
                continue
            named = (issue.translation_placeholders or {}).get("entity_id")
            # back, or the measurement names another entity now (maybe one
            # the registry does not hold: a state without a unique id)
            if (
                registry.async_get(item.entity_id) is not None
                or named != item.entity_id
            ):
                ENTITY_REMOVED.async_clear(self._hass, item.subentry_id)
        return self._hass.bus.async_listen(
            er.EVENT_ENTITY_REGISTRY_UPDATED,
            self._async_on_registry_updated,
            event_filter=self._async_concerns_us,
        )

    def only_followed(self, entry: ConfigEntry) -> bool:
        """Whether the entry is as loaded, but for the entity ids followed."""
        return entry_signature(entry) == self._as_loaded

    @callback
    def _async_concerns_us(self, data: er.EventEntityRegistryUpdatedData) -> bool:
        ids = {item.entity_id for item in self._followed()}
        if data["action"] == "update":
            return data.get("old_entity_id") in ids or data["entity_id"] in ids
        return data["entity_id"] in ids

    @callback
    def _async_on_registry_updated(
        self, event: Event[er.EventEntityRegistryUpdatedData]
    ) -> None:
        data = event.data
        entity_id = data["entity_id"]
        if data["action"] == "update":
            if (old := data.get("old_entity_id")) is not None:
                self._renamed(old, entity_id)
            else:
                return
        for item in self._followed():
            if item.entity_id != entity_id:
                continue
            if data["action"] == "remove":
                LOGGER.warning(
                    "%s was removed from Home Assistant: nothing is sent to "
                    "FlexMeasures sensor %s until an entity with that id is back",
                    entity_id,
                    item.sensor_id,
                )
                ENTITY_REMOVED.async_raise(
                    self._hass,
                    item.subentry_id,
                    {"entity_id": entity_id, "sensor_id": item.sensor_id},
                )
            else:  # created, or another entity renamed to it: it is back
                ENTITY_REMOVED.async_clear(self._hass, item.subentry_id)

    def _renamed(self, old: str, new: str) -> None:
        for item in self._followed():
            if item.entity_id != old:
                continue
            LOGGER.info(
                "%s is now %s: its measurements go on to FlexMeasures sensor %s",
                old,
                new,
                item.sensor_id,
            )
            self._moved(item.subentry_id, new)
            self._save(item.subentry_id, old, new)

    def _save(self, subentry_id: str, old: str, new: str) -> None:
        """Save the new entity id in the sub-entry, without reloading the entry."""
        entry = self._entry
        subentry = entry.subentries.get(subentry_id)
        if subentry is None or subentry.data.get(CONF_ENTITY_ID) != old:
            return
        data = {**subentry.data, CONF_ENTITY_ID: new}
        unique_id = subentry.unique_id
        sensor = subentry.data.get(CONF_SENSOR)
        if unique_id == f"{old}_{sensor}" and not any(
            other.unique_id == f"{new}_{sensor}" for other in entry.subentries.values()
        ):
            unique_id = f"{new}_{sensor}"
        if entry_signature(entry) == self._as_loaded:
            # nothing else changed meanwhile: this change alone reloads nothing
            self._as_loaded = entry_signature(entry, {subentry_id: (data, unique_id)})
        self._hass.config_entries.async_update_subentry(
            entry, subentry, data=data, unique_id=unique_id
        )


@callback
def async_follow_soc_entities(hass: HomeAssistant, entry: ConfigEntry) -> CALLBACK_TYPE:
    """Save a renamed state of charge entity in its schedules (the entry reloads)."""

    def followers(old: str | None) -> list[ConfigSubentry]:
        return [
            subentry
            for subentry in entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_TYPE_SCHEDULE
            and old is not None
            and subentry.data.get(CONF_SOC_ENTITY) == old
        ]

    def renamed_from(data: er.EventEntityRegistryUpdatedData) -> str | None:
        """The id an update renamed an entity from (None: not a rename)."""
        return data.get("old_entity_id") if data["action"] == "update" else None

    @callback
    def concerns_us(data: er.EventEntityRegistryUpdatedData) -> bool:
        return bool(followers(renamed_from(data)))

    @callback
    def renamed(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        old, new = renamed_from(event.data), event.data["entity_id"]
        for subentry in followers(old):
            LOGGER.info("%s is now %s: schedule %s reads it", old, new, subentry.title)
            hass.config_entries.async_update_subentry(
                entry, subentry, data={**subentry.data, CONF_SOC_ENTITY: new}
            )

    return hass.bus.async_listen(
        er.EVENT_ENTITY_REGISTRY_UPDATED, renamed, event_filter=concerns_us
    )
