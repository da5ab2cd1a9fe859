"""Sub-entries follow their entities through the entity registry, loaded or not.

Sub-entries name entities by entity id. When a user changes that id in Home
Assistant's entity settings, the registry says so (`EVENT_ENTITY_REGISTRY_UPDATED`,
action "update" with "old_entity_id"). One listener for the whole integration
(`async_follow_entities`, from `async_setup`) saves the new id in every entry,
whatever its state, so a reload, a restart or a later start reads it:

- a measurement sub-entry gets the new id (and the unique id made of it). A
  loaded entry is not reloaded for it: its forwarder moves the mapping itself
  (its open step goes on), and `FlexMeasuresData.loaded_as` takes the change in;
- a schedule's state of charge entity gets the new id, and the entry reloads
  (the coordinators read the entity by id);
- an entry that is not loaded just gets the new ids: what sets it up reads
  them. One setting up (a reload's set-up) may have read the old id already,
  and has no update listener yet: it reloads once it is set up, as for any
  change made during its set-up (`async_reload_if_changed`);
- a loaded entry's saves are made with its update listener held, and it
  reloads once after them, when it differs from what was set up.

An entity removed from the registry raises a repair issue (kept across
restarts) and a warning for each measurement of an entry that is not
disabled; its steps are gaps, and the measurement goes on when an entity of
that id is back, which withdraws the issue (also at the start:
`async_clear_returned`).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
import contextlib
from typing import Any, Final

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentry,
    UnknownEntry,
)
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
from .data import FlexMeasuresConfigEntry
from .issues import ENTITY_REMOVED

# where a sub-entry names an entity: its type, and the key of its data
type Naming = tuple[str, str]
MEASURED: Final[Naming] = (SUBENTRY_TYPE_MEASUREMENT, CONF_ENTITY_ID)
SOC: Final[Naming] = (SUBENTRY_TYPE_SCHEDULE, CONF_SOC_ENTITY)


def naming(entry: ConfigEntry, entity_id: str, where: Naming) -> list[ConfigSubentry]:
    """The entry's sub-entries that name `entity_id` there (MEASURED, SOC)."""
    subentry_type, key = where
    return [
        subentry
        for subentry in entry.subentries.values()
        if subentry.subentry_type == subentry_type
        and subentry.data.get(key) == entity_id
    ]


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


def renamed_from(data: er.EventEntityRegistryUpdatedData) -> str | None:
    """The id an update renamed an entity from (None: not a rename)."""
    return data.get("old_entity_id") if data["action"] == "update" else None


@callback
def async_track_renames(
    hass: HomeAssistant,
    entity_ids: Callable[[], Container[str]],
    renamed: Callable[[str, str], None],
) -> CALLBACK_TYPE:
    """Call `renamed(old, new)` when one of `entity_ids()` (as they are now) is."""

    @callback
    def concerns_us(data: er.EventEntityRegistryUpdatedData) -> bool:
        return renamed_from(data) in entity_ids()

    @callback
    def updated(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        if (old := renamed_from(event.data)) is not None:
            renamed(old, event.data["entity_id"])

    return hass.bus.async_listen(
        er.EVENT_ENTITY_REGISTRY_UPDATED, updated, event_filter=concerns_us
    )


@callback
def async_follow_entities(hass: HomeAssistant) -> CALLBACK_TYPE:
    """Follow renamed and removed entities in every FlexMeasures entry."""

    def named(data: er.EventEntityRegistryUpdatedData) -> list[str]:
        """The ids an update is about (an update that renames nothing: none)."""
        if data["action"] != "update":
            return [data["entity_id"]]
        old = renamed_from(data)
        return [] if old is None else [old, data["entity_id"]]

    @callback
    def concerns_us(data: er.EventEntityRegistryUpdatedData) -> bool:
        return any(
            naming(entry, entity_id, MEASURED) or naming(entry, entity_id, SOC)
            for entry in hass.config_entries.async_entries(DOMAIN)
            for entity_id in named(data)
        )

    @callback
    def updated(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        data = event.data
        entity_id = data["entity_id"]
        for entry in hass.config_entries.async_entries(DOMAIN):
            if (old := renamed_from(data)) is not None:
                _async_renamed(hass, entry, old, entity_id)
            if entry.disabled_by is not None:
                continue  # its issues are looked at when it starts
            if data["action"] == "remove":
                _async_removed(hass, entry, entity_id)
            else:  # created, or another entity renamed to it: it is back
                for subentry in naming(entry, entity_id, MEASURED):
                    ENTITY_REMOVED.async_clear(hass, subentry.subentry_id)

    return hass.bus.async_listen(
        er.EVENT_ENTITY_REGISTRY_UPDATED, updated, event_filter=concerns_us
    )


@callback
def _async_renamed(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry, old: str, new: str
) -> None:
    """Save `new` where the entry names `old` (the schedules' change reloads).

    A save's update listener runs at once, and its reload may run into the
    next set-up at once: for a loaded entry the listener is held while all is
    saved, and the entry reloads once after, when it differs from what was
    set up.
    """
    changes: list[tuple[ConfigSubentry, dict[str, Any], str | None, bool]] = []
    for subentry in naming(entry, old, MEASURED):
        sensor = subentry.data.get(CONF_SENSOR)
        LOGGER.info(
            "%s is now %s: its measurements go on to FlexMeasures sensor %s",
            old,
            new,
            sensor,
        )
        unique_id = subentry.unique_id
        if unique_id == f"{old}_{sensor}" and not any(
            other.unique_id == f"{new}_{sensor}" for other in entry.subentries.values()
        ):
            unique_id = f"{new}_{sensor}"
        changes.append(
            (subentry, {**subentry.data, CONF_ENTITY_ID: new}, unique_id, True)
        )
    for subentry in naming(entry, old, SOC):
        LOGGER.info("%s is now %s: schedule %s reads it", old, new, subentry.title)
        data = {**subentry.data, CONF_SOC_ENTITY: new}
        changes.append((subentry, data, subentry.unique_id, False))
    if not changes:
        return
    if entry.state is not ConfigEntryState.LOADED:
        # what sets it up reads the new ids (one setting up now reloads
        # when it is done: async_reload_if_changed)
        for subentry, data, unique_id, _followed in changes:
            hass.config_entries.async_update_subentry(
                entry, subentry, data=data, unique_id=unique_id
            )
        return
    runtime = entry.runtime_data
    coming = runtime.reloading  # a reload that comes reads it all
    runtime.reloading = True  # the update listener leaves the saves be
    for subentry, data, unique_id, followed in changes:
        if followed and entry_signature(entry) == runtime.loaded_as:
            # nothing else changed meanwhile, and the forwarder follows the
            # rename itself: this change alone reloads nothing
            runtime.loaded_as = entry_signature(
                entry, {subentry.subentry_id: (data, unique_id)}
            )
        hass.config_entries.async_update_subentry(
            entry, subentry, data=data, unique_id=unique_id
        )
    runtime.reloading = coming
    async_reload_if_changed(hass, entry)


@callback
def async_reload_if_changed(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> None:
    """Reload the entry, in a task, when it differs from what was set up.

    The one reload of the update listener, the rename follower and the end
    of a set-up (what changed during a set-up may have been read before, and
    no update listener saw it). The reload waits for its turn: a reload that waited before it (one
    Home Assistant began, e.g. for a reauth finished during the set-up) sets
    the entry up anew, and then this one is not needed; nor for an entry
    unloaded or removed by then. Changes made until its turn are left to it
    (`reloading`).
    """
    runtime = entry.runtime_data
    if runtime.reloading or entry_signature(entry) == runtime.loaded_as:
        return  # a reload comes, which reads the entry then; or nothing changed
    runtime.reloading = True

    async def reload() -> None:
        try:
            async with entry.setup_lock:
                pass  # what waited for the set-up before
            if (
                entry.state is ConfigEntryState.LOADED
                # not set up again meanwhile: that set-up read the entry
                # then, and looks at what changed during it itself
                and entry.runtime_data is runtime
                and entry_signature(entry) != runtime.loaded_as
            ):
                with contextlib.suppress(UnknownEntry):  # removed meanwhile
                    await hass.config_entries.async_reload(entry.entry_id)
        finally:
            runtime.reloading = False

    hass.async_create_task(reload(), f"{DOMAIN} reload {entry.entry_id}")


@callback
def _async_removed(hass: HomeAssistant, entry: ConfigEntry, entity_id: str) -> None:
    """Raise the issue of each measurement of the removed entity."""
    for subentry in naming(entry, entity_id, MEASURED):
        sensor_id = str(subentry.data.get(CONF_SENSOR))
        LOGGER.warning(
            "%s was removed from Home Assistant: nothing is sent to "
            "FlexMeasures sensor %s until an entity with that id is back",
            entity_id,
            sensor_id,
        )
        ENTITY_REMOVED.async_raise(
            hass,
            subentry.subentry_id,
            {"entity_id": entity_id, "sensor_id": sensor_id},
        )


@callback
def async_clear_returned(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Withdraw the issues of entities that are back (at the entry's start).

    Back, or the measurement names another entity now (maybe one the
    registry does not hold: a state without a unique id).
    """
    registry = er.async_get(hass)
    issues = ir.async_get(hass)
    for subentry in entry.subentries.values():
        issue = issues.async_get_issue(
            DOMAIN, ENTITY_REMOVED.issue_id(subentry.subentry_id)
        )
        if issue is None:
            continue
        entity_id = subentry.data.get(CONF_ENTITY_ID)
        named = (issue.translation_placeholders or {}).get("entity_id")
        if (
            not isinstance(entity_id, str)
            or registry.async_get(entity_id) is not None
            or named != entity_id
        ):
            ENTITY_REMOVED.async_clear(hass, subentry.subentry_id)
