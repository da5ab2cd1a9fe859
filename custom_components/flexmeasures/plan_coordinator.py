"""What every plan coordinator shares: jobs one at a time, failures, the step timer.

A plan coordinator runs jobs (jobs.py, site_job.py) and reads the price after
each (price_reader.py). Its updates and manual triggers handle failures alike;
only what a job is made of, and what a new plan is handed to, is its own.

A plan coordinator keeps the last good plan of a schedule (or site) sub-entry.
Failure semantics (README "Data updates"): a failed update raises UpdateFailed
as usual, so `last_update_success` turns False (that is the `stale` binary
sensor) while `data` keeps the last good plan. Entities do not use
CoordinatorEntity's `available` (= last update succeeded); they are available
while the kept plan covers now (see entity.py). So the setpoint keeps
following the last good plan until it ends, and the coordinator still reports
the failure in the standard way (logs once, retries, reauth).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import CoreState, HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .api import FlexMeasuresClient, Schedule
from .const import LOGGER
from .data import FlexMeasuresConfigEntry
from .exceptions import ErrorKind, ScheduleRequestError
from .issues import SCHEDULE_FAILED
from .job_runner import JobRunner
from .jobs import Job
from .price_reader import PriceReader
from .requests import SocTarget
from .schedule import covers, earliest, next_step_boundary
from .timers import StepTimer


def overrides_given(
    soc_at_start: str | None,
    soc_targets: Sequence[SocTarget] | None,
    flex_model: Mapping[str, Any] | None,
    flex_context: Mapping[str, Any] | None,
) -> bool:
    """Whether a trigger gives anything of its own (a refusal is then the caller's)."""
    return bool(flex_model or flex_context or soc_targets) or soc_at_start is not None


class PlanCoordinator[T](DataUpdateCoordinator[T | None]):
    """Keeps one sub-entry's last good plan (`data`), None before the first."""

    config_entry: FlexMeasuresConfigEntry
    job: Job[Any]
    # seconds until the next try when a state of charge has no value (None:
    # the update interval)
    soc_retry_after: float | None = None

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: FlexMeasuresConfigEntry,
        subentry: ConfigSubentry,
        *,
        name: str,
        update_interval: timedelta | None,
        price_sensor_id: int | None,
    ) -> None:
        """Nothing is sent yet; the price is the sensor's (None: the asset's)."""
        self.subentry = subentry
        super().__init__(
            hass,
            LOGGER,
            config_entry=config_entry,
            name=name,
            update_interval=update_interval,
        )
        self.last_success: datetime | None = None
        self.last_error: ScheduleRequestError | None = None
        self.last_error_message: str | None = None  # translated
        self.last_error_time: datetime | None = None
        self.runner = JobRunner[T](
            lambda job: config_entry.async_create_background_task(
                hass, job, name=f"{name} job"
            ),
            lambda: self.inputs_version,
            lambda: self._shutdown_requested,
            subentry.title,
        )
        self._logged_reason: str | None = None
        self._step_timer = StepTimer(
            hass, self._next_boundary, self.async_update_listeners
        )
        # the consumption price, read after each job (see prices.py)
        self.prices = PriceReader(
            lambda: self.client,
            price_sensor_id,
            subentry,
            config_entry.runtime_data.store,
        )

    # -- what subclasses say --------------------------------------------------

    @property
    def kept_schedule(self) -> Schedule | None:
        """The schedule (kW) the entities follow: the plan's, or as kept."""
        raise NotImplementedError

    def _update_job(self) -> Coroutine[Any, Any, T]:
        """The job of a periodic update."""
        raise NotImplementedError

    @callback
    def wait_for_soc(self) -> None:
        """Update once the state of charge entity (or entities) has a value."""
        raise NotImplementedError

    @property
    def inputs_version(self) -> int:
        """Counts changes of what a job is made from (e.g. a standing target)."""
        return 0

    def _on_success(self, data: T) -> None:
        """A new plan arrived (keep it, ...)."""

    def _on_failure(self, err: ScheduleRequestError) -> None:
        """An update failed."""

    # -- state ----------------------------------------------------------------

    @property
    def job_id(self) -> str | None:
        """The id of the last job triggered at FlexMeasures."""
        return self.job.job_id

    def covers_now(self) -> bool:
        """Whether the kept plan has a step covering the current time."""
        return covers(self.kept_schedule, dt_util.utcnow())

    @property
    def client(self) -> FlexMeasuresClient:
        """The account's API client."""
        return self.config_entry.runtime_data.client

    @property
    def subentry_id(self) -> str:
        """The sub-entry's id."""
        return self.subentry.subentry_id

    @property
    def stale(self) -> bool:
        """True when the last update failed (the kept plan may be old)."""
        return not self.last_update_success

    @property
    def failure_reason(self) -> str | None:
        """Why FlexMeasures could not compute the last plan (e.g. infeasible)."""
        if self.last_error is None or self.last_error.kind is not ErrorKind.INFEASIBLE:
            return None
        return self.last_error.reason

    # -- updates and triggers -------------------------------------------------

    @override
    async def _async_update_data(self) -> T | None:
        """Run the update's job, wait, return the plan.

        An update that waited while a manual trigger ran keeps that fresher
        plan instead of asking for another.
        """
        generation = self.runner.generation
        try:
            data = await self.runner.async_run(
                self._update_job(), unless_newer_than=generation
            )
        except ScheduleRequestError as err:
            if self._shutdown_requested:
                # unloaded meanwhile: nothing to report for an entry that is gone
                raise asyncio.CancelledError from err
            soc_unavailable = err.kind is ErrorKind.SOC_UNAVAILABLE
            if soc_unavailable and self.hass.state is not CoreState.running:
                # Home Assistant is starting and a state of charge entity is
                # not loaded yet: wait for it (no error); still no new plan.
                LOGGER.debug(
                    "Waiting for a state of charge before planning %s",
                    self.subentry.title,
                )
                self.wait_for_soc()
                return self.data
            self._record_failure(err)
            raise err.update_error(
                retry_after=self.soc_retry_after if soc_unavailable else None
            ) from err
        if data is None:
            return self.data
        self._record_success(data)
        return data

    async def _async_trigger_job(
        self,
        job: Coroutine[Any, Any, T],
        *,
        overrides_given: bool,
        succeeded: Callable[[], None] | None = None,
    ) -> T:
        """Run a manual trigger's job now, update the entities, return the plan.

        `succeeded` runs before the entities are told. Raises
        HomeAssistantError (ServiceValidationError when FlexMeasures refused
        the overrides given).
        """
        try:
            data = await self.runner.async_run(job)
        except ScheduleRequestError as err:
            self._trigger_failed(err, overrides_given=overrides_given)
            raise err.action_error(overrides_given=overrides_given) from err
        if data is None:  # pragma: no cover - only updates are skipped
            raise RuntimeError("a manual trigger always runs")
        if succeeded is not None:
            succeeded()
        self._record_success(data)
        self.async_set_updated_data(data)
        return data

    def _read_price(
        self,
        schedule: Schedule,
        asset_id: int | None,
        then: Callable[[], None],
        flex_context: Mapping[str, Any] | None,
    ) -> None:
        """Read the price of a job's plan in a task of the entry's, then `then`."""
        self.prices.start_update(
            self._spawn_price_read, schedule, asset_id, then, flex_context
        )

    def _spawn_price_read(self, read: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """The price read of a job: a task of the entry (unloading cancels it)."""
        return self.config_entry.async_create_background_task(
            self.hass, read, name=f"{self.name} price"
        )

    # -- bookkeeping ----------------------------------------------------------

    def _record_success(self, data: T) -> None:
        """Remember the success; a failure's repair issue is resolved."""
        self.last_success = dt_util.utcnow()
        self.last_error = None
        self.last_error_message = None
        if self._logged_reason is not None:
            LOGGER.info("Schedule for %s is back", self.subentry.title)
        self._logged_reason = None
        SCHEDULE_FAILED.async_clear(self.hass, self.subentry_id)
        self._on_success(data)

    def _record_failure(self, err: ScheduleRequestError) -> None:
        """Remember the failure; an infeasible plan gets a repair issue."""
        message = str(err.update_error())
        changed = message != self.last_error_message
        self.last_error = err
        self.last_error_message = message
        self.last_error_time = dt_util.utcnow()
        self._on_failure(err)
        if changed and self._listeners:
            # the coordinator writes no state for a failure after a failure:
            # `stale`'s attributes must show this error, not the one before
            self.async_update_listeners()
        if err.kind is not ErrorKind.INFEASIBLE or err.reason is None:
            return
        if self._logged_reason != err.reason:
            LOGGER.warning(
                "FlexMeasures could not compute a schedule for %s: %s",
                self.subentry.title,
                err.reason,
            )
        self._logged_reason = err.reason
        SCHEDULE_FAILED.async_raise(
            self.hass,
            self.subentry_id,
            {"device": self.subentry.title, "reason": err.reason},
        )

    @callback
    def _trigger_failed(
        self, err: ScheduleRequestError, *, overrides_given: bool
    ) -> None:
        """A manual trigger failed: record it; `stale` says so at once.

        A request refused for the overrides the caller gave is the caller's
        to fix: the kept plan is not stale for it.
        """
        if self._shutdown_requested:
            return
        self._record_failure(err)
        if err.kind is ErrorKind.AUTH:
            self.config_entry.async_start_reauth(self.hass)
        if not (err.kind is ErrorKind.REFUSED and overrides_given):
            self.async_set_update_error(err.update_error())

    @callback
    def set_offline(self) -> None:
        """The server was unreachable at start: follow the kept plan, stale."""
        err = ScheduleRequestError(
            ErrorKind.UNREACHABLE, "cannot_connect", {"url": self.client.url}
        )
        self._record_failure(err)
        self.last_update_success = False
        self.last_exception = err.update_error()

    # -- step timer and shutdown ----------------------------------------------

    def _next_boundary(self) -> datetime | None:
        """The next step of the kept schedule or change of the price."""
        now = dt_util.utcnow()
        return earliest(
            next_step_boundary(self.kept_schedule, now), self.prices.next_change(now)
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
        """Stop the step timer, any job in flight and its price read."""
        await super().async_shutdown()
        self._step_timer.cancel()
        await self.runner.async_cancel()
        self.prices.cancel()
