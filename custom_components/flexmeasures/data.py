"""Runtime data of a FlexMeasures config entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry

from .api import Account, FlexMeasuresClient, ServerInfo, User
from .connection import ConnectionMonitor
from .const import DEFAULT_DURATION
from .store import EntryStore

if TYPE_CHECKING:
    from .coordinator import ScheduleCoordinator
    from .forwarder import MeasurementForwarder
    from .site_coordinator import SiteCoordinator

type FlexMeasuresConfigEntry = ConfigEntry[FlexMeasuresData]


@dataclass
class FlexMeasuresData:
    """What a loaded entry keeps: the client, what the server said, the workers."""

    client: FlexMeasuresClient
    server_info: ServerInfo
    user: User
    account: Account
    store: EntryStore
    connection: ConnectionMonitor
    # the entry as set up (renames.entry_signature): the update listener
    # reloads only an entry that differs from it. It holds entry.data (the
    # password): never in a repr
    loaded_as: tuple[Any, ...] = field(repr=False)
    # a reload comes (renames.async_reload_if_changed), which reads the entry
    # as it is then
    reloading: bool = False
    # one per schedule subentry, by subentry id
    coordinators: dict[str, ScheduleCoordinator] = field(default_factory=dict)
    # one per site subentry, by subentry id
    sites: dict[str, SiteCoordinator] = field(default_factory=dict)
    forwarder: MeasurementForwarder | None = None

    def plans_reach(self, since: datetime) -> datetime:
        """Until when the plans reach, for an outage that began at `since`.

        The latest end of the devices' last good plans as kept (its own, or
        its part of its site's plan: a site plans its devices), asked for with
        whatever duration, when that end is after `since`: one that ended
        during the outage counts too (a start after it follows nothing, but
        the store still says how far it reached). A device without a plan
        adds nothing, nor one whose kept plan is of another power sensor (not
        followed). When every plan ended before the outage began (the server
        answered then, without a new plan) or there is none: `since` plus the
        longest planning horizon, a device's own or its site's (the default
        without devices), as if no plan had arrived.
        """
        ends = [
            plan.schedule.end
            for subentry_id, schedule in self.coordinators.items()
            if (plan := self.store.plan(subentry_id)) is not None
            and plan.schedule.sensor_id == schedule.settings.power_sensor_id
        ]
        if ends and (end := max(ends)) > since:
            return end
        return since + max(
            (
                (
                    schedule.settings
                    if schedule.site is None
                    else schedule.site.settings
                ).duration
                for schedule in self.coordinators.values()
            ),
            default=timedelta(hours=DEFAULT_DURATION),
        )
