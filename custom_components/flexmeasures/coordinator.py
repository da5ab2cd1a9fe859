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

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import CoreState, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util

from .api import Schedule, Sensor
from .const import DOMAIN, LOGGER
from .controls import Mode
from .data import FlexMeasuresConfigEntry
from .device_controls import DeviceControls
from .exceptions import ErrorKind, ScheduleRequestError
from .jobs import DeviceJob, JobOptions
from .plan_coordinator import PlanCoordinator
from .price_reader import PriceReader
from .requests import ScheduleSettings, SocTarget
from .schedule import covers, earliest, next_step_boundary, value_at
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
        )
        self.soc_targets: tuple[SocTarget, ...] = ()
        self.job = DeviceJob(lambda: self.client, self.settings, subentry.title)
        # the consumption price, read after each job (see prices.py)
        self.prices = PriceReader(
            lambda: self.client,
            self.settings.consumption_price_sensor_id,
            subentry.title,
            config_entry.runtime_data.store,
            subentry.subentry_id,
        )
        self.soc = SocEntity(hass, self.settings)
        self.controls = DeviceControls(
            hass,
            self.settings,
            self.soc,
            reschedule=self.async_refresh,
            changed=self._controls_changed,
        )

    @property
    def job_id(self) -> str | None:
        """The id of the last job triggered at FlexMeasures."""
        return self.job.job_id

    @property
    @override
    def inputs_version(self) -> int:
        """A new standing target outdates a schedule made before it."""
        return self.controls.version

    @override
    def covers_now(self) -> bool:
        """Whether the kept schedule has a step covering the current time."""
        return covers(self.data, dt_util.utcnow())

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
    def set_offline_with(self, sensor: Sensor | None) -> None:
        """Offline at start: the power sensor as kept, the kept plan, stale."""
        if sensor is not None and sensor.id == self.settings.power_sensor_id:
            self.job.sensor = sensor
        self.set_offline()

    # -- updates ----------------------------------------------------------

    @override
    async def _async_update_data(self) -> Schedule | None:
        """Trigger a schedule with the configured flex model, wait, return it.

        An update that waited while a manual trigger ran keeps that fresher
        schedule instead of asking for another. In a site, the site plans.
        """
        if self.site is not None:
            await self.site.async_request_refresh()
            if self.site.stale and (err := self.site.last_error) is not None:
                # the site's job failed (now, or before a refresh it put off):
                # this device's part is as old as the site's plan
                raise err.update_error()
            return self.data
        generation = self._generation
        try:
            schedule = await self._async_run_locked(
                self._async_job(None), unless_newer_than=generation
            )
        except ScheduleRequestError as err:
            if self._shutdown_requested:
                # unloaded meanwhile: nothing to report for an entry that is gone
                raise asyncio.CancelledError from err
            if (
                err.kind is ErrorKind.SOC_UNAVAILABLE
                and self.hass.state is not CoreState.running
            ):
                # Home Assistant is starting and the state of charge entity is
                # not loaded yet: wait for it (no error); still no schedule.
                LOGGER.debug(
                    "Waiting for %s before scheduling %s",
                    self.settings.soc_entity,
                    self.subentry.title,
                )
                self._track_soc()
                return self.data
            self._record_failure(err)
            raise err.update_error(
                retry_after=SOC_RETRY_AFTER
                if err.kind is ErrorKind.SOC_UNAVAILABLE
                else None
            ) from err
        if schedule is None:
            return self.data
        self._record_success(schedule)
        return schedule

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
            return await self._async_trigger_site(
                self.site,
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
        overrides_given = bool(flex_model or flex_context or soc_targets) or (
            soc_at_start is not None
        )
        try:
            schedule = await self._async_run_locked(self._async_job(options))
        except ScheduleRequestError as err:
            self._trigger_failed(err, overrides_given=overrides_given)
            raise err.action_error(overrides_given=overrides_given) from err
        if schedule is None:  # pragma: no cover - only updates are skipped
            raise RuntimeError("a manual trigger always runs")
        if soc_targets is not None:
            self.soc_targets = tuple(soc_targets)
        self._record_success(schedule)
        self.async_set_updated_data(schedule)
        return schedule

    async def _async_trigger_site(
        self,
        site: SiteCoordinator,
        *,
        soc_at_start: str | None,
        soc_targets: Sequence[SocTarget] | None,
        duration: timedelta | None,
        flex_model: Mapping[str, Any] | None,
        flex_context: Mapping[str, Any] | None,
    ) -> Schedule:
        """A trigger on a device in a site: the site's job, with this device's overrides."""
        if flex_context is not None or duration is not None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="set_on_the_site",
                translation_placeholders={
                    "device": self.subentry.title,
                    "site": site.subentry.title,
                },
            )
        await site.async_trigger(
            self,
            soc_at_start=soc_at_start,
            soc_targets=soc_targets,
            flex_model=flex_model,
        )
        if soc_targets is not None:
            self.soc_targets = tuple(soc_targets)
            # the site pushed the part before: show the targets kept now
            self.async_update_listeners()
        if self.data is None:  # pragma: no cover - the site pushed it
            raise RuntimeError("the site's plan has no part for this device")
        return self.data

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
        if self.inputs_changed:
            job_options = replace(job_options, force_new_job=True)
        schedule = await self.job.async_run(job_options, now)
        sensor = self.job.sensor
        self.prices.start_update(
            self._spawn_price_read,
            schedule,
            None if sensor is None else sensor.asset_id,
            self.async_update_listeners,
            job_options.flex_context,
        )
        return schedule

    def _spawn_price_read(self, read: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """The price read of a job: a task of the entry (unloading cancels it)."""
        return self.config_entry.async_create_background_task(
            self.hass, read, name=f"{self.name} price"
        )

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
        self._untrack_soc()
        runtime = self.config_entry.runtime_data
        runtime.store.keep_plan(self.subentry_id, data, dt_util.utcnow())
        if self.job.sensor is not None:
            runtime.store.keep_sensor(self.subentry_id, self.job.sensor)

    @override
    def _on_failure(self, err: ScheduleRequestError) -> None:
        """A state of charge without a value: refresh when it has one."""
        if err.kind is ErrorKind.SOC_UNAVAILABLE:
            self._track_soc()
        else:
            self._untrack_soc()

    # -- waiting for the state of charge ----------------------------------

    @callback
    def wait_for_soc(self) -> None:
        """Ask for a plan once the state of charge entity has a value (a site's)."""
        self._track_soc()

    @callback
    def _track_soc(self) -> None:
        """Refresh as soon as the state of charge entity has a value.

        At start-up the entity (e.g. a template sensor) often loads after
        this integration.
        """
        if not self._shutdown_requested:
            self.soc.wait_for_value(self._soc_available)

    @callback
    def _untrack_soc(self) -> None:
        """Stop waiting for the state of charge entity."""
        self.soc.stop_waiting()

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
    def _next_boundary(self) -> datetime | None:
        """The next step of the schedule or change of the price."""
        now = dt_util.utcnow()
        return earliest(
            next_step_boundary(self.data, now), self.prices.next_change(now)
        )

    @override
    async def async_shutdown(self) -> None:
        """Stop the timers, the state of charge tracking and any job in flight."""
        await super().async_shutdown()
        self.prices.cancel()
        self.soc.shutdown()
        self.controls.shutdown()
