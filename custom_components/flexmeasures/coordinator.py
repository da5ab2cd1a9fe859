"""Schedule coordinator: one per schedule sub-entry.

Each update reads the state of charge from Home Assistant, triggers a schedule
at FlexMeasures starting at the current step, waits for it and keeps it. The
request is built by `requests.py`; errors are translated by `exceptions.py`.

Failure semantics (README "Data updates"): a failed update raises UpdateFailed
as usual, so `last_update_success` turns False (that is the `stale` binary
sensor) while `data` keeps the last good schedule. Entities do not use
CoordinatorEntity's `available` (= last update succeeded); they are available
while the kept schedule covers now (see entity.py). So the setpoint keeps
following the last good schedule until it ends, and the coordinator still
reports the failure in the standard way (logs once, retries, reauth).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final, overload, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import CoreState, HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .api import FlexMeasuresClient, Schedule, Sensor
from .const import DOMAIN, LOGGER
from .controls import Mode
from .data import FlexMeasuresConfigEntry
from .device_controls import DeviceControls
from .exceptions import ErrorKind, ScheduleRequestError
from .issues import async_clear_schedule_failed, async_raise_schedule_failed
from .jobs import DeviceJob, JobOptions
from .prices import PriceReader
from .requests import (
    ScheduleSettings,
    SocTarget,
)
from .schedule import covers, earliest, next_step_boundary, value_at
from .soc import SocEntity
from .store import StoredPlan
from .timers import StepTimer
from .units import kwh_quantity

# Seconds until the next try when the state of charge entity has no value (a
# fallback: the coordinator also refreshes as soon as the entity has one).
SOC_RETRY_AFTER: Final = 60.0


class ScheduleCoordinator(DataUpdateCoordinator[Schedule | None]):
    """Keeps one schedule sub-entry's schedule fresh.

    `data` is the last good schedule (values in kW, consumption positive), or
    None before the first one.
    """

    config_entry: FlexMeasuresConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: FlexMeasuresConfigEntry,
        subentry: ConfigSubentry,
    ) -> None:
        """Parse the sub-entry; nothing is sent yet."""
        self.subentry = subentry
        self.settings = ScheduleSettings.from_data(subentry.data)
        super().__init__(
            hass,
            LOGGER,
            config_entry=config_entry,
            name=f"{DOMAIN} schedule {subentry.title}",
            update_interval=self.settings.update_interval,
        )
        self.last_success: datetime | None = None
        self.last_error: ScheduleRequestError | None = None
        self.last_error_message: str | None = None  # translated
        self.last_error_time: datetime | None = None
        self.soc_targets: tuple[SocTarget, ...] = ()
        self.job = DeviceJob(lambda: self.client, self.settings, subentry.title)
        # the consumption price, read after each job (see prices.py)
        self.prices = PriceReader(
            lambda: self.client,
            self.settings.consumption_price_sensor_id,
            subentry.title,
        )
        self._lock = asyncio.Lock()
        # counts the schedules that arrived; the job tasks running now
        self._generation = 0
        self._data_inputs = -1  # the controls' version the data was made with
        self._jobs: set[asyncio.Task[Schedule]] = set()
        self._logged_reason: str | None = None
        self._step_timer = StepTimer(
            hass,
            self._next_boundary,
            self.async_update_listeners,
        )
        self.soc = SocEntity(hass, self.settings)
        self.controls = DeviceControls(
            hass,
            self.settings,
            self.soc,
            reschedule=self.async_refresh,
            changed=self.async_update_listeners,
        )

    @property
    def client(self) -> FlexMeasuresClient:
        """The account's API client."""
        return self.config_entry.runtime_data.client

    @property
    def subentry_id(self) -> str:
        """The schedule sub-entry's id."""
        return self.subentry.subentry_id

    @property
    def job_id(self) -> str | None:
        """The id of the last job triggered at FlexMeasures."""
        return self.job.job_id

    @property
    def stale(self) -> bool:
        """True when the last update failed (the kept schedule may be old)."""
        return not self.last_update_success

    @property
    def failure_reason(self) -> str | None:
        """Why FlexMeasures could not compute the last schedule (e.g. infeasible)."""
        if self.last_error is None or self.last_error.kind is not ErrorKind.INFEASIBLE:
            return None
        return self.last_error.reason

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
    def set_offline(self, sensor: Sensor | None) -> None:
        """The server was unreachable at start: follow the kept plan, stale."""
        if sensor is not None and sensor.id == self.settings.power_sensor_id:
            self.job.sensor = sensor
        err = ScheduleRequestError(
            ErrorKind.UNREACHABLE, "cannot_connect", {"url": self.client.url}
        )
        self._record_failure(err)
        self.last_update_success = False
        self.last_exception = err.update_error()

    # -- updates ----------------------------------------------------------

    @override
    async def _async_update_data(self) -> Schedule | None:
        """Trigger a schedule with the configured flex model, wait, return it.

        An update that waited while a manual trigger ran keeps that fresher
        schedule instead of asking for another.
        """
        generation = self._generation
        try:
            schedule = await self._async_fetch(None, unless_newer_than=generation)
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
        when FlexMeasures refused the overrides given).
        """
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
            schedule = await self._async_fetch(options)
        except ScheduleRequestError as err:
            if not self._shutdown_requested:
                self._record_failure(err)
                if err.kind is ErrorKind.AUTH:
                    self.config_entry.async_start_reauth(self.hass)
                if not (err.kind is ErrorKind.REFUSED and overrides_given):
                    # the last update failed: `stale` says so at once
                    self.async_set_update_error(err.update_error())
            raise err.action_error(overrides_given=overrides_given) from err
        if soc_targets is not None:
            self.soc_targets = tuple(soc_targets)
        self._record_success(schedule)
        self.async_set_updated_data(schedule)
        return schedule

    @overload
    async def _async_fetch(self, options: JobOptions) -> Schedule: ...

    @overload
    async def _async_fetch(
        self, options: None, *, unless_newer_than: int
    ) -> Schedule | None: ...

    async def _async_fetch(
        self, options: JobOptions | None, *, unless_newer_than: int | None = None
    ) -> Schedule | None:
        """Run a job (one at a time); failures are raised as ScheduleRequestError.

        With `unless_newer_than`, None when a schedule arrived since that
        generation (while this call waited for the lock). Unloading cancels
        the job (`async_shutdown`).
        """
        async with self._lock:
            if (
                unless_newer_than is not None
                and unless_newer_than != self._generation
                and self._data_inputs == self.controls.version
            ):
                return None  # a job with the same inputs just finished
            inputs = self.controls.version
            now = dt_util.utcnow()
            options = options or JobOptions(soc_targets=self.soc_targets)
            options = replace(
                options, standing_target=self.controls.standing_target(now)
            )
            if options.soc_at_start is None and self.settings.soc_entity:
                options = replace(
                    options,
                    soc_at_start=kwh_quantity(self.soc.kwh()),
                )
            job = self.config_entry.async_create_background_task(
                self.hass,
                self._async_run_job(options, now),
                name=f"{self.name} job",
            )
            self._jobs.add(job)
            try:
                schedule = await job
            except asyncio.CancelledError as err:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # the caller itself is cancelled
                raise ScheduleRequestError(
                    ErrorKind.CANCELLED,
                    "schedule_cancelled",
                    {"device": self.subentry.title},
                ) from err
            finally:
                self._jobs.discard(job)
            self._generation += 1
            self._data_inputs = inputs
            return schedule

    async def _async_run_job(self, options: JobOptions, now: datetime) -> Schedule:
        """Run the job, then read the prices over its horizon (never fails it)."""
        schedule = await self.job.async_run(options, now)
        sensor = self.job.sensor
        await self.prices.async_update(
            schedule, None if sensor is None else sensor.asset_id
        )
        return schedule

    # -- bookkeeping ------------------------------------------------------

    def _record_success(self, schedule: Schedule) -> None:
        """Remember the success; a failure's repair issue is resolved."""
        self.last_success = dt_util.utcnow()
        self.last_error = None
        self.last_error_message = None
        if self._logged_reason is not None:
            LOGGER.info("Schedule for %s is back", self.subentry.title)
        self._logged_reason = None
        self._untrack_soc()
        async_clear_schedule_failed(self.hass, self.subentry_id)
        runtime = self.config_entry.runtime_data
        runtime.store.keep_plan(self.subentry_id, schedule, self.last_success)
        if self.job.sensor is not None:
            runtime.store.keep_sensor(self.subentry_id, self.job.sensor)

    def _record_failure(self, err: ScheduleRequestError) -> None:
        """Remember the failure; an infeasible schedule gets a repair issue."""
        self.last_error = err
        self.last_error_message = str(err.update_error())
        self.last_error_time = dt_util.utcnow()
        if err.kind is ErrorKind.SOC_UNAVAILABLE:
            self._track_soc()
        else:
            self._untrack_soc()
        if err.kind is not ErrorKind.INFEASIBLE or err.reason is None:
            return
        if self._logged_reason != err.reason:
            LOGGER.warning(
                "FlexMeasures could not compute a schedule for %s: %s",
                self.subentry.title,
                err.reason,
            )
        self._logged_reason = err.reason
        async_raise_schedule_failed(
            self.hass, self.subentry_id, self.subentry.title, err.reason
        )

    # -- waiting for the state of charge ----------------------------------

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

    def setpoint(self, now: datetime) -> float | None:
        """The power setpoint now: the plan's value, unless the mode says otherwise."""
        return self.controls.setpoint(value_at(self.data, now), self.job.charging_power)

    @property
    def follows_plan(self) -> bool:
        """Whether the setpoint follows the FlexMeasures plan (mode smart)."""
        return self.controls.values.mode is Mode.SMART

    # -- step timer -------------------------------------------------------

    def _next_boundary(self) -> datetime | None:
        """The next step of the schedule or change of the price."""
        now = dt_util.utcnow()
        return earliest(
            next_step_boundary(self.data, now), self.prices.next_change(now)
        )

    @callback
    @override
    def async_update_listeners(self) -> None:
        """Tell entities, then wake up again at the next step boundary."""
        super().async_update_listeners()
        if not self._shutdown_requested:
            self._step_timer.arm()

    @override
    async def async_shutdown(self) -> None:
        """Stop the timers, the state of charge tracking and any job in flight."""
        await super().async_shutdown()
        self._step_timer.cancel()
        self.soc.shutdown()
        self.controls.shutdown()
        for job in self._jobs:
            job.cancel()
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)
