"""Sub-entry flow "schedule": a flexible device to schedule, from server drop-downs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from homeassistant.config_entries import (
    ConfigSubentry,
    SubentryFlowResult,
)
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    CONF_NAME,
    PERCENTAGE,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    EntityWithDeviceFilterSelectorConfig,
    SelectOptionDict,
    TextSelector,
)
import probatio

from .api import (
    Asset,
    FlexMeasuresClient,
    FlexMeasuresError,
)
from .const import (
    CONF_CAPACITY,
    CONF_POWER_CAPACITY,
    CONF_POWER_SENSOR,
    CONF_ROUNDTRIP_EFFICIENCY,
    CONF_SOC_ENTITY,
    CONF_SOC_MAX,
    CONF_SOC_MIN,
)
from .flow_helpers import (
    Catalogue,
    Storage,
    SubentryFormFlow,
    asset_storage,
    dropdown,
    horizon_fields,
    number,
    price_fields,
    read_errors,
    scheduled_power_sensors,
    sensor_label,
    site_of_device,
    stored_settings,
)
from .meters import meter_mode
from .requests import soc_bounds
from .units import is_percentage, power_factor_to_kw


class ScheduleSubentryFlowHandler(SubentryFormFlow):
    """Add or reconfigure a schedule (a flexible device) on an account.

    The drop-downs are filled from the server, so the account's entry must be
    loaded (its client is used). One schedule per FlexMeasures power sensor:
    sensors that another schedule of the account uses are not offered, nor
    sensors of assets that cannot store energy (solar, wind, a grid
    connection). The sub-entry's title is its name (the asset's name unless
    one is given); a reconfigure keeps it unless the name field changes it.
    """

    async def _async_step_form(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
    ) -> SubentryFlowResult:
        """Show the form; validate and save what was entered."""
        entry = self._get_entry()
        subentry = self._own()
        data = self._loaded_data()
        client = data.client
        taken = scheduled_power_sensors(entry.subentries.values(), subentry)
        errors: dict[str, str] = {}
        placeholders = {"account": data.account.name}
        if user_input is not None:
            power_sensor = str(user_input[CONF_POWER_SENSOR])
            if power_sensor in taken:
                # another form saved it while this one was open
                return self.async_abort(reason="already_configured")
            if site := _site_refusing(
                entry.subentries.values(), subentry, power_sensor
            ):
                errors = {CONF_POWER_SENSOR: "in_site"}
                placeholders["site"] = site.title
            else:
                errors, title = await self._async_check_name(
                    user_input, lambda: self._async_validate(client, user_input)
                )
                if not errors:
                    return self._async_save(
                        title, _schedule_data(user_input), power_sensor
                    )
        catalogue = await self._async_catalogue(client, user_input)
        options = _sensor_options(catalogue, data.account.id)
        power_options, prices = options.power, catalogue.prices
        if not power_options:
            # none at all, or only those of solar, wind, a grid connection, ...
            return self.async_abort(
                reason="no_storage_sensors"
                if options.cannot_store
                else "no_power_sensors"
            )
        power_options = [o for o in power_options if o["value"] not in taken]
        if not power_options:
            return self.async_abort(reason="no_power_sensors_left")
        suggested: Mapping[str, Any] = (
            user_input
            if user_input is not None
            else self._stored_values((CONF_POWER_SENSOR,))
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                _schedule_schema(power_options, prices, energy_meters(self.hass)),
                suggested,
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_validate(
        self, client: FlexMeasuresClient, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, str], str]:
        """Check the input against the server; return form errors and a title.

        The title is the asset's name (the sensor's without an asset).
        """
        errors: dict[str, str] = {}
        capacity = user_input.get(CONF_CAPACITY)
        soc_min = user_input.get(CONF_SOC_MIN)
        soc_max = user_input.get(CONF_SOC_MAX)
        low, high = soc_bounds(capacity=capacity, soc_min=soc_min, soc_max=soc_max)
        if (high is not None and low > high) or (
            soc_max is not None and capacity is not None and soc_max > capacity
        ):
            errors[CONF_SOC_MAX] = "soc_range"
        soc_entity = user_input.get(CONF_SOC_ENTITY)
        state = self.hass.states.get(soc_entity) if soc_entity else None
        if state is not None and meter_mode(state.attributes) is not None:
            # a grid import meter at 12 345 kWh would be clamped to soc_max
            errors[CONF_SOC_ENTITY] = "soc_entity_is_meter"
        elif (
            state is not None
            and capacity is None
            and is_percentage(state.attributes.get(ATTR_UNIT_OF_MEASUREMENT))
        ):
            errors[CONF_CAPACITY] = "capacity_required"
        try:
            sensor = await client.get_sensor(int(user_input[CONF_POWER_SENSOR]))
            if power_factor_to_kw(sensor.unit) is None:
                errors[CONF_POWER_SENSOR] = "not_a_power_sensor"
                return errors, ""
            title = sensor.name
            if sensor.asset_id is not None:
                asset = await client.get_asset(sensor.asset_id)
                if asset_storage(asset.asset_type) is Storage.NO:
                    errors[CONF_POWER_SENSOR] = "cannot_store"
                    return errors, ""
                title = asset.name
        except FlexMeasuresError as err:
            read = read_errors(err, CONF_POWER_SENSOR, "sensor_not_found", "sensor")
            return ({**errors, **read} if "base" not in read else read), ""
        return errors, title


def _site_refusing(
    subentries: Iterable[ConfigSubentry],
    subentry: ConfigSubentry | None,
    power_sensor: str,
) -> ConfigSubentry | None:
    """The site that keeps this schedule on its power sensor, if it would change.

    A site names its devices by their power sensors: a member's cannot change
    while it is in the site (None: a new schedule, the same sensor, or in no
    site).
    """
    if subentry is None or (old := subentry.data.get(CONF_POWER_SENSOR)) is None:
        return None
    if str(old) == power_sensor:
        return None
    return site_of_device(subentries, str(old))


# Shown after the label of a power sensor whose asset may not store energy.
ASSET_TYPE_SUFFIX: Final = " · asset type: {asset_type}"


@dataclass(frozen=True, slots=True)
class SensorOptions:
    """The power sensor drop-down as the server filled it."""

    power: list[SelectOptionDict]
    # the account's power sensors left out: their assets cannot store energy
    cannot_store: int = 0


def _sensor_options(catalogue: Catalogue, account_id: int) -> SensorOptions:
    """The power sensor drop-down: the account's power sensors.

    Power sensors of assets that cannot store energy are left out (and
    counted); those whose asset type does not tell come last, with their asset
    type in the label.
    """
    assets = catalogue.assets
    power: list[SelectOptionDict] = []
    unsure: list[SelectOptionDict] = []
    cannot_store = 0
    for sensor in sorted(
        catalogue.sensors, key=lambda s: sensor_label(s, assets).casefold()
    ):
        asset = assets.get(sensor.asset_id) if sensor.asset_id is not None else None
        if (
            power_factor_to_kw(sensor.unit) is not None
            and asset is not None
            and asset.account_id == account_id
        ):
            label = sensor_label(sensor, assets)
            _add_power_option(power, unsure, str(sensor.id), label, asset)
            cannot_store += asset_storage(asset.asset_type) is Storage.NO
    return SensorOptions([*power, *unsure], cannot_store)


def _add_power_option(
    power: list[SelectOptionDict],
    unsure: list[SelectOptionDict],
    value: str,
    label: str,
    asset: Asset,
) -> None:
    """Offer a power sensor by what its asset can do (or not at all)."""
    match asset_storage(asset.asset_type):
        case Storage.YES:
            power.append(SelectOptionDict(value=value, label=label))
        case Storage.UNKNOWN:
            suffix = ASSET_TYPE_SUFFIX.format(asset_type=asset.asset_type or "none")
            unsure.append(SelectOptionDict(value=value, label=label + suffix))
        case Storage.NO:
            pass


def energy_meters(hass: HomeAssistant) -> list[str]:
    """The sensors that count energy (total / total increasing): not a state of charge."""
    return sorted(
        state.entity_id
        for state in hass.states.async_all("sensor")
        if meter_mode(state.attributes) is not None
    )


class SocEntitySelector(EntitySelector):
    """The state of charge entity picker: energy meters are left out of its list.

    A meter given anyway (a script, a form opened before the meter appeared)
    passes the schema: the form refuses it with an error on the field
    (soc_entity_is_meter) rather than a bare "invalid" from the selector.
    """

    def __call__(self, data: Any) -> str | list[str]:
        """Validate the entity id, the left-out meters included."""
        config = self.config.copy()
        config.pop("exclude_entities", None)
        return EntitySelector(config)(data)


def _schedule_schema(
    power_options: list[SelectOptionDict],
    prices: list[SelectOptionDict],
    meters: list[str],
) -> probatio.Schema:
    """The schedule form (`meters`: left out of the state of charge entities)."""

    return probatio.Schema(
        {
            probatio.Optional(CONF_NAME): TextSelector(),
            probatio.Required(CONF_POWER_SENSOR): dropdown(power_options),
            **price_fields(prices),
            probatio.Optional(CONF_SOC_ENTITY): SocEntitySelector(
                EntitySelectorConfig(
                    filter=[
                        EntityWithDeviceFilterSelectorConfig(
                            domain="sensor",
                            device_class=["battery", "energy", "energy_storage"],
                        )
                    ],
                    exclude_entities=meters,
                )
            ),
            probatio.Optional(CONF_CAPACITY): number(UnitOfEnergy.KILO_WATT_HOUR),
            probatio.Optional(CONF_SOC_MIN): number(UnitOfEnergy.KILO_WATT_HOUR),
            probatio.Optional(CONF_SOC_MAX): number(UnitOfEnergy.KILO_WATT_HOUR),
            probatio.Optional(CONF_ROUNDTRIP_EFFICIENCY, default=90): number(
                PERCENTAGE, minimum=1, maximum=100, step=1
            ),
            probatio.Optional(CONF_POWER_CAPACITY): number(UnitOfPower.KILO_WATT),
            **horizon_fields(),
        }
    )


def _schedule_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """What a schedule subentry stores (sensor ids as strings; the title is the name)."""
    data = {key: value for key, value in user_input.items() if key != CONF_NAME}
    data[CONF_POWER_SENSOR] = str(user_input[CONF_POWER_SENSOR])
    return data | stored_settings(user_input)
