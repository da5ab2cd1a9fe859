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
from typing import Any, Final, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import (
    CALLBACK_TYPE,
    CoreState,
    Event,
    EventStateChangedData,
    HassJob,
    HomeAssistant,
    callback,
)
from homeassistant.helpers.event import (
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .api import FlexMeasuresClient, FlexMeasuresError, Schedule, Sensor
from .const import DOMAIN, LOGGER
from .data import FlexMeasuresConfigEntry
from .exceptions import ErrorKind, ScheduleRequestError, schedule_error
from .issues import async_clear_schedule_failed, async_raise_schedule_failed
from .requests import (
    ScheduleSettings,
    SocTarget,
    device_flex_model,
    price_flex_context,
    soc_kwh_from_state,
)
from .schedule import align_down, covers, next_step_boundary
from .units import kwh_quantity, power_factor_to_kw

# How long one update may wait for FlexMeasures to compute a schedule.
MAX_WAIT: Final = 120.0
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
        self.last_error_time: datetime | None = None
        self.job_id: str | None = None
        self.soc_targets: tuple[SocTarget, ...] = ()
        self._sensor: Sensor | None = None
        self._lock = asyncio.Lock()
        self._unsub_step: CALLBACK_TYPE | None = None
        self._step_job = HassJob(
            self._handle_step, "flexmeasures schedule step", cancel_on_shutdown=True
        )
        self._logged_reason: str | None = None
        self._unsub_soc: CALLBACK_TYPE | None = None

    @property
    def client(self) -> FlexMeasuresClient:
        """The account's API client."""
        return self.config_entry.runtime_data.client

    @property
    def subentry_id(self) -> str:
        """The schedule sub-entry's id."""
        return self.subentry.subentry_id

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

    # -- updates ----------------------------------------------------------

    @override
    async def _async_update_data(self) -> Schedule | None:
        """Trigger a schedule with the configured flex model, wait, return it."""
        try:
            schedule = await self._async_fetch()
        except ScheduleRequestError as err:
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
        try:
            schedule = await self._async_fetch(
                soc_at_start=soc_at_start,
                soc_targets=None if soc_targets is None else tuple(soc_targets),
                duration=duration,
                flex_model=flex_model,
                flex_context=flex_context,
                force_new_job=True,
            )
        except ScheduleRequestError as err:
            self._record_failure(err)
            if err.kind is ErrorKind.AUTH:
                self.config_entry.async_start_reauth(self.hass)
            overrides_given = bool(flex_model or flex_context or soc_targets) or (
                soc_at_start is not None
            )
            raise err.action_error(overrides_given=overrides_given) from err
        if soc_targets is not None:
            self.soc_targets = tuple(soc_targets)
        self._record_success(schedule)
        self.async_set_updated_data(schedule)
        return schedule

    async def _async_fetch(
        self,
        *,
        soc_at_start: str | None = None,
        soc_targets: tuple[SocTarget, ...] | None = None,
        duration: timedelta | None = None,
        flex_model: Mapping[str, Any] | None = None,
        flex_context: Mapping[str, Any] | None = None,
        force_new_job: bool = False,
    ) -> Schedule:
        """Trigger and wait; failures are raised as ScheduleRequestError."""
        async with self._lock:
            try:
                sensor = await self._async_get_sensor()
                start = align_down(dt_util.utcnow(), sensor.event_resolution)
                horizon = duration or self.settings.duration
                if soc_at_start is None and self.settings.soc_entity:
                    soc_at_start = kwh_quantity(
                        self._read_soc(self.settings.soc_entity)
                    )
                model = device_flex_model(
                    self.settings,
                    soc_at_start=soc_at_start,
                    soc_targets=self.soc_targets
                    if soc_targets is None
                    else soc_targets,
                    start=start,
                    end=start + horizon,
                )
                model.update(flex_model or {})
                context = price_flex_context(self.settings)
                context.update(flex_context or {})
                job_id = await self.client.trigger_schedule(
                    sensor.id,
                    start=start,
                    duration=horizon,
                    flex_model=model,
                    flex_context=context or None,
                    asset_id=sensor.asset_id,
                    force_new_job=force_new_job,
                )
                self.job_id = job_id
                LOGGER.debug(
                    "Triggered schedule %s for sensor %s from %s for %s",
                    job_id,
                    sensor.id,
                    start,
                    horizon,
                )
                schedule = await self.client.wait_for_schedule(
                    sensor.id, job_id, duration=horizon, max_wait=MAX_WAIT
                )
            except FlexMeasuresError as err:
                raise schedule_error(
                    err,
                    url=self.client.url,
                    device=self.subentry.title,
                    sensor_id=self.settings.power_sensor_id,
                    max_wait=MAX_WAIT,
                ) from err
        return self._to_kw(schedule)

    async def _async_get_sensor(self) -> Sensor:
        """The power sensor (fetched once, then cached)."""
        if self._sensor is None:
            self._sensor = await self.client.get_sensor(self.settings.power_sensor_id)
        return self._sensor

    def _read_soc(self, entity_id: str) -> float:
        """The state of charge in kWh, from the configured entity."""
        state = self.hass.states.get(entity_id)
        return soc_kwh_from_state(
            self.settings,
            entity_id,
            None if state is None else state.state,
            None if state is None else state.attributes.get(ATTR_UNIT_OF_MEASUREMENT),
        )

    def _to_kw(self, schedule: Schedule) -> Schedule:
        """The schedule in kW (FlexMeasures answers in the sensor's unit)."""
        factor = power_factor_to_kw(schedule.unit)
        if factor is None:
            LOGGER.warning(
                "Schedule for %s has unit %r, not a power unit; values are used as is",
                self.subentry.title,
                schedule.unit,
            )
            return schedule
        values = (
            schedule.values
            if factor == 1.0
            else tuple(value * factor for value in schedule.values)
        )
        return replace(schedule, unit="kW", values=values)

    # -- bookkeeping ------------------------------------------------------

    def _record_success(self, schedule: Schedule) -> None:
        """Remember the success; a failure's repair issue is resolved."""
        self.last_success = dt_util.utcnow()
        self.last_error = None
        if self._logged_reason is not None:
            LOGGER.info("Schedule for %s is back", self.subentry.title)
        self._logged_reason = None
        self.job_id = schedule.job_id or self.job_id
        self._untrack_soc()
        async_clear_schedule_failed(self.hass, self.subentry_id)

    def _record_failure(self, err: ScheduleRequestError) -> None:
        """Remember the failure; an infeasible schedule gets a repair issue."""
        self.last_error = err
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
        entity_id = self.settings.soc_entity
        if self._unsub_soc is not None or entity_id is None:
            return
        if self._shutdown_requested:
            return
        self._unsub_soc = async_track_state_change_event(
            self.hass, entity_id, self._handle_soc_change
        )

    @callback
    def _untrack_soc(self) -> None:
        """Stop waiting for the state of charge entity."""
        if self._unsub_soc is not None:
            self._unsub_soc()
            self._unsub_soc = None

    @callback
    def _handle_soc_change(self, event: Event[EventStateChangedData]) -> None:
        """The state of charge entity changed: refresh once it has a number."""
        new_state = event.data["new_state"]
        try:
            soc_kwh_from_state(
                self.settings,
                event.data["entity_id"],
                None if new_state is None else new_state.state,
                None
                if new_state is None
                else new_state.attributes.get(ATTR_UNIT_OF_MEASUREMENT),
            )
        except ScheduleRequestError as err:
            if err.kind is ErrorKind.SOC_UNAVAILABLE:
                return
        LOGGER.debug(
            "State of charge %s has a value; updating the schedule for %s",
            event.data["entity_id"],
            self.subentry.title,
        )
        self._untrack_soc()
        self.config_entry.async_create_background_task(
            self.hass,
            self.async_request_refresh(),
            name=f"{self.name} - state of charge available",
        )

    # -- step timer -------------------------------------------------------

    @callback
    @override
    def async_update_listeners(self) -> None:
        """Tell entities, then wake up again at the next step boundary."""
        super().async_update_listeners()
        self._arm_step_timer()

    @callback
    def _arm_step_timer(self) -> None:
        """Call listeners at the next step boundary of the kept schedule."""
        if self._unsub_step is not None:
            self._unsub_step()
            self._unsub_step = None
        boundary = next_step_boundary(self.data, dt_util.utcnow())
        if boundary is None or self._shutdown_requested:
            return
        self._unsub_step = async_track_point_in_utc_time(
            self.hass, self._step_job, boundary
        )

    @callback
    def _handle_step(self, _now: datetime) -> None:
        """A new step: entities write their new state (no API call)."""
        self._unsub_step = None
        self.async_update_listeners()

    @override
    async def async_shutdown(self) -> None:
        """Stop the step timer and the state of charge tracking too."""
        await super().async_shutdown()
        if self._unsub_step is not None:
            self._unsub_step()
            self._unsub_step = None
        self._untrack_soc()
