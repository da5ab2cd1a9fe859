"""Site coordinator: one job for the devices of a site sub-entry.

A site is an asset (a home with one grid connection) and some of the account's
schedule devices below it. Each update runs one FlexMeasures job for all of
them (site_job.py) with the site's prices, horizon and power capacity, and
hands each device its own part: the devices' entities follow their parts as
they follow their own schedules. The devices run no jobs of their own; their
Reschedule button and `trigger_schedule` run the site's job.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util

from .api import Schedule
from .const import DOMAIN
from .controls import Mode
from .coordinator import ScheduleCoordinator
from .data import FlexMeasuresConfigEntry
from .exceptions import ErrorKind, ScheduleRequestError
from .jobs import JobOptions
from .plan_coordinator import PlanCoordinator, overrides_given
from .requests import SiteSettings, SocTarget
from .schedule import value_at
from .site_job import MemberRequest, SiteJob, SitePlan
from .store import StoredPlan


class SiteCoordinator(PlanCoordinator[SitePlan]):
    """Keeps one site's plan: each device's part and their sum."""

    job: SiteJob

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: FlexMeasuresConfigEntry,
        subentry: ConfigSubentry,
    ) -> None:
        """Parse the sub-entry; the members join when they are made."""
        self.settings = SiteSettings.from_data(subentry.data)
        super().__init__(
            hass,
            config_entry,
            subentry,
            name=f"{DOMAIN} site {subentry.title}",
            update_interval=self.settings.update_interval,
            # the site's consumption price, which its devices show too
            price_sensor_id=self.settings.consumption_price_sensor_id,
        )
        self.members: list[ScheduleCoordinator] = []
        self.job = SiteJob(lambda: self.client, self.settings, subentry.title)
        self.kept_total: StoredPlan | None = None

    @property
    @override
    def inputs_version(self) -> int:
        """A device's new standing target outdates the site's plan."""
        return sum(member.controls.version for member in self.members)

    @property
    @override
    def kept_schedule(self) -> Schedule | None:
        """The devices' plans added up."""
        return self.total

    @property
    def total(self) -> Schedule | None:
        """The devices' plans added up (kW), from the last plan or as kept."""
        if self.data is not None:
            return self.data.total
        return None if self.kept_total is None else self.kept_total.schedule

    @callback
    def join(self, member: ScheduleCoordinator) -> None:
        """A schedule device of this site; it follows the site's prices."""
        self.members.append(member)
        member.prices = self.prices

    @callback
    def members_changed(self) -> None:
        """A device's control changed its setpoint: write the site and its devices.

        The site's power changes, and so does what charge now leaves the others.
        """
        for member in self.members:
            member.async_update_listeners()
        self.async_update_listeners()

    @callback
    def restore(self, plan: StoredPlan | None) -> None:
        """Start from the kept sum of the devices' plans, if it still runs."""
        if plan is None or plan.schedule.end <= dt_util.utcnow():
            return
        self.kept_total = plan
        self.last_success = plan.arrived
        self._step_timer.arm()

    def room_for(self, member: ScheduleCoordinator, now: datetime) -> float | None:
        """The site's power capacity minus the other devices' setpoints (kW).

        The capacity is the site's own, else the one its asset stores (None:
        neither is known, e.g. started offline: no limit).

        The others that follow their plan or stop take their setpoint; those
        that charge now take their power in the order of the site's devices,
        each at most what is left: together they stay within the capacity.
        """
        capacity = self.job.capacity
        if capacity is None:
            return None
        charging = [
            m for m in self.members if m.controls.values.mode is Mode.CHARGE_NOW
        ]
        left = capacity - sum(
            0.0
            if other.controls.values.mode is Mode.STOP
            else value_at(other.data, now) or 0.0
            for other in self.members
            if other is not member and other not in charging
        )
        for other in charging:
            if other is member:
                break
            if (power := other.job.charging_power) is not None:
                left -= max(0.0, min(power, left))
        return left

    # -- updates ------------------------------------------------------------

    @override
    def _update_job(self) -> Coroutine[Any, Any, SitePlan]:
        """One job for all devices; each device gets its part."""
        return self._async_job({}, force_new_job=False)

    @callback
    @override
    def wait_for_soc(self) -> None:
        """A device's state of charge is not loaded yet: as a device on its own."""
        for member in self.members:
            member.wait_for_soc()

    async def async_trigger(
        self,
        member: ScheduleCoordinator | None = None,
        *,
        soc_at_start: str | None = None,
        soc_targets: Sequence[SocTarget] | None = None,
        flex_model: Mapping[str, Any] | None = None,
        duration: timedelta | None = None,
        flex_context: Mapping[str, Any] | None = None,
    ) -> SitePlan:
        """Run the site's job now (its Reschedule button, an action, a device's).

        `member`'s overrides (state of charge at start, targets, flex-model)
        go into that device's flex-model; `duration` and `flex_context` are
        the site's, for this job only. Raises HomeAssistantError.
        """
        overrides: dict[int, JobOptions] = {}
        if member is not None:
            overrides[member.settings.power_sensor_id] = JobOptions(
                soc_at_start=soc_at_start,
                soc_targets=member.soc_targets
                if soc_targets is None
                else tuple(soc_targets),
                flex_model=flex_model,
            )
        return await self._async_trigger_job(
            self._async_job(
                overrides,
                force_new_job=True,
                duration=duration,
                flex_context=flex_context,
            ),
            overrides_given=overrides_given(
                soc_at_start, soc_targets, flex_model, flex_context
            ),
        )

    async def async_trigger_member(
        self,
        member: ScheduleCoordinator,
        *,
        soc_at_start: str | None,
        soc_targets: Sequence[SocTarget] | None,
        duration: timedelta | None,
        flex_model: Mapping[str, Any] | None,
        flex_context: Mapping[str, Any] | None,
    ) -> Schedule:
        """A trigger on one of the devices: the site's job, with its overrides; its part."""
        if flex_context is not None or duration is not None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="set_on_the_site",
                translation_placeholders={
                    "device": member.subentry.title,
                    "site": self.subentry.title,
                },
            )
        await self.async_trigger(
            member,
            soc_at_start=soc_at_start,
            soc_targets=soc_targets,
            flex_model=flex_model,
        )
        if soc_targets is not None:
            member.soc_targets = tuple(soc_targets)
            # the site pushed the part before: show the targets kept now
            member.async_update_listeners()
        if member.data is None:  # pragma: no cover - the site pushed it
            raise RuntimeError("the site's plan has no part for this device")
        return member.data

    async def _async_job(
        self,
        overrides: Mapping[int, JobOptions],
        *,
        force_new_job: bool,
        duration: timedelta | None = None,
        flex_context: Mapping[str, Any] | None = None,
    ) -> SitePlan:
        """Each device's flex-model (its state of charge now), one job, the prices."""
        if not self.members:
            # its devices were removed, or another site names them first
            raise ScheduleRequestError(
                ErrorKind.REFUSED,
                "site_without_devices",
                {"site": self.subentry.title},
            )
        now = dt_util.utcnow()
        requests = [
            MemberRequest(
                member.job,
                member.job_options(overrides.get(member.settings.power_sensor_id), now),
            )
            for member in self.members
        ]
        plan = await self.job.async_run(
            requests,
            now,
            force_new_job=force_new_job or self.runner.inputs_changed,
            duration=duration,
            flex_context=flex_context,
        )
        self._read_price(
            plan.total, self.settings.asset_id, self._price_read, flex_context
        )
        return plan

    @callback
    def _price_read(self) -> None:
        """The site's price is read: the site and its devices show it."""
        self.async_update_listeners()
        for member in self.members:
            member.async_update_listeners()

    # -- bookkeeping --------------------------------------------------------

    @callback
    def set_offline_with(self, asset_capacity: float | None) -> None:
        """Offline at start: the capacity the asset stores as kept, the kept plan, stale."""
        self.job.asset_capacity = asset_capacity
        self.set_offline()

    @override
    def _on_success(self, data: SitePlan) -> None:
        """Hand each device its part; keep the sum for a start without the server.

        The capacity the asset stores too: charge_now stays within it offline.
        """
        self.kept_total = None
        store = self.config_entry.runtime_data.store
        store.keep_plan(self.subentry_id, data.total, dt_util.utcnow())
        if self.job.asset_capacity is not None:
            store.keep_site_power_capacity(
                self.subentry_id, self.settings.asset_id, self.job.asset_capacity
            )
        for member in self.members:
            if (part := data.parts.get(member.settings.power_sensor_id)) is not None:
                member.site_plan_arrived(part)

    @override
    def _on_failure(self, err: ScheduleRequestError) -> None:
        """The devices keep their parts; their `stale` turns on too."""
        for member in self.members:
            member.site_plan_failed(err)
