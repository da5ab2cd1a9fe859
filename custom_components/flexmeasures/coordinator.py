"""Schedule coordinator: one per schedule subentry.

Each update reads the state of charge from Home Assistant, triggers a schedule
at FlexMeasures starting at the current step, waits for it and keeps it.

Failure semantics (DESIGN "Behaviour rules"): a failed update raises
UpdateFailed as usual, so `last_update_success` turns False (that is the
`stale` binary sensor) while `data` keeps the last good schedule. Entities do
not use CoordinatorEntity's `available` (= last update succeeded); they are
available while the kept schedule covers now (see entity.py). So the setpoint
keeps following the last good schedule until it ends, and the coordinator
still reports the failure in the standard way (logs once, retries, reauth).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, UnitOfEnergy
from homeassistant.core import (
    CALLBACK_TYPE,
    CoreState,
    Event,
    EventStateChangedData,
    HassJob,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    HomeAssistantError,
    ServiceValidationError,
)
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import (
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import (
    FlexMeasuresAccessDeniedError,
    FlexMeasuresAuthenticationError,
    FlexMeasuresClient,
    FlexMeasuresConnectionError,
    FlexMeasuresError,
    FlexMeasuresInvalidRequestError,
    FlexMeasuresNotFoundError,
    FlexMeasuresRateLimitError,
    FlexMeasuresResponseError,
    FlexMeasuresScheduleFailedError,
    FlexMeasuresSchedulePendingError,
    Schedule,
    Sensor,
)
from .const import (
    CONF_CAPACITY,
    CONF_CONSUMPTION_PRICE_SENSOR,
    CONF_DURATION,
    CONF_POWER_CAPACITY,
    CONF_POWER_SENSOR,
    CONF_PRODUCTION_PRICE_SENSOR,
    CONF_ROUNDTRIP_EFFICIENCY,
    CONF_SOC_ENTITY,
    CONF_SOC_MAX,
    CONF_SOC_MIN,
    CONF_UPDATE_INTERVAL,
    DEFAULT_DURATION,
    DEFAULT_UPDATE_INTERVAL,
    DOMAIN,
    LOGGER,
)
from .data import FlexMeasuresConfigEntry
from .schedule import (
    align_down,
    covers,
    next_step_boundary,
    power_factor_to_kw,
    schedule_end,
    schedule_start,
)

# How long one update may wait for FlexMeasures to compute a schedule.
MAX_WAIT: Final = 120.0
# Seconds until the next try when the state of charge entity has no value (a
# fallback: the coordinator also refreshes as soon as the entity has one).
SOC_RETRY_AFTER: Final = 60.0

_ENERGY_UNITS_IN_KWH: Final[dict[str, float]] = {
    UnitOfEnergy.WATT_HOUR: 0.001,
    UnitOfEnergy.KILO_WATT_HOUR: 1.0,
    UnitOfEnergy.MEGA_WATT_HOUR: 1000.0,
}
_PERCENT: Final = "%"


def _optional_float(data: Mapping[str, Any], key: str) -> float | None:
    """A number from subentry data; missing, None or "" is None."""
    value = data.get(key)
    if value is None or value == "":
        return None
    return float(value)


def _optional_sensor_id(data: Mapping[str, Any], key: str) -> int | None:
    """A FlexMeasures sensor id (stored as a string); "" or missing is None."""
    value = data.get(key)
    if value is None or value == "":
        return None
    return int(value)


def _soc_number(state: State | None) -> float | None:
    """The state's number, or None when there is none (missing, unknown, text)."""
    if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return None
    try:
        return float(state.state)
    except ValueError:
        return None


def _kwh(value: float) -> str:
    """An energy as a FlexMeasures quantity string."""
    return f"{round(value, 6):g} kWh"


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """The schedule subentry's data, parsed."""

    power_sensor_id: int
    consumption_price_sensor_id: int | None = None
    production_price_sensor_id: int | None = None
    soc_entity: str | None = None
    capacity: float | None = None
    soc_min: float | None = None
    soc_max: float | None = None
    roundtrip_efficiency: float | None = None
    power_capacity: float | None = None
    duration: timedelta = timedelta(hours=DEFAULT_DURATION)
    update_interval: timedelta = timedelta(minutes=DEFAULT_UPDATE_INTERVAL)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ScheduleSettings:
        """Parse subentry data (see DESIGN "Public contract")."""
        duration = _optional_float(data, CONF_DURATION) or DEFAULT_DURATION
        interval = (
            _optional_float(data, CONF_UPDATE_INTERVAL) or DEFAULT_UPDATE_INTERVAL
        )
        return cls(
            power_sensor_id=int(data[CONF_POWER_SENSOR]),
            consumption_price_sensor_id=_optional_sensor_id(
                data, CONF_CONSUMPTION_PRICE_SENSOR
            ),
            production_price_sensor_id=_optional_sensor_id(
                data, CONF_PRODUCTION_PRICE_SENSOR
            ),
            soc_entity=data.get(CONF_SOC_ENTITY) or None,
            capacity=_optional_float(data, CONF_CAPACITY),
            soc_min=_optional_float(data, CONF_SOC_MIN),
            soc_max=_optional_float(data, CONF_SOC_MAX),
            roundtrip_efficiency=_optional_float(data, CONF_ROUNDTRIP_EFFICIENCY),
            power_capacity=_optional_float(data, CONF_POWER_CAPACITY),
            duration=timedelta(hours=duration),
            update_interval=timedelta(minutes=interval),
        )


@dataclass(frozen=True, slots=True)
class SocTarget:
    """A state of charge to reach at a time (FlexMeasures `soc-targets`)."""

    when: datetime
    value: str  # a quantity string, e.g. "40 kWh"

    def as_flex_model(self) -> dict[str, str]:
        """The `soc-targets` item."""
        return {"datetime": self.when.isoformat(), "value": self.value}


class _ScheduleRequestError(Exception):
    """A failure, already translated: a translation key and placeholders."""

    def __init__(
        self,
        translation_key: str,
        placeholders: dict[str, str],
        *,
        auth: bool = False,
        user_input: bool = False,
    ) -> None:
        super().__init__(translation_key)
        self.translation_key = translation_key
        self.placeholders = placeholders
        self.auth = auth
        self.user_input = user_input


class ScheduleCoordinator(DataUpdateCoordinator[Schedule | None]):
    """Keeps one schedule subentry's schedule fresh.

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
        """Parse the subentry; nothing is sent yet."""
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
        self.last_error: str | None = None
        self.last_error_time: datetime | None = None
        self.failure_reason: str | None = None
        self.job_id: str | None = None
        self.soc_targets: tuple[SocTarget, ...] = ()
        self._sensor: Sensor | None = None
        self._lock = asyncio.Lock()
        self._unsub_step: CALLBACK_TYPE | None = None
        self._step_job = HassJob(
            self._handle_step, "flexmeasures schedule step", cancel_on_shutdown=True
        )
        self._last_log_error: str | None = None
        self._unsub_soc: CALLBACK_TYPE | None = None

    # -- state ------------------------------------------------------------

    @property
    def client(self) -> FlexMeasuresClient:
        """The account's API client."""
        return self.config_entry.runtime_data.client

    @property
    def subentry_id(self) -> str:
        """The schedule subentry's id."""
        return self.subentry.subentry_id

    @property
    def issue_id(self) -> str:
        """The id of this device's `schedule_failed` repair issue."""
        return f"schedule_failed_{self.subentry_id}"

    @property
    def stale(self) -> bool:
        """True when the last update failed (the kept schedule may be old)."""
        return not self.last_update_success

    def covers_now(self) -> bool:
        """Whether the kept schedule has a step covering the current time."""
        return covers(self.data, dt_util.utcnow())

    # -- updates ----------------------------------------------------------

    @override
    async def _async_update_data(self) -> Schedule | None:
        """Trigger a schedule with the configured flex model, wait, return it."""
        try:
            schedule = await self._async_fetch()
        except _ScheduleRequestError as err:
            if (
                err.translation_key == "soc_unavailable"
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
            if err.auth:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN,
                    translation_key=err.translation_key,
                    translation_placeholders=err.placeholders,
                ) from err
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=err.translation_key,
                translation_placeholders=err.placeholders,
                # The state of charge entity may just not be loaded yet.
                retry_after=SOC_RETRY_AFTER
                if err.translation_key == "soc_unavailable"
                else None,
            ) from err
        self._record_success(schedule)
        return schedule

    async def async_trigger(
        self,
        *,
        soc_at_start: float | str | None = None,
        soc_targets: Sequence[Mapping[str, Any]] | None = None,
        duration: timedelta | None = None,
        flex_model: Mapping[str, Any] | None = None,
        flex_context: Mapping[str, Any] | None = None,
    ) -> Schedule:
        """Trigger a new schedule now (action / button), update entities, return it.

        `soc_at_start` and `soc_targets` values are kWh (numbers) or quantity
        strings ("40 kWh"); `soc_targets` items are {datetime, value}. Given
        `soc_targets` replace the kept ones and stay in force for later
        periodic updates until their time has passed ([] clears them).
        `flex_model` / `flex_context` are merged over the configured ones for
        this trigger only. Raises ServiceValidationError for bad input and
        HomeAssistantError when FlexMeasures fails.
        """
        targets = (
            self._parse_soc_targets(soc_targets) if soc_targets is not None else None
        )
        start_soc = (
            self._quantity(soc_at_start, "soc_at_start")
            if soc_at_start is not None
            else None
        )
        if duration is not None and duration <= timedelta(0):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_duration",
                translation_placeholders={"duration": str(duration)},
            )
        try:
            schedule = await self._async_fetch(
                soc_at_start=start_soc,
                soc_targets=targets,
                duration=duration,
                flex_model=flex_model,
                flex_context=flex_context,
                force_new_job=True,
            )
        except _ScheduleRequestError as err:
            self._record_failure(err)
            if err.auth:
                self.config_entry.async_start_reauth(self.hass)
            overridden = bool(flex_model or flex_context or soc_targets) or (
                soc_at_start is not None
            )
            error_class = (
                ServiceValidationError
                if err.user_input and overridden
                else HomeAssistantError
            )
            raise error_class(
                translation_domain=DOMAIN,
                translation_key=err.translation_key,
                translation_placeholders=err.placeholders,
            ) from err
        if targets is not None:
            self.soc_targets = targets
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
        """Trigger and wait; FlexMeasures errors become _ScheduleRequestError."""
        async with self._lock:
            try:
                sensor = await self._async_get_sensor()
                start = align_down(dt_util.utcnow(), sensor.event_resolution)
                horizon = duration or self.settings.duration
                model = self._flex_model(
                    soc_at_start=soc_at_start,
                    soc_targets=self.soc_targets
                    if soc_targets is None
                    else soc_targets,
                    start=start,
                    end=start + horizon,
                )
                model.update(flex_model or {})
                context = self._flex_context()
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
                raise self._translate(err) from err
        return self._to_kw(schedule)

    async def _async_get_sensor(self) -> Sensor:
        """The power sensor (fetched once, then cached)."""
        if self._sensor is None:
            self._sensor = await self.client.get_sensor(self.settings.power_sensor_id)
        return self._sensor

    # -- requests ---------------------------------------------------------

    def _flex_model(
        self,
        *,
        soc_at_start: str | None,
        soc_targets: Sequence[SocTarget],
        start: datetime,
        end: datetime,
    ) -> dict[str, Any]:
        """The configured flex model, with the current state of charge."""
        settings = self.settings
        model: dict[str, Any] = {}
        if soc_at_start is None and settings.soc_entity:
            soc_at_start = _kwh(self._read_soc(settings.soc_entity))
        if soc_at_start is not None:
            model["soc-at-start"] = soc_at_start
        # Always send soc-min: without it the battery is unbounded below.
        model["soc-min"] = _kwh(settings.soc_min or 0.0)
        if settings.soc_max is not None:
            model["soc-max"] = _kwh(settings.soc_max)
        elif settings.capacity is not None:
            model["soc-max"] = _kwh(settings.capacity)
        if settings.roundtrip_efficiency is not None:
            model["roundtrip-efficiency"] = f"{settings.roundtrip_efficiency:g}%"
        if settings.power_capacity is not None:
            model["power-capacity"] = f"{settings.power_capacity:g} kW"
        # Targets outside this horizon are kept for a later update.
        if targets := [
            target.as_flex_model()
            for target in soc_targets
            if start < target.when <= end
        ]:
            model["soc-targets"] = targets
        return model

    def _flex_context(self) -> dict[str, Any]:
        """Price sensors; none configured means what is stored on the asset."""
        context: dict[str, Any] = {}
        if (price := self.settings.consumption_price_sensor_id) is not None:
            context["consumption-price"] = {"sensor": price}
        if (price := self.settings.production_price_sensor_id) is not None:
            context["production-price"] = {"sensor": price}
        return context

    def _read_soc(self, entity_id: str) -> float:
        """The state of charge in kWh, from the configured entity.

        A percentage needs the capacity. The value is clamped into
        [soc_min, soc_max]: a battery a little over its configured maximum
        would make the problem infeasible at FlexMeasures.
        """
        settings = self.settings
        state = self.hass.states.get(entity_id)
        value = _soc_number(state)
        if state is None or value is None:
            raise _ScheduleRequestError(
                "soc_unavailable",
                {
                    "entity_id": entity_id,
                    "state": "missing" if state is None else state.state,
                },
            )
        unit = state.attributes.get("unit_of_measurement") or ""
        if unit == _PERCENT:
            if settings.capacity is None:
                raise _ScheduleRequestError(
                    "soc_unit", {"entity_id": entity_id, "unit": unit}
                )
            kwh = value / 100.0 * settings.capacity
        elif unit in _ENERGY_UNITS_IN_KWH:
            kwh = value * _ENERGY_UNITS_IN_KWH[unit]
        else:
            raise _ScheduleRequestError(
                "soc_unit", {"entity_id": entity_id, "unit": unit or "none"}
            )
        low = settings.soc_min or 0.0
        high = settings.soc_max if settings.soc_max is not None else settings.capacity
        clamped = max(low, kwh if high is None else min(high, kwh))
        if clamped != kwh:
            LOGGER.debug(
                "State of charge %s kWh of %s clamped to %s kWh",
                kwh,
                entity_id,
                clamped,
            )
        return clamped

    def _quantity(self, value: float | str, field: str) -> str:
        """A state of charge from an action: number = kWh, or a quantity string."""
        if isinstance(value, str):
            text = value.strip()
            if not text:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="invalid_soc",
                    translation_placeholders={"field": field, "value": value},
                )
            try:
                return _kwh(float(text))
            except ValueError:
                return text
        return _kwh(float(value))

    def _parse_soc_targets(
        self, items: Sequence[Mapping[str, Any]]
    ) -> tuple[SocTarget, ...]:
        """Validate {datetime, value} items; naive times are local time."""
        targets: list[SocTarget] = []
        for item in items:
            when = item.get("datetime")
            if isinstance(when, str):
                when = dt_util.parse_datetime(when)
            if not isinstance(when, datetime) or "value" not in item:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="invalid_soc_target",
                    translation_placeholders={"target": str(dict(item))},
                )
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt_util.get_default_time_zone())
            targets.append(
                SocTarget(
                    dt_util.as_utc(when), self._quantity(item["value"], "soc_targets")
                )
            )
        return tuple(sorted(targets, key=lambda target: target.when))

    def _to_kw(self, schedule: Schedule) -> Schedule:
        """The schedule with values in kW (FlexMeasures answers in the sensor's unit)."""
        factor = power_factor_to_kw(schedule.unit)
        if factor is None:
            LOGGER.warning(
                "Schedule for %s has unit %r, not a power unit; values are used as is",
                self.subentry.title,
                schedule.unit,
            )
            return schedule
        if factor == 1.0:
            return replace(schedule, unit="kW")
        return replace(
            schedule,
            unit="kW",
            values=tuple(value * factor for value in schedule.values),
        )

    def _translate(self, err: FlexMeasuresError) -> _ScheduleRequestError:
        """Map a client error to a translation key (once, for all callers)."""
        device = self.subentry.title
        if isinstance(err, FlexMeasuresScheduleFailedError):
            return _ScheduleRequestError(
                "schedule_failed", {"device": device, "reason": err.reason}
            )
        if isinstance(err, FlexMeasuresSchedulePendingError):
            return _ScheduleRequestError(
                "schedule_timeout", {"device": device, "seconds": f"{MAX_WAIT:g}"}
            )
        if isinstance(err, FlexMeasuresInvalidRequestError):
            return _ScheduleRequestError(
                "request_rejected",
                {"device": device, "error": _details(err)},
                user_input=True,
            )
        key, placeholders = translate_error(
            err, self.client.url, self.settings.power_sensor_id
        )
        return _ScheduleRequestError(
            key, placeholders, auth=isinstance(err, FlexMeasuresAuthenticationError)
        )

    # -- bookkeeping ------------------------------------------------------

    def _record_success(self, schedule: Schedule) -> None:
        """Remember the success; a failure's repair issue is resolved."""
        self.last_success = dt_util.utcnow()
        self.failure_reason = None
        if self._last_log_error is not None:
            LOGGER.info("Schedule for %s is back", self.subentry.title)
        self._last_log_error = None
        self.job_id = schedule.job_id or self.job_id
        self._untrack_soc()
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    def _record_failure(self, err: _ScheduleRequestError) -> None:
        """Remember the failure; an infeasible schedule gets a repair issue."""
        self.last_error = f"{err.translation_key}: " + ", ".join(
            f"{key}={value}" for key, value in sorted(err.placeholders.items())
        )
        self.last_error_time = dt_util.utcnow()
        if err.translation_key == "soc_unavailable":
            self._track_soc()
        else:
            self._untrack_soc()
        if err.translation_key != "schedule_failed":
            return
        reason = err.placeholders["reason"]
        self.failure_reason = reason
        if self._last_log_error != reason:
            LOGGER.warning(
                "FlexMeasures could not compute a schedule for %s: %s",
                self.subentry.title,
                reason,
            )
        self._last_log_error = reason
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="schedule_failed",
            translation_placeholders={"device": self.subentry.title, "reason": reason},
        )

    # -- waiting for the state of charge ----------------------------------

    @callback
    def _track_soc(self) -> None:
        """Refresh as soon as the state of charge entity has a value.

        At start-up the entity (e.g. a template sensor) often loads after
        this integration; the retry after SOC_RETRY_AFTER stays as a fallback.
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
        if _soc_number(event.data["new_state"]) is None:
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

    # -- diagnostics ------------------------------------------------------

    def as_diagnostics(self) -> dict[str, Any]:
        """What diagnostics show about this schedule device (no secrets)."""
        schedule = self.data
        return {
            "subentry_id": self.subentry_id,
            "title": self.subentry.title,
            "settings": {
                "power_sensor_id": self.settings.power_sensor_id,
                "consumption_price_sensor_id": self.settings.consumption_price_sensor_id,
                "production_price_sensor_id": self.settings.production_price_sensor_id,
                "soc_entity": self.settings.soc_entity,
                "capacity": self.settings.capacity,
                "soc_min": self.settings.soc_min,
                "soc_max": self.settings.soc_max,
                "roundtrip_efficiency": self.settings.roundtrip_efficiency,
                "power_capacity": self.settings.power_capacity,
                "duration_hours": self.settings.duration / timedelta(hours=1),
                "update_interval_minutes": self.settings.update_interval
                / timedelta(minutes=1),
            },
            "last_update_success": self.last_update_success,
            "stale": self.stale,
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "last_error_time": _iso(self.last_error_time),
            "failure_reason": self.failure_reason,
            "job_id": self.job_id,
            "soc_targets": [target.as_flex_model() for target in self.soc_targets],
            "schedule": None
            if schedule is None
            else {
                "job_id": schedule.job_id,
                "start": schedule_start(schedule).isoformat(),
                "end": schedule_end(schedule).isoformat(),
                "resolution_seconds": schedule.resolution.total_seconds(),
                "steps": len(schedule.values),
                "unit": schedule.unit,
                "covers_now": self.covers_now(),
            },
        }


def translate_error(
    err: FlexMeasuresError, url: str, sensor_id: int
) -> tuple[str, dict[str, str]]:
    """The translation key and placeholders of an error with the account or a sensor.

    Shared by the schedule coordinator and the measurement actions; what a
    refused request means differs between them, so they map that themselves.
    """
    if isinstance(err, FlexMeasuresAuthenticationError):
        return "invalid_auth", {"url": url}
    if isinstance(err, FlexMeasuresNotFoundError | FlexMeasuresAccessDeniedError):
        return "sensor_not_accessible", {"sensor_id": str(sensor_id), "error": str(err)}
    if isinstance(err, FlexMeasuresRateLimitError):
        return "rate_limited", {"url": url}
    if isinstance(err, FlexMeasuresConnectionError):
        return "cannot_connect", {"url": url}
    return "api_error", {"url": url, "error": str(err)}


def _iso(when: datetime | None) -> str | None:
    """An optional datetime as ISO 8601."""
    return None if when is None else when.isoformat()


def _details(err: FlexMeasuresResponseError) -> str:
    """The server's explanation of a refused request, short."""
    if err.details:
        return str(err.details)[:500]
    return err.message
