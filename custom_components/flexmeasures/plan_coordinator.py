"""What every plan coordinator shares: jobs one at a time, failures, the step timer.

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
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .api import FlexMeasuresClient
from .const import LOGGER
from .data import FlexMeasuresConfigEntry
from .exceptions import ErrorKind, ScheduleRequestError
from .issues import async_clear_schedule_failed, async_raise_schedule_failed
from .timers import StepTimer


class PlanCoordinator[T](DataUpdateCoordinator[T | None]):
    """Keeps one sub-entry's last good plan (`data`), None before the first."""

    config_entry: FlexMeasuresConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: FlexMeasuresConfigEntry,
        subentry: ConfigSubentry,
        *,
        name: str,
        update_interval: timedelta | None,
    ) -> None:
        """Nothing is sent yet."""
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
        self._lock = asyncio.Lock()
        # counts the plans that arrived; the inputs version the data was made
        # with; the job tasks running now
        self._generation = 0
        self._data_inputs = -1
        self._jobs: set[asyncio.Task[Any]] = set()
        self._logged_reason: str | None = None
        self._step_timer = StepTimer(
            hass, self._next_boundary, self.async_update_listeners
        )

    # -- what subclasses say --------------------------------------------------

    def covers_now(self) -> bool:
        """Whether the kept plan has a step covering the current time."""
        raise NotImplementedError

    def _next_boundary(self) -> datetime | None:
        """When the entities change next without a request (None: never)."""
        raise NotImplementedError

    @property
    def inputs_version(self) -> int:
        """Counts changes of what a job is made from (e.g. a standing target)."""
        return 0

    @property
    def inputs_changed(self) -> bool:
        """Whether the inputs changed since the last plan (a job asks anew).

        Such a job forces a new one at FlexMeasures: its job cache hands back an
        earlier job for a request it has seen, and reads that job's schedule as
        the sensor's latest beliefs, which are those of whatever job ran last
        (a target set back to an earlier value would follow the one between).
        """
        return self.inputs_version != max(self._data_inputs, 0)

    def _on_success(self, data: T) -> None:
        """A new plan arrived (keep it, ...)."""

    def _on_failure(self, err: ScheduleRequestError) -> None:
        """An update failed."""

    # -- state ----------------------------------------------------------------

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

    # -- running jobs ---------------------------------------------------------

    async def _async_run_locked(
        self,
        job: Coroutine[Any, Any, T],
        *,
        unless_newer_than: int | None = None,
    ) -> T | None:
        """Run a job, one at a time; failures are ScheduleRequestError.

        With `unless_newer_than` (a generation), None when a plan made from
        the same inputs arrived while this call waited for the lock. The job
        runs in its own task, which unloading cancels (`async_shutdown`).
        """
        async with self._lock:
            if self._shutdown_requested:
                job.close()  # unloaded while this call waited: start nothing
                raise ScheduleRequestError(
                    ErrorKind.CANCELLED,
                    "schedule_cancelled",
                    {"device": self.subentry.title},
                )
            if (
                unless_newer_than is not None
                and unless_newer_than != self._generation
                and self._data_inputs == self.inputs_version
            ):
                job.close()
                return None  # a job with the same inputs just finished
            inputs = self.inputs_version
            task = self.config_entry.async_create_background_task(
                self.hass, job, name=f"{self.name} job"
            )
            self._jobs.add(task)
            try:
                result = await task
            except asyncio.CancelledError as err:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the caller itself is cancelled
                raise ScheduleRequestError(
                    ErrorKind.CANCELLED,
                    "schedule_cancelled",
                    {"device": self.subentry.title},
                ) from err
            finally:
                self._jobs.discard(task)
            self._generation += 1
            self._data_inputs = inputs
            return result

    # -- bookkeeping ----------------------------------------------------------

    def _record_success(self, data: T) -> None:
        """Remember the success; a failure's repair issue is resolved."""
        self.last_success = dt_util.utcnow()
        self.last_error = None
        self.last_error_message = None
        if self._logged_reason is not None:
            LOGGER.info("Schedule for %s is back", self.subentry.title)
        self._logged_reason = None
        async_clear_schedule_failed(self.hass, self.subentry_id)
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
        async_raise_schedule_failed(
            self.hass, self.subentry_id, self.subentry.title, err.reason
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

    @callback
    @override
    def async_update_listeners(self) -> None:
        """Tell entities, then wake up again at the next step boundary."""
        super().async_update_listeners()
        if not self._shutdown_requested:
            self._step_timer.arm()

    @override
    async def async_shutdown(self) -> None:
        """Stop the step timer and any job in flight."""
        await super().async_shutdown()
        self._step_timer.cancel()
        for task in self._jobs:
            task.cancel()
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)
