"""Config flow for FlexMeasures: one entry per account on one server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    CONF_EMAIL,
    CONF_PASSWORD,
    CONF_URL,
    CONF_VERIFY_SSL,
    PERCENTAGE,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTime,
)
from homeassistant.core import callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    EntityWithDeviceFilterSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio
from yarl import URL

from .api import (
    Account,
    Asset,
    FlexMeasuresAccessDeniedError,
    FlexMeasuresAuthenticationError,
    FlexMeasuresClient,
    FlexMeasuresError,
    FlexMeasuresNotFoundError,
    Sensor,
    ServerInfo,
    User,
)
from .const import (
    API_VERSION,
    CONF_CAPACITY,
    CONF_CONSUMPTION_PRICE_SENSOR,
    CONF_DURATION,
    CONF_ENTITY_ID,
    CONF_FORECAST_ATTRIBUTE,
    CONF_POWER_CAPACITY,
    CONF_POWER_SENSOR,
    CONF_PRODUCTION_PRICE_SENSOR,
    CONF_ROUNDTRIP_EFFICIENCY,
    CONF_SENSOR,
    CONF_SOC_ENTITY,
    CONF_SOC_MAX,
    CONF_SOC_MIN,
    CONF_UPDATE_INTERVAL,
    DEFAULT_DURATION,
    DEFAULT_UPDATE_INTERVAL,
    DEFAULT_VERIFY_SSL,
    DOMAIN,
    LOGGER,
    SUBENTRY_TYPE_MEASUREMENT,
    SUBENTRY_TYPE_SCHEDULE,
)
from .data import FlexMeasuresData
from .measurements import unit_converter
from .schedule import power_factor_to_kw

_URL_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.URL, autocomplete="url")
)
_EMAIL_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.EMAIL, autocomplete="username")
)
_PASSWORD_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="current-password")
)

STEP_USER_DATA_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_URL): _URL_SELECTOR,
        probatio.Required(CONF_EMAIL): _EMAIL_SELECTOR,
        probatio.Required(CONF_PASSWORD): _PASSWORD_SELECTOR,
        probatio.Required(CONF_VERIFY_SSL, default=DEFAULT_VERIFY_SSL): bool,
    }
)
STEP_REAUTH_DATA_SCHEMA = probatio.Schema(
    {probatio.Required(CONF_PASSWORD): _PASSWORD_SELECTOR}
)
EXAMPLE_URL = "https://flexmeasures.example.com"


def account_unique_id(url: str, user_id: int) -> str:
    """The unique id of an entry: the normalised server URL and the user id."""
    return f"{url}_{user_id}"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What a successful validation learned about the account."""

    url: str
    server_info: ServerInfo
    user: User
    account: Account

    @property
    def unique_id(self) -> str:
        """Server and user: one entry per login."""
        return account_unique_id(self.url, self.user.id)

    @property
    def title(self) -> str:
        """`<account name> (<host>)`."""
        return f"{self.account.name} ({URL(self.url).host_port_subcomponent})"


async def _async_read_account(client: FlexMeasuresClient) -> AccountInfo | str:
    """Log in and read the server, the user and the account, or return an error key."""
    server_info = await client.get_server_info()
    if API_VERSION not in server_info.api_versions:
        LOGGER.debug(
            "Server %s offers API versions %s, not %s",
            client.url,
            server_info.api_versions,
            API_VERSION,
        )
        return "unsupported_version"
    await client.login()
    user = await client.get_current_user()
    account = await client.get_account(user.account_id)
    return AccountInfo(
        url=client.url, server_info=server_info, user=user, account=account
    )


class FlexMeasuresConfigFlow(ConfigFlow, domain=DOMAIN):
    """Handle a config flow for a FlexMeasures account."""

    VERSION = 1
    MINOR_VERSION = 1

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Schedules (flexible devices) and measurements (HA entity -> sensor)."""
        return {
            SUBENTRY_TYPE_SCHEDULE: ScheduleSubentryFlowHandler,
            SUBENTRY_TYPE_MEASUREMENT: MeasurementSubentryFlowHandler,
        }

    async def _async_validate(
        self, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, str], AccountInfo | None]:
        """Try the URL and credentials; return form errors, or what was learned."""
        session = async_get_clientsession(
            self.hass, verify_ssl=user_input[CONF_VERIFY_SSL]
        )
        try:
            client = FlexMeasuresClient(
                session,
                user_input[CONF_URL].strip(),
                user_input[CONF_EMAIL].strip(),
                user_input[CONF_PASSWORD],
                verify_ssl=user_input[CONF_VERIFY_SSL],
            )
        except ValueError:
            return {CONF_URL: "invalid_url"}, None
        try:
            result = await _async_read_account(client)
        except FlexMeasuresAuthenticationError:
            return {"base": "invalid_auth"}, None
        except FlexMeasuresError as err:
            LOGGER.debug("Cannot use FlexMeasures at %s: %s", client.url, err)
            return {"base": "cannot_connect"}, None
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while connecting to FlexMeasures")
            return {"base": "unknown"}, None
        if isinstance(result, str):
            return {"base": result}, None
        return {}, result

    @staticmethod
    def _entry_data(user_input: Mapping[str, Any], info: AccountInfo) -> dict[str, Any]:
        """The entry's data: the normalised URL and the credentials that worked."""
        return {
            CONF_URL: info.url,
            CONF_EMAIL: user_input[CONF_EMAIL].strip(),
            CONF_PASSWORD: user_input[CONF_PASSWORD],
            CONF_VERIFY_SSL: user_input[CONF_VERIFY_SSL],
        }

    def _async_update_and_finish(
        self,
        entry: ConfigEntry,
        *,
        data: Mapping[str, Any],
        unique_id: str,
        title: str,
    ) -> ConfigFlowResult:
        """Save the entry and make it use the new data.

        A loaded entry has an update listener that reloads it when it changes;
        an entry that is not loaded (e.g. setup failed on bad credentials) is
        reloaded here.
        """
        if entry.update_listeners:
            return self.async_update_and_abort(
                entry, data=data, unique_id=unique_id, title=title
            )
        return self.async_update_reload_and_abort(
            entry, data=data, unique_id=unique_id, title=title
        )

    @override
    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the server URL and the login."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors, info = await self._async_validate(user_input)
            if info is not None:
                await self.async_set_unique_id(info.unique_id)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=info.title, data=self._entry_data(user_input, info)
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                STEP_USER_DATA_SCHEMA, _without_password(user_input)
            ),
            errors=errors,
            description_placeholders={"example_url": EXAMPLE_URL},
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Start re-authentication after the server refused the credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the password of the configured login again."""
        errors: dict[str, str] = {}
        entry = self._get_reauth_entry()
        if user_input is not None:
            new_data = {**entry.data, CONF_PASSWORD: user_input[CONF_PASSWORD]}
            errors, info = await self._async_validate(new_data)
            if info is not None:
                await self.async_set_unique_id(info.unique_id)
                self._abort_if_unique_id_mismatch(reason="wrong_account")
                return self._async_update_and_finish(
                    entry,
                    data=self._entry_data(new_data, info),
                    unique_id=info.unique_id,
                    title=entry.title,
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=STEP_REAUTH_DATA_SCHEMA,
            errors=errors,
            description_placeholders={
                CONF_EMAIL: entry.data[CONF_EMAIL],
                CONF_URL: entry.data[CONF_URL],
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the server URL, the login or the TLS check of an entry."""
        errors: dict[str, str] = {}
        entry = self._get_reconfigure_entry()
        if user_input is not None:
            errors, info = await self._async_validate(user_input)
            if info is not None:
                # The login must be the same user as before. The server URL may
                # change (the server moved), so compare the user with the URL
                # part of the entry's own unique id.
                old_url = entry.data[CONF_URL]
                await self.async_set_unique_id(account_unique_id(old_url, info.user.id))
                self._abort_if_unique_id_mismatch(reason="wrong_account")
                if info.url != old_url:
                    await self.async_set_unique_id(info.unique_id)
                    self._abort_if_unique_id_configured()
                return self._async_update_and_finish(
                    entry,
                    data=self._entry_data(user_input, info),
                    unique_id=info.unique_id,
                    title=info.title,
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                STEP_USER_DATA_SCHEMA,
                _without_password(user_input if user_input is not None else entry.data),
            ),
            errors=errors,
            description_placeholders={"example_url": EXAMPLE_URL},
        )


def _without_password(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Form values to show again: never send the password back to the browser."""
    return {k: v for k, v in (values or {}).items() if k != CONF_PASSWORD}


def _loaded_data(entry: ConfigEntry) -> FlexMeasuresData | None:
    """The account's runtime data, or None when its entry is not loaded.

    Both subentry flows fill their drop-downs with the loaded entry's client.
    """
    if entry.state is not ConfigEntryState.LOADED:
        return None
    data: FlexMeasuresData = entry.runtime_data
    return data


# --- subentry flow: schedule (a flexible device to schedule) -----------------


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
        if (data := _loaded_data(entry)) is None:
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
        high = soc_max if soc_max is not None else capacity
        if (soc_min is not None and high is not None and soc_min > high) or (
            soc_max is not None and capacity is not None and soc_max > capacity
        ):
            errors[CONF_SOC_MAX] = "soc_range"
        if (
            (soc_entity := user_input.get(CONF_SOC_ENTITY))
            and capacity is None
            and (state := self.hass.states.get(soc_entity)) is not None
            and state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) == PERCENTAGE
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


# Units FlexMeasures sensors give energy in (the denominator of a price).
_ENERGY_UNITS: Final = frozenset({"Wh", "kWh", "MWh", "GWh"})
# The option meaning "no price sensor: use the flex-context on the asset".
ASSET_PRICE_OPTION: Final = ""
ASSET_PRICE_LABEL: Final = "Use what is stored on the asset"


def is_price_unit(unit: str) -> bool:
    """A currency per energy, e.g. EUR/MWh or EUR/kWh."""
    numerator, slash, denominator = unit.strip().partition("/")
    return (
        bool(slash)
        and denominator.strip() in _ENERGY_UNITS
        and bool(numerator.strip())
        and numerator.strip() not in _ENERGY_UNITS
        and power_factor_to_kw(numerator) is None
    )


def resolution_label(resolution: timedelta) -> str:
    """A sensor's resolution for people: `15 min`, `1 h`, `1 day`, `instantaneous`."""
    seconds = int(resolution.total_seconds())
    if seconds <= 0:
        return "instantaneous"
    if seconds % 86400 == 0:
        days = seconds // 86400
        return "1 day" if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def sensor_label(sensor: Sensor, assets: Mapping[int, Asset]) -> str:
    """A drop-down label (both subentry flows): `toy-battery / discharging (kW, 15 min)`."""
    asset = assets.get(sensor.asset_id) if sensor.asset_id is not None else None
    name = sensor.name if asset is None else f"{asset.name} / {sensor.name}"
    unit = sensor.unit or "no unit"
    return f"{name} ({unit}, {resolution_label(sensor.event_resolution)})"


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


def _number(
    unit: str, *, minimum: float = 0, maximum: float = 100_000, step: float = 0.1
) -> NumberSelector:
    """A number box with a unit."""
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement=unit,
            mode=NumberSelectorMode.BOX,
        )
    )


def _schedule_schema(
    power_options: list[SelectOptionDict], price_options: list[SelectOptionDict]
) -> probatio.Schema:
    """The schedule form."""

    def dropdown(options: list[SelectOptionDict]) -> SelectSelector:
        return SelectSelector(
            SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN)
        )

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
            probatio.Optional(CONF_CAPACITY): _number(UnitOfEnergy.KILO_WATT_HOUR),
            probatio.Optional(CONF_SOC_MIN): _number(UnitOfEnergy.KILO_WATT_HOUR),
            probatio.Optional(CONF_SOC_MAX): _number(UnitOfEnergy.KILO_WATT_HOUR),
            probatio.Optional(CONF_ROUNDTRIP_EFFICIENCY, default=90): _number(
                PERCENTAGE, minimum=1, maximum=100, step=1
            ),
            probatio.Optional(CONF_POWER_CAPACITY): _number(UnitOfPower.KILO_WATT),
            probatio.Optional(CONF_DURATION, default=DEFAULT_DURATION): _number(
                UnitOfTime.HOURS, minimum=1, maximum=168, step=1
            ),
            probatio.Optional(
                CONF_UPDATE_INTERVAL, default=DEFAULT_UPDATE_INTERVAL
            ): _number(UnitOfTime.MINUTES, minimum=1, maximum=1440, step=1),
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


# --- subentry flow: measurement (one HA entity -> one FlexMeasures sensor) ---


class MeasurementSubentryFlowHandler(ConfigSubentryFlow):
    """Add or reconfigure a measurement (an HA entity sent to a sensor)."""

    def __init__(self) -> None:
        """Nothing read from the server yet."""
        self._sensors: dict[str, Sensor] = {}
        self._options: list[SelectOptionDict] = []

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Choose the entity and the FlexMeasures sensor."""
        return await self._async_step_form("user", user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change the entity, the sensor or the forecast attribute."""
        return await self._async_step_form("reconfigure", user_input)

    def _client(self) -> FlexMeasuresClient | None:
        """The loaded entry's client, or None when the entry is not loaded."""
        data = _loaded_data(self._get_entry())
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
        self._options = [
            SelectOptionDict(value=str(sensor.id), label=label)
            for label, sensor in labelled
        ]
        return None

    async def _async_validate(
        self, client: FlexMeasuresClient, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, str], Sensor | None]:
        """Check entity, sensor and units: (errors, placeholders, sensor)."""
        state = self.hass.states.get(user_input[CONF_ENTITY_ID])
        if state is None:
            return {CONF_ENTITY_ID: "entity_not_found"}, {}, None
        attribute = (user_input.get(CONF_FORECAST_ATTRIBUTE) or "").strip()
        if attribute and not isinstance(state.attributes.get(attribute), list | tuple):
            return {CONF_FORECAST_ATTRIBUTE: "forecast_attribute_not_found"}, {}, None
        try:
            sensor = await client.get_sensor(int(user_input[CONF_SENSOR]))
        except ValueError, FlexMeasuresNotFoundError, FlexMeasuresAccessDeniedError:
            return {CONF_SENSOR: "sensor_not_found"}, {}, None
        except FlexMeasuresError as err:
            LOGGER.debug("Cannot read FlexMeasures sensor: %s", err)
            return {"base": "cannot_connect"}, {}, None
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while reading a FlexMeasures sensor")
            return {"base": "unknown"}, {}, None
        entity_unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
        if unit_converter(entity_unit, sensor.unit) is None:
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
        reconfiguring = step_id == "reconfigure"
        errors: dict[str, str] = {}
        placeholders = {"entity_unit": "", "sensor_unit": ""}
        if user_input is not None:
            errors, found, sensor = await self._async_validate(client, user_input)
            placeholders.update(found)
            if sensor is not None:
                entity_id = user_input[CONF_ENTITY_ID]
                unique_id = measurement_unique_id(entity_id, sensor.id)
                own = (
                    self._get_reconfigure_subentry().subentry_id
                    if reconfiguring
                    else None
                )
                if any(
                    sub.unique_id == unique_id and sub.subentry_id != own
                    for sub in self._get_entry().subentries.values()
                ):
                    return self.async_abort(reason="already_configured")
                data = {CONF_ENTITY_ID: entity_id, CONF_SENSOR: str(sensor.id)}
                if attribute := (user_input.get(CONF_FORECAST_ATTRIBUTE) or "").strip():
                    data[CONF_FORECAST_ATTRIBUTE] = attribute
                state = self.hass.states.get(entity_id)
                title = f"{state.name if state else entity_id} -> {sensor.name}"
                if reconfiguring:
                    return self.async_update_and_abort(
                        self._get_entry(),
                        self._get_reconfigure_subentry(),
                        data=data,
                        title=title,
                        unique_id=unique_id,
                    )
                return self.async_create_entry(
                    title=title, data=data, unique_id=unique_id
                )
        suggested: Mapping[str, Any] | None = user_input
        if suggested is None and reconfiguring:
            suggested = self._get_reconfigure_subentry().data
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                self._schema(), suggested or {}
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _schema(self) -> probatio.Schema:
        return probatio.Schema(
            {
                probatio.Required(CONF_ENTITY_ID): EntitySelector(
                    EntitySelectorConfig(domain=MEASUREMENT_DOMAINS)
                ),
                probatio.Required(CONF_SENSOR): SelectSelector(
                    SelectSelectorConfig(
                        options=self._options, mode=SelectSelectorMode.DROPDOWN
                    )
                ),
                probatio.Optional(CONF_FORECAST_ATTRIBUTE): TextSelector(),
            }
        )


MEASUREMENT_DOMAINS: Final = ["sensor", "number", "input_number"]


def measurement_unique_id(entity_id: str, sensor_id: int) -> str:
    """One measurement subentry per (entity, sensor)."""
    return f"{entity_id}_{sensor_id}"
