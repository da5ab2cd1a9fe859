"""Actions of the FlexMeasures integration (registered once, in async_setup)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util
import probatio

from .api import (
    FlexMeasuresClient,
    FlexMeasuresError,
    FlexMeasuresInvalidRequestError,
    Schedule,
)
from .api.models import format_duration, parse_duration
from .const import DOMAIN, SUBENTRY_TYPE_SCHEDULE
from .coordinator import ScheduleCoordinator, translate_error
from .data import FlexMeasuresData
from .schedule import schedule_attribute


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the FlexMeasures actions."""
    for service, handler, schema, supports_response in (
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
            DOMAIN,
            service,
            handler,
            schema=schema,
            supports_response=supports_response,
        )


def _loaded_data(entry: ConfigEntry) -> FlexMeasuresData:
    """The runtime data of an action's config entry; refuse one not loaded."""
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="config_entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    data: FlexMeasuresData = entry.runtime_data
    return data


# --- schedules: trigger_schedule, get_schedule ------------------------------


SERVICE_TRIGGER_SCHEDULE: Final = "trigger_schedule"
SERVICE_GET_SCHEDULE: Final = "get_schedule"
ATTR_DEVICE_ID: Final = "device_id"
ATTR_SOC_AT_START: Final = "soc_at_start"
ATTR_SOC_TARGETS: Final = "soc_targets"
ATTR_FLEX_MODEL: Final = "flex_model"
ATTR_FLEX_CONTEXT: Final = "flex_context"

GET_SCHEDULE_SCHEMA: Final = probatio.Schema(
    {probatio.Required(ATTR_DEVICE_ID): cv.string}
)
# Objects are checked in the handler, to answer with a translated message.
TRIGGER_SCHEDULE_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(ATTR_DEVICE_ID): cv.string,
        probatio.Optional(ATTR_SOC_AT_START): probatio.Coerce(float),
        probatio.Optional(ATTR_SOC_TARGETS): object,
        probatio.Optional("duration"): probatio.All(
            probatio.Coerce(float), probatio.Range(min=0, min_included=False)
        ),
        probatio.Optional(ATTR_FLEX_MODEL): object,
        probatio.Optional(ATTR_FLEX_CONTEXT): object,
    }
)


def _schedule_coordinator(hass: HomeAssistant, device_id: str) -> ScheduleCoordinator:
    """The coordinator of a schedule device (identifiers {(DOMAIN, subentry_id)})."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="device_not_found",
            translation_placeholders={"device_id": device_id},
        )
    entry = (
        hass.config_entries.async_get_entry(device.config_entry_id)
        if device.config_entry_id is not None
        else None
    )
    for domain, identifier in device.identifiers:
        if (
            domain != DOMAIN
            or entry is None
            or entry.domain != DOMAIN
            or (subentry := entry.subentries.get(identifier)) is None
            or subentry.subentry_type != SUBENTRY_TYPE_SCHEDULE
        ):
            continue
        data = _loaded_data(entry)
        if (coordinator := data.coordinators.get(identifier)) is not None:
            return coordinator
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_a_schedule_device",
        translation_placeholders={"device": device.name_by_user or device.name or ""},
    )


def _check_soc(coordinator: ScheduleCoordinator, field: str, value: Any) -> None:
    """A state of charge in kWh must lie within the device's configured range."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_soc",
            translation_placeholders={"field": field, "value": str(value)},
        )
    try:
        kwh = float(value)
    except ValueError:
        return  # a quantity string ("40 kWh") is left to FlexMeasures
    settings = coordinator.settings
    low = settings.soc_min or 0.0
    high = settings.soc_max if settings.soc_max is not None else settings.capacity
    if kwh < low or (high is not None and kwh > high):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="soc_out_of_range",
            translation_placeholders={
                "field": field,
                "value": f"{kwh:g}",
                "min": f"{low:g}",
                "max": "-" if high is None else f"{high:g}",
            },
        )


def _check_object(field: str, value: Any) -> dict[str, Any] | None:
    """A flex-model / flex-context override must be a JSON object."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_flex_model",
            translation_placeholders={"field": field, "value": str(value)[:200]},
        )
    return value


def _check_soc_targets(
    coordinator: ScheduleCoordinator, value: Any
) -> list[dict[str, Any]] | None:
    """[{datetime, value}] with time zones and values in range."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_soc_target",
            translation_placeholders={"target": str(value)[:200]},
        )
    targets: list[dict[str, Any]] = []
    for item in value:
        when = item.get("datetime")
        parsed = dt_util.parse_datetime(when) if isinstance(when, str) else when
        if not isinstance(parsed, datetime) or "value" not in item:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_soc_target",
                translation_placeholders={"target": str(item)[:200]},
            )
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="naive_datetime",
                translation_placeholders={
                    "field": ATTR_SOC_TARGETS,
                    "value": str(when),
                },
            )
        _check_soc(coordinator, ATTR_SOC_TARGETS, item["value"])
        targets.append({"datetime": parsed, "value": item["value"]})
    return targets


def schedule_response(schedule: Schedule) -> dict[str, Any]:
    """An action's answer: plain JSON, values and merged steps."""
    return {
        "start": schedule.start.isoformat(),
        "resolution": format_duration(schedule.resolution),
        "unit": schedule.unit,
        "values": list(schedule.values),
        "schedule": schedule_attribute(schedule),
    }


async def _async_trigger_schedule(call: ServiceCall) -> ServiceResponse:
    """Compute a new schedule now (with overrides), wait for it, return it."""
    coordinator = _schedule_coordinator(call.hass, call.data[ATTR_DEVICE_ID])
    soc_at_start = call.data.get(ATTR_SOC_AT_START)
    if soc_at_start is not None:
        _check_soc(coordinator, ATTR_SOC_AT_START, soc_at_start)
    hours = call.data.get("duration")
    schedule = await coordinator.async_trigger(
        soc_at_start=soc_at_start,
        soc_targets=_check_soc_targets(coordinator, call.data.get(ATTR_SOC_TARGETS)),
        duration=None if hours is None else timedelta(hours=hours),
        flex_model=_check_object(ATTR_FLEX_MODEL, call.data.get(ATTR_FLEX_MODEL)),
        flex_context=_check_object(ATTR_FLEX_CONTEXT, call.data.get(ATTR_FLEX_CONTEXT)),
    )
    if not call.return_response:
        return None
    return schedule_response(schedule)


async def _async_get_schedule(call: ServiceCall) -> ServiceResponse:
    """The schedule the device's entities follow now."""
    coordinator = _schedule_coordinator(call.hass, call.data[ATTR_DEVICE_ID])
    if coordinator.data is None:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="no_schedule",
            translation_placeholders={"device": coordinator.subentry.title},
        )
    return schedule_response(coordinator.data)


# --- measurements: post_measurements, get_measurements ----------------------


SERVICE_POST_MEASUREMENTS: Final = "post_measurements"
SERVICE_GET_MEASUREMENTS: Final = "get_measurements"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_SENSOR_ID: Final = "sensor_id"
ATTR_START: Final = "start"
ATTR_DURATION: Final = "duration"
ATTR_RESOLUTION: Final = "resolution"
ATTR_VALUES: Final = "values"
ATTR_UNIT: Final = "unit"
ATTR_PRIOR: Final = "prior"
ATTR_SOURCE: Final = "source"


def _iso_duration(value: Any) -> timedelta:
    """An ISO 8601 duration such as PT15M (as FlexMeasures writes them)."""
    if not isinstance(value, str):
        raise probatio.Invalid(f"Expected a duration, got {value}")
    try:
        return parse_duration(value)
    except ValueError as err:
        raise probatio.Invalid(f"Expected a duration, got {value}") from err


# "00:15:00", 900 (seconds), {"minutes": 15} or "PT15M"
_PERIOD: Final = probatio.Any(cv.time_period, _iso_duration)

_MEASUREMENT_BASE: Final = {
    probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
    probatio.Required(ATTR_SENSOR_ID): probatio.All(
        probatio.Coerce(int), probatio.Range(min=1)
    ),
    probatio.Required(ATTR_START): cv.datetime,
}
POST_MEASUREMENTS_SCHEMA: Final = probatio.Schema(
    {
        **_MEASUREMENT_BASE,
        probatio.Optional(ATTR_DURATION): _PERIOD,
        probatio.Optional(ATTR_RESOLUTION): _PERIOD,
        probatio.Required(ATTR_VALUES): probatio.All(
            cv.ensure_list, [probatio.Any(None, probatio.Coerce(float))]
        ),
        probatio.Required(ATTR_UNIT): cv.string,
        probatio.Optional(ATTR_PRIOR): cv.datetime,
    }
)
GET_MEASUREMENTS_SCHEMA: Final = probatio.Schema(
    {
        **_MEASUREMENT_BASE,
        probatio.Required(ATTR_DURATION): _PERIOD,
        probatio.Optional(ATTR_UNIT): cv.string,
        probatio.Optional(ATTR_RESOLUTION): _PERIOD,
        probatio.Optional(ATTR_SOURCE): probatio.All(
            probatio.Coerce(int), probatio.Range(min=1)
        ),
    }
)


def _loaded_client(call: ServiceCall) -> FlexMeasuresClient:
    """The client of the call's config entry; refuse unknown or unloaded ones."""
    entry_id: str = call.data[ATTR_CONFIG_ENTRY_ID]
    entry = call.hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="config_entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    return _loaded_data(entry).client


def _aware(key: str, value: datetime) -> datetime:
    """A datetime field of the call; refuse one without a time zone."""
    if value.tzinfo is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="naive_datetime",
            translation_placeholders={"field": key, "value": value.isoformat()},
        )
    return value


def _positive(key: str, value: timedelta) -> timedelta:
    """A duration or resolution must be more than nothing."""
    if value <= timedelta(0):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_period",
            translation_placeholders={"field": key, "value": str(value)},
        )
    return value


def _measurement_error(
    err: FlexMeasuresError, client: FlexMeasuresClient, sensor_id: int
) -> HomeAssistantError:
    """The error a user sees when FlexMeasures did not do what was asked.

    The sensor id is the action's input: a sensor that is not there or not
    ours, or values the server refuses, are the caller's to fix.
    """
    if isinstance(err, FlexMeasuresInvalidRequestError):
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="measurements_refused",
            translation_placeholders={
                "sensor_id": str(sensor_id),
                "error": err.message,
            },
        )
    key, placeholders = translate_error(err, client.url, sensor_id)
    error_class = (
        ServiceValidationError if key == "sensor_not_accessible" else HomeAssistantError
    )
    return error_class(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )


async def _async_post_measurements(call: ServiceCall) -> ServiceResponse:
    """Send values to a FlexMeasures sensor; return the server's status."""
    client = _loaded_client(call)
    sensor_id: int = call.data[ATTR_SENSOR_ID]
    start = _aware(ATTR_START, call.data[ATTR_START])
    prior: datetime | None = call.data.get(ATTR_PRIOR)
    if prior is not None:
        prior = _aware(ATTR_PRIOR, prior)
    values: list[float | None] = call.data[ATTR_VALUES]
    if not values:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="empty_values"
        )
    duration: timedelta | None = call.data.get(ATTR_DURATION)
    resolution: timedelta | None = call.data.get(ATTR_RESOLUTION)
    if resolution is not None and duration is None:
        duration = _positive(ATTR_RESOLUTION, resolution) * len(values)
    elif duration is None or resolution is not None:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="duration_or_resolution"
        )
    try:
        status = await client.post_sensor_data(
            sensor_id,
            start=start,
            duration=_positive(ATTR_DURATION, duration),
            values=values,
            unit=call.data[ATTR_UNIT],
            prior=prior,
        )
    except FlexMeasuresError as err:
        raise _measurement_error(err, client, sensor_id) from err
    return {"status": status}


async def _async_get_measurements(call: ServiceCall) -> ServiceResponse:
    """Read a FlexMeasures sensor's values over a period."""
    client = _loaded_client(call)
    sensor_id: int = call.data[ATTR_SENSOR_ID]
    start = _aware(ATTR_START, call.data[ATTR_START])
    duration = _positive(ATTR_DURATION, call.data[ATTR_DURATION])
    resolution: timedelta | None = call.data.get(ATTR_RESOLUTION)
    if resolution is not None:
        _positive(ATTR_RESOLUTION, resolution)
    try:
        unit: str | None = call.data.get(ATTR_UNIT)
        if unit is None:
            unit = (await client.get_sensor(sensor_id)).unit
        data = await client.get_sensor_data(
            sensor_id,
            start=start,
            duration=duration,
            unit=unit,
            resolution=resolution,
            source=call.data.get(ATTR_SOURCE),
        )
    except FlexMeasuresError as err:
        raise _measurement_error(err, client, sensor_id) from err
    return {
        "start": data.start.isoformat(),
        "resolution": format_duration(data.resolution),
        "unit": data.unit,
        "values": list(data.values),
    }
