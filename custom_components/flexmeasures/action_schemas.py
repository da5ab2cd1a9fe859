"""The actions' fields and schemas, whose errors name the field as the UI does.

The schemas hold the rules of the input's shape (a planning horizon of 1 to
168 hours, finite numbers, a duration or a resolution, at least one value).
probatio's own text quotes internal keys and Python lists ("expected float
@ data['soc_at_start']"); `_named` turns the first error into a translated
ServiceValidationError of the field it is about (per-field translation keys,
so that each language names the field as the action's UI shows it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
import math
from typing import Any, Final

from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import probatio

from .api.models import parse_duration
from .const import DOMAIN

ATTR_DEVICE_ID: Final = "device_id"
ATTR_SOC_AT_START: Final = "soc_at_start"
ATTR_SOC_TARGETS: Final = "soc_targets"
ATTR_CLEAR_SOC_TARGETS: Final = "clear_soc_targets"
ATTR_FLEX_MODEL: Final = "flex_model"
ATTR_FLEX_CONTEXT: Final = "flex_context"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_SENSOR_ID: Final = "sensor_id"
ATTR_START: Final = "start"
ATTR_DURATION: Final = "duration"
ATTR_RESOLUTION: Final = "resolution"
ATTR_VALUES: Final = "values"
ATTR_UNIT: Final = "unit"
ATTR_PRIOR: Final = "prior"
ATTR_SOURCE: Final = "source"

# The planning horizon an action may ask for, in hours (services.yaml).
MIN_DURATION: Final = 1
MAX_DURATION: Final = 168

# The group of post_measurements' duration and resolution (exactly one).
_PERIOD_GROUP: Final = "period"


# --- validators ----------------------------------------------------------------


def _iso_duration(value: Any) -> timedelta:
    """An ISO 8601 duration such as PT15M (as FlexMeasures writes them)."""
    if not isinstance(value, str):
        raise probatio.Invalid("expected an ISO 8601 duration such as PT15M")
    try:
        return parse_duration(value)
    except ValueError as err:
        raise probatio.Invalid("expected an ISO 8601 duration such as PT15M") from err


def _positive_period(value: timedelta) -> timedelta:
    """A duration or resolution must be more than nothing."""
    if value <= timedelta(0):
        raise probatio.Invalid("must be longer than zero")
    return value


def _finite(value: float) -> float:
    """A number that is not infinite nor NaN."""
    if not math.isfinite(value):
        raise probatio.Invalid("must be a finite number")
    return value


def _soc_value(value: Any) -> float | str:
    """A state of charge: a finite number (kWh) or a quantity string ("40 kWh")."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise probatio.Invalid("expected a number of kWh or a quantity such as 40 kWh")
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value.strip()  # a quantity, read by the handler
        return _finite(number)
    return _finite(float(value))


# --- errors --------------------------------------------------------------------

# Per action: the translation key of the error of each field (and group).
type FieldKeys = Mapping[str, str]

_TRIGGER_KEYS: Final[FieldKeys] = {
    ATTR_DEVICE_ID: "invalid_device",
    ATTR_SOC_AT_START: "invalid_soc_at_start",
    ATTR_SOC_TARGETS: "invalid_soc_targets",
    ATTR_CLEAR_SOC_TARGETS: "invalid_clear_soc_targets",
    ATTR_DURATION: "invalid_horizon",
    ATTR_FLEX_MODEL: "invalid_flex_model",
    ATTR_FLEX_CONTEXT: "invalid_flex_context",
}
_GET_SCHEDULE_KEYS: Final[FieldKeys] = {ATTR_DEVICE_ID: "invalid_device"}
_MEASUREMENT_KEYS: Final[FieldKeys] = {
    ATTR_CONFIG_ENTRY_ID: "invalid_config_entry",
    ATTR_SENSOR_ID: "invalid_sensor_id",
    ATTR_START: "invalid_start",
    ATTR_DURATION: "invalid_duration",
    ATTR_RESOLUTION: "invalid_resolution",
    ATTR_UNIT: "invalid_unit",
}
_POST_KEYS: Final[FieldKeys] = {
    **_MEASUREMENT_KEYS,
    _PERIOD_GROUP: "duration_or_resolution",
    ATTR_VALUES: "invalid_values",
    ATTR_PRIOR: "invalid_prior",
}
_GET_MEASUREMENTS_KEYS: Final[FieldKeys] = {
    **_MEASUREMENT_KEYS,
    ATTR_SOURCE: "invalid_source",
}
# Placeholders of the keys that take any.
_PLACEHOLDERS: Final[Mapping[str, dict[str, str]]] = {
    "invalid_horizon": {"min": str(MIN_DURATION), "max": str(MAX_DURATION)},
}
# Per action (services.yaml): its fields' keys (tests check that each text
# starts with the field's name in the action's UI).
FIELD_ERROR_KEYS: Final[Mapping[str, FieldKeys]] = {
    "trigger_schedule": _TRIGGER_KEYS,
    "get_schedule": _GET_SCHEDULE_KEYS,
    "post_measurements": _POST_KEYS,
    "get_measurements": _GET_MEASUREMENTS_KEYS,
}


def field_error(err: probatio.Invalid, keys: FieldKeys) -> ServiceValidationError:
    """The translated error of the field that `err` is about."""
    if not err.path:
        return ServiceValidationError(
            translation_domain=DOMAIN, translation_key="invalid_action_data"
        )
    field = err.path[0]  # a key, or a group (a str that prints as <group>)
    if (key := keys.get(field) if isinstance(field, str) else None) is None:
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_field",
            translation_placeholders={"key": str(field)},
        )
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=_PLACEHOLDERS.get(key),
    )


def _named(schema: probatio.Schema, keys: FieldKeys) -> probatio.All[Any]:
    """`schema`, its errors raised as the translated error of their field.

    Home Assistant calls a service's schema before the handler and lets a
    HomeAssistantError of it through to the caller (the UI shows its text).
    """

    def validate(data: Any) -> Any:
        try:
            return schema(data)
        except probatio.Invalid as err:
            raise field_error(err, keys) from err

    return probatio.All(validate)


# --- schemas -------------------------------------------------------------------

# "00:15:00", 900 (seconds), {"minutes": 15} or "PT15M"
_PERIOD: Final = probatio.All(
    probatio.Any(cv.time_period, _iso_duration), _positive_period
)
_JSON_OBJECT: Final = probatio.Schema({str: object})
_SENSOR_ID: Final = probatio.All(probatio.Coerce(int), probatio.Range(min=1))

GET_SCHEDULE_SCHEMA: Final = _named(
    probatio.Schema({probatio.Required(ATTR_DEVICE_ID): cv.string}),
    _GET_SCHEDULE_KEYS,
)
TRIGGER_SCHEDULE_SCHEMA: Final = _named(
    probatio.Schema(
        {
            probatio.Required(ATTR_DEVICE_ID): cv.string,
            probatio.Optional(ATTR_SOC_AT_START): probatio.All(
                probatio.Coerce(float), _finite
            ),
            probatio.Optional(ATTR_SOC_TARGETS): [
                probatio.Schema(
                    {
                        probatio.Required("datetime"): cv.datetime,
                        probatio.Required("value"): _soc_value,
                    }
                )
            ],
            probatio.Optional(ATTR_CLEAR_SOC_TARGETS, default=False): cv.boolean,
            probatio.Optional(ATTR_DURATION): probatio.All(
                probatio.Coerce(float),
                _finite,
                probatio.Range(min=MIN_DURATION, max=MAX_DURATION),
            ),
            probatio.Optional(ATTR_FLEX_MODEL): _JSON_OBJECT,
            probatio.Optional(ATTR_FLEX_CONTEXT): _JSON_OBJECT,
        }
    ),
    _TRIGGER_KEYS,
)

_MEASUREMENT_BASE: Final = {
    probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
    probatio.Required(ATTR_SENSOR_ID): _SENSOR_ID,
    probatio.Required(ATTR_START): cv.datetime,
}
POST_MEASUREMENTS_SCHEMA: Final = _named(
    probatio.Schema(
        {
            **_MEASUREMENT_BASE,
            # exactly one of the two
            probatio.Exclusive(ATTR_DURATION, _PERIOD_GROUP, required=True): _PERIOD,
            probatio.Exclusive(ATTR_RESOLUTION, _PERIOD_GROUP): _PERIOD,
            probatio.Required(ATTR_VALUES): probatio.All(
                cv.ensure_list,
                [probatio.Any(None, probatio.All(probatio.Coerce(float), _finite))],
                probatio.Length(min=1),
            ),
            probatio.Required(ATTR_UNIT): cv.string,
            probatio.Optional(ATTR_PRIOR): cv.datetime,
        }
    ),
    _POST_KEYS,
)
GET_MEASUREMENTS_SCHEMA: Final = _named(
    probatio.Schema(
        {
            **_MEASUREMENT_BASE,
            probatio.Required(ATTR_DURATION): _PERIOD,
            probatio.Optional(ATTR_UNIT): cv.string,
            probatio.Optional(ATTR_RESOLUTION): _PERIOD,
            probatio.Optional(ATTR_SOURCE): _SENSOR_ID,
        }
    ),
    _GET_MEASUREMENTS_KEYS,
)
