"""Schedule coordinator: one per schedule sub-entry.

Each update reads the state of charge from Home Assistant, triggers a schedule
at FlexMeasures starting at the current step (jobs.py builds and runs it),
waits for it and keeps it; the consumption price is read with it (prices.py).
What every plan coordinator shares (failures, the step timer, one job at a
time, unloading) lives in plan_coordinator.py.

A device in a site (site_coordinator.py) runs no job of its own: the site's
job plans it, and its updates and triggers go to the site.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util

from .api import Schedule, Sensor
from .const import DOMAIN, LOGGER
from .controls import Mode
from .data import FlexMeasuresConfigEntry
from .device_controls import DeviceControls
from .exceptions import ErrorKind, ScheduleRequestError
from .jobs import DeviceJob, JobOptions
from .plan_coordinator import PlanCoordinator, overrides_given
from .requests import ScheduleSettings, SocTarget
from .schedule import value_at
from .soc import SocEntity
from .store import StoredPlan
from .units import kwh_quantity

if TYPE_CHECKING:
    from .site_coordinator import SiteCoordinator

# Seconds until the next try when the state of charge entity has no value (a
# fallback: the coordinator also refreshes as soon as the entity has one).
SOC_RETRY_AFTER: Final = 60.0


class ScheduleCoordinator(PlanCoordinator[Schedule]):
    """Keeps one schedule sub-entry's schedule fresh.

    `data` is the last good schedule (values in kW, consumption positive), or
    None before the first one.
    """

    job: DeviceJob
    soc_retry_after = SOC_RETRY_AFTER

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: FlexMeasuresConfigEntry,
        subentry: ConfigSubentry,
        site: SiteCoordinator | None = None,
    ) -> None:
        """Parse the sub-entry; nothing is sent yet."""
        self.settings = ScheduleSettings.from_data(subentry.data)
        # a device in a site is planned by the site's job: it does not poll
        self.site = site
        super().__init__(
            hass,
            config_entry,
            subentry,
            name=f"{DOMAIN} schedule {subentry.title}",
            update_interval=None if site else self.settings.update_interval,
            price_sensor_id=self.settings.consumption_price_sensor_id,
        )
        self.soc_targets: tuple[SocTarget, ...] = ()
        self.job = DeviceJob(lambda: self.client, self.settings, subentry.title)
        self.soc = SocEntity(hass, self.settings)
        self.controls = DeviceControls(
            hass,
            self.settings,
            self.soc,
            reschedule=self.async_refresh,
            changed=self._controls_changed,
        )

    @property
    @override
    def inputs_version(self) -> int:
        """A new standing target outdates a schedule made before it."""
        return self.controls.version

    @property
    @override
    def kept_schedule(self) -> Schedule | None:
        """The last good schedule (or the part of the site's plan)."""
        return self.data

    # -- what was kept -----------------------------------------------------

    @callback
    def restore(self, plan: StoredPlan | None) -> None:
        """Start from the kept plan (before the first update), if it still runs."""
        if plan is None or plan.schedule.sensor_id != self.settings.power_sensor_id:
            return
        if plan.schedule.end <= dt_util.utcnow():
            return  # it ended: nothing to follow
        self.data = plan.schedule
        self.last_success = plan.arrived
        self.job.job_id = plan.schedule.job_id
        self._step_timer.arm()

    @callback
    def set_offline_with(
        self, sensor: Sensor | None, asset_power_capacity: float | None
    ) -> None:
        """Offline at start: the power sensor (and its asset's power capacity) as kept, the kept plan, stale."""
        if sensor is not None and sensor.id == self.settings.power_sensor_id:
            self.job.sensor = sensor
            self.job.asset_power_capacity = asset_power_capacity
        self.set_offline()

    # -- updates ----------------------------------------------------------

    @override
    async def _async_update_data(self) -> Schedule | None:
        """Trigger a schedule with the configured flex model, wait, return it.

        In a site, the site plans.
        """
        if self.site is not None:
            await self.site.async_request_refresh()
            if self.site.stale and (err := self.site.last_error) is not None:
                # the site's job failed (now, or before a refresh it put off):
                # this device's part is as old as the site's plan
                raise err.update_error()
            return self.data
        return await super()._async_update_data()

    @override
    def _update_job(self) -> Coroutine[Any, Any, Schedule]:
        """A job with the configured flex-model (and the kept targets)."""
        return self._async_job(None)

    async def async_trigger(
        self,
        *,
        soc_at_start: str | None = None,
        soc_targets: Sequence[SocTarget] | None = None,
        duration: timedelta | None = None,
        flex_model: Mapping[str, Any] | None = None,
        flex_context: Mapping[str, Any] | None = None,
    ) -> Schedule:
        """Trigger a new schedule now (action / button), update entities, return it.

        `soc_at_start` is a quantity string ("40 kWh"). Given `soc_targets`
        replace the kept ones and stay in force for later periodic updates
        until their time has passed (an empty sequence clears them).
        `flex_model` / `flex_context` are merged over the configured ones for
        this trigger only. Raises HomeAssistantError (ServiceValidationError
        when FlexMeasures refused the overrides given). In a site, the site's
        job runs (`flex_context` and `duration` are the site's to set).
        """
        if self.site is not None:
            return await self.site.async_trigger_member(
                self,
                soc_at_start=soc_at_start,
                soc_targets=soc_targets,
                duration=duration,
                flex_model=flex_model,
                flex_context=flex_context,
            )
        options = JobOptions(
            soc_at_start=soc_at_start,
            soc_targets=self.soc_targets if soc_targets is None else tuple(soc_targets),
            duration=duration,
            flex_model=flex_model,
            flex_context=flex_context,
            force_new_job=True,
        )

        def keep_targets() -> None:
            if soc_targets is not None:
                self.soc_targets = tuple(soc_targets)

        return await self._async_trigger_job(
            self._async_job(options),
            overrides_given=overrides_given(
                soc_at_start, soc_targets, flex_model, flex_context
            ),
            succeeded=keep_targets,
        )

    def job_options(self, options: JobOptions | None, now: datetime) -> JobOptions:
        """What a job of this device asks, the state of charge now included.

        The kept targets and the standing target go along. Raises
        ScheduleRequestError when the state of charge cannot be read.
        """
        options = options or JobOptions(soc_targets=self.soc_targets)
        options = replace(options, standing_target=self.controls.standing_target(now))
        if options.soc_at_start is None and self.settings.soc_entity:
            options = replace(options, soc_at_start=kwh_quantity(self.soc.kwh()))
        return options

    async def _async_job(self, options: JobOptions | None) -> Schedule:
        """Run the job; its price is read while the schedule is handed over."""
        now = dt_util.utcnow()
        job_options = self.job_options(options, now)
        if self.runner.inputs_changed:
            job_options = replace(job_options, force_new_job=True)
        schedule = await self.job.async_run(job_options, now)
        sensor = self.job.sensor
        self._read_price(
            schedule,
            None if sensor is None else sensor.asset_id,
            self.async_update_listeners,
            job_options.flex_context,
        )
        return schedule

    # -- a device in a site -------------------------------------------------

    @callback
    def site_plan_arrived(self, schedule: Schedule) -> None:
        """The site's job planned this device: follow its part."""
        self._record_success(schedule)
        self.async_set_updated_data(schedule)

    @callback
    def site_plan_failed(self, err: ScheduleRequestError) -> None:
        """The site's job failed: the kept part stays, `stale` says so."""
        self._record_failure(err)
        self.async_set_update_error(err.update_error())

    # -- bookkeeping ------------------------------------------------------

    @override
    def _on_success(self, data: Schedule) -> None:
        """Keep the schedule and the power sensor for a start without the server."""
        self.soc.stop_waiting()
        runtime = self.config_entry.runtime_data
        runtime.store.keep_plan(self.subentry_id, data, dt_util.utcnow())
        if self.job.sensor is not None:
            runtime.store.keep_sensor(
                self.subentry_id,
                self.job.sensor,
                asset_power_capacity=self.job.asset_power_capacity,
            )

    @override
    def _on_failure(self, err: ScheduleRequestError) -> None:
        """A state of charge without a value: refresh when it has one."""
        if err.kind is ErrorKind.SOC_UNAVAILABLE:
            self.wait_for_soc()
        else:
            self.soc.stop_waiting()

    # -- waiting for the state of charge ----------------------------------

    @callback
    @override
    def wait_for_soc(self) -> None:
        """Refresh as soon as the state of charge entity has a value.

        At start-up the entity (e.g. a template sensor) often loads after
        this integration; a site asks its devices to wait too.
        """
        if not self._shutdown_requested:
            self.soc.wait_for_value(self._soc_available)

    @callback
    def _soc_available(self) -> None:
        """The state of charge entity has a value: update the schedule."""
        LOGGER.debug(
            "State of charge %s has a value; updating the schedule for %s",
            self.settings.soc_entity,
            self.subentry.title,
        )
        self.config_entry.async_create_background_task(
            self.hass,
            self.async_request_refresh(),
            name=f"{self.name} - state of charge available",
        )

    # -- the controls (standing target, mode) -------------------------------

    @callback
    def _controls_changed(self) -> None:
        """A control changed the setpoint: in a site, the site's and the others' too."""
        if self.site is None:
            self.async_update_listeners()
        else:
            self.site.members_changed()

    def setpoint(self, now: datetime) -> float | None:
        """The power setpoint now: the plan's value, unless the mode says otherwise."""
        return self.controls.setpoint(
            value_at(self.data, now), self.charging_power(now)
        )

    def charging_power(self, now: datetime) -> float | None:
        """The power charge_now uses: in a site, at most what the others leave."""
        power = self.job.charging_power
        if power is None or self.site is None:
            return power
        room = self.site.room_for(self, now)
        return power if room is None else max(0.0, min(power, room))

    @property
    def follows_plan(self) -> bool:
        """Whether the setpoint follows the FlexMeasures plan (mode smart)."""
        return self.controls.values.mode is Mode.SMART

    # -- step timer and shutdown ---------------------------------------------

    @override
    async def async_shutdown(self) -> None:
        """Stop the timers, the state of charge tracking and any job in flight."""
        await super().async_shutdown()
        self.soc.shutdown()
        self.controls.shutdown()
