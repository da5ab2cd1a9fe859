"""Making an account's plan coordinators: schedule devices and the sites they form."""

from __future__ import annotations

import asyncio

from homeassistant.core import HomeAssistant

from .const import (
    CONF_DEVICES,
    CONF_POWER_SENSOR,
    SUBENTRY_TYPE_SCHEDULE,
    SUBENTRY_TYPE_SITE,
)
from .coordinator import ScheduleCoordinator
from .data import FlexMeasuresConfigEntry
from .renames import entry_signature
from .site_coordinator import SiteCoordinator
from .store import EntryStore


def build_planners(hass: HomeAssistant, entry: FlexMeasuresConfigEntry) -> None:
    """One coordinator per schedule and per site sub-entry, in `runtime_data`.

    A device belongs to at most one site (the first that names it); a device
    in a site is planned by the site's job.
    """
    runtime = entry.runtime_data
    _forget_removed_devices(hass, entry)
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_TYPE_SITE:
            runtime.sites[subentry.subentry_id] = SiteCoordinator(hass, entry, subentry)
    site_of: dict[int, SiteCoordinator] = {}
    for site_coordinator in runtime.sites.values():
        for sensor_id in site_coordinator.settings.device_sensor_ids:
            site_of.setdefault(sensor_id, site_coordinator)
    for subentry in entry.subentries.values():
        if subentry.subentry_type != SUBENTRY_TYPE_SCHEDULE:
            continue
        site = site_of.get(int(subentry.data[CONF_POWER_SENSOR]))
        coordinator = ScheduleCoordinator(hass, entry, subentry, site)
        if site is not None:
            site.join(coordinator)
        runtime.coordinators[subentry.subentry_id] = coordinator


def _forget_removed_devices(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> None:
    """A site forgets the devices whose schedule sub-entry is gone.

    Else a schedule added again later for that power sensor would join the
    site silently. The set-up reads what it saves here: it is taken in as
    set up (`loaded_as`) when nothing else changed, else the set-up reloads
    when done.
    """
    runtime = entry.runtime_data
    scheduled = {
        str(subentry.data[CONF_POWER_SENSOR])
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_TYPE_SCHEDULE
    }
    for subentry in list(entry.subentries.values()):
        if subentry.subentry_type != SUBENTRY_TYPE_SITE:
            continue
        devices = [str(d) for d in subentry.data.get(CONF_DEVICES, ())]
        if (kept := [d for d in devices if d in scheduled]) != devices:
            as_loaded = entry_signature(entry) == runtime.loaded_as
            hass.config_entries.async_update_subentry(
                entry, subentry, data={**subentry.data, CONF_DEVICES: kept}
            )
            if as_loaded:
                runtime.loaded_as = entry_signature(entry)


def restore_plans(entry: FlexMeasuresConfigEntry, store: EntryStore) -> None:
    """Start every coordinator from its kept plan."""
    runtime = entry.runtime_data
    for subentry_id, coordinator in runtime.coordinators.items():
        coordinator.restore(store.plan(subentry_id))
    for subentry_id, site in runtime.sites.items():
        site.restore(store.plan(subentry_id))


async def async_first_plans(entry: FlexMeasuresConfigEntry) -> None:
    """Ask for the first plans: each device on its own, and each site's job.

    async_refresh, not async_config_entry_first_refresh: an infeasible
    schedule or a state of charge that is not there yet must not hold up the
    account (nor the measurements); the entities say what is missing.
    """
    runtime = entry.runtime_data
    await asyncio.gather(
        *(c.async_refresh() for c in runtime.coordinators.values() if c.site is None),
        # a site without devices says so at once (stale, with why)
        *(site.async_refresh() for site in runtime.sites.values()),
    )


def set_offline(entry: FlexMeasuresConfigEntry, store: EntryStore) -> None:
    """The server cannot be reached: every plan is followed as kept, stale."""
    runtime = entry.runtime_data
    for subentry_id, coordinator in runtime.coordinators.items():
        coordinator.set_offline_with(
            store.sensor(subentry_id), store.asset_power_capacity(subentry_id)
        )
    for subentry_id, site in runtime.sites.items():
        site.set_offline_with(
            store.site_power_capacity(subentry_id, site.settings.asset_id)
        )
