"""Sub-entry flow "measurement": one Home Assistant entity sent to one FlexMeasures sensor."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from homeassistant.config_entries import (
    ConfigSubentry,
    SubentryFlowResult,
)
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, CONF_NAME
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
import probatio

from .api import (
    FlexMeasuresClient,
    FlexMeasuresError,
    Sensor,
)
from .const import (
    CONF_ENTITY_ID,
    CONF_FORECAST_ATTRIBUTE,
    CONF_SENSOR,
    DOMAIN,
    LOGGER,
    SUBENTRY_TYPE_MEASUREMENT,
)
from .flow_helpers import (
    SubentryFormFlow,
    form_name,
    loaded_data,
    name_errors,
    option_values,
    read_errors,
    scheduled_power_sensors,
    sensor_label,
)
from .measurements import parse_value
from .meters import ATTR_STATE_CLASS, meter_mode
from .units import is_power_unit, unit_converter


class MeasurementSubentryFlowHandler(SubentryFormFlow):
    """Add or reconfigure a measurement (an HA entity sent to a sensor).

    One measurement per FlexMeasures sensor (the server would keep whichever
    value came last): sensors another measurement feeds are not offered. The
    title is the name ("entity → asset / sensor" unless one is given); a
    reconfigure keeps it unless the name field changes it.
    """

    def __init__(self) -> None:
        """Nothing read from the server yet."""
        self._sensors: dict[str, Sensor] = {}
        self._options: list[SelectOptionDict] = []
        self._asset_names: dict[int, str] = {}

    def _client(self) -> FlexMeasuresClient | None:
        """The loaded entry's client, or None when the entry is not loaded."""
        data = loaded_data(self._get_entry())
        return None if data is None else data.client

    async def _async_load_sensors(self, client: FlexMeasuresClient) -> str | None:
        """Fill the sensor drop-down from the server; return an abort reason."""
        if self._options:
            return None
        try:
            sensors = await client.get_sensors()
            assets = {asset.id: asset for asset in await client.get_assets()}
        except FlexMeasuresError as err:
            LOGGER.debug("Cannot list the FlexMeasures sensors: %s", err)
            return "cannot_connect"
        if not sensors:
            return "no_sensors"
        labelled = sorted(
            ((sensor_label(sensor, assets), sensor) for sensor in sensors),
            key=lambda item: item[0].casefold(),
        )
        self._sensors = {str(sensor.id): sensor for _, sensor in labelled}
        self._asset_names = {asset.id: asset.name for asset in assets.values()}
        self._options = [
            SelectOptionDict(value=str(sensor.id), label=label)
            for label, sensor in labelled
        ]
        return None

    async def _async_validate(
        self, client: FlexMeasuresClient, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, str], Sensor | None]:
        """Check name, entity, sensor and units: (errors, placeholders, sensor)."""
        if errors := name_errors(form_name(user_input)):
            return errors, {}, None
        state = self.hass.states.get(user_input[CONF_ENTITY_ID])
        if state is None:
            return {CONF_ENTITY_ID: "entity_not_found"}, {}, None
        if state.entity_id in own_entities(self.hass):
            return {CONF_ENTITY_ID: "own_entity"}, {}, None
        if not is_numeric(state):
            return {CONF_ENTITY_ID: "entity_not_numeric"}, {}, None
        attribute = (user_input.get(CONF_FORECAST_ATTRIBUTE) or "").strip()
        if attribute and not isinstance(state.attributes.get(attribute), list | tuple):
            return {CONF_FORECAST_ATTRIBUTE: "forecast_attribute_not_found"}, {}, None
        try:
            sensor = await client.get_sensor(int(user_input[CONF_SENSOR]))
        except (ValueError, FlexMeasuresError) as err:
            return read_errors(err, CONF_SENSOR, "sensor_not_found", "sensor"), {}, None
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while reading a FlexMeasures sensor")
            return {"base": "unknown"}, {}, None
        entity_unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
        if not sends_to(state, sensor):
            return (
                {"base": "incompatible_unit"},
                {"entity_unit": str(entity_unit), "sensor_unit": sensor.unit},
                None,
            )
        return {}, {}, sensor

    async def _async_step_form(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        """The one form of both steps: show, validate, save."""
        client = self._client()
        if client is None:
            return self.async_abort(reason="entry_not_loaded")
        if (reason := await self._async_load_sensors(client)) is not None:
            return self.async_abort(reason=reason)
        own = self._own()
        fed = fed_sensors(self._get_entry().subentries.values(), own)
        errors: dict[str, str] = {}
        placeholders = {"entity_unit": "", "sensor_unit": ""}
        if user_input is not None:
            errors, found, sensor = await self._async_validate(client, user_input)
            placeholders.update(found)
            if sensor is not None:
                entity_id = user_input[CONF_ENTITY_ID]
                unique_id = measurement_unique_id(entity_id, sensor.id)
                if str(sensor.id) in fed:
                    # another form saved it while this one was open
                    return self.async_abort(reason="already_configured")
                data = {CONF_ENTITY_ID: entity_id, CONF_SENSOR: str(sensor.id)}
                if attribute := (user_input.get(CONF_FORECAST_ATTRIBUTE) or "").strip():
                    data[CONF_FORECAST_ATTRIBUTE] = attribute
                name = form_name(user_input)
                if own is not None:
                    return self.async_update_and_abort(
                        self._get_entry(),
                        own,
                        data=data,
                        title=name or own.title,
                        unique_id=unique_id,
                    )
                return self.async_create_entry(
                    title=name or self._default_title(entity_id, sensor),
                    data=data,
                    unique_id=unique_id,
                )
        if not any(option["value"] not in fed for option in self._options):
            return self.async_abort(reason="no_sensors_left")
        suggested: Mapping[str, Any] | None = user_input
        if suggested is None and own is not None:
            suggested = {
                **option_values(own.data, (CONF_SENSOR,)),
                CONF_NAME: own.title,
            }
        if suggested is None:
            # Home Assistant's form takes the first option of a drop-down unless
            # one is suggested: not a schedule's power sensor (that would send
            # measurements where schedules are computed by accident).
            suggested = {CONF_SENSOR: self._default_sensor(fed)}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                self._schema(None if own is None else own.data[CONF_ENTITY_ID], fed),
                suggested or {},
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _default_sensor(self, fed: set[str]) -> str:
        """The first sensor that no schedule computes for and nothing feeds yet."""
        scheduled = scheduled_power_sensors(self._get_entry().subentries.values(), None)
        return next(
            (
                option["value"]
                for option in self._options
                if option["value"] not in scheduled | fed
            ),
            "",
        )

    def _default_title(self, entity_id: str, sensor: Sensor) -> str:
        """The default title: entity → asset / sensor (without an asset: entity → sensor)."""
        state = self.hass.states.get(entity_id)
        asset = (
            None if sensor.asset_id is None else self._asset_names.get(sensor.asset_id)
        )
        target = sensor.name if asset is None else f"{asset} / {sensor.name}"
        return f"{state.name if state else entity_id} → {target}"

    def _schema(self, current: str | None, fed: set[str]) -> probatio.Schema:
        """The form; `current` (the entity a reconfigure starts from) stays offered.

        The sensor drop-down leaves out the sensors other measurements feed.
        """
        options = [option for option in self._options if option["value"] not in fed]
        own = own_entities(self.hass)
        not_numeric = {
            state.entity_id
            for state in self.hass.states.async_all(MEASUREMENT_DOMAINS)
            if not is_numeric(state) and state.entity_id != current
        }
        excluded = sorted(own | not_numeric)
        return probatio.Schema(
            {
                probatio.Optional(CONF_NAME): TextSelector(),
                probatio.Required(CONF_ENTITY_ID): EntitySelector(
                    EntitySelectorConfig(
                        domain=MEASUREMENT_DOMAINS, exclude_entities=excluded
                    )
                ),
                probatio.Required(CONF_SENSOR): SelectSelector(
                    SelectSelectorConfig(
                        options=options, mode=SelectSelectorMode.DROPDOWN
                    )
                ),
                probatio.Optional(CONF_FORECAST_ATTRIBUTE): TextSelector(),
            }
        )


MEASUREMENT_DOMAINS: Final = ["sensor", "number", "input_number"]


def own_entities(hass: HomeAssistant) -> set[str]:
    """The entities of this integration (a setpoint would send a schedule back)."""
    registry = er.async_get(hass)
    return {
        entry.entity_id
        for entry in registry.entities.values()
        if entry.platform == DOMAIN
    }


def is_numeric(state: State) -> bool:
    """A number, or a sensor with a unit or state class (numeric when available)."""
    if state.domain != "sensor":
        return True  # number and input_number hold numbers
    attributes = state.attributes
    return (
        attributes.get(ATTR_UNIT_OF_MEASUREMENT) is not None
        or attributes.get(ATTR_STATE_CLASS) is not None
        or parse_value(state.state) is not None
    )


def sends_to(state: State, sensor: Sensor) -> bool:
    """Whether the entity's values can go to the sensor.

    Its unit converts to the sensor's; or it is an energy meter and the sensor
    has a resolution and a power unit (its mean power per step is sent).
    """
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if unit_converter(unit, sensor.unit) is not None:
        return True
    return (
        meter_mode(state.attributes) is not None
        and is_power_unit(sensor.unit)
        and sensor.event_resolution.total_seconds() > 0
    )


def fed_sensors(
    subentries: Iterable[ConfigSubentry], own: ConfigSubentry | None
) -> set[str]:
    """The FlexMeasures sensor ids (strings) that measurements other than `own` feed.

    Read from the sub-entries' data (not their unique ids, which scripts may
    leave out). A schedule's power sensor is not counted: FlexMeasures keeps
    measured and planned power on one sensor.
    """
    return {
        str(sub.data[CONF_SENSOR])
        for sub in subentries
        if sub.subentry_type == SUBENTRY_TYPE_MEASUREMENT
        and sub.data.get(CONF_SENSOR) not in (None, "")
        and (own is None or sub.subentry_id != own.subentry_id)
    }


def measurement_unique_id(entity_id: str, sensor_id: int) -> str:
    """One measurement subentry per (entity, sensor)."""
    return f"{entity_id}_{sensor_id}"
