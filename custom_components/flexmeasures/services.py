"""Actions of the FlexMeasures integration (registered once, in async_setup).

The schemas (action_schemas.py) hold the rules of the input's shape; the
handlers check what depends on the device or the time (the state of charge
range, targets in the future) and look entries and devices up with Home
Assistant's service helpers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import service
from homeassistant.util import dt as dt_util

from .action_schemas import (
    ATTR_CLEAR_SOC_TARGETS,
    ATTR_CONFIG_ENTRY_ID,
    ATTR_DEVICE_ID,
    ATTR_DURATION,
    ATTR_FLEX_CONTEXT,
    ATTR_FLEX_MODEL,
    ATTR_PRIOR,
    ATTR_RESOLUTION,
    ATTR_SENSOR_ID,
    ATTR_SOC_AT_START,
    ATTR_SOC_TARGETS,
    ATTR_SOURCE,
    ATTR_START,
    ATTR_UNIT,
    ATTR_VALUES,
    GET_MEASUREMENTS_SCHEMA,
    GET_SCHEDULE_SCHEMA,
    POST_MEASUREMENTS_SCHEMA,
    TRIGGER_SCHEDULE_SCHEMA,
)
from .api import FlexMeasuresClient, FlexMeasuresError, Schedule
from .api.models import format_duration
from .const import ATTR_SCHEDULE, ATTR_SIGN_CONVENTION, DOMAIN, SIGN_CONVENTION
from .coordinator import ScheduleCoordinator
from .data import FlexMeasuresConfigEntry, FlexMeasuresData
from .exceptions import measurement_action_error
from .requests import SocTarget, soc_kwh
from .schedule import ATTRIBUTE_DECIMALS, segments
from .site_coordinator import SiteCoordinator
from .units import kwh_quantity

SERVICE_TRIGGER_SCHEDULE: Final = "trigger_schedule"
SERVICE_GET_SCHEDULE: Final = "get_schedule"
SERVICE_POST_MEASUREMENTS: Final = "post_measurements"
SERVICE_GET_MEASUREMENTS: Final = "get_measurements"


# The most targets one call may give: the power setpoint's soc_targets
# attribute (recorded, DESIGN.md) then stays well under the recorder's 16 KB.
MAX_SOC_TARGETS: Final = 100

# Translation keys of the errors that name a field, per field (so that each
# language names the field as the action's UI shows it).
_NAIVE_KEYS: Final = {
    ATTR_START: "naive_start",
    ATTR_PRIOR: "naive_prior",
    ATTR_SOC_TARGETS: "naive_soc_target",
}
_INVALID_SOC_KEYS: Final = {
    ATTR_SOC_AT_START: "invalid_soc_at_start",
    ATTR_SOC_TARGETS: "invalid_soc_target",
}
_SOC_RANGE_KEYS: Final = {
    ATTR_SOC_AT_START: "soc_at_start_out_of_range",
    ATTR_SOC_TARGETS: "soc_target_out_of_range",
}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the FlexMeasures actions."""
    for name, handler, schema, supports_response in (
        (
            SERVICE_TRIGGER_SCHEDULE,
            _async_trigger_schedule,
            TRIGGER_SCHEDULE_SCHEMA,
            SupportsResponse.OPTIONAL,
        ),
        (
            SERVICE_GET_SCHEDULE,
            _async_get_schedule,
            GET_SCHEDULE_SCHEMA,
            SupportsResponse.ONLY,
        ),
        (
            SERVICE_POST_MEASUREMENTS,
            _async_post_measurements,
            POST_MEASUREMENTS_SCHEMA,
            SupportsResponse.OPTIONAL,
        ),
        (
            SERVICE_GET_MEASUREMENTS,
            _async_get_measurements,
            GET_MEASUREMENTS_SCHEMA,
            SupportsResponse.ONLY,
        ),
    ):
        hass.services.async_register(
            DOMAIN, name, handler, schema=schema, supports_response=supports_response
        )


# --- look-ups ----------------------------------------------------------------


def _schedule_coordinator(
    hass: HomeAssistant, device_id: str
) -> ScheduleCoordinator | SiteCoordinator:
    """The coordinator of a schedule or site device ({(DOMAIN, subentry_id)})."""
    device, entry = service.async_get_device_and_config_entry(hass, DOMAIN, device_id)
    data: FlexMeasuresData = entry.runtime_data
    for domain, identifier in device.identifiers:
        if domain != DOMAIN:
            continue
        if (coordinator := data.coordinators.get(identifier)) is not None:
            return coordinator
        if (site := data.sites.get(identifier)) is not None:
            return site
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_a_schedule_device",
        translation_placeholders={"device": device.name_by_user or device.name or ""},
    )


def _client(call: ServiceCall) -> FlexMeasuresClient:
    """The client of the call's (loaded) config entry."""
    entry: FlexMeasuresConfigEntry = service.async_get_config_entry(
        call.hass, DOMAIN, call.data[ATTR_CONFIG_ENTRY_ID]
    )
    return entry.runtime_data.client


def _aware(key: str, value: datetime) -> datetime:
    """A datetime of the call; one without a time zone is ambiguous."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=_NAIVE_KEYS[key],
            translation_placeholders={"value": value.isoformat()},
        )
    return value


def _local(when: datetime) -> str:
    """A time of an action's answer: in Home Assistant's time zone, with its offset."""
    return dt_util.as_local(when).isoformat()


# --- schedules: trigger_schedule, get_schedule ------------------------------


def _soc_kwh_quantity(
    coordinator: ScheduleCoordinator, field: str, value: float | str
) -> str:
    """A state of charge of the call as a kWh quantity; it must lie within range.

    A number is kWh; a quantity string with an energy unit or a percentage
    (of the capacity) is read as kWh and sent as kWh: FlexMeasures refuses a
    percentage in `soc-targets` ("Cannot convert value `80%` to 'MWh'").
    """
    settings = coordinator.settings
    try:
        kwh = soc_kwh(value, settings.capacity)
    except ValueError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=_INVALID_SOC_KEYS[field],
            translation_placeholders={"value": str(value)},
        ) from err
    if not settings.soc_in_range(kwh):
        low, high = settings.soc_bounds
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=_SOC_RANGE_KEYS[field],
            translation_placeholders={
                "value": f"{kwh:g}",
                "min": f"{low:g}",
                "max": "∞" if high is None else f"{high:g}",
            },
        )
    return kwh_quantity(kwh)


def _soc_targets(
    coordinator: ScheduleCoordinator, items: list[Mapping[str, Any]]
) -> list[SocTarget]:
    """The call's targets, by time: in range, with a time zone, in the future.

    At most MAX_SOC_TARGETS (the power setpoint shows them in an attribute
    that the recorder keeps: all of it must stay under its 16 KB). A time
    given twice with one value counts once; with two values it is refused.
    The count is checked as the targets are read, so a huge list is refused
    at its first target past the limit.
    """
    now = dt_util.utcnow()
    targets: dict[datetime, SocTarget] = {}
    for item in items:
        given: datetime = _aware(ATTR_SOC_TARGETS, item["datetime"])
        when = dt_util.as_utc(given)
        if when <= now:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="soc_target_passed",
                translation_placeholders={"value": given.isoformat()},
            )
        target = SocTarget(
            when, _soc_kwh_quantity(coordinator, ATTR_SOC_TARGETS, item["value"])
        )
        if (other := targets.setdefault(when, target)).value != target.value:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="soc_targets_contradict",
                translation_placeholders={
                    "value": given.isoformat(),
                    "first": other.value,
                    "second": target.value,
                },
            )
        if len(targets) > MAX_SOC_TARGETS:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="too_many_soc_targets",
                translation_placeholders={
                    # the times given (one given twice, in any offset, is one)
                    "count": str(len({item["datetime"] for item in items})),
                    "max": str(MAX_SOC_TARGETS),
                },
            )
    return sorted(targets.values(), key=lambda target: target.when)


def schedule_response(schedule: Schedule) -> dict[str, Any]:
    """An action's answer: plain JSON, the merged steps first, then every step.

    Times are in Home Assistant's time zone with its offset (the entity
    attribute `schedule` stays in UTC, for charts); powers are consumption
    positive (charging > 0).
    """
    return {
        ATTR_SCHEDULE: [
            {
                "start": _local(segment.start),
                "end": _local(segment.end),
                "value": segment.value,
            }
            for segment in segments(schedule, decimals=ATTRIBUTE_DECIMALS)
        ],
        ATTR_START: _local(schedule.start),
        ATTR_RESOLUTION: format_duration(schedule.resolution),
        ATTR_UNIT: schedule.unit,
        ATTR_SIGN_CONVENTION: SIGN_CONVENTION,
        ATTR_VALUES: list(schedule.values),
    }


async def _async_trigger_site(site: SiteCoordinator, call: ServiceCall) -> Schedule:
    """On a site device: the site's job; its devices' own settings go on them."""
    per_device = (ATTR_SOC_AT_START, ATTR_SOC_TARGETS, ATTR_FLEX_MODEL)
    if any(call.data.get(key) is not None for key in per_device) or call.data.get(
        ATTR_CLEAR_SOC_TARGETS
    ):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="set_on_a_device",
            translation_placeholders={"site": site.subentry.title},
        )
    hours = call.data.get(ATTR_DURATION)
    plan = await site.async_trigger(
        duration=None if hours is None else timedelta(hours=hours),
        flex_context=call.data.get(ATTR_FLEX_CONTEXT),
    )
    return plan.total


async def _async_trigger_schedule(call: ServiceCall) -> ServiceResponse:
    """Compute a new schedule now (with overrides), wait for it, return it."""
    coordinator = _schedule_coordinator(call.hass, call.data[ATTR_DEVICE_ID])
    if isinstance(coordinator, SiteCoordinator):
        total = await _async_trigger_site(coordinator, call)
        return schedule_response(total) if call.return_response else None
    soc_at_start = call.data.get(ATTR_SOC_AT_START)
    targets = call.data.get(ATTR_SOC_TARGETS)
    if targets is None and call.data[ATTR_CLEAR_SOC_TARGETS]:
        targets = []  # given targets replace the kept ones anyway
    hours = call.data.get(ATTR_DURATION)
    schedule = await coordinator.async_trigger(
        soc_at_start=None
        if soc_at_start is None
        else _soc_kwh_quantity(coordinator, ATTR_SOC_AT_START, soc_at_start),
        soc_targets=None if targets is None else _soc_targets(coordinator, targets),
        duration=None if hours is None else timedelta(hours=hours),
        flex_model=call.data.get(ATTR_FLEX_MODEL),
        flex_context=call.data.get(ATTR_FLEX_CONTEXT),
    )
    if not call.return_response:
        return None
    return schedule_response(schedule)


async def _async_get_schedule(call: ServiceCall) -> ServiceResponse:
    """The schedule the device's entities follow now (a site: its devices' sum)."""
    coordinator = _schedule_coordinator(call.hass, call.data[ATTR_DEVICE_ID])
    schedule = (
        coordinator.total
        if isinstance(coordinator, SiteCoordinator)
        else coordinator.data
    )
    if schedule is None:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="no_schedule",
            translation_placeholders={"device": coordinator.subentry.title},
        )
    return schedule_response(schedule)


# --- measurements: post_measurements, get_measurements ----------------------


async def _async_post_measurements(call: ServiceCall) -> ServiceResponse:
    """Send values to a FlexMeasures sensor; return the server's status."""
    client = _client(call)
    sensor_id: int = call.data[ATTR_SENSOR_ID]
    values: list[float | None] = call.data[ATTR_VALUES]
    prior: datetime | None = call.data.get(ATTR_PRIOR)
    duration: timedelta = call.data.get(ATTR_DURATION) or (
        call.data[ATTR_RESOLUTION] * len(values)
    )
    try:
        status = await client.post_sensor_data(
            sensor_id,
            start=_aware(ATTR_START, call.data[ATTR_START]),
            duration=duration,
            values=values,
            unit=call.data[ATTR_UNIT],
            prior=None if prior is None else _aware(ATTR_PRIOR, prior),
        )
    except FlexMeasuresError as err:
        raise measurement_action_error(err, client.url, sensor_id) from err
    return {"status": status}


async def _async_get_measurements(call: ServiceCall) -> ServiceResponse:
    """Read a FlexMeasures sensor's values over a period."""
    client = _client(call)
    sensor_id: int = call.data[ATTR_SENSOR_ID]
    start = _aware(ATTR_START, call.data[ATTR_START])
    try:
        unit: str | None = call.data.get(ATTR_UNIT)
        if unit is None:
            unit = (await client.get_sensor(sensor_id)).unit
        data = await client.get_sensor_data(
            sensor_id,
            start=start,
            duration=call.data[ATTR_DURATION],
            unit=unit,
            resolution=call.data.get(ATTR_RESOLUTION),
            source=call.data.get(ATTR_SOURCE),
        )
    except FlexMeasuresError as err:
        raise measurement_action_error(err, client.url, sensor_id) from err
    return {
        ATTR_START: _local(data.start),
        ATTR_RESOLUTION: format_duration(data.resolution),
        ATTR_UNIT: data.unit,
        ATTR_VALUES: list(data.values),
    }
