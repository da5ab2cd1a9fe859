"""Sub-entry flow "schedule": a flexible device to schedule, from server drop-downs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeassistant.config_entries import (
    ConfigSubentry,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    PERCENTAGE,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTime,
)
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    EntityWithDeviceFilterSelectorConfig,
    SelectOptionDict,
)
import probatio

from .api import (
    FlexMeasuresAccessDeniedError,
    FlexMeasuresClient,
    FlexMeasuresError,
    FlexMeasuresNotFoundError,
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
    LOGGER,
    SUBENTRY_TYPE_SCHEDULE,
)
from .flow_helpers import dropdown, loaded_data, number, sensor_label
from .requests import soc_bounds
from .units import is_percentage, is_price_unit, power_factor_to_kw


class ScheduleSubentryFlowHandler(ConfigSubentryFlow):
    """Add or reconfigure a schedule (a flexible device) on an account.

    The drop-downs are filled from the server, so the account's entry must be
    loaded (its client is used). One subentry per FlexMeasures power sensor.
    """

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Choose the device and its settings."""
        return await self._async_step_form("user", user_input, None)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a schedule device's settings."""
        return await self._async_step_form(
            "reconfigure", user_input, self._get_reconfigure_subentry()
        )

    async def _async_step_form(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        subentry: ConfigSubentry | None,
    ) -> SubentryFlowResult:
        """Show the form; validate and save what was entered."""
        entry = self._get_entry()
        if (data := loaded_data(entry)) is None:
            return self.async_abort(reason="entry_not_loaded")
        client = data.client
        errors: dict[str, str] = {}
        if user_input is not None:
            power_sensor = str(user_input[CONF_POWER_SENSOR])
            if any(
                other.subentry_type == SUBENTRY_TYPE_SCHEDULE
                and other.unique_id == power_sensor
                and (subentry is None or other.subentry_id != subentry.subentry_id)
                for other in entry.subentries.values()
            ):
                return self.async_abort(reason="already_configured")
            errors, title = await self._async_validate(client, user_input)
            if not errors:
                values = _schedule_data(user_input)
                if subentry is None:
                    return self.async_create_entry(
                        title=title, data=values, unique_id=power_sensor
                    )
                # The entry's update listener reloads it (never reload here too).
                return self.async_update_and_abort(
                    entry, subentry, title=title, data=values, unique_id=power_sensor
                )
        try:
            power_options, price_options = await _async_sensor_options(
                client, data.account.id
            )
        except FlexMeasuresError as err:
            LOGGER.debug("Cannot list the sensors at %s: %s", client.url, err)
            return self.async_abort(reason="cannot_connect")
        if not power_options:
            return self.async_abort(reason="no_power_sensors")
        suggested: Mapping[str, Any] = (
            user_input
            if user_input is not None
            else (subentry.data if subentry is not None else {})
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                _schedule_schema(power_options, price_options), suggested
            ),
            errors=errors,
            description_placeholders={"account": data.account.name},
        )

    async def _async_validate(
        self, client: FlexMeasuresClient, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, str], str]:
        """Check the input against the server; return form errors and a title."""
        errors: dict[str, str] = {}
        capacity = user_input.get(CONF_CAPACITY)
        soc_min = user_input.get(CONF_SOC_MIN)
        soc_max = user_input.get(CONF_SOC_MAX)
        low, high = soc_bounds(capacity=capacity, soc_min=soc_min, soc_max=soc_max)
        if (high is not None and low > high) or (
            soc_max is not None and capacity is not None and soc_max > capacity
        ):
            errors[CONF_SOC_MAX] = "soc_range"
        if (
            (soc_entity := user_input.get(CONF_SOC_ENTITY))
            and capacity is None
            and (state := self.hass.states.get(soc_entity)) is not None
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
                title = (await client.get_asset(sensor.asset_id)).name
        except FlexMeasuresNotFoundError, FlexMeasuresAccessDeniedError:
            errors[CONF_POWER_SENSOR] = "sensor_not_found"
            return errors, ""
        except FlexMeasuresError as err:
            LOGGER.debug("Cannot check the power sensor at %s: %s", client.url, err)
            return {"base": "cannot_connect"}, ""
        return errors, title


# The option meaning "no price sensor: use the flex-context on the asset".
ASSET_PRICE_OPTION: Final = ""
ASSET_PRICE_LABEL: Final = "Use what is stored on the asset"


async def _async_sensor_options(
    client: FlexMeasuresClient, account_id: int
) -> tuple[list[SelectOptionDict], list[SelectOptionDict]]:
    """Drop-down options: the account's power sensors; own and public prices."""
    assets = {asset.id: asset for asset in await client.get_assets(include_public=True)}
    sensors = await client.get_sensors(include_public=True)
    power: list[SelectOptionDict] = []
    prices: list[SelectOptionDict] = []
    for sensor in sorted(sensors, key=lambda s: sensor_label(s, assets).casefold()):
        option = SelectOptionDict(
            value=str(sensor.id), label=sensor_label(sensor, assets)
        )
        asset = assets.get(sensor.asset_id) if sensor.asset_id is not None else None
        if power_factor_to_kw(sensor.unit) is not None:
            if asset is not None and asset.account_id == account_id:
                power.append(option)
        elif is_price_unit(sensor.unit):
            prices.append(option)
    return power, [
        SelectOptionDict(value=ASSET_PRICE_OPTION, label=ASSET_PRICE_LABEL),
        *prices,
    ]


def _schedule_schema(
    power_options: list[SelectOptionDict], price_options: list[SelectOptionDict]
) -> probatio.Schema:
    """The schedule form."""

    return probatio.Schema(
        {
            probatio.Required(CONF_POWER_SENSOR): dropdown(power_options),
            probatio.Required(CONF_CONSUMPTION_PRICE_SENSOR): dropdown(price_options),
            probatio.Optional(
                CONF_PRODUCTION_PRICE_SENSOR, default=ASSET_PRICE_OPTION
            ): dropdown(price_options),
            probatio.Optional(CONF_SOC_ENTITY): EntitySelector(
                EntitySelectorConfig(
                    filter=[
                        EntityWithDeviceFilterSelectorConfig(
                            domain="sensor",
                            device_class=["battery", "energy", "energy_storage"],
                        )
                    ]
                )
            ),
            probatio.Optional(CONF_CAPACITY): number(UnitOfEnergy.KILO_WATT_HOUR),
            probatio.Optional(CONF_SOC_MIN): number(UnitOfEnergy.KILO_WATT_HOUR),
            probatio.Optional(CONF_SOC_MAX): number(UnitOfEnergy.KILO_WATT_HOUR),
            probatio.Optional(CONF_ROUNDTRIP_EFFICIENCY, default=90): number(
                PERCENTAGE, minimum=1, maximum=100, step=1
            ),
            probatio.Optional(CONF_POWER_CAPACITY): number(UnitOfPower.KILO_WATT),
            probatio.Optional(CONF_DURATION, default=DEFAULT_DURATION): number(
                UnitOfTime.HOURS, minimum=1, maximum=168, step=1
            ),
            probatio.Optional(
                CONF_UPDATE_INTERVAL, default=DEFAULT_UPDATE_INTERVAL
            ): number(UnitOfTime.MINUTES, minimum=1, maximum=1440, step=1),
        }
    )


def _schedule_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """What a schedule subentry stores (sensor ids as strings)."""
    data = dict(user_input)
    data[CONF_POWER_SENSOR] = str(user_input[CONF_POWER_SENSOR])
    data[CONF_CONSUMPTION_PRICE_SENSOR] = str(
        user_input.get(CONF_CONSUMPTION_PRICE_SENSOR, ASSET_PRICE_OPTION)
    )
    data[CONF_PRODUCTION_PRICE_SENSOR] = str(
        user_input.get(CONF_PRODUCTION_PRICE_SENSOR, ASSET_PRICE_OPTION)
    )
    return data
